"""What foundry-tune knows about the base models Foundry can fine-tune.

One table serves the validator (token limit per example, tokenizer encoding), the method
checks (which methods a model supports), the cost estimate (prices) and the emulator
(its model allow-list). Prices are list prices in USD, dated and sourced below; they change,
so [`set_price()`][set_price] lets you override any of them.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from types import MappingProxyType

from foundry_tune._method_kind import MethodKind
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "PRICES_AS_OF",
    "PRICES_SOURCE",
    "ModelInfo",
    "Price",
    "TrainingType",
    "known_models",
    "lookup_model",
    "parse_training_type",
    "price_for",
    "set_price",
]


class TrainingType(str, enum.Enum):
    """Azure's training tier (the ``trainingType`` of a fine-tuning job).

    The value is the documented name. [`wire`][wire] is the spelling foundry-tune sends,
    [`echo`][echo] the spelling Azure writes back in job bodies (they differ: the service
    accepted ``"Standard"`` and echoed ``"standard"``, see ``docs/jobs.md``).
    """

    STANDARD = "Standard"
    """Training in the resource's own region (data stays there)."""
    GLOBAL_STANDARD = "GlobalStandard"
    """Training wherever Azure has capacity ("Global"); usually cheaper and sooner."""
    DATA_ZONE = "DataZone"
    """Training inside the resource's data zone (the US or the EU)."""
    DEVELOPER = "Developer"
    """The Developer tier: cheap, preemptible trials ("developerTier" on the wire)."""

    @property
    def wire(self) -> str:
        """The spelling foundry-tune sends as ``trainingType``."""
        return _WIRE[self]

    @property
    def echo(self) -> str:
        """The spelling Azure echoes as ``trainingType`` in job bodies."""
        return _ECHO[self]


# The service matches the training type case-insensitively: the recordings show "Standard" sent
# (echoed "standard"), "globalstandard" sent (echoed "globalStandard") and "developerTier" sent and
# echoed (azure-recordings: recordings/sft_create_cancel_events.json,
# notebooks/sarcasm_job_create_ministral.json, notebooks/sarcasm_job_create_nano_developer.json).
# foundry-tune sends the spellings Azure's own code sends: "Standard", "GlobalStandard" and
# "developerTier" (the azure-ai-projects test constants that produced those recordings, and the
# Foundry fine-tuning docs' extra_body examples). No recording or Azure document shows a Data Zone
# training request: the echoes are the ARM deployment SKU names in camelCase (standard,
# globalStandard, developerTier for Standard, GlobalStandard, DeveloperTier), so foundry-tune sends
# the SKU name "DataZoneStandard" and expects "dataZoneStandard" back; this is an inference.
_WIRE: dict[TrainingType, str] = {
    TrainingType.STANDARD: "Standard",
    TrainingType.GLOBAL_STANDARD: "GlobalStandard",
    TrainingType.DATA_ZONE: "DataZoneStandard",
    TrainingType.DEVELOPER: "developerTier",
}
_ECHO: dict[TrainingType, str] = {
    TrainingType.STANDARD: "standard",
    TrainingType.GLOBAL_STANDARD: "globalStandard",
    TrainingType.DATA_ZONE: "dataZoneStandard",
    TrainingType.DEVELOPER: "developerTier",
}
_TRAINING_TYPE_SPELLINGS: dict[str, TrainingType] = {
    "standard": TrainingType.STANDARD,
    "globalstandard": TrainingType.GLOBAL_STANDARD,
    "global": TrainingType.GLOBAL_STANDARD,
    "datazone": TrainingType.DATA_ZONE,
    "datazonestandard": TrainingType.DATA_ZONE,
    "developer": TrainingType.DEVELOPER,
    "developertier": TrainingType.DEVELOPER,
}
ACCEPTED_TRAINING_TYPES = (
    "Standard, GlobalStandard (or Global), DataZone (or DataZoneStandard), Developer (or developerTier)"
)


def parse_training_type(value: str | TrainingType) -> TrainingType:
    """Read a training type in any casing: ``Standard``, ``GlobalStandard`` / ``Global``,
    ``DataZone`` / ``DataZoneStandard``, ``Developer`` / ``developerTier`` (spaces, ``-`` and
    ``_`` are ignored, so ``global_standard`` works too). Raises
    [`InvalidParameterError`][InvalidParameterError] for anything else."""
    if isinstance(value, TrainingType):
        return value
    if isinstance(value, str):
        found = _TRAINING_TYPE_SPELLINGS.get(re.sub(r"[\s_-]+", "", value).lower())
        if found is not None:
            return found
    # A huge int has no printable repr (past 4,300 digits repr() itself raises ValueError).
    shown = "<a huge integer>" if isinstance(value, int) and value.bit_length() > 64 else repr(value)[:40]
    raise InvalidParameterError(
        f"training type {shown} is not one Azure knows; use {ACCEPTED_TRAINING_TYPES} (any casing)"
    )


PRICES_AS_OF = "2025-11-01"
"""The date the built-in prices were read (they are list prices: check your agreement)."""
PRICES_SOURCE = (
    "Azure OpenAI Service pricing page (Global Standard, USD) and the Foundry fine-tuning cost "
    "documentation; indicative list prices, check your agreement."
)
"""Where the built-in prices come from."""


@dataclasses.dataclass(frozen=True)
class Price:
    """USD prices for one model. Token prices are per 1M tokens."""

    training_per_1m: float | None
    """Supervised / DPO training, per 1M billed training tokens."""
    training_per_hour: float | None
    """Reinforcement training is billed per hour of training time."""
    hosting_per_hour: float
    """A deployed fine-tuned model bills this per hour whether it is used or not."""
    base_input_per_1m: float
    base_output_per_1m: float
    tuned_input_per_1m: float
    tuned_output_per_1m: float


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """One fine-tunable base model."""

    name: str
    version: str
    encoding: str
    """The tiktoken encoding token counts use (an approximation when [`exact_tokens`][exact_tokens] is
    false)."""
    max_example_tokens: int
    methods: frozenset[MethodKind]
    vision: bool
    price: Price | None
    """List prices, or ``None`` where no public price is known (estimates then show no cost)."""
    training_types: frozenset[TrainingType] = frozenset({TrainingType.STANDARD, TrainingType.GLOBAL_STANDARD})
    """The training types Foundry accepts for this model (see [`TrainingType`][TrainingType])."""
    deployment_format: str = "OpenAI"
    """The ARM ``properties.model.format`` a deployment of this model (or its fine-tunes) needs."""
    exact_tokens: bool = True
    """Whether [`encoding`][encoding] is the model's own tokenizer; ``False`` for open models, whose
    token counts foundry-tune can only approximate offline."""

    def supports(self, method: MethodKind) -> bool:
        """Whether Foundry can fine-tune this model with ``method``."""
        return method in self.methods

    def supports_training_type(self, training_type: TrainingType) -> bool:
        """Whether Foundry trains this model with ``training_type``."""
        return training_type in self.training_types


_SFT = frozenset({MethodKind.SUPERVISED})
_SFT_DPO = frozenset({MethodKind.SUPERVISED, MethodKind.DPO})
_STD, _GLOBAL, _DEV = TrainingType.STANDARD, TrainingType.GLOBAL_STANDARD, TrainingType.DEVELOPER
# Training types per model: the fine-tuning models table of the Foundry docs (MicrosoftDocs/azure-ai-docs,
# articles/ai-foundry/openai/includes/fine-tune-models.md: "Standard regions | Global | Developer").
# No Foundry page lists Data Zone training for any model, so no entry below accepts DataZone
# (the conservative reading); for a model the catalog does not know, any training type is sent as is.
_STD_GLOBAL_DEV = frozenset({_STD, _GLOBAL, _DEV})
_GLOBAL_ONLY = frozenset({_GLOBAL})

_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo("gpt-4.1", "2025-04-14", "o200k_base", 65_536, _SFT_DPO, True,
                  Price(25.0, None, 1.70, 2.00, 8.00, 3.00, 12.00), _STD_GLOBAL_DEV),
        ModelInfo("gpt-4.1-mini", "2025-04-14", "o200k_base", 65_536, _SFT_DPO, False,
                  Price(5.0, None, 1.70, 0.40, 1.60, 0.80, 3.20), _STD_GLOBAL_DEV),
        ModelInfo("gpt-4.1-nano", "2025-04-14", "o200k_base", 32_768, _SFT_DPO, False,
                  Price(1.5, None, 1.70, 0.10, 0.40, 0.20, 0.80), _STD_GLOBAL_DEV),
        ModelInfo("gpt-4o", "2024-08-06", "o200k_base", 65_536, _SFT_DPO, True,
                  Price(25.0, None, 1.70, 2.50, 10.00, 3.75, 15.00), _STD_GLOBAL_DEV),
        ModelInfo("gpt-4o-mini", "2024-07-18", "o200k_base", 65_536, _SFT_DPO, False,
                  Price(3.0, None, 1.70, 0.15, 0.60, 0.30, 1.20), _STD_GLOBAL_DEV),
        ModelInfo("o4-mini", "2025-04-16", "o200k_base", 65_536,
                  frozenset({MethodKind.REINFORCEMENT}), False,
                  Price(None, 100.0, 1.70, 1.10, 4.40, 1.10, 4.40), frozenset({_STD, _GLOBAL})),
        # Legacy: no longer in the docs table; regional Standard training only.
        ModelInfo("gpt-35-turbo", "0125", "cl100k_base", 16_385, _SFT, False,
                  Price(8.0, None, 1.70, 0.50, 1.50, 0.50, 1.50), frozenset({_STD})),
        # Open models (serverless fine-tuning, preview). Supervised only and Global training only:
        # the docs table marks Standard "Not supported" and Developer "no" for Ministral-3B and
        # Qwen-32B; Llama-3.3-70B-Instruct and gpt-oss-20b are not in that table, so they get the
        # same conservative set. Their tokenizers are not tiktoken's: counts use o200k_base as an
        # approximation (exact_tokens=False). No public fine-tuning price was found: price=None.
        # ARM formats: "Mistral AI" recorded (azure-recordings/recordings/deploy_oss_ministral.json);
        # "OpenAI-OSS" from the Foundry docs' gpt-oss deployment example (--model-format "OpenAI-OSS");
        # "Meta" is the publisher name Foundry uses for Llama models; "Alibaba" is the format of the
        # Qwen entries in the account's model catalog (publisher "Alibaba"). Pass model_format= to
        # ft.deployments.create() to override any of them.
        ModelInfo("Ministral-3B", "2411", "o200k_base", 32_768, _SFT, False, None, _GLOBAL_ONLY,
                  "Mistral AI", exact_tokens=False),  # training context "Unknown" in the docs
        ModelInfo("Qwen-32B", "1", "o200k_base", 8_192, _SFT, False, None, _GLOBAL_ONLY,
                  "Alibaba", exact_tokens=False),  # docs: training example context length 8192
        ModelInfo("Llama-3.3-70B-Instruct", "1", "o200k_base", 8_192, _SFT, False, None, _GLOBAL_ONLY,
                  "Meta", exact_tokens=False),  # no documented limit: the smallest open-model one
        ModelInfo("gpt-oss-20b", "1", "o200k_base", 32_768, _SFT, False, None, _GLOBAL_ONLY,
                  "OpenAI-OSS", exact_tokens=False),  # no documented limit
    ]
}
_BY_KEY: dict[str, ModelInfo] = {name.lower(): info for name, info in _MODELS.items()}

_price_overrides: dict[str, Price] = {}

_DATED = re.compile(r"(?P<base>.+?)-(?P<date>\d{4}-\d{2}-\d{2}|\d{4})")  # used with fullmatch
_ALIASES = {"gpt-3.5-turbo": "gpt-35-turbo", "qwen3-32b": "qwen-32b"}


def known_models() -> Mapping[str, ModelInfo]:
    """Every base model in the table, by name."""
    return MappingProxyType(_MODELS)


def lookup_model(name: str) -> ModelInfo | None:
    """Find a base model by name, tolerating a dated suffix (``gpt-4.1-mini-2025-04-14``),
    the ``gpt-3.5-turbo`` spelling, a fine-tuned model id (``gpt-4.1-mini.ft-abc``) and case."""
    if not isinstance(name, str):
        raise InvalidParameterError(f"a model name must be a string, not {type(name).__name__}")
    key = name.strip().lower()
    key = key.split(".ft-", 1)[0].split(":ft-", 1)[0]
    key = _ALIASES.get(key, key)
    if key in _BY_KEY:
        return _BY_KEY[key]
    dated = _DATED.fullmatch(key)
    if dated:
        base = _ALIASES.get(dated.group("base"), dated.group("base"))
        if base in _BY_KEY:
            return _BY_KEY[base]
    return None


def price_for(name: str) -> Price | None:
    """The price in force for a model: a [`set_price()`][set_price] override, else the table's."""
    info = lookup_model(name)
    if info is None:
        return _price_overrides.get(name)
    return _price_overrides.get(info.name) or info.price


def set_price(name: str, price: Price | None) -> None:
    """Override (or, with ``None``, restore) the price used for ``name`` in estimates."""
    info = lookup_model(name)
    key = info.name if info else name
    if price is None:
        _price_overrides.pop(key, None)
    else:
        _price_overrides[key] = price
