"""What foundry-tune knows about the base models Foundry can fine-tune.

One table serves the validator (token limit per example, tokenizer encoding), the method
checks (which methods a model supports), the cost estimate (prices) and the emulator
(its model allow-list). Prices are list prices in USD, dated and sourced below; they change,
so :func:`set_price` lets you override any of them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from types import MappingProxyType

from foundry_tune._method_kind import MethodKind

__all__ = [
    "PRICES_AS_OF",
    "PRICES_SOURCE",
    "ModelInfo",
    "Price",
    "known_models",
    "lookup_model",
    "price_for",
    "set_price",
]

PRICES_AS_OF = "2025-11-01"
PRICES_SOURCE = (
    "Azure OpenAI Service pricing page (Global Standard, USD) and the Foundry fine-tuning cost "
    "documentation; indicative list prices, check your agreement."
)


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
    max_example_tokens: int
    methods: frozenset[MethodKind]
    vision: bool
    price: Price

    def supports(self, method: MethodKind) -> bool:
        """Whether Foundry can fine-tune this model with ``method``."""
        return method in self.methods


_SFT_DPO = frozenset({MethodKind.SUPERVISED, MethodKind.DPO})

_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo("gpt-4.1", "2025-04-14", "o200k_base", 65_536, _SFT_DPO, True,
                  Price(25.0, None, 1.70, 2.00, 8.00, 3.00, 12.00)),
        ModelInfo("gpt-4.1-mini", "2025-04-14", "o200k_base", 65_536, _SFT_DPO, False,
                  Price(5.0, None, 1.70, 0.40, 1.60, 0.80, 3.20)),
        ModelInfo("gpt-4.1-nano", "2025-04-14", "o200k_base", 32_768, _SFT_DPO, False,
                  Price(1.5, None, 1.70, 0.10, 0.40, 0.20, 0.80)),
        ModelInfo("gpt-4o", "2024-08-06", "o200k_base", 65_536, _SFT_DPO, True,
                  Price(25.0, None, 1.70, 2.50, 10.00, 3.75, 15.00)),
        ModelInfo("gpt-4o-mini", "2024-07-18", "o200k_base", 65_536, _SFT_DPO, False,
                  Price(3.0, None, 1.70, 0.15, 0.60, 0.30, 1.20)),
        ModelInfo("o4-mini", "2025-04-16", "o200k_base", 65_536,
                  frozenset({MethodKind.REINFORCEMENT}), False,
                  Price(None, 100.0, 1.70, 1.10, 4.40, 1.10, 4.40)),
        ModelInfo("gpt-35-turbo", "0125", "cl100k_base", 16_385,
                  frozenset({MethodKind.SUPERVISED}), False,
                  Price(8.0, None, 1.70, 0.50, 1.50, 0.50, 1.50)),
    ]
}

_price_overrides: dict[str, Price] = {}

_DATED = re.compile(r"^(?P<base>.+?)-(?P<date>\d{4}-\d{2}-\d{2}|\d{4})$")
_ALIASES = {"gpt-3.5-turbo": "gpt-35-turbo"}


def known_models() -> Mapping[str, ModelInfo]:
    """Every base model in the table, by name."""
    return MappingProxyType(_MODELS)


def lookup_model(name: str) -> ModelInfo | None:
    """Find a base model by name, tolerating a dated suffix (``gpt-4.1-mini-2025-04-14``),
    the ``gpt-3.5-turbo`` spelling, a fine-tuned model id (``gpt-4.1-mini.ft-abc``) and case."""
    key = name.strip().lower()
    key = key.split(".ft-", 1)[0].split(":ft-", 1)[0]
    key = _ALIASES.get(key, key)
    if key in _MODELS:
        return _MODELS[key]
    dated = _DATED.match(key)
    if dated:
        base = _ALIASES.get(dated.group("base"), dated.group("base"))
        if base in _MODELS:
            return _MODELS[base]
    return None


def price_for(name: str) -> Price | None:
    """The price in force for a model: a :func:`set_price` override, else the table's."""
    info = lookup_model(name)
    if info is None:
        return _price_overrides.get(name)
    return _price_overrides.get(info.name, info.price)


def set_price(name: str, price: Price | None) -> None:
    """Override (or, with ``None``, restore) the price used for ``name`` in estimates."""
    info = lookup_model(name)
    key = info.name if info else name
    if price is None:
        _price_overrides.pop(key, None)
    else:
        _price_overrides[key] = price
