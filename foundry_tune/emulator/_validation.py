"""File processing: the library's own Dataset validation rules, run on an uploaded blob."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from foundry_tune._method_kind import MethodKind
from foundry_tune.dataset import validate_file

_MAX_LISTED = 3


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
    if report.valid:
        return FileCheck(True, report.method, report.examples, None)
    shown = []
    for issue in report.errors[:_MAX_LISTED]:
        where = f"line {issue.line}: " if issue.line is not None else ""
        shown.append(f"{where}{issue.message} [{issue.code}]")
    more = len(report.errors) - len(shown)
    if more > 0:
        shown.append(f"and {more} more error(s)")
    return FileCheck(False, report.method, report.examples, "; ".join(shown))
