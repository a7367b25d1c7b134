"""Property tests: whatever bytes or JSON a file holds, the validator answers with a report (or
one of the library's own errors), never a traceback from deep inside."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundry_tune.dataset import Dataset, validate_file
from foundry_tune.errors import FoundryTuneError

METHODS = st.sampled_from([None, "sft", "dpo", "rft"])
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRUCTURED = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = st.sampled_from(
    [
        "messages",
        "role",
        "content",
        "weight",
        "tool_calls",
        "tool_call_id",
        "tools",
        "functions",
        "type",
        "function",
        "name",
        "arguments",
        "id",
        "input",
        "preferred_output",
        "non_preferred_output",
        "text",
        "image_url",
        "url",
        "detail",
        "parameters",
        "properties",
        "parallel_tool_calls",
        "refusal",
        "answer",
    ]
)
ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "bot"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    ROLES,
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=12,
)
MESSAGE = st.fixed_dictionaries(
    {"role": ROLES},
    optional={
        "content": JSONISH,
        "weight": JSONISH,
        "tool_calls": JSONISH,
        "tool_call_id": JSONISH,
        "name": JSONISH,
    },
)
RECORD = st.one_of(
    st.dictionaries(KEYS, JSONISH, max_size=5),
    st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=4)}, optional={"tools": JSONISH}),
    st.fixed_dictionaries(
        {
            "input": st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=3)}),
            "preferred_output": st.lists(MESSAGE, max_size=2),
            "non_preferred_output": st.lists(MESSAGE, max_size=2),
        },
    ),
)

# Small records with many repeats: what matters to split is equal and unequal lines.
SMALL_RECORD = st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 4), max_size=2)


def _validate_bytes(data: bytes, method: str | None, **options: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.jsonl"
        path.write_bytes(data)
        try:
            report = validate_file(path, method, **options)
        except FoundryTuneError:
            return
        report.to_text()
        json.dumps(report.to_dict())
        report._repr_html_()
        if report.valid:
            assert report.examples >= 10


@SETTINGS
@given(data=st.binary(max_size=2_000), method=METHODS)
def test_arbitrary_bytes(data: bytes, method: str | None) -> None:
    _validate_bytes(data, method)


@SETTINGS
@given(
    lines=st.lists(st.one_of(st.binary(max_size=80), st.text(max_size=80).map(str.encode)), max_size=15),
    method=METHODS,
)
def test_arbitrary_lines(lines: list[bytes], method: str | None) -> None:
    _validate_bytes(b"\n".join(lines), method)


@STRUCTURED
@given(
    records=st.lists(RECORD, max_size=14),
    method=METHODS,
    model=st.sampled_from([None, "gpt-4.1-mini", "gpt-4o", "o4-mini", "nope"]),
)
def test_arbitrary_json_records(records: list[dict[str, Any]], method: str | None, model: str | None) -> None:
    data = "\n".join(json.dumps(r) for r in records).encode()
    grader = {
        "type": "string_check",
        "input": "{{item.answer}}",
        "reference": "{{sample.output_text}}",
        "operation": "eq",
    }
    _validate_bytes(data, method, model=model, grader=grader if method == "rft" else None)


@SETTINGS
@given(
    records=st.lists(SMALL_RECORD, min_size=2, max_size=30),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31),
)
@pytest.mark.filterwarnings("ignore:.*the service needs at least 10 examples:UserWarning")
def test_split_never_shares_an_example(records: list[dict[str, Any]], fraction: float, seed: int) -> None:
    data = Dataset.from_records(records)
    try:
        train, valid = data.split(fraction, seed=seed)
    except FoundryTuneError:
        assert len({json.dumps(r) for r in records}) == 1
        return
    with train.open_upload() as a, valid.open_upload() as b:
        left, right = a.read().splitlines(), b.read().splitlines()
    assert not set(left) & set(right)
    assert len(left) + len(right) == len(records) and left and right
