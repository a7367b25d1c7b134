"""The three training methods, as one small enum every layer can share."""

from __future__ import annotations

import enum

__all__ = ["MethodKind", "parse_method_kind"]


class MethodKind(str, enum.Enum):
    """Which kind of fine-tuning a dataset is for. The value is the wire ``method.type``."""

    SUPERVISED = "supervised"
    DPO = "dpo"
    REINFORCEMENT = "reinforcement"

    @property
    def short(self) -> str:
        """The short CLI name: ``sft``, ``dpo`` or ``rft``."""
        return {"supervised": "sft", "dpo": "dpo", "reinforcement": "rft"}[self.value]


_ALIASES = {
    "sft": MethodKind.SUPERVISED,
    "supervised": MethodKind.SUPERVISED,
    "chat": MethodKind.SUPERVISED,
    "dpo": MethodKind.DPO,
    "preference": MethodKind.DPO,
    "rft": MethodKind.REINFORCEMENT,
    "reinforcement": MethodKind.REINFORCEMENT,
}


def parse_method_kind(value: object) -> MethodKind:
    """Accept a [`MethodKind`][MethodKind], a name (``"sft"``, ``"dpo"``, ``"rft"``, or the wire names),
    or any object with a ``kind`` attribute (the ``TuningMethod`` classes)."""
    if isinstance(value, MethodKind):
        return value
    kind = getattr(value, "kind", None)
    if isinstance(kind, MethodKind):
        return kind
    if isinstance(value, str):
        found = _ALIASES.get(value.strip().lower())
        if found is not None:
            return found
    from foundry_tune.errors import InvalidParameterError

    raise InvalidParameterError(
        f"unknown training method {value!r}: use 'sft' (supervised), 'dpo' or 'rft' (reinforcement)"
    )
