"""File processing: the library's own Dataset validation rules, run on an uploaded blob.

The example count is not a file rule on Azure: it processed the 2-example DPO validation file of
azure-ai-projects' samples (``processed``), and a too-small training file fails the *job* with
``invalid_n_examples`` instead. So [`check_file()`][check_file] leaves that rule to the job.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from foundry_tune._method_kind import MethodKind
from foundry_tune.dataset import validate_file

_MAX_LISTED = 3
_COUNT_RULE = "file.too_few_examples"


@dataclasses.dataclass(frozen=True)
class FileCheck:
    """The outcome of validating one file: what the service reports about it."""

    valid: bool
    method: MethodKind | None
    examples: int
    details: str | None


def check_file(path: Path, method: MethodKind | None = None, model: str | None = None) -> FileCheck:
    """Validate ``path`` with the Dataset rules (for ``method``, or the detected one)."""
    report = validate_file(path, method, model=model)
    errors = [issue for issue in report.errors if issue.code != _COUNT_RULE]
    if not errors:
        return FileCheck(True, report.method, report.examples, None)
    shown = []
    for issue in errors[:_MAX_LISTED]:
        where = f"line {issue.line}: " if issue.line is not None else ""
        shown.append(f"{where}{issue.message} [{issue.code}]")
    more = len(errors) - len(shown)
    if more > 0:
        shown.append(f"and {more} more error(s)")
    return FileCheck(False, report.method, report.examples, "; ".join(shown))
