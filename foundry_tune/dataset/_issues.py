"""One problem found in a dataset, and the bounded collector that gathers them."""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

__all__ = ["MAX_ISSUES_PER_CODE", "Issue", "IssueCollector", "Severity", "more_count"]

Severity = Literal["error", "warning"]

MAX_ISSUES_PER_CODE = 1000
"""Beyond this many occurrences of one code, a report keeps a count instead of every line:
a file with the same mistake on a million lines must not need a million objects to say so."""

_MORE = " more lines have this problem"
_MORE_COUNT = re.compile(r"^([\d,]+)" + re.escape(_MORE))


@dataclasses.dataclass(frozen=True)
class Issue:
    """A problem in a dataset: the 1-based ``line`` (None for the file as a whole), a stable
    machine ``code`` such as ``sft.weight_invalid``, a ``message`` saying what to change,
    and its ``severity``: errors stop training, warnings do not."""

    line: int | None
    code: str
    message: str
    severity: Severity = "error"

    def to_dict(self) -> dict[str, object]:
        """The JSON shape used by ``foundry-tune validate --json``."""
        return {"line": self.line, "code": self.code, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: {self.message} [{self.code}]"


class IssueCollector:
    """Collects issues in file order, keeping at most [`MAX_ISSUES_PER_CODE`][MAX_ISSUES_PER_CODE] per
    code."""

    def __init__(self, limit: int = MAX_ISSUES_PER_CODE) -> None:
        self._limit = limit
        self._errors: list[Issue] = []
        self._warnings: list[Issue] = []
        self._counts: dict[tuple[str, Severity], int] = {}

    def add(self, line: int | None, code: str, message: str, severity: Severity = "error") -> None:
        """Record one issue (or only count it, once its code is over the limit)."""
        key = (code, severity)
        seen = self._counts.get(key, 0)
        self._counts[key] = seen + 1
        if seen < self._limit:
            target = self._errors if severity == "error" else self._warnings
            target.append(Issue(line, code, message, severity))

    def add_uncounted(self, code: str, severity: Severity, n: int) -> None:
        """Count ``n`` more occurrences of ``code`` that are not kept (merging the collectors of
        the parts of a file validated in several processes: what each left out past its limit)."""
        if n > 0:
            key = (code, severity)
            self._counts[key] = self._counts.get(key, 0) + n

    def kept(self) -> tuple[list[Issue], list[Issue]]:
        """The errors and warnings kept so far, in order, without the summaries of
        [`finish()`][finish]."""
        return list(self._errors), list(self._warnings)

    def counts(self) -> dict[tuple[str, Severity], int]:
        """How many times each ``(code, severity)`` occurred, kept or not, in order of first occurrence."""
        return dict(self._counts)

    @property
    def has_errors(self) -> bool:
        """Whether any error (not warning) was recorded."""
        return bool(self._errors)

    def count(self, code: str, severity: Severity = "error") -> int:
        """How many times ``code`` occurred, including occurrences not kept."""
        return self._counts.get((code, severity), 0)

    def finish(self) -> tuple[list[Issue], list[Issue]]:
        """The errors and warnings, each followed by a summary line for codes over the limit."""
        errors, warnings = list(self._errors), list(self._warnings)
        for (code, severity), total in self._counts.items():
            if total > self._limit:
                target = errors if severity == "error" else warnings
                target.append(
                    Issue(
                        None,
                        code,
                        f"{total - self._limit:,}{_MORE} "
                        f"(the first {self._limit:,} are listed)",
                        severity,
                    )
                )
        return errors, warnings


def more_count(issue: Issue) -> int:
    """How many occurrences past the limit a summary issue of `IssueCollector` stands for
    ("1,500 more lines have this problem"); 0 for any other issue."""
    if issue.line is not None:
        return 0
    found = _MORE_COUNT.match(issue.message)
    return int(found.group(1).replace(",", "")) if found else 0
