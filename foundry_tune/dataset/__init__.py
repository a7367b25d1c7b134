"""Training data: read, validate, count, split and hash JSONL files for Foundry fine-tuning.

Reading is streaming everywhere: memory does not grow with the size of the file.
"""

from foundry_tune.dataset._dataset import Dataset, validate_file
from foundry_tune.dataset._issues import Issue
from foundry_tune.dataset._report import ValidationReport

__all__ = ["Dataset", "Issue", "ValidationReport", "validate_file"]
