"""The per-example findings list every rule writes to, with the method's code prefix."""

from __future__ import annotations

from foundry_tune._method_kind import MethodKind
from foundry_tune.dataset._issues import Severity

__all__ = ["Findings", "describe_type", "method_from_name", "method_name"]


class Findings:
    """Problems found in one example: ``(code, message, severity)`` with codes like ``sft.role_unknown``."""

    __slots__ = ("items", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.items: list[tuple[str, str, Severity]] = []

    def error(self, code: str, message: str) -> None:
        """Record an error: the example will not train as it is."""
        self.items.append((f"{self.prefix}.{code}", message, "error"))

    def warning(self, code: str, message: str) -> None:
        """Record a warning: the example trains, but probably not as intended."""
        self.items.append((f"{self.prefix}.{code}", message, "warning"))

    @property
    def has_errors(self) -> bool:
        """Whether any finding is an error."""
        return any(severity == "error" for _, _, severity in self.items)


def describe_type(value: object) -> str:
    """The JSON name of a value's type, for messages ("got a number")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def method_name(method: MethodKind) -> str:
    """How messages name a method: ``supervised``, ``DPO``, ``reinforcement``."""
    return "DPO" if method is MethodKind.DPO else method.value


def method_from_name(name: str) -> MethodKind | None:
    """The method [`method_name()`][method_name] calls ``name`` (``"DPO"`` -> DPO), or None."""
    for method in MethodKind:
        if method_name(method) == name:
            return method
    return None
