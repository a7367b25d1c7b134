"""What a training job will bill: epochs, billed tokens and an estimated price.

Supervised and DPO training bill ``training tokens x epochs x price per token`` (Azure's
"Cost management for fine-tuning" guide); each example counts at most the model's per-example
limit, because the service truncates longer ones (OpenAI cookbook, "Data preparation and analysis
for chat model fine-tuning": ``sum(min(MAX_TOKENS_PER_EXAMPLE, length) ...)``). Reinforcement
fine-tuning bills wall-clock hours of the training loop (plus model-grader tokens at inference
rates), which the data alone cannot predict: its estimate gives the hourly rate, not a total.

Prices depend on the training type (Standard, Global Standard, Data Zone, Developer): see
[`foundry_tune.catalog.training_price()`][training_price] for each price's date, source and,
where no source states the exact number, how it was inferred.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from foundry_tune._method_kind import MethodKind, parse_method_kind
from foundry_tune.catalog import (
    COST_GUIDE_URL,
    DOCUMENTED_METHODS,
    MODELS_URL,
    PRICES_AS_OF,
    PRICES_SOURCE,
    TrainingType,
    lookup_model,
    parse_training_type,
    price_for,
    training_price,
)
from foundry_tune.dataset._stats import TokenStats
from foundry_tune.errors import InvalidParameterError

__all__ = ["CostEstimate", "default_epochs", "estimate_cost"]

# The service's rule for n_epochs="auto", as published in the OpenAI cookbook notebook
# "Data preparation and analysis for chat model fine-tuning" (examples/Chat_finetuning_data_prep.ipynb):
# aim for 3 epochs, but train on at least 100 and at most 25,000 examples in total, within 1..25 epochs.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
MIN_EPOCHS, MAX_EPOCHS = 1, 50


def default_epochs(n_examples: int) -> int:
    """The number of epochs the service picks for ``n_epochs="auto"`` on ``n_examples`` examples."""
    if n_examples < 1:
        raise InvalidParameterError(f"default_epochs needs at least one example, got {n_examples}")
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


class CostEstimate(BaseModel):
    """An estimate of what training (and hosting) a fine-tuned model will cost, in USD."""

    model_config = ConfigDict(frozen=True)

    model: str | None
    method: MethodKind
    n_epochs: int
    epochs_source: Literal["auto", "given"]
    """``auto``: the service's default-epochs rule for this many examples; ``given``: yours."""
    tokens_per_epoch: int
    """Billable tokens of one pass over the data (examples capped at the model's limit)."""
    billed_tokens: int | None
    """tokens_per_epoch x n_epochs for supervised and DPO; None for reinforcement (billed per hour)."""
    training_per_1m_usd: float | None
    training_per_hour_usd: float | None
    training_usd: float | None
    """The estimated training price; None when it cannot be estimated (see ``notes``)."""
    hosting_per_hour_usd: float | None
    """What a deployment of the fine-tuned model bills per hour, used or not."""
    prices_as_of: str
    prices_source: str
    notes: list[str]
    training_type: TrainingType | None = None
    """The training type the price is for; ``None``: none given, Global Standard list prices."""
    price_basis: str | None = None
    """The training price used: rate, training type, date, source and how it was obtained (see
    [`TrainingPrice.describe()`][foundry_tune.catalog.TrainingPrice.describe]); ``None`` when no
    price is known."""
    price_inferred: bool = False
    """True when no source states the training price used exactly (a documented discount applied
    to a list price, for example): the total is an estimate of an estimate."""

    _stats: TokenStats | None = PrivateAttr(default=None)

    @property
    def formula(self) -> str | None:
        """How [`training_usd`][training_usd] was computed, as one line
        (``tokens x epochs x price``), or ``None`` when there is no total."""
        if self.training_usd is None or self.training_per_1m_usd is None:
            return None
        return (f"{self.tokens_per_epoch:,} tokens x {self.n_epochs} epochs x "
                f"${self.training_per_1m_usd:,.4g} per 1M tokens = ${self.training_usd:,.2f}")

    def priced_for(self, training_type: str | TrainingType | None) -> CostEstimate:
        """The same estimate priced for another training type (same tokens and epochs)."""
        if self._stats is None:
            raise InvalidParameterError("this estimate was not made from token statistics: re-estimate it")
        epochs: int | Literal["auto"] = self.n_epochs if self.epochs_source == "given" else "auto"
        return estimate_cost(self._stats, self.model, self.method, epochs, training_type=training_type)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``estimate`` object of ``foundry-tune validate --json``)."""
        return self.model_dump(mode="json")

    def to_text(self) -> str:
        """A few lines for the terminal."""
        why = "the service's default for this many examples" if self.epochs_source == "auto" else "given"
        lines = [f"epochs: {self.n_epochs} ({why})"]
        if self.billed_tokens is not None:
            lines.append(
                f"billed training tokens: {self.billed_tokens:,} ({self.tokens_per_epoch:,} per epoch)"
            )
        if self.formula is not None:
            lines.append(f"estimated training cost: {self.formula}")
        elif self.training_per_hour_usd is not None:
            lines.append(f"training is billed per hour: ${self.training_per_hour_usd:,.2f} per training hour")
        if self.hosting_per_hour_usd is not None:
            lines.append(f"hosting a deployment: ${self.hosting_per_hour_usd:,.2f} per hour")
        lines.extend(self.notes)
        if self.price_basis is not None:  # it names the price's date and source
            lines.append(f"training price: {self.price_basis}")
        else:
            lines.append(f"prices as of {self.prices_as_of}: {self.prices_source}")
        return "\n".join(lines)


def estimate_cost(stats: TokenStats, model: str | None, kind: MethodKind | str,
                  n_epochs: int | Literal["auto"] = "auto", *,
                  training_type: str | TrainingType | None = None) -> CostEstimate:
    """Estimate the training cost of a dataset with these statistics.

    ``n_epochs="auto"`` uses [`default_epochs()`][default_epochs]; a number must be within 1..50.
    ``training_type`` (Standard, GlobalStandard, DataZone, Developer, any spelling) picks the
    price; ``None`` prices at Global Standard list prices. Prices come from
    [`foundry_tune.catalog.training_price()`][training_price] (override them with ``set_price``)."""
    method = parse_method_kind(kind)
    wanted = None if training_type is None else parse_training_type(training_type)
    if n_epochs == "auto":
        if stats.examples < 1:
            raise InvalidParameterError("cannot estimate the cost of a dataset with no examples")
        epochs, source = default_epochs(stats.examples), "auto"
    else:
        valid = isinstance(n_epochs, int) and not isinstance(n_epochs, bool)
        if not valid or not MIN_EPOCHS <= n_epochs <= MAX_EPOCHS:
            raise InvalidParameterError(
                f"n_epochs must be 'auto' or an integer within {MIN_EPOCHS}..{MAX_EPOCHS}, not {n_epochs!r}"
            )
        epochs, source = n_epochs, "given"

    notes: list[str] = []
    price = price_for(model) if model else None
    trained = training_price(model, wanted, method) if model else None
    if model is None:
        notes.append("no model given: pass one for a price")
    elif price is None and trained is None:
        notes.append(f"no price known for {model!r}: set one with foundry_tune.set_price()")
    info = lookup_model(model) if model else None
    if info is not None and not info.supports(method):
        notes.append(f"{info.name} cannot be fine-tuned with {method.value}")
    listed = DOCUMENTED_METHODS.get(info.name) if info is not None else None
    if info is not None and listed is not None and method not in listed:
        names = ", ".join(sorted(k.value for k in listed))
        notes.append(f"Foundry's supported-models table lists {names} only for {info.name} ({MODELS_URL}); "
                     f"the service has accepted {method.value} jobs on it, but may refuse this one")
    if info is not None and wanted is not None and not info.supports_training_type(wanted):
        notes.append(f"{info.name} cannot be trained with training type {wanted.value}")
    if stats.max_example_tokens is None and info is not None:
        notes.append("examples were not checked against the model's token limit; billed tokens may be high")

    per_1m = trained.per_1m if trained else None
    per_hour = trained.per_hour if trained else (price.training_per_hour if price else None)
    billed: int | None
    usd: float | None = None
    if method is MethodKind.REINFORCEMENT:
        billed = None
        notes.append("reinforcement fine-tuning is billed per hour of training; model-grader tokens are "
                     f"billed on top, at data zone inference rates ({COST_GUIDE_URL}); the duration "
                     "cannot be estimated from the data, and the service pauses a job at $5,000 of training")
    else:
        billed = stats.billable_tokens * epochs
        if per_1m is not None:
            usd = round(billed / 1_000_000 * per_1m, 6)
        elif price is not None:
            notes.append(f"no {method.value} training price for {model!r}")

    estimate = CostEstimate(
        model=model,
        method=method,
        n_epochs=epochs,
        epochs_source=source,
        tokens_per_epoch=stats.billable_tokens,
        billed_tokens=billed,
        training_per_1m_usd=per_1m,
        training_per_hour_usd=per_hour,
        training_usd=usd,
        hosting_per_hour_usd=price.hosting_per_hour if price else None,
        prices_as_of=trained.as_of if trained else PRICES_AS_OF,
        prices_source=trained.source if trained else PRICES_SOURCE,
        notes=notes,
        training_type=wanted,
        price_basis=trained.describe() if trained else None,
        price_inferred=trained.inferred if trained else False,
    )
    estimate._stats = stats
    return estimate
