"""What foundry-tune knows about the base models Foundry can fine-tune.

One table serves the validator (token limit per example, tokenizer encoding), the method
checks (which methods a model supports), the cost estimate (prices per training type and
method), the retirement warning at `start()` and the emulator (its model allow-list). Prices
are list prices in USD, dated and sourced below; they change, so [`set_price()`][set_price]
lets you override any of them, for every training type or for one.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from foundry_tune._method_kind import MethodKind, parse_method_kind
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "PRICES_AS_OF",
    "PRICES_SOURCE",
    "ModelInfo",
    "Price",
    "RetirementWarning",
    "TrainingPrice",
    "TrainingType",
    "hosting_per_hour",
    "known_models",
    "lookup_model",
    "parse_training_type",
    "price_for",
    "set_price",
    "training_per_hour",
    "training_price",
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


# Where each group of built-in prices comes from (one URL per group), and when it was read:
LIST_PRICES_URL = "https://azure.microsoft.com/pricing/details/cognitive-services/openai-service"
"""Azure OpenAI pricing page: the per-model list prices in the table (Global Standard training per
1M tokens, the inference token prices) were read there on ``LIST_PRICES_AS_OF``."""
LIST_PRICES_AS_OF = "2025-11-01"
COST_GUIDE_URL = "https://learn.microsoft.com/azure/foundry/openai/how-to/fine-tuning-cost-management"
"""Foundry "Manage fine-tuning costs" (include dated 2026-03-19, page 2026-10-05): Global training is
10-30% below regional Standard, Developer 50% below Global; o4-mini reinforcement $100 per training
hour; model-grader tokens billed separately "at data zone rates"; hosting $1.70 per hour for Standard
and Global Standard deployments, none for the Developer tier. Read on ``PRICES_AS_OF``."""
RETIREMENTS_URL = "https://learn.microsoft.com/azure/foundry/openai/concepts/model-retirement-schedule"
"""Foundry "Model retirement schedule" (page dated 2026-09-02): base model retirement dates and, for
fine-tuned models, the training and deployment retirement dates. Read on ``PRICES_AS_OF``."""
MODELS_URL = "https://learn.microsoft.com/azure/foundry/fine-tuning/overview#supported-models"
"""Foundry fine-tuning overview, supported-models table (include dated 2026-03-05, page 2026-10-06):
methods and training types (Standard, Data Zone, Global, Developer) per model."""

PRICES_AS_OF = "2026-12-02"
"""The date the built-in prices and dates were last checked against their sources. Each price
says when it was read and where ([`TrainingPrice`][TrainingPrice] ``as_of`` / ``source``): the
per-model list prices are older (``2025-11-01``). They are list prices: check your agreement."""
PRICES_SOURCE = (
    f"per-model list prices (Global Standard training, inference tokens): Azure OpenAI pricing page "
    f"({LIST_PRICES_URL}), read {LIST_PRICES_AS_OF}; the other training types, reinforcement hourly "
    f"rates and hosting fees: Foundry fine-tuning cost guide ({COST_GUIDE_URL}); indicative list "
    f"prices, check your agreement"
)
"""Where the built-in prices come from."""


@dataclasses.dataclass(frozen=True)
class Price:
    """USD prices for one model. Token prices are per 1M tokens."""

    training_per_1m: float | None
    """Supervised / DPO training, per 1M billed training tokens: the Global Standard price (the
    other training types: [`training_price()`][training_price])."""
    training_per_hour: float | None
    """Reinforcement training is billed per hour of training time."""
    hosting_per_hour: float
    """A deployed fine-tuned model bills this per hour whether it is used or not."""
    base_input_per_1m: float
    base_output_per_1m: float
    tuned_input_per_1m: float
    tuned_output_per_1m: float

    def __post_init__(self) -> None:
        # A NaN or negative price would slip past every cost cap (NaN > cap is False): refused here.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and field.name in _OPTIONAL_RATES:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                shown = repr(value) if isinstance(value, (int, float)) else type(value).__name__
                allowed = "None or " if field.name in _OPTIONAL_RATES else ""
                raise InvalidParameterError(
                    f"Price.{field.name} must be {allowed}a finite number of USD >= 0, got {shown[:40]}")


_OPTIONAL_RATES = frozenset({"training_per_1m", "training_per_hour"})


@dataclasses.dataclass(frozen=True)
class TrainingPrice:
    """The training price of one model for one training type and method, with where it comes
    from (what [`training_price()`][training_price] returns)."""

    model: str
    training_type: TrainingType
    method: MethodKind
    per_1m: float | None
    """Supervised and DPO: USD per 1M billed training tokens (tokens x epochs)."""
    per_hour: float | None
    """Reinforcement: USD per hour of training (model-grader tokens are billed on top)."""
    as_of: str
    """When the price was read (ISO date)."""
    source: str
    """Where it was read: a URL, or ``set_price()`` for yours."""
    basis: str
    """How the number was obtained (a list price, a documented discount applied to one, yours)."""
    inferred: bool
    """True when no source states this exact number (e.g. a documented discount applied to a list
    price): treat it as an estimate."""

    def describe(self) -> str:
        """One line: the rate, its training type, date, source and, for an inference, how it was made."""
        if self.per_1m is not None:
            rate = f"${self.per_1m:,.2f} per 1M training tokens"
        elif self.per_hour is not None:
            rate = f"${self.per_hour:,.2f} per training hour"
        else:
            rate = "no rate"
        how = f" (inference: {self.basis})" if self.inferred else f" ({self.basis})"
        return f"{rate}, {self.training_type.value} training, as of {self.as_of}, from {self.source}{how}"


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
    fine_tuning_retires: datetime.date | None = None
    """The first day new fine-tuning jobs on this base model may be refused (``None``: no date
    published). Where the schedule gives existing customers a later date, this is the earlier one."""
    retires: datetime.date | None = None
    """The day deployments of this model's fine-tunes stop (``None``: no date published)."""

    def supports(self, method: MethodKind) -> bool:
        """Whether Foundry can fine-tune this model with ``method``."""
        return method in self.methods

    def supports_training_type(self, training_type: TrainingType) -> bool:
        """Whether Foundry trains this model with ``training_type``."""
        return training_type in self.training_types


_SFT = frozenset({MethodKind.SUPERVISED})
_SFT_DPO = frozenset({MethodKind.SUPERVISED, MethodKind.DPO})
_RFT = frozenset({MethodKind.REINFORCEMENT})
_STD, _GLOBAL, _DEV = TrainingType.STANDARD, TrainingType.GLOBAL_STANDARD, TrainingType.DEVELOPER
_DZ = TrainingType.DATA_ZONE
# Methods and training types per model: the supported-models table of the Foundry fine-tuning overview
# (MODELS_URL; MicrosoftDocs/azure-ai-docs articles/foundry/includes/fine-tune-supported-models.md:
# "Standard regions | Data Zone | Global | Developer | Methods"). Every model lists Data Zone "US"
# (only the US data zone is supported); gpt-5 is reinforcement only, generally available but "gated
# and available by invitation only". For a model the catalog does not know, any training type is
# sent as is. One exception where the recordings win over the table: it lists SFT only for
# gpt-4o-mini, but the service accepted DPO jobs on gpt-4o-mini-2024-07-18 (azure-recordings
# recordings/list_jobs_page1_head.json, 2025-12, trainingType standard; the azure-ai-projects DPO
# test recording of 2026-02-03, tests/thirdparty/azure_sdk_assets/dpo_create_job_standard.json, and
# the azure-ai-projects 2.10.0 DPO sample defaults to it). So DPO stays accepted locally and the
# estimate says what the table lists (DOCUMENTED_METHODS).
_ALL_TYPES = frozenset({_STD, _DZ, _GLOBAL, _DEV})
_NO_DEVELOPER = frozenset({_STD, _DZ, _GLOBAL})
_OPEN_TYPES = frozenset({_DZ, _GLOBAL})  # Standard "Not supported", Developer no
# Retirement dates: the model retirement schedule (RETIREMENTS_URL, page dated 2026-09-02), table
# "Fine-tuned models": training retirement "No earlier than <date> (for existing customers only;
# otherwise, training retirement occurs at base model retirement)" and the deployment retirement
# date. fine_tuning_retires is the earlier of the two training dates (base model retirement for new
# customers, the dated one for existing ones); retires is the deployment retirement date.
_D = datetime.date

DOCUMENTED_METHODS: dict[str, frozenset[MethodKind]] = {"gpt-4o-mini": _SFT}
"""Models whose methods in the supported-models table (MODELS_URL) are fewer than the ones the
service was recorded accepting: what the table lists."""

_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        # base model retires 2027-04-14; tuned: training no earlier than 2027-04-14, deployments 2027-10-14
        ModelInfo("gpt-4.1", "2025-04-14", "o200k_base", 65_536, _SFT_DPO, True,
                  Price(25.0, None, 1.70, 2.00, 8.00, 3.00, 12.00), _ALL_TYPES,
                  fine_tuning_retires=_D(2027, 4, 14), retires=_D(2027, 10, 14)),
        ModelInfo("gpt-4.1-mini", "2025-04-14", "o200k_base", 65_536, _SFT_DPO, False,
                  Price(5.0, None, 1.70, 0.40, 1.60, 0.80, 3.20), _ALL_TYPES,
                  fine_tuning_retires=_D(2027, 4, 14), retires=_D(2027, 10, 14)),
        ModelInfo("gpt-4.1-nano", "2025-04-14", "o200k_base", 32_768, _SFT_DPO, False,
                  Price(1.5, None, 1.70, 0.10, 0.40, 0.20, 0.80), _ALL_TYPES,
                  fine_tuning_retires=_D(2027, 4, 14), retires=_D(2027, 10, 14)),
        # base model (2024-08-06) retires 2027-04-14; tuned: training no earlier than 2027-04-01 for
        # existing customers, deployments 2027-10-01
        ModelInfo("gpt-4o", "2024-08-06", "o200k_base", 65_536, _SFT_DPO, True,
                  Price(25.0, None, 1.70, 2.50, 10.00, 3.75, 15.00), _ALL_TYPES,
                  fine_tuning_retires=_D(2027, 4, 1), retires=_D(2027, 10, 1)),
        ModelInfo("gpt-4o-mini", "2024-07-18", "o200k_base", 65_536, _SFT_DPO, False,
                  Price(3.0, None, 1.70, 0.15, 0.60, 0.30, 1.20), _ALL_TYPES,
                  fine_tuning_retires=_D(2027, 4, 1), retires=_D(2027, 10, 1)),
        # base model deprecated, retired 2026-10-16: training has retired for new customers (existing
        # ones: no earlier than 2027-04-16); deployments of its fine-tunes until 2027-10-16.
        # $100 per training hour: COST_GUIDE_URL ("$100 per hour of core training time for
        # o4-mini-2025-04-16"), one rate for every training type (the guide names no other).
        ModelInfo("o4-mini", "2025-04-16", "o200k_base", 65_536, _RFT, False,
                  Price(None, 100.0, 1.70, 1.10, 4.40, 1.10, 4.40), _NO_DEVELOPER,
                  fine_tuning_retires=_D(2026, 10, 16), retires=_D(2027, 10, 16)),
        # Reinforcement only, gated (invitation). No public training rate, hosting fee or per-example
        # limit: price None (set_price() adds one), the limit is o4-mini's (inference). Base model
        # retires 2027-02-09; the schedule has no fine-tuned row for it, and "unless explicitly
        # stated, training retires no earlier than the base model retirement date": that date
        # (inference); no deployment retirement date is published.
        ModelInfo("gpt-5", "2025-08-07", "o200k_base", 65_536, _RFT, False, None, _ALL_TYPES,
                  fine_tuning_retires=_D(2027, 2, 9)),
        # Legacy: no longer in the docs table; regional Standard training only.
        ModelInfo("gpt-35-turbo", "0125", "cl100k_base", 16_385, _SFT, False,
                  Price(8.0, None, 1.70, 0.50, 1.50, 0.50, 1.50), frozenset({_STD})),
        # Open models (serverless fine-tuning, GA). Supervised only, Global and Data Zone (US) training
        # (the docs table: Standard "Not supported", Developer no). Their tokenizers are not
        # tiktoken's: counts use o200k_base as an approximation (exact_tokens=False). No public
        # fine-tuning price was found: price=None. No retirement date is published for them.
        # ARM formats: "Mistral AI" recorded (azure-recordings/recordings/deploy_oss_ministral.json);
        # "OpenAI-OSS" from the Foundry docs' gpt-oss deployment example (--model-format "OpenAI-OSS");
        # "Meta" is the publisher name Foundry uses for Llama models; "Alibaba" is the format of the
        # Qwen entries in the account's model catalog (publisher "Alibaba"). Pass model_format= to
        # ft.deployments.create() to override any of them.
        ModelInfo("Ministral-3B", "2411", "o200k_base", 32_768, _SFT, False, None, _OPEN_TYPES,
                  "Mistral AI", exact_tokens=False),  # training context "Unknown" in the docs
        ModelInfo("Qwen-32B", "1", "o200k_base", 8_192, _SFT, False, None, _OPEN_TYPES,
                  "Alibaba", exact_tokens=False),  # docs: training example context length 8192
        ModelInfo("Llama-3.3-70B-Instruct", "1", "o200k_base", 8_192, _SFT, False, None, _OPEN_TYPES,
                  "Meta", exact_tokens=False),  # no documented limit: the smallest open-model one
        ModelInfo("gpt-oss-20b", "1", "o200k_base", 32_768, _SFT, False, None, _OPEN_TYPES,
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


def set_price(name: str, price: Price | None, *, training_type: str | TrainingType | None = None) -> None:
    """Override (or, with ``None``, restore) the price used for ``name`` in estimates and cost caps.

    Without ``training_type`` the price holds for every training type; with one (any spelling
    [`parse_training_type()`][parse_training_type] reads) only for that type, ahead of a
    type-less override. For reinforcement give ``training_per_hour``; for supervised and DPO
    ``training_per_1m``. A blank name, or one with whitespace around it, is an
    [`InvalidParameterError`][InvalidParameterError], as is a price that is not a [`Price`][Price]."""
    if not isinstance(name, str) or not name.strip() or name != name.strip() or not name.isprintable():
        shown = repr(name)[:80] if isinstance(name, str) else type(name).__name__
        raise InvalidParameterError(f"set_price() needs a model name such as 'gpt-4.1-mini' (no whitespace "
                                    f"around it, no control character), got {shown}")
    info = lookup_model(name)
    key = info.name if info else name
    if price is not None and not isinstance(price, Price):
        raise InvalidParameterError(f"set_price() takes a Price or None, not {type(price).__name__}")
    if training_type is None:
        if price is None:
            _price_overrides.pop(key, None)
        else:
            _price_overrides[key] = price
        return
    kind = parse_training_type(training_type)
    if price is None:
        _type_overrides.pop((key, kind), None)
    else:
        _type_overrides[(key, kind)] = price


_type_overrides: dict[tuple[str, TrainingType], Price] = {}

# How each training type's price follows from the Global Standard list price (COST_GUIDE_URL: "global
# standard (10-30% discount from regional standard training) or developer (50% discount from
# global)"). Developer is exactly half. Standard is not published per model: the upper end of the
# documented range (Global is at least 10% and at most 30% below Standard, so Standard is at most
# Global / 0.7) keeps a cost cap on the safe side. No source relates Data Zone training to either:
# it is priced as Standard, also the safe side. All three are inferences and say so.
_FROM_GLOBAL: dict[TrainingType, tuple[float, str]] = {
    TrainingType.GLOBAL_STANDARD: (1.0, "list price"),
    TrainingType.DEVELOPER: (0.5, "Global Standard list price x 0.5: Developer training is documented "
                                  "as 50% below Global"),
    TrainingType.STANDARD: (1 / 0.7, "Global Standard list price / 0.7: Global is documented as 10-30% "
                                     "below regional Standard, so this is the upper bound"),
    TrainingType.DATA_ZONE: (1 / 0.7, "priced as regional Standard (no published Data Zone training "
                                      "price): the upper bound"),
}


def training_price(model: str, training_type: str | TrainingType | None = None,
                   method: MethodKind | str | None = None) -> TrainingPrice | None:
    """The training price of ``model`` for one training type and method, with its date, source and
    how it was obtained; ``None`` when no price is known (an open model, gpt-5, an unknown model:
    [`set_price()`][set_price] adds one).

    ``training_type`` ``None`` means Global Standard (the table's list prices). ``method``
    ``None`` means the model's token method (supervised) or, for a reinforcement-only model,
    reinforcement. Supervised and DPO are priced per 1M tokens, reinforcement per hour."""
    kind = TrainingType.GLOBAL_STANDARD if training_type is None else parse_training_type(training_type)
    info = lookup_model(model)
    if method is None:
        rft_only = info is not None and info.methods == {MethodKind.REINFORCEMENT}
        chosen = MethodKind.REINFORCEMENT if rft_only else MethodKind.SUPERVISED
    else:
        chosen = parse_method_kind(method)
    key = info.name if info else model
    hourly = chosen is MethodKind.REINFORCEMENT

    def priced(price: Price, factor: float, as_of: str, source: str, basis: str,
               inferred: bool) -> TrainingPrice | None:
        rate = price.training_per_hour if hourly else price.training_per_1m
        if rate is None:
            return None
        if not hourly:  # reinforcement: the guide gives one hourly rate, not one per training type
            rate = round(rate * factor, 4)
        return TrainingPrice(key, kind, chosen, None if hourly else rate, rate if hourly else None,
                             as_of, source, basis, inferred)

    today = _today().isoformat()
    typed = f"set_price(..., training_type={kind.value!r})"
    overrides = ((_type_overrides.get((key, kind)), typed), (_price_overrides.get(key), "set_price()"))
    for override, what in overrides:
        if override is not None:
            return priced(override, 1.0, today, what, "your price", False)
    if info is None or info.price is None:
        return None
    if hourly:
        basis = "the guide's rate for this model, one for every training type"
        return priced(info.price, 1.0, PRICES_AS_OF, COST_GUIDE_URL, basis, False)
    factor, basis = _FROM_GLOBAL[kind]
    inferred = kind is not TrainingType.GLOBAL_STANDARD
    return priced(info.price, factor, LIST_PRICES_AS_OF, LIST_PRICES_URL if not inferred else
                  f"{LIST_PRICES_URL} and {COST_GUIDE_URL}", basis, inferred)


def training_per_hour(model: str, training_type: str | TrainingType | None = None) -> float | None:
    """The reinforcement training rate of ``model`` in USD per hour (``None`` where unknown or the
    model has no reinforcement price). Model-grader tokens are billed on top, at inference rates."""
    price = training_price(model, training_type, MethodKind.REINFORCEMENT)
    return None if price is None else price.per_hour


_HOSTED_SKUS = {"standard", "globalstandard", "global", "datazonestandard", "datazone"}
_DEVELOPER_SKUS = {"developer", "developertier"}


def hosting_per_hour(model: str, sku: str) -> float | None:
    """The hourly hosting fee of a deployment of a fine-tune of ``model`` (a base model name or a
    fine-tuned model id) with deployment SKU ``sku``, in USD: ``0.0`` for the Developer tier (no
    hosting fee), ``None`` where unknown (no price for the model, provisioned SKUs billed in PTUs).

    Source: COST_GUIDE_URL ($1.70 per hour for Standard and Global Standard, none for Developer).
    The Data Zone Standard fee is not listed there: it is taken to be the same (inference)."""
    if not isinstance(sku, str) or not sku.strip():
        raise InvalidParameterError(f"sku must be a deployment SKU name such as 'Standard', not {sku!r}")
    key = re.sub(r"[\s_-]+", "", sku).lower()
    if key in _DEVELOPER_SKUS:
        return 0.0
    if key not in _HOSTED_SKUS:
        return None
    price = price_for(model)
    return None if price is None else price.hosting_per_hour


# --- retirement --------------------------------------------------------------------------------

RETIREMENT_WARNING_DAYS = 60
"""How many days ahead of a base model's fine-tuning retirement `start()` warns."""


class RetirementWarning(UserWarning):
    """Shown by `start()` when the base model's fine-tuning retirement is near or past."""


def _real_today() -> datetime.date:
    return datetime.datetime.now(datetime.timezone.utc).date()


_today: Callable[[], datetime.date] = _real_today
"""The clock retirement checks use (tests replace it; the real one is today's UTC date)."""


def retirement_notice(model: str, today: datetime.date | None = None) -> str | None:
    """A sentence when ``model``'s fine-tuning retirement is within
    ``RETIREMENT_WARNING_DAYS`` days of ``today`` (default: today, UTC) or past, else ``None``."""
    info = lookup_model(model)
    if info is None or info.fine_tuning_retires is None:
        return None
    now = today if today is not None else _today()
    when = info.fine_tuning_retires
    days = (when - now).days
    if days > RETIREMENT_WARNING_DAYS:
        return None
    tail = (f" Deployments of its fine-tunes stop on {info.retires.isoformat()}." if info.retires else "")
    if days < 0:
        head = (f"fine-tuning of {info.name} retired on {when.isoformat()}: new jobs may be refused "
                f"(existing customers may have a later date)")
    elif days == 0:
        head = f"fine-tuning of {info.name} retires today ({when.isoformat()}): new jobs may be refused"
    else:
        head = f"fine-tuning of {info.name} retires on {when.isoformat()}, in {days} days"
    return f"{head}.{tail} Source: {RETIREMENTS_URL}"

