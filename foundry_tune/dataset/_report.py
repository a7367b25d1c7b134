"""The result of validating a dataset, rendered for terminals, tools and notebooks."""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import re
from typing import TYPE_CHECKING, Any

from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import lookup_model
from foundry_tune.dataset._findings import method_from_name, method_name
from foundry_tune.dataset._groups import IssueGroup, ShapeMatch, group_issues
from foundry_tune.dataset._issues import Issue
from foundry_tune.errors import DatasetValidationError

if TYPE_CHECKING:
    from foundry_tune.dataset._cost import CostEstimate
    from foundry_tune.dataset._stats import TokenStats

__all__ = ["ValidationReport"]

_TEXT_LIMIT_PER_CODE = 20
_ERRORS_IN_EXCEPTION = 5
_MESSAGE_CHARS = 200
_LOOKS_LIKE = re.compile(r"looks like an? (\w+) example")
_DATA_SHAPE = {
    MethodKind.SUPERVISED: "supervised chat examples",
    MethodKind.DPO: "DPO preference pairs",
    MethodKind.REINFORCEMENT: "reinforcement prompts (ending with the user's turn)",
}
_METHOD_CALL = {
    MethodKind.SUPERVISED: "Supervised(...)",
    MethodKind.DPO: "DPO(...)",
    MethodKind.REINFORCEMENT: "Reinforcement(grader=...)",
}


def _plain(value: object) -> Any:
    """A JSON-ready form of a statistics object (``to_dict()``, a dataclass or a pydantic model)."""
    if value is None:
        return None
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """Everything the validator found in one file: whether it will train, every error and
    warning with its line and code, and (for data that parses) token statistics and a cost estimate.

    `errors` and `warnings` name every line; `groups` gathers them into findings, one per cause
    (a rule broken on 300 lines is one finding with the count and the first lines), and that is
    what `to_text()` and `str()` show.
    """

    valid: bool
    path: str
    method: MethodKind
    examples: int
    errors: list[Issue]
    warnings: list[Issue]
    tokens: TokenStats | None = None
    estimate: CostEstimate | None = None
    shapes: tuple[ShapeMatch, ...] = ()
    """Failing lines that look like another method's data (a DPO pair validated as supervised,
    ...): the cause `groups` reports them under."""

    @functools.cached_property
    def groups(self) -> list[IssueGroup]:
        """The findings: the errors and warnings grouped by cause, errors first, each in order of
        first appearance. A finding covers every issue of one rule, or (`IssueGroup.looks_like`)
        every rule broken by lines that look like another method's data; `count` says how many
        lines and `lines` which. `errors` and `warnings` still hold every issue."""
        return group_issues(self.errors, self.warnings, self.shapes, self.method)

    @property
    def approximate_tokens(self) -> str | None:
        """Why the token counts are only approximate (the model is not a tiktoken model, e.g.
        ``Ministral-3B``), or ``None`` when they are exact."""
        model = self.estimate.model if self.estimate is not None else None
        info = lookup_model(model) if model else None
        if info is None or info.exact_tokens:
            return None
        return (f"approximate: {info.name} uses its own tokenizer; counted with {info.encoding} "
                "(expect differences of a few percent)")

    def summary(self) -> str:
        """One line: the verdict, the method, the example count and how many problems."""
        verdict = "valid" if self.valid else "INVALID"
        method = f"{method_name(self.method)} fine-tuning"
        if any(issue.code == "file.method_undetected" for issue in self.errors):
            method = "fine-tuning (not a training file)"
        return (
            f"{self.path}: {verdict} for {method}, {self.examples:,} examples, "
            f"{_count(len(self.errors), 'error')}, {_count(len(self.warnings), 'warning')}"
        )

    def to_text(
        self, limit_per_code: int | None = _TEXT_LIMIT_PER_CODE, *, grouped: bool | None = None
    ) -> str:
        """The report for a terminal; `to_dict` always has every issue.

        ``grouped`` (the default, unless ``limit_per_code`` is None) shows `groups`: a rule broken
        on three or more lines is one line with the count and the first line numbers, and lines
        that look like another method's data are one finding that says so.
        ``grouped=False`` lists issues one by one, at most ``limit_per_code`` of each code (None: all).
        """
        if grouped is None:
            grouped = limit_per_code is not None
        lines = [self.summary()]
        for title, issues in (("errors", self.errors), ("warnings", self.warnings)):
            if not issues:
                continue
            if grouped:
                severity = "error" if title == "errors" else "warning"
                findings = [g for g in self.groups if g.severity == severity]
                if findings:
                    lines.append(f"{title}:")
                    lines.extend(f"  {line}" for item in _shown(findings) for line in str(item).splitlines())
                continue
            lines.append(f"{title}:")
            shown: dict[str, int] = {}
            hidden: dict[str, int] = {}
            for issue in issues:
                n = shown.get(issue.code, 0)
                if limit_per_code is not None and n >= limit_per_code:
                    hidden[issue.code] = hidden.get(issue.code, 0) + 1
                    continue
                shown[issue.code] = n + 1
                lines.append(f"  {issue}")
            for code, n in hidden.items():
                lines.append(f"  ... {n:,} more [{code}] not shown (use --json or to_dict() for all)")
        if self.tokens is not None:
            lines.append("tokens:")
            lines.extend(f"  {line}" for line in _text_block(self.tokens))
            if self.approximate_tokens:
                lines.append(f"  {self.approximate_tokens}")
        if self.estimate is not None:
            lines.append("estimate:")
            lines.extend(f"  {line}" for line in _text_block(self.estimate))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object printed by ``foundry-tune validate --json``."""
        return {
            "valid": self.valid,
            "path": self.path,
            "method": self.method.short,
            "examples": self.examples,
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": [issue.to_dict() for issue in self.warnings],
            "groups": [group.to_dict() for group in self.groups],
            "tokens": _plain(self.tokens),
            "tokens_approximate": self.approximate_tokens,
            "estimate": _plain(self.estimate),
        }

    def to_json(self, indent: int | None = None) -> str:
        """[`to_dict()`][to_dict] as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def _method_hint(self) -> str | None:
        """What to do when the data is clearly another method's (a DPO file validated as
        supervised, ...): the method to use, or ``None``."""
        for issue in self.errors:
            if issue.code != "file.method_mismatch":
                continue
            found = _LOOKS_LIKE.search(issue.message)
            looks = method_from_name(found.group(1)) if found else None
            if looks is None or looks is self.method:
                return None
            return (f"the data looks like {_DATA_SHAPE[looks]} (line {issue.line}), not "
                    f"{method_name(self.method)} data: use .method({_METHOD_CALL[looks]}) "
                    f"(CLI: --method {looks.short})")
        return None

    def _failure_text(self) -> str:
        """The message of `DatasetValidationError`: the summary, the first findings (errors
        grouped by cause) with their lines and code, how many more there are, and the method to
        use when the data is another's."""
        lines = [self.summary()]
        shown = _shown([g for g in self.groups if g.severity == "error"])
        for item in shown[:_ERRORS_IN_EXCEPTION]:
            if isinstance(item, IssueGroup):
                where = f"{item.where()} ({item.line_list(label=False)})" if item.lines else item.where()
            else:
                where = f"line {item.line}" if item.line is not None else "file"
            message = item.message
            if len(message) > _MESSAGE_CHARS:
                message = message[: _MESSAGE_CHARS - 3] + "..."
            lines.append(f"  {where} [{item.code}]: {message}")
        more = len(shown) - _ERRORS_IN_EXCEPTION
        if more > 0:
            lines.append(f"  ... and {_count(more, 'more finding')} (all: .report.groups, .report.errors, "
                         ".report.to_text())")
        hint = self._method_hint()
        if hint is not None:
            lines.append(f"hint: {hint}")
        return "\n".join(lines)

    def raise_for_errors(self) -> ValidationReport:
        """Raise [`DatasetValidationError`][DatasetValidationError] when the data would not
        train; return the report otherwise, so calls can be chained."""
        if not self.valid:
            raise DatasetValidationError(self)
        return self

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.valid else "#cf222e"
        parts = [
            "<div class='foundry-tune-report'>",
            f"<p><strong style='color:{colour}'>{html.escape(self.summary())}</strong></p>",
        ]
        items = _shown(self.groups)
        if items:
            parts.append(
                "<table><thead><tr><th>line</th><th>severity</th><th>code</th>"
                "<th>message</th></tr></thead><tbody>"
            )
            for item in items:
                if isinstance(item, IssueGroup):
                    line = f"{item.where()}: {item.line_list()}" if item.lines else item.where()
                else:
                    line = "" if item.line is None else str(item.line)
                parts.append(
                    f"<tr><td>{html.escape(line)}</td><td>{item.severity}</td><td><code>"
                    f"{html.escape(item.code)}</code></td><td>{html.escape(item.message)}</td></tr>"
                )
            parts.append("</tbody></table>")
        for title, block in (("tokens", self.tokens), ("estimate", self.estimate)):
            if block is not None:
                body = html.escape("\n".join(_text_block(block)))
                parts.append(f"<p><strong>{title}</strong></p><pre>{body}</pre>")
        parts.append("</div>")
        return "".join(parts)


def _shown(groups: list[IssueGroup]) -> list[IssueGroup | Issue]:
    """What a report shows: a finding as one line when it is a data shape or a rule broken
    often, otherwise each of its issues."""
    items: list[IssueGroup | Issue] = []
    for group in groups:
        if group.shown_as_one:
            items.append(group)
        else:
            items.extend(group.issues)
    return items


def _text_block(value: object) -> list[str]:
    to_text = getattr(value, "to_text", None)
    if callable(to_text):
        return str(to_text()).splitlines()
    data = _plain(value)
    if isinstance(data, dict):
        return [f"{key}: {item}" for key, item in data.items()]
    return [str(data)]


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")
