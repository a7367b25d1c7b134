"""Bad files get a clear error before anything is uploaded or billed: empty, binary, announced as
larger than the service's 8 GB, uploaded with the wrong purpose, or with examples over the
service's per-example token limit."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._demo_data import demo_records
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.errors import DatasetError, DatasetValidationError, FoundryTuneError, UploadError

pytestmark = [pytest.mark.emulator]

GB8 = 8 * 1024**3


def counts(ft: Foundry) -> tuple[int, int, int]:
    emulator = ft.emulator_instance
    assert emulator is not None
    stats = emulator.stats()
    return stats["files"], stats["uploads"], stats["jobs"]


def builder(ft: Foundry, data: Any) -> Any:
    return ft.fine_tune("gpt-4.1-mini").train_on(data).training_type("GlobalStandard")


def test_empty_file_is_refused_before_upload(ft: Foundry, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    before = counts(ft)
    with pytest.raises(DatasetValidationError) as info:
        builder(ft, empty).start()
    assert [e.code for e in info.value.report.errors] == ["file.empty"]
    assert "empty" in str(info.value) and "empty.jsonl" in str(info.value)
    assert counts(ft) == before


def test_binary_file_is_refused_before_upload(ft: Foundry, tmp_path: Path) -> None:
    blob = tmp_path / "model.bin"
    rng = random.Random(5)
    blob.write_bytes(bytes(rng.randrange(256) for _ in range(20_000)))
    before = counts(ft)
    with pytest.raises(DatasetValidationError) as info:
        builder(ft, blob).start()
    errors = info.value.report.errors
    assert errors and all(e.line is not None or e.code.startswith("file.") for e in errors)
    assert {e.code for e in errors} & {"file.encoding", "file.invalid_json"}
    assert "model.bin" in str(info.value)
    assert counts(ft) == before


def test_file_over_8_gb_is_refused_at_once(ft: Foundry, tmp_path: Path) -> None:
    huge = tmp_path / "huge.jsonl"
    with huge.open("wb") as fh:  # sparse: announces 8 GB + 1 byte without using the disk
        fh.truncate(GB8 + 1)
    try:
        before = counts(ft)
        started = time.monotonic()
        with pytest.raises((DatasetError, UploadError)) as info:
            builder(ft, huge).start()
        assert time.monotonic() - started < 10  # refused from its size, not after reading 8 GB
        message = str(info.value)
        assert "huge.jsonl" in message and "8 GB" in message
        assert counts(ft) == before
    finally:
        huge.unlink()


def test_file_uploaded_for_another_purpose_is_refused(ft: Foundry, tmp_path: Path) -> None:
    data = Dataset.from_records(demo_records(12, seed=9)).to_jsonl(tmp_path / "assist.jsonl")
    with data.open("rb") as fh:
        other = ft.openai.files.create(file=("assist.jsonl", fh), purpose="assistants")
    before = counts(ft)
    with pytest.raises(FoundryTuneError) as info:
        builder(ft, other.id).start()
    message = str(info.value)
    assert other.id in message and "assistants" in message and "fine-tune" in message
    assert counts(ft) == before


def test_example_over_the_token_limit_is_named_and_refused_when_strict(ft: Foundry, tmp_path: Path) -> None:
    rows = list(demo_records(12, seed=13))
    rows[4]["messages"][1]["content"] = " ".join(f"w{i}" for i in range(70_000))  # > 65,536 tokens
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = Dataset.from_jsonl(path).validate("sft", model="gpt-4.1-mini")
    too_long = [w for w in report.warnings if w.code == "tokens.example_too_long"]
    assert [w.line for w in too_long] == [5] and "65,536" in too_long[0].message
    before = counts(ft)
    with pytest.raises(DatasetValidationError) as info:
        builder(ft, path).strict_validation().start()
    assert [(e.line, e.code) for e in info.value.report.errors] == [(5, "tokens.example_too_long")]
    assert counts(ft) == before


@pytest.mark.skipif(os.name != "posix", reason="sparse files")
def test_8_gb_check_does_not_need_the_network(tmp_path: Path) -> None:
    from foundry_tune.job import FineTuneBuilder

    huge = tmp_path / "huge.jsonl"
    with huge.open("wb") as fh:
        fh.truncate(GB8 + 1)

    class NoService:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the service was contacted ({name})")

    try:
        with pytest.raises((DatasetError, UploadError)):
            FineTuneBuilder(NoService(), "gpt-4.1-mini").train_on(huge).plan(check_service=False)
    finally:
        huge.unlink()
