"""The validation pass: one streaming read of a file, in chunks, applying every rule.

Memory stays flat: per line the pass keeps an 8-byte content digest (for duplicates) and the
statistics keep one token count per example; records themselves live only for one chunk.
Token counting of chunk N runs in the background while chunk N+1 is parsed and checked.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
from array import array
from collections.abc import Callable, Iterator
from typing import IO, Any, Literal

from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import ModelInfo, known_models, lookup_model
from foundry_tune.dataset._cost import estimate_cost
from foundry_tune.dataset._findings import method_name
from foundry_tune.dataset._grader_refs import GraderNeeds
from foundry_tune.dataset._groups import shape_counts
from foundry_tune.dataset._issues import MAX_ISSUES_PER_CODE, Issue, IssueCollector, Severity
from foundry_tune.dataset._reader import LINE_TOO_LONG, MAX_LINE_BYTES, Line, iter_chunks, parse_line
from foundry_tune.dataset._report import ValidationReport
from foundry_tune.dataset._rules import detect_method, rules_for
from foundry_tune.dataset._stats import StatsAccumulator
from foundry_tune.dataset._tokens import ExampleTokens, TokenCounter
from foundry_tune.errors import InvalidParameterError

__all__ = ["MIN_EXAMPLES", "Check", "example_key", "line_keys", "run_validation"]

MIN_EXAMPLES = 10
CHUNK_LINES = 512
_DETECT_LINES = 1000
_LARGEST_LIMIT = max(info.max_example_tokens for info in known_models().values())

Opener = Callable[[], IO[bytes]]


def example_key(data: bytes) -> int:
    """A 64-bit hash of a line's JSON text, for duplicates and overlap within one process:
    equal lines, equal keys (Python's keyed SipHash; only compared, never stored)."""
    return hash(data.strip())


def line_keys(open_stream: Opener) -> dict[int, int]:
    """The key of every non-blank line of a file, mapped to its first line number."""
    keys: dict[int, int] = {}
    with open_stream() as stream:
        for chunk in iter_chunks(stream, CHUNK_LINES):
            for line in chunk:
                if not line.blank and line.too_long is None:
                    keys.setdefault(example_key(line.data), line.number)
    return keys


@dataclasses.dataclass(frozen=True)
class Check:
    """What to validate against."""

    method: MethodKind | None
    model: str | None = None
    grader: GraderNeeds | None = None
    json_response: bool = False
    strict: bool = False
    overlap: dict[int, int] | None = None
    """Keys of the validation file's lines (for training/validation overlap warnings)."""
    n_epochs: int | Literal["auto"] = "auto"
    max_line_bytes: int = MAX_LINE_BYTES
    """Lines longer than this are reported (``file.line_too_long``) and skipped, never held whole."""
    too_few_advice: str | None = None
    """What to do when the file has fewer than `MIN_EXAMPLES` examples (set for the parts of
    ``Dataset.split()``: the fraction that gives enough); None: add examples."""


def _detect(open_stream: Opener, max_line_bytes: int) -> MethodKind | None:
    with open_stream() as stream:
        seen = 0
        for chunk in iter_chunks(stream, CHUNK_LINES, max_line_bytes):
            for line in chunk:
                if line.blank:
                    continue
                seen += 1
                parsed = parse_line(line.data)
                if parsed.record is not None:
                    found = detect_method(parsed.record)
                    if found is not None:
                        return found
                if seen >= _DETECT_LINES:
                    return None
    return None


class _Pass:
    """State of one validation pass."""

    def __init__(self, check: Check, method: MethodKind, detectable: bool, info: ModelInfo | None) -> None:
        self.check = check
        self.method = method
        self.detectable = detectable
        self.issues = IssueCollector()
        self.rules = rules_for(method, images=info.vision if info else True, model=check.model)
        self.limit = info.max_example_tokens if info else _LARGEST_LIMIT
        self.keys: array[int] = array("q")
        self.key_lines: array[int] = array("q")
        self.examples = 0
        self.blank_lines = 0
        self.first_blank: int | None = None
        self.first_checked = False
        self.missing_fields: dict[str, list[int]] = {}
        self.shapes: dict[MethodKind, tuple[int, list[int]]] = {}
        """method -> (how many failing lines look like its data, the first of them)"""
        """field -> [first line missing it, how many rows miss it]"""
        grader = check.grader if method is MethodKind.REINFORCEMENT else None
        self.fields = grader.item_fields if grader is not None else frozenset()
        self.counter = TokenCounter(check.model)
        self.stats = StatsAccumulator(self.limit, encoding=self.counter.encoding_name)

    def run(self, open_stream: Opener) -> None:
        pending: tuple[concurrent.futures.Future[list[ExampleTokens]], list[int], list[int]] | None = None
        with open_stream() as stream:
            for chunk in iter_chunks(stream, CHUNK_LINES, self.check.max_line_bytes):
                records, numbers, messages = self._check_chunk(chunk)
                if pending is not None:
                    self._take_counts(*pending)
                    pending = None
                if records:
                    pending = (self.counter.count_batch_async(records, self.method), numbers, messages)
        if pending is not None:
            self._take_counts(*pending)

    def _check_chunk(self, chunk: list[Line]) -> tuple[list[dict[str, Any]], list[int], list[int]]:
        records: list[dict[str, Any]] = []
        numbers: list[int] = []
        messages: list[int] = []
        add = self.issues.add
        overlap = self.check.overlap
        fields = self.fields
        for line in chunk:
            if line.blank:
                self.blank_lines += 1
                if self.first_blank is None:
                    self.first_blank = line.number
                continue
            self.examples += 1
            if line.too_long is not None:
                add(line.number, LINE_TOO_LONG, line.too_long)
                continue
            key = example_key(line.data)
            self.keys.append(key)
            self.key_lines.append(line.number)
            if overlap is not None and key in overlap:
                add(
                    line.number,
                    "data.validation_overlap",
                    f"this example is also line {overlap[key]} of the validation file: remove it from one "
                    "of them, or validation loss will look better than it is",
                    "warning",
                )
            parsed = parse_line(line.data)
            record = parsed.record
            if record is None:
                add(line.number, parsed.code or "file.invalid_json", parsed.message or "unreadable line")
                continue
            if not self.first_checked:
                self.first_checked = True
                self._check_method_matches(record, line.number)
            if not self.detectable:
                continue
            findings = self.rules(record)
            for code, message, severity in findings.items:
                add(line.number, code, message, severity)
            for field in fields:
                if field not in record:
                    self.missing_fields.setdefault(field, [line.number, 0])[1] += 1
            if findings.has_errors:
                self._note_shape(record, line.number)
            else:
                records.append(record)
                numbers.append(line.number)
                messages.append(_message_count(record, self.method))
        return records, numbers, messages

    def _note_shape(self, record: dict[str, Any], number: int) -> None:
        """Count a failing line that looks like another method's data (the likely cause)."""
        looks = detect_method(record)
        if looks is None or looks is self.method:
            return
        count, lines = self.shapes.get(looks, (0, []))
        if len(lines) < MAX_ISSUES_PER_CODE:
            lines.append(number)
        self.shapes[looks] = (count + 1, lines)

    def _check_method_matches(self, record: dict[str, Any], number: int) -> None:
        if not self.detectable or self.check.method is None:
            return
        looks = detect_method(record)
        if looks is not None and looks is not self.method:
            self.issues.add(
                number,
                "file.method_mismatch",
                f"this line looks like a {method_name(looks)} example, but the file is being validated for "
                f"{method_name(self.method)} fine-tuning: use --method {looks.short} "
                f"(method='{looks.short}'), "
                f"or convert the data to the {method_name(self.method)} format",
            )

    def _take_counts(
        self, future: concurrent.futures.Future[list[ExampleTokens]], numbers: list[int], messages: list[int]
    ) -> None:
        severity: Severity = "error" if self.check.strict else "warning"
        model = self.check.model or "any model"
        for number, tokens, n_messages in zip(numbers, future.result(), messages, strict=True):
            self.stats.add(tokens.total, tokens.assistant, n_messages, number)
            if tokens.total > self.limit:
                self.issues.add(
                    number,
                    "tokens.example_too_long",
                    f"{tokens.total:,} tokens, over the {self.limit:,}-token limit per example of {model}: "
                    "the service will truncate it; shorten or split it",
                    severity,
                )

    def finish_file_checks(self) -> None:
        add = self.issues.add
        if self.examples == 0:
            add(None, "file.empty", "the file holds no examples: it is empty or only blank lines")
        elif self.examples < MIN_EXAMPLES:
            advice = self.check.too_few_advice or "add more"
            add(
                None,
                "file.too_few_examples",
                f"{self.examples} example{'' if self.examples == 1 else 's'}: the service needs at least "
                f"{MIN_EXAMPLES} in each file (training and validation): {advice}",
            )
        if self.blank_lines:
            add(
                self.first_blank,
                "file.blank_lines",
                f"{self.blank_lines:,} blank line(s), the first here: they are skipped, not examples",
                "warning",
            )
        for field, (first, missing) in sorted(self.missing_fields.items()):
            add(
                first,
                "rft.grader_field_missing",
                f"the grader reads {{{{item.{field}}}}}, but {missing:,} of {self.examples:,} rows have no "
                f"'{field}' field (the first is this line): add it to every row, or fix the grader",
            )
        self._report_duplicates()

    def _report_duplicates(self) -> None:
        keys, lines = self.keys, self.key_lines
        order = sorted(range(len(keys)), key=keys.__getitem__)
        duplicates: list[tuple[int, int]] = []
        for before, index in itertools.pairwise(order):
            if keys[before] == keys[index]:
                duplicates.append((index, before))
        first_of: dict[int, int] = {}
        for index, before in duplicates:
            first_of[index] = first_of.get(before, before)
        for index in sorted(first_of):
            self.issues.add(
                lines[index],
                "data.duplicate",
                f"duplicate of line {lines[first_of[index]]}: the same example trains twice",
                "warning",
            )


def _message_count(record: dict[str, Any], method: MethodKind) -> int:
    if method is MethodKind.DPO:
        given = record.get("input")
        messages = given.get("messages") if isinstance(given, dict) else None
        return (len(messages) if isinstance(messages, list) else 0) + 1
    messages = record.get("messages")
    return len(messages) if isinstance(messages, list) else 0


def run_validation(open_stream: Opener, label: str, check: Check) -> ValidationReport:
    """Validate one JSONL source (``open_stream`` opens it afresh, in binary) and build the report."""
    method = check.method if check.method is not None else _detect(open_stream, check.max_line_bytes)
    detectable = method is not None
    resolved = method or MethodKind.SUPERVISED
    info = lookup_model(check.model) if check.model else None
    state = _Pass(check, resolved, detectable, info)
    add = state.issues.add
    if check.model and info is None:
        add(
            None,
            "model.unknown",
            f"model {check.model!r} is not in foundry-tune's catalog: token limits and prices are unknown, "
            f"counting with o200k_base (known models: {', '.join(known_models())})",
            "warning",
        )
    if info is not None and detectable and not info.supports(resolved):
        can = [name for name, m in known_models().items() if m.supports(resolved)]
        add(
            None,
            "model.method_unsupported",
            f"{info.name} cannot be fine-tuned with {method_name(resolved)}: "
            f"models that can are {', '.join(can)}",
        )
    _check_grader(state, check, resolved)
    state.run(open_stream)
    if not detectable and state.examples:
        add(
            None,
            "file.method_undetected",
            'no line looks like a fine-tuning example (supervised {"messages": [..., assistant]}, DPO '
            '{"input", "preferred_output", "non_preferred_output"} or reinforcement {"messages": '
            "[..., user]}): is this an evaluation item file or raw source data? "
            "Convert it, or pass the method",
        )
    state.finish_file_checks()
    errors, warnings = state.issues.finish()
    tokens = state.stats.result() if state.stats.examples else None
    estimate = None
    if tokens is not None:
        try:
            estimate = estimate_cost(tokens, check.model, resolved, check.n_epochs)
        except InvalidParameterError as exc:
            warnings.append(Issue(None, "estimate.unavailable", f"no cost estimate: {exc}", "warning"))
    return ValidationReport(
        valid=not errors,
        path=label,
        method=resolved,
        examples=state.examples,
        errors=errors,
        warnings=warnings,
        tokens=tokens,
        estimate=estimate,
        shapes=shape_counts(state.shapes, resolved, state.examples),
    )


def _check_grader(state: _Pass, check: Check, method: MethodKind) -> None:
    needs = check.grader
    if needs is None:
        return
    if method is not MethodKind.REINFORCEMENT:
        state.issues.add(
            None,
            "grader.ignored",
            f"a grader only applies to reinforcement fine-tuning, not {method_name(method)}: it was not used",
            "warning",
        )
        return
    if needs.output_json and not check.json_response:
        state.issues.add(
            None,
            "rft.response_format_required",
            "the grader reads {{sample.output_json}}, which only exists when the model answers in "
            "JSON: give a response_format of type json_schema (or read {{sample.output_text}})",
        )


def iter_records(open_stream: Opener) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(line, record, problem)`` for every non-blank line; ``record`` None when it does not parse."""
    with open_stream() as stream:
        for chunk in iter_chunks(stream, CHUNK_LINES):
            for line in chunk:
                if line.blank:
                    continue
                if line.too_long is not None:
                    yield line.number, None, line.too_long
                    continue
                parsed = parse_line(line.data)
                yield line.number, parsed.record, parsed.message
