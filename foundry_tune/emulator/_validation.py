"""File processing: the library's own Dataset validation rules, run on an uploaded blob."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any

from foundry_tune._method_kind import MethodKind

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
    report = _validate_file(path, method, model=model)
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


# TEMPORARY until foundry_tune.dataset exports validate_file (same contract); then import it directly.
def _validate_file(path: Path, method: MethodKind | None, *, model: str | None) -> Any:
    try:
        module = importlib.import_module("foundry_tune.dataset")
        return module.validate_file(path, method, model=model)
    except (ImportError, AttributeError):
        return _minimal_report(path, method)


@dataclasses.dataclass
class _Issue:
    line: int | None
    code: str
    message: str


@dataclasses.dataclass
class _Report:
    valid: bool
    method: MethodKind | None
    examples: int
    errors: list[_Issue]


def _minimal_report(path: Path, method: MethodKind | None) -> _Report:
    errors: list[_Issue] = []
    examples = 0
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError:
                errors.append(_Issue(number, "invalid_json", "not valid JSON"))
                continue
            kind = MethodKind.DPO if "preferred_output" in row else (
                MethodKind.REINFORCEMENT if row.get("messages", [{}])[-1].get("role") == "user"
                else MethodKind.SUPERVISED)
            method = method or kind
            if kind != method:
                errors.append(_Issue(number, "wrong_format", f"not a {method.value} example"))
            examples += 1
    if examples < 10:
        errors.append(_Issue(None, "too_few_examples", f"{examples} examples, at least 10 are required"))
    return _Report(not errors, method, examples, errors)
