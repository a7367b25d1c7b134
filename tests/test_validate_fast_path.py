"""The fast paths of validation give exactly what the full rules give.

* ``_parse_object``: a line that is one JSON object, decoded in one step (else ``parse_line``);
* ``collect_simple_sft``: a supervised example of the common shape, checked and its strings
  collected in one pass (else the full rules and ``TokenCounter._collect_example``);
* orjson (``native_loads``), which parses the examples of that common shape: such an example holds
  only objects, arrays and strings, which orjson reads as the standard library does (it differs
  on integers over 64 bits and on numbers too large for a float).

Proved over every official sample file (when the shared data is there) and over crafted odd rows.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from _dataset_helpers import GOOD, line
from _emulator_helpers import SAMPLES, needs_samples

from foundry_tune import MethodKind
from foundry_tune.dataset import Dataset, _validator
from foundry_tune.dataset._messages import MessageRules
from foundry_tune.dataset._reader import json_scanner, native_loads, parse_line
from foundry_tune.dataset._rules import SFT_ROLES, check_sft
from foundry_tune.dataset._tokens import TokenCounter, collect_simple_sft

_SYSTEM = {"role": "system", "content": "Be brief."}
_USER = {"role": "user", "content": "Hi there"}
_ASSISTANT = {"role": "assistant", "content": "Hello!"}


def _odd_records() -> list[Any]:
    """Rows next to the common shape: each differs from it in one way."""
    plain = [_SYSTEM, _USER, _ASSISTANT]
    rows: list[Any] = [
        {"messages": plain},
        {"messages": [_USER, _ASSISTANT]},
        {"messages": [_ASSISTANT]},
        {"messages": [{"role": "developer", "content": "Rules."}, _USER, _ASSISTANT]},
        {"messages": [_USER, {"role": "assistant", "content": ""}]},
        {"messages": [_USER, {"content": "Hello!", "role": "assistant"}]},  # keys in the other order
        {"messages": [_USER, _ASSISTANT, _USER, _ASSISTANT]},
        {"messages": plain, "tools": []},
        {"messages": plain, "parallel_tool_calls": True},
        {"messages": plain, "extra": 1},
        {"messages": []},
        {"messages": None},
        {"messages": "text"},
        {"messages": [_USER]},
        {"messages": [_ASSISTANT, _USER]},
        {"messages": [_USER, {"role": "assistant", "content": "Hi", "weight": 0}]},
        {"messages": [_USER, {"role": "assistant", "content": "Hi", "weight": 1}]},
        {"messages": [_USER, {"role": "assistant", "content": "Hi", "name": "bot"}]},
        {"messages": [_USER, {"role": "assistant", "content": None}]},
        {"messages": [_USER, {"role": "assistant"}]},
        {"messages": [_USER, {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]}]},
        {"messages": [_USER, {"role": "assistant", "content": 3}]},
        {"messages": [{"role": "user", "content": "a", "x": 1}, _ASSISTANT]},
        {"messages": [{"role": "robot", "content": "a"}, _ASSISTANT]},
        {"messages": [{"role": 3, "content": "a"}, _ASSISTANT]},
        {"messages": [{"role": None, "content": "a"}, _ASSISTANT]},
        {"messages": [{"content": "a", "name": "x"}, _ASSISTANT]},
        {"messages": [{"role": "tool", "content": "42"}, _ASSISTANT]},
        {"messages": [{"role": "function", "content": "42"}, _ASSISTANT]},
        {"messages": [_USER, {"role": "tool", "content": "42"}]},
        {"messages": [_USER, {"role": "function", "content": "42"}]},
        {"messages": [_USER, {"role": "system", "content": "late"}]},
        {"messages": ["text", _ASSISTANT]},
        {"messages": [[_USER], _ASSISTANT]},
        {"messages": [_USER, {"role": "assistant", "content": "Hi", "tool_calls": None}]},
        {"input": {"messages": [_USER]}, "preferred_output": [_ASSISTANT],
         "non_preferred_output": [_ASSISTANT]},
        {"prompt": "a", "completion": "b"},
        {},
    ]
    return rows


def _odd_lines() -> list[bytes]:
    """Lines next to a plain JSON object: each differs from it in one way."""
    good = line(GOOD["sft"](1)).encode()
    return [
        good,
        good + b" ",
        b" " + good,
        good + b"\t",
        good[:-1],
        good + b"x",
        good + b"{}",
        b"[1, 2]",
        b'"text"',
        b"null",
        b"{}",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e999}',
        b'{"a": 123456789012345678901234567890}',
        b'{"a": 1, "a": 2}',
        b'{"a": "\\ud800"}',
        b'{"a": "\\ud83d\\ude00"}',
        b'{"a": "\\u00e9"}',
        b'{"a": "caf\xe9"}',
        b'{"a": "\xef\xbb\xbf"}',
        b'{"a": "tab\there"}',
        b"{" * 100_000 + b"}" * 100_000,
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"messages": [oops',
        b"{\n}",
    ]


def _sample_lines() -> list[bytes]:
    found: list[bytes] = []
    for path in sorted(SAMPLES.rglob("*.jsonl")):
        found += [raw.rstrip(b"\r\n") for raw in path.read_bytes().splitlines() if raw.strip()]
    return found


def _check_parse(data: bytes) -> None:
    fast = _validator._parse_object(data, json_scanner())
    full = parse_line(data)
    if fast is not None:
        assert full.record is not None and full.code is None
        assert fast == full.record
        assert json.dumps(fast) == json.dumps(full.record)  # same key order too


def _check_simple(record: dict[str, Any], counter: TokenCounter) -> bool:
    """The fast path accepts ``record`` only when the rules find nothing, and then collects what
    ``_collect_example`` collects; otherwise it leaves the lists as they were."""
    rules = MessageRules(SFT_ROLES)
    texts: list[str] = ["before"]
    tags: list[int] = [0]
    fixed = collect_simple_sft(record, counter._simple_roles, texts, tags, 3)
    if fixed < 0:
        assert (texts, tags) == (["before"], [0])
        return False
    assert check_sft(copy.deepcopy(record), rules).items == []
    full_texts: list[str] = ["before"]
    full_tags: list[int] = [0]
    collected = counter._collect_example(record, MethodKind.SUPERVISED, full_texts, full_tags, 3 << 1)
    assert collected == (fixed, 0)
    assert (texts, tags) == (full_texts, full_tags)
    return True


def test_parse_object_is_parse_line_on_odd_lines() -> None:
    for data in _odd_lines():
        _check_parse(data)
    assert _validator._parse_object(line(GOOD["sft"](1)).encode(), json_scanner()) is not None


def test_simple_sft_is_the_full_rules_on_odd_rows() -> None:
    counter = TokenCounter("gpt-4.1-mini")
    accepted = [_check_simple(record, counter) for record in _odd_records()]
    assert accepted[:7] == [True] * 7
    assert not any(accepted[7:])
    assert _check_simple(GOOD["sft"](2), counter)


@needs_samples
def test_fast_paths_match_the_full_rules_on_every_sample_line() -> None:
    counter = TokenCounter("gpt-4.1-mini")
    lines = _sample_lines()
    assert len(lines) > 1000
    accepted = 0
    for data in lines:
        _check_parse(data)
        parsed = parse_line(data)
        if parsed.record is not None:
            accepted += _check_simple(parsed.record, counter)
    assert accepted > 100  # the common shape is common


def _check_native(data: bytes, counter: TokenCounter) -> bool:
    """Where the validator takes orjson's reading of a line (an object on the fast path), the
    standard library reads the same object and the fast path collects the same strings."""
    loads = native_loads()
    assert loads is not None
    try:
        fast = loads(data)
    except ValueError:
        return False
    if type(fast) is not dict:
        return False
    texts: list[str] = []
    tags: list[int] = []
    fixed = collect_simple_sft(fast, counter._simple_roles, texts, tags, 0)
    if fixed < 0:
        return False
    full = parse_line(data)
    assert full.code is None and full.record == fast
    assert json.dumps(full.record) == json.dumps(fast)
    full_texts: list[str] = []
    full_tags: list[int] = []
    collected = counter._collect_example(full.record, MethodKind.SUPERVISED, full_texts, full_tags, 0)
    assert collected == (fixed, 0)
    assert (texts, tags) == (full_texts, full_tags)
    return True


def _native_lines() -> list[bytes]:
    """Lines of the common shape, each with something orjson might read differently."""
    user, assistant = b'{"role": "user", "content": ', b'{"role": "assistant", "content": "ok"}'
    odd_contents = [b'"\\ud800"', b'"\\ud83d\\ude00"', b'"\\udc00\\ud800"', b'"caf\xc3\xa9"', b'"\\u00e9"',
                    b'"a\\u0000b"', b'"tab\there"', b'"\xed\xa0\x80"', b'"\xff"', b'"\xef\xbb\xbf"',
                    b"123456789012345678901234567890", b"1e400", b"NaN", b"-0", b'"x", "content": "y"',
                    b'"x", "role": "assistant"', b'"' + " é😀".encode() + b'"']
    lines = [b'{"messages": [' + user + content + b"}, " + assistant + b"]}" for content in odd_contents]
    plain = b'{"messages": [' + user + b'"hi"}, ' + assistant + b"]}"
    lines += [plain, plain + b" ", b" " + plain, b"\xef\xbb\xbf" + plain, plain + b"\x00",
              plain[:-1] + b', "n": 123456789012345678901234567890}', plain[:-1] + b', "x": 1e400}']
    return lines


@pytest.mark.skipif(native_loads() is None, reason="orjson (the fast extra) is not installed")
def test_orjson_reads_every_fast_path_line_as_the_standard_library() -> None:
    counter = TokenCounter("gpt-4.1-mini")
    taken = [_check_native(data, counter) for data in _native_lines()]
    assert any(taken) and not all(taken)
    for data in _odd_lines():
        _check_native(data, counter)


@needs_samples
@pytest.mark.skipif(native_loads() is None, reason="orjson (the fast extra) is not installed")
def test_orjson_reads_every_fast_path_sample_line_as_the_standard_library() -> None:
    counter = TokenCounter("gpt-4.1-mini")
    assert sum(_check_native(data, counter) for data in _sample_lines()) > 100


@pytest.mark.skipif(native_loads() is None, reason="orjson (the fast extra) is not installed")
def test_rows_off_the_fast_path_are_not_parsed_twice_for_long(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose rows leave the fast path (tools, weights) stops being read by orjson first
    after a trial, so that its rows are not parsed twice; a file of plain rows keeps it."""
    loads = native_loads()
    calls = {"n": 0}

    def counting(data: bytes) -> Any:
        calls["n"] += 1
        return loads(data)  # type: ignore[misc]

    monkeypatch.setattr(_validator, "native_loads", lambda: counting)
    weighted = tmp_path / "weighted.jsonl"
    rows = [{"messages": [_USER, {"role": "assistant", "content": f"Hi {i}", "weight": 1}]}
            for i in range(3000)]
    weighted.write_text("".join(line(row) + "\n" for row in rows))
    report = Dataset.from_jsonl(weighted).validate("sft", workers=1)
    assert report.valid and report.examples == 3000
    assert 0 < calls["n"] <= _validator.CHUNK_LINES
    calls["n"] = 0
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(line(GOOD["sft"](i)) + "\n" for i in range(3000)))
    assert Dataset.from_jsonl(plain).validate("sft", workers=1).valid
    assert calls["n"] == 3000 - 1  # all but the first line, which the standard library reads


def _disable_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_validator, "_parse_object", lambda data, scan: None)
    monkeypatch.setattr(_validator, "collect_simple_sft", lambda *args: -1)
    monkeypatch.setattr(_validator, "native_loads", lambda: None)


def _odd_file(path: Path) -> Path:
    rows = [json.dumps(record).encode() for record in _odd_records()]
    rows += [line(GOOD["sft"](i)).encode() for i in range(30)]
    rows += _odd_lines()[:22]
    path.write_bytes(b"\n".join(rows * 3) + b"\n")
    return path


def _reports(path: Path, method: str | None, workers: int) -> list[dict[str, Any]]:
    return [Dataset.from_jsonl(path).validate(method, model=model, workers=workers).to_dict()
            for model in (None, "gpt-4.1-mini", "gpt-4o")]


@pytest.mark.parametrize("workers", [1, 2])
def test_same_report_without_the_fast_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            workers: int) -> None:
    path = _odd_file(tmp_path / "odd.jsonl")
    fast = _reports(path, "sft", workers)
    assert fast[0]["errors"] and fast[0]["tokens"]["examples"] > 30
    _disable_fast_paths(monkeypatch)
    assert _reports(path, "sft", workers) == fast


@needs_samples
def test_same_reports_of_every_sample_file_without_the_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(SAMPLES.rglob("*.jsonl"))
    fast = {(path, method): Dataset.from_jsonl(path).validate(method, model="gpt-4.1-mini").to_dict()
            for path in files for method in (None, "sft")}
    _disable_fast_paths(monkeypatch)
    for (path, method), report in fast.items():
        assert Dataset.from_jsonl(path).validate(method, model="gpt-4.1-mini").to_dict() == report, path


def test_stats_add_many_is_add_one_by_one() -> None:
    from foundry_tune.dataset._accumulator import StatsAccumulator

    totals, assistant, lines = [5, 70, 12, 99, 3], [1, 2, 3, 4, 0], [1, 3, 4, 8, 9]
    for limit in (None, 1000, 50):
        one, many = StatsAccumulator(limit), StatsAccumulator(limit)
        for total, learned, number in zip(totals, assistant, lines, strict=True):
            one.add(total, learned, 2, number)
        many.add_many(list(totals), list(assistant), 2 * len(totals), lines)
        assert many.parts() == one.parts()
        assert many.result() == one.result()
