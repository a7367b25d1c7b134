"""One cause, one finding: a validation report's issues grouped by the rule they break.

A file validated for the wrong method fails the same rules on every line, and a model without
vision refuses every image: hundreds of identical issues with one cause. The report keeps every
issue (``report.errors``); `group_issues` turns them into findings (``report.groups``): one
per rule, with the count and the line numbers, and one per recognised data shape ("these lines
look like DPO preference pairs") that takes in every rule those lines break because of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from foundry_tune._method_kind import MethodKind
from foundry_tune.dataset._findings import method_name
from foundry_tune.dataset._issues import Issue, Severity, more_count

__all__ = ["GROUP_AT", "IssueGroup", "ShapeMatch", "group_issues", "shape_counts"]

GROUP_AT = 3
"""A rule broken this many times or more is shown as one line; fewer, issue by issue."""
_LINES_SHOWN = 5
_MISMATCH = "file.method_mismatch"

_SHAPE = {
    MethodKind.SUPERVISED: "supervised chat examples (messages ending with the assistant's reply)",
    MethodKind.DPO: "DPO preference pairs (input/preferred_output/non_preferred_output)",
    MethodKind.REINFORCEMENT: "reinforcement prompts (messages ending with the user's turn)",
}


@dataclasses.dataclass(frozen=True)
class ShapeMatch:
    """Lines that break the rules of the method validated for and have the shape of another
    method's examples (``method``): ``count`` lines in all, ``lines`` the first 1,000 of them."""

    method: MethodKind
    count: int
    lines: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {"method": self.method.short, "count": self.count, "lines": list(self.lines)}


@dataclasses.dataclass(frozen=True)
class IssueGroup:
    """One finding of a validation report: the issues with one cause.

    Either every issue of one ``code`` and ``severity``, or (``looks_like`` set) every rule broken
    by lines that have the shape of another method's data, under the code
    ``file.method_mismatch``. ``count`` is how many times the rule is broken (how many lines,
    for a data shape), including lines past a report's per-code limit; ``lines`` are the line
    numbers kept, in order; ``issues`` are the report's issues this finding covers.
    """

    code: str
    severity: Severity
    message: str
    """What the issues say (the first one's message when they differ, see ``same_message``)."""
    count: int
    lines: tuple[int, ...]
    issues: tuple[Issue, ...]
    same_message: bool = True
    """Whether every issue of the group says the same (False: ``message`` is an example)."""
    looks_like: MethodKind | None = None
    """The method whose data these lines look like (a data-shape finding), or None."""
    detail: str | None = None
    """For a data shape: which rules of the method validated for these lines break, how often."""

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of the issues covered, in order of first appearance."""
        return tuple(dict.fromkeys(issue.code for issue in self.issues))

    @property
    def shown_as_one(self) -> bool:
        """Whether a report shows this finding as one line (a data shape, or a rule broken three
        times or more) rather than issue by issue."""
        return self.looks_like is not None or self.count >= GROUP_AT

    def where(self) -> str:
        """``"284 lines"``, ``"5 times on 3 lines"`` or ``"file"``, for messages."""
        if not self.lines:
            return "file" if self.count <= 1 else f"{self.count:,} times"
        distinct = len(set(self.lines))
        kept = sum(1 for issue in self.issues if more_count(issue) == 0)
        if self.looks_like is not None or kept == distinct:
            return f"{self.count:,} line" + ("" if self.count == 1 else "s")
        return f"{self.count:,} times on {distinct:,}{'+' if self.count > kept else ''} lines"

    def line_list(self, shown: int = _LINES_SHOWN, *, label: bool = True) -> str:
        """The first ``shown`` line numbers, ``"lines 1, 2, 3, 4, 5, ..."`` (without ``label``:
        ``"1, 2, 3, 4, 5, ..."``)."""
        lines = list(dict.fromkeys(self.lines))
        more = ", ..." if len(lines) > shown or self.count > len(lines) else ""
        numbers = f"{', '.join(str(n) for n in lines[:shown])}{more}"
        if not label:
            return numbers
        return f"{'line' if len(lines) == 1 and not more else 'lines'} {numbers}"

    def __str__(self) -> str:
        """One line (two for a data shape: what the lines break comes second, indented)."""
        if not self.shown_as_one and len(self.issues) == 1:
            return str(self.issues[0])
        example = "" if self.same_message or not self.lines else f", e.g. line {self.lines[0]}"
        lines = f" ({self.line_list()})" if self.lines else ""
        text = f"{self.where()}{example}: {self.message}{lines} [{self.code}]"
        return text if self.detail is None else f"{text}\n  {self.detail}"

    def to_dict(self) -> dict[str, object]:
        """The JSON shape in ``ValidationReport.to_dict()["groups"]`` (every line kept)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "count": self.count,
            "lines": list(dict.fromkeys(self.lines)),
            "codes": list(self.codes),
            "same_message": self.same_message,
            "looks_like": None if self.looks_like is None else self.looks_like.short,
            "detail": self.detail,
        }


def shape_counts(
    shapes: dict[MethodKind, tuple[int, list[int]]], method: MethodKind, examples: int
) -> tuple[ShapeMatch, ...]:
    """The data shapes that explain a file's failures: lines that look like DPO pairs (or that
    look like anything but DPO pairs, when validating for DPO) always; supervised examples and
    reinforcement prompts (which differ only in their last message) when they are at least half
    of the file, so that a few chat examples missing their reply are not taken for prompts."""
    found = []
    for looks, (count, lines) in shapes.items():
        clear = MethodKind.DPO in (looks, method)
        if clear or count * 2 >= examples:
            found.append(ShapeMatch(looks, count, tuple(lines)))
    return tuple(sorted(found, key=lambda s: s.lines[0] if s.lines else 0))


def group_issues(
    errors: Sequence[Issue], warnings: Sequence[Issue], shapes: Sequence[ShapeMatch], method: MethodKind
) -> list[IssueGroup]:
    """The findings of a report: errors first, then warnings, each in order of first appearance."""
    prefix = method.short + "."
    everything = [*errors, *warnings]
    folded: set[int] = set()  # indices into ``everything``
    shape_groups: list[tuple[int, IssueGroup]] = []
    for shape in shapes:
        lines = set(shape.lines)
        taken = [
            index for index, issue in enumerate(everything)
            if index not in folded and issue.line in lines
            and (issue.code == _MISMATCH or issue.code.startswith(prefix))
        ]
        codes = {everything[index].code for index in taken}
        for index, issue in enumerate(everything):  # "N more lines have this problem" of those codes
            if more_count(issue) and issue.code in codes and _all_taken(everything, issue, taken):
                taken.append(index)
        if not taken:
            continue
        taken.sort()
        folded.update(taken)
        issues = tuple(everything[index] for index in taken)
        shape_groups.append((taken[0], IssueGroup(
            code=_MISMATCH,
            severity="error",
            message=(f"these lines look like {_SHAPE[shape.method]}, not {method_name(method)} examples: "
                     f"validate with method='{shape.method.short}' (CLI: --method {shape.method.short})"),
            count=shape.count,
            lines=shape.lines,
            issues=issues,
            looks_like=shape.method,
            detail=_broken(method, issues),
        )))
    by_code: dict[tuple[str, Severity], list[int]] = {}
    for index, issue in enumerate(everything):
        if index not in folded:
            by_code.setdefault((issue.code, issue.severity), []).append(index)
    groups = list(shape_groups)
    for (code, severity), indices in by_code.items():
        issues = tuple(everything[index] for index in indices)
        kept = [issue for issue in issues if not more_count(issue)] or list(issues)
        count = sum(more_count(issue) or 1 for issue in issues)
        messages = {issue.message for issue in kept}
        groups.append((indices[0], IssueGroup(
            code=code,
            severity=severity,
            message=kept[0].message,
            count=count,
            lines=tuple(issue.line for issue in kept if issue.line is not None),
            issues=issues,
            same_message=len(messages) == 1,
        )))
    groups.sort(key=lambda item: (item[1].severity != "error", item[0]))
    return [group for _, group in groups]


def _all_taken(everything: Sequence[Issue], summary: Issue, taken: list[int]) -> bool:
    """Whether every kept issue of the summary's code is among ``taken``."""
    chosen = set(taken)
    return all(index in chosen for index, issue in enumerate(everything)
               if issue.code == summary.code and issue.severity == summary.severity and not more_count(issue))


def _broken(method: MethodKind, issues: Sequence[Issue]) -> str | None:
    """``"as supervised data they break its rules: 569 errors (sft.unknown_key, ...)"``."""
    codes = ", ".join(code for code in dict.fromkeys(issue.code for issue in issues) if code != _MISMATCH)
    if not codes:
        return None
    errors = sum(more_count(issue) or 1 for issue in issues if issue.severity == "error")
    warnings = sum(more_count(issue) or 1 for issue in issues if issue.severity == "warning")
    counts = f"{errors:,} error" + ("" if errors == 1 else "s")
    if warnings:
        counts += f" and {warnings:,} warning" + ("" if warnings == 1 else "s")
    return f"as {method_name(method)} data they break its rules: {counts} ({codes})"
