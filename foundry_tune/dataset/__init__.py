"""Training data: read, validate, count, split and hash JSONL files for Foundry fine-tuning.

Reading is streaming everywhere: memory does not grow with the size of the file.
"""

import importlib
from typing import TYPE_CHECKING, Any

from foundry_tune.dataset._dataset import Dataset, validate_file
from foundry_tune.dataset._groups import IssueGroup, ShapeMatch
from foundry_tune.dataset._issues import Issue
from foundry_tune.dataset._tokens import ExampleTokens, TokenCounter

if TYPE_CHECKING:
    from foundry_tune.dataset._cost import CostEstimate, default_epochs, estimate_cost
    from foundry_tune.dataset._report import ValidationReport
    from foundry_tune.dataset._safety_check import DroppedRow, SafetyCheckReport
    from foundry_tune.dataset._stats import TokenStats

# Loaded on first use: validating never needs the safety check's module (~10 ms of imports), and a
# validation pass loads the report's models (pydantic, ~70 ms) only while its workers run.
_LAZY = {"DroppedRow": "foundry_tune.dataset._safety_check",
         "SafetyCheckReport": "foundry_tune.dataset._safety_check",
         "CostEstimate": "foundry_tune.dataset._cost",
         "default_epochs": "foundry_tune.dataset._cost",
         "estimate_cost": "foundry_tune.dataset._cost",
         "ValidationReport": "foundry_tune.dataset._report",
         "TokenStats": "foundry_tune.dataset._stats"}

__all__ = [
    "CostEstimate",
    "Dataset",
    "DroppedRow",
    "ExampleTokens",
    "Issue",
    "IssueGroup",
    "SafetyCheckReport",
    "ShapeMatch",
    "TokenCounter",
    "TokenStats",
    "ValidationReport",
    "default_epochs",
    "estimate_cost",
    "validate_file",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'foundry_tune.dataset' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
