"""Training data: read, validate, count, split and hash JSONL files for Foundry fine-tuning.

Reading is streaming everywhere: memory does not grow with the size of the file.
"""

from foundry_tune.dataset._cost import CostEstimate, default_epochs, estimate_cost
from foundry_tune.dataset._dataset import Dataset, validate_file
from foundry_tune.dataset._groups import IssueGroup, ShapeMatch
from foundry_tune.dataset._issues import Issue
from foundry_tune.dataset._report import ValidationReport
from foundry_tune.dataset._safety_check import DroppedRow, SafetyCheckReport
from foundry_tune.dataset._stats import TokenStats
from foundry_tune.dataset._tokens import ExampleTokens, TokenCounter

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
