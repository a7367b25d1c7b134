"""The result of validating a dataset, rendered for terminals, tools and notebooks."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from typing import TYPE_CHECKING, Any

from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import lookup_model
from foundry_tune.dataset._findings import method_from_name, method_name
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
    warning with its line and code, and (for data that parses) token statistics and a cost estimate."""

    valid: bool
    path: str
    method: MethodKind
    examples: int
    errors: list[Issue]
    warnings: list[Issue]
    tokens: TokenStats | None = None
    estimate: CostEstimate | None = None

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

    def to_text(self, limit_per_code: int | None = _TEXT_LIMIT_PER_CODE) -> str:
        """The report for a terminal. Shows at most ``limit_per_code`` issues of each code
        (None: all); :meth:`to_dict` always has all of them."""
        lines = [self.summary()]
        for title, issues in (("errors", self.errors), ("warnings", self.warnings)):
            if not issues:
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
            "tokens": _plain(self.tokens),
            "tokens_approximate": self.approximate_tokens,
            "estimate": _plain(self.estimate),
        }

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON string."""
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
        """The message of :class:`DatasetValidationError`: the summary, the first errors with their
        line and code, how many more there are, and the method to use when the data is another's."""
        lines = [self.summary()]
        for issue in self.errors[:_ERRORS_IN_EXCEPTION]:
            where = f"line {issue.line}" if issue.line is not None else "file"
            message = issue.message
            if len(message) > _MESSAGE_CHARS:
                message = message[: _MESSAGE_CHARS - 3] + "..."
            lines.append(f"  {where} [{issue.code}]: {message}")
        more = len(self.errors) - _ERRORS_IN_EXCEPTION
        if more > 0:
            lines.append(f"  ... and {_count(more, 'more error')} (all: .report.errors, .report.to_text())")
        hint = self._method_hint()
        if hint is not None:
            lines.append(f"hint: {hint}")
        return "\n".join(lines)

    def raise_for_errors(self) -> ValidationReport:
        """Raise :class:`~foundry_tune.errors.DatasetValidationError` when the data would not
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
        issues = [*self.errors, *self.warnings]
        if issues:
            parts.append(
                "<table><thead><tr><th>line</th><th>severity</th><th>code</th>"
                "<th>message</th></tr></thead><tbody>"
            )
            for issue in issues:
                line = "" if issue.line is None else str(issue.line)
                parts.append(
                    f"<tr><td>{line}</td><td>{issue.severity}</td><td><code>{html.escape(issue.code)}"
                    f"</code></td><td>{html.escape(issue.message)}</td></tr>"
                )
            parts.append("</tbody></table>")
        for title, block in (("tokens", self.tokens), ("estimate", self.estimate)):
            if block is not None:
                body = html.escape("\n".join(_text_block(block)))
                parts.append(f"<p><strong>{title}</strong></p><pre>{body}</pre>")
        parts.append("</div>")
        return "".join(parts)


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
