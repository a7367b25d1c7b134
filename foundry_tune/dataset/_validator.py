"""The validation pass: one streaming read of a file, in chunks, applying every rule.

Memory stays flat: per line the pass keeps an 8-byte content digest (for duplicates) and the
statistics keep one token count per example; records themselves live only for one chunk.
Token counting of chunk N runs in the background while chunk N+1 is parsed and checked.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import itertools
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import ModelInfo, known_models, lookup_model
from foundry_tune.dataset._accumulator import StatsAccumulator
from foundry_tune.dataset._findings import method_name
from foundry_tune.dataset._grader_refs import GraderNeeds
from foundry_tune.dataset._groups import shape_counts
from foundry_tune.dataset._issues import MAX_ISSUES_PER_CODE, Issue, IssueCollector, Severity
from foundry_tune.dataset._parallel import Parallel, hash_file, open_range, run_ranges, stable_key
from foundry_tune.dataset._reader import (
    LINE_TOO_LONG,
    MAX_LINE_BYTES,
    SURROGATE_ESCAPE,
    Line,
    iter_chunks,
    json_scanner,
    native_loads,
    parse_line,
)
from foundry_tune.dataset._rules import SFT_ROLES, detect_method, rules_for
from foundry_tune.dataset._tokens import SIMPLE_SFT_ROLES, TokenCounter, collect_simple_sft, encoding_of
from foundry_tune.errors import InvalidParameterError

if TYPE_CHECKING:
    from foundry_tune.dataset._report import ValidationReport

__all__ = ["MIN_EXAMPLES", "Check", "example_key", "line_keys", "run_validation"]

MIN_EXAMPLES = 10
CHUNK_LINES = 512
_NATIVE_TRIAL = 256
"""Examples read before the pass judges whether orjson pays: it stops using it when more than a
quarter of them left the fast path (each of those is parsed twice)."""
_DETECT_LINES = 1000
_LARGEST_LIMIT = max(info.max_example_tokens for info in known_models().values())
_TOO_LONG = "tokens.example_too_long"

Opener = Callable[[], IO[bytes]]
_Batch = tuple[list[str], list[int], list[int], list[int]]
_Collected = tuple[_Batch, list[int], list[int]]
"""What to count of a chunk: ``(texts, tags, totals, assistant)``, line numbers, message counts."""
_Sums = tuple[list[int], list[int]]
"""Each example's total and assistant tokens."""
_SCAN = json_scanner()
_surrogate_escape = SURROGATE_ESCAPE.search
_SPACE = frozenset(b" \t\n\r\x0b\x0c")
"""The bytes ``bytes.isspace()`` counts as whitespace."""


def _parse_object(data: bytes, scan: Callable[[str, int], tuple[Any, int]]) -> dict[str, Any] | None:
    """The common case of [`parse_line()`][parse_line] in one step: a line that is exactly one JSON
    object in valid UTF-8, escaping no UTF-16 surrogate. None: anything else (the line then goes
    through ``parse_line``, which decides and explains)."""
    # The regular expression alone: about twice as fast as a `b"\\u" in data` test first (a
    # two-byte search stops at every "u" of the text; the expression's literal prefix does not).
    if data[:1] != b"{" or _surrogate_escape(data):
        return None
    try:
        text = data.decode("utf-8")
        value, end = scan(text, 0)
    except (ValueError, StopIteration, RecursionError):
        return None
    if end != len(text) or type(value) is not dict:
        return None
    return value


def example_key(data: bytes) -> int:
    """A 64-bit hash of a line's JSON text, for duplicates and overlap within one process:
    equal lines, equal keys (Python's keyed SipHash; only compared, never stored)."""
    if data[:1].isspace() or data[-1:].isspace():
        data = data.strip()
    return hash(data)


def line_keys(open_stream: Opener, key: Callable[[bytes], int] = example_key) -> dict[int, int]:
    """The key of every non-blank line of a file, mapped to its first line number (``key``:
    [`stable_key`][stable_key] when the keys are compared in other processes)."""
    keys: dict[int, int] = {}
    with open_stream() as stream:
        for chunk in iter_chunks(stream, CHUNK_LINES):
            for line in chunk:
                if not line.blank and line.too_long is None:
                    keys.setdefault(key(line.data), line.number)
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
    stable_keys: bool = False
    """Key lines with [`stable_key`][stable_key] (the same in every process: a pass in several
    processes, whose ``overlap`` must then be keyed the same way) rather than ``hash()``."""


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

    def __init__(self, check: Check, method: MethodKind, detectable: bool, info: ModelInfo | None,
                 limit: int | None = None) -> None:
        self.check = check
        self.method = method
        self.detectable = detectable
        self.key = stable_key if check.stable_keys else example_key
        self.file_start = True
        """Whether the stream read is the file from its start (False: a later range of it)."""
        self.defer_first = False
        """Keep the method check of the first record in `first_record` instead of reporting it (a
        range: only the caller knows whether its first record is the file's)."""
        self.first_record: tuple[int, Issue | None] | None = None
        self.lines = 0
        self.issues = IssueCollector()
        self.rules = rules_for(method, images=info.vision if info else True, model=check.model)
        self.limit = limit if limit is not None else info.max_example_tokens if info else _LARGEST_LIMIT
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
        self.stats = StatsAccumulator(self.limit, encoding=encoding_of(info))
        self.counter: TokenCounter | None = None
        """Built by `run` (its encoder takes ~0.3 s: a pass that only merges workers' results never
        builds one)."""
        self.simple_roles: dict[str, int] | None = None
        """The roles of the supervised fast path (`collect_simple_sft`) and their tokens; None: none."""
        self.native: Callable[[bytes], Any] | None = None
        """orjson's parser, for the examples of the supervised fast path only: such an example holds
        nothing but objects, arrays and strings, which it reads exactly as the standard library
        does. An example that leaves the fast path is parsed again by the standard library."""
        self.native_tries = self.native_misses = 0

    def _start_counting(self) -> TokenCounter:
        if self.counter is None:
            self.counter = TokenCounter(self.check.model)
            if self.method is MethodKind.SUPERVISED and set(SIMPLE_SFT_ROLES) <= set(SFT_ROLES):
                self.simple_roles = self.counter._simple_roles
            self.native = native_loads() if self.simple_roles is not None and self.detectable else None
        return self.counter

    def run(self, open_stream: Opener) -> None:
        counter = self._start_counting()
        pending: tuple[concurrent.futures.Future[_Sums], list[int], list[int]] | None = None
        # The tokenizer's own thread, gone when the pass ends: a later pass may fork safely.
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="foundry-tune-pipeline") as pool, \
                open_stream() as stream:
            for chunk in iter_chunks(stream, CHUNK_LINES, self.check.max_line_bytes,
                                     file_start=self.file_start):
                self.lines += len(chunk)
                batch, numbers, messages = self._check_chunk(chunk, counter)
                if pending is not None:
                    self._take_counts(*pending)
                    pending = None
                if numbers:
                    pending = (counter._submit_sums(*batch, pool), numbers, messages)
            if pending is not None:
                self._take_counts(*pending)

    def _check_chunk(self, chunk: list[Line], counter: TokenCounter) -> _Collected:
        """Check every line of a chunk; collect the strings of the examples that pass, to count
        their tokens (``(texts, tags, totals, assistant)``, see ``TokenCounter._collect``), with
        their line numbers and message counts."""
        texts: list[str] = []
        tags: list[int] = []
        totals: list[int] = []
        assistant: list[int] = []
        numbers: list[int] = []
        messages: list[int] = []
        add = self.issues.add
        overlap = self.check.overlap
        fields = self.fields
        key_of = self.key
        # hash() of the line itself when it has no surrounding whitespace: what example_key gives.
        plain_hash = key_of is example_key
        space = _SPACE
        keys = self.keys.append
        key_lines = self.key_lines.append
        method = self.method
        simple = self.simple_roles
        parse_object = _parse_object
        collect = collect_simple_sft
        add_number = numbers.append
        add_messages = messages.append
        add_total = totals.append
        add_learned = assistant.append
        scan = _SCAN
        first_checked = self.first_checked
        detectable = self.detectable
        native = self.native
        tries = misses = 0
        examples = 0

        def take_simple(record: dict[str, Any], fixed: int, number: int) -> None:
            """Queue an example the fast path accepted (its strings are collected already)."""
            add_total(fixed)
            add_learned(0)
            add_number(number)
            add_messages(len(record["messages"]))

        try:
            for number, data, too_long in chunk:
                if too_long is None and (not data or data.isspace()):
                    self.blank_lines += 1
                    if self.first_blank is None:
                        self.first_blank = number
                    continue
                examples += 1
                if too_long is not None:
                    add(number, LINE_TOO_LONG, too_long)
                    continue
                if plain_hash and data[0] not in space and data[-1] not in space:
                    key = hash(data)
                else:
                    key = key_of(data)
                keys(key)
                key_lines(number)
                if overlap is not None and key in overlap:
                    add(
                        number,
                        "data.validation_overlap",
                        f"this example is also line {overlap[key]} of the validation file: remove it from "
                        "one of them, or validation loss will look better than it is",
                        "warning",
                    )
                if native is not None and simple is not None and first_checked:
                    tries += 1
                    try:
                        fast = native(data)
                    except ValueError:  # orjson's JSONDecodeError; the standard library explains
                        fast = None
                    if type(fast) is dict:
                        fixed = collect(fast, simple, texts, tags, len(numbers))
                        if fixed >= 0:
                            take_simple(fast, fixed, number)
                            continue
                    misses += 1  # parsed again below, by the standard library
                record = parse_object(data, scan)
                if record is None:
                    parsed = parse_line(data)
                    record = parsed.record
                    if record is None:
                        add(number, parsed.code or "file.invalid_json", parsed.message or "unreadable line")
                        continue
                if not first_checked:
                    first_checked = self.first_checked = True
                    mismatch = self._method_mismatch(record, number)
                    if self.defer_first:
                        self.first_record = (number, mismatch)
                    elif mismatch is not None:
                        add(mismatch.line, mismatch.code, mismatch.message, mismatch.severity)
                if not detectable:
                    continue
                index = len(numbers)
                if simple is not None:
                    fixed = collect(record, simple, texts, tags, index)
                    if fixed >= 0:
                        take_simple(record, fixed, number)
                        continue
                findings = self.rules(record)
                for code, message, severity in findings.items:
                    add(number, code, message, severity)
                for field in fields:
                    if field not in record:
                        self.missing_fields.setdefault(field, [number, 0])[1] += 1
                if findings.has_errors:
                    self._note_shape(record, number)
                else:
                    total, learned = counter._collect_into(record, method, texts, tags, index)
                    totals.append(total)
                    assistant.append(learned)
                    numbers.append(number)
                    messages.append(_message_count(record, method))
        finally:
            self.examples += examples
            if tries:
                self._judge_native(tries, misses)
        return (texts, tags, totals, assistant), numbers, messages

    def _judge_native(self, tries: int, misses: int) -> None:
        """Stop parsing with orjson first when too many examples leave the fast path."""
        self.native_tries += tries
        self.native_misses += misses
        if self.native_tries >= _NATIVE_TRIAL and 4 * self.native_misses > self.native_tries:
            self.native = None

    def _note_shape(self, record: dict[str, Any], number: int) -> None:
        """Count a failing line that looks like another method's data (the likely cause)."""
        looks = detect_method(record)
        if looks is None or looks is self.method:
            return
        count, lines = self.shapes.get(looks, (0, []))
        if len(lines) < MAX_ISSUES_PER_CODE:
            lines.append(number)
        self.shapes[looks] = (count + 1, lines)

    def _method_mismatch(self, record: dict[str, Any], number: int) -> Issue | None:
        if not self.detectable or self.check.method is None:
            return None
        looks = detect_method(record)
        if looks is None or looks is self.method:
            return None
        return Issue(
            number,
            "file.method_mismatch",
            f"this line looks like a {method_name(looks)} example, but the file is being validated for "
            f"{method_name(self.method)} fine-tuning: use --method {looks.short} "
            f"(method='{looks.short}'), "
            f"or convert the data to the {method_name(self.method)} format",
        )

    def _take_counts(
        self, future: concurrent.futures.Future[_Sums], numbers: list[int], messages: list[int]
    ) -> None:
        totals, assistant = future.result()
        if not len(totals) == len(assistant) == len(numbers) == len(messages):
            raise ValueError("token counts and examples differ in number")
        self.stats.add_many(totals, assistant, sum(messages), numbers)
        limit = self.limit
        if not totals or max(totals) <= limit:
            return
        severity: Severity = "error" if self.check.strict else "warning"
        model = self.check.model or "any model"
        for number, total in zip(numbers, totals, strict=True):
            if total > limit:
                self.issues.add(
                    number,
                    _TOO_LONG,
                    f"{total:,} tokens, over the {limit:,}-token limit per example of {model}: "
                    "the service will truncate it; shorten or split it",
                    severity,
                )

    def part(self) -> _Part:
        """What this pass over one range of a file found, compact and picklable, for `absorb`."""
        errors, warnings = self.issues.kept()
        return _Part(
            lines=self.lines, examples=self.examples, blank_lines=self.blank_lines,
            first_blank=self.first_blank, missing_fields=self.missing_fields, shapes=self.shapes,
            keys=self.keys.tobytes(), key_lines=self.key_lines.tobytes(), errors=errors,
            warnings=warnings, counts=self.issues.counts(), first_record=self.first_record,
            stats=self.stats.parts(),
        )

    def absorb(self, parts: list[_Part]) -> None:
        """Merge the passes over consecutive ranges of the file, in order, as if this pass had read
        them all: line numbers move on by the lines of the ranges before; the issues go in the order
        one pass adds them (each chunk's checks, then the previous chunk's token findings), so the
        first `MAX_ISSUES_PER_CODE` of each code and every count are the same."""
        ordered: list[tuple[tuple[int, int, int, int], Issue]] = []
        totals: dict[tuple[str, Severity], int] = {}
        offset = 0
        first_found = False
        for index, part in enumerate(parts):
            self.examples += part.examples
            self.blank_lines += part.blank_lines
            if self.first_blank is None and part.first_blank is not None:
                self.first_blank = part.first_blank + offset
            for field, (first, missing) in part.missing_fields.items():
                self.missing_fields.setdefault(field, [first + offset, 0])[1] += missing
            for looks, (count, shown) in part.shapes.items():
                had, listed = self.shapes.get(looks, (0, []))
                room = MAX_ISSUES_PER_CODE - len(listed)
                listed.extend(line + offset for line in shown[: max(room, 0)])
                self.shapes[looks] = (had + count, listed)
            self.keys.frombytes(part.keys)
            key_lines = array("q")
            key_lines.frombytes(part.key_lines)
            self.key_lines.extend(line + offset for line in key_lines)
            self.stats.merge(part.stats, offset)
            if not first_found and part.first_record is not None:
                first_found = True
                line, mismatch = part.first_record
                if mismatch is not None:
                    moved = dataclasses.replace(mismatch, line=line + offset)
                    ordered.append((_order(line + offset, mismatch.code, index, -1), moved))
            for seq, issue in enumerate([*part.errors, *part.warnings]):
                line = (issue.line or 0) + offset
                ordered.append((_order(line, issue.code, index, seq), dataclasses.replace(issue, line=line)))
            for key, n in part.counts.items():
                totals[key] = totals.get(key, 0) + n
            offset += part.lines
        ordered.sort(key=lambda item: item[0])
        add = self.issues.add
        for _, issue in ordered:
            add(issue.line, issue.code, issue.message, issue.severity)
        kept = self.issues.counts()
        for (code, severity), total in totals.items():
            self.issues.add_uncounted(code, severity, total - kept.get((code, severity), 0))

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


def _order(line: int, code: str, part: int, seq: int) -> tuple[int, int, int, int]:
    """Where an issue of ``line`` comes in a one-process pass: chunk k's checks, then chunk k-1's
    token findings (they are counted in the background while chunk k is checked)."""
    chunk = (line - 1) // CHUNK_LINES
    return (2 * chunk + (3 if code == _TOO_LONG else 0), line, part, seq)


@dataclasses.dataclass
class _Part:
    """What a pass over one range of a file found (line numbers from 1 at the range's start)."""

    lines: int
    examples: int
    blank_lines: int
    first_blank: int | None
    missing_fields: dict[str, list[int]]
    shapes: dict[MethodKind, tuple[int, list[int]]]
    keys: bytes
    key_lines: bytes
    errors: list[Issue]
    warnings: list[Issue]
    counts: dict[tuple[str, Severity], int]
    first_record: tuple[int, Issue | None] | None
    stats: tuple[bytes, bytes, int, int, list[int], int]


def validate_range(start: int, end: int, index: int, path: Path, check: Check, method: MethodKind,
                   detectable: bool, limit: int) -> _Part:
    """Validate the bytes ``[start, end)`` of ``path`` (whole lines): a worker's share of a pass,
    checking example sizes against ``limit`` tokens."""
    info = lookup_model(check.model) if check.model else None
    state = _Pass(check, method, detectable, info, limit)
    state.file_start = start == 0
    state.defer_first = True
    state.run(lambda: open_range(path, start, end))
    return state.part()


def _message_count(record: dict[str, Any], method: MethodKind) -> int:
    if method is MethodKind.DPO:
        given = record.get("input")
        messages = given.get("messages") if isinstance(given, dict) else None
        return (len(messages) if isinstance(messages, list) else 0) + 1
    messages = record.get("messages")
    return len(messages) if isinstance(messages, list) else 0


def run_validation(open_stream: Opener, label: str, check: Check,
                   parallel: Parallel | None = None) -> ValidationReport:
    """Validate one JSONL source (``open_stream`` opens it afresh, in binary) and build the report.

    ``parallel``: validate the file in several processes, one per range (``check.stable_keys`` set
    unless they are forked); ``open_stream`` is then only read to detect the method. The report is
    the same."""
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
    if parallel is None:
        state.run(open_stream)
    else:
        whole = parallel

        def meanwhile() -> None:
            # While the workers build the encoder and read: this process's own share (its cores
            # are idle then): the report's modules, the file's hash.
            _report_modules()
            if whole.on_hash is not None:
                whole.on_hash(*hash_file(whole.path))

        if len(parallel.ranges) < 2:
            meanwhile()
            state.run(lambda: open_range(whole.path, 0, whole.ranges[0][1]))
        else:
            parts = run_ranges(validate_range, parallel.ranges,
                               (parallel.path, check, resolved, detectable, state.limit), parallel.context,
                               prepare=functools.partial(TokenCounter, check.model), meanwhile=meanwhile)
            state.absorb(parts)
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
    estimate_cost, report_type = _report_modules()
    errors, warnings = state.issues.finish()
    tokens = state.stats.result() if state.stats.examples else None
    estimate = None
    if tokens is not None:
        try:
            estimate = estimate_cost(tokens, check.model, resolved, check.n_epochs)
        except InvalidParameterError as exc:
            warnings.append(Issue(None, "estimate.unavailable", f"no cost estimate: {exc}", "warning"))
    return report_type(
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


def _report_modules() -> tuple[Callable[..., Any], type[ValidationReport]]:
    """``estimate_cost`` and ``ValidationReport``: loaded when a pass first needs them (they load
    pydantic, ~70 ms), so that a pass in several processes loads them while its workers run."""
    from foundry_tune.dataset._cost import estimate_cost
    from foundry_tune.dataset._report import ValidationReport

    return estimate_cost, ValidationReport


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
