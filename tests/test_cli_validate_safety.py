"""`foundry-tune validate --safety-endpoint`: the rows screened with Azure AI Content Safety (a
local fake of it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _content_safety_fake import ContentSafetyFake
from _dataset_helpers import sft

from foundry_tune.cli import main

KEY = "cli-key-0c4e7d19a2"


def _file(tmp_path: Path) -> Path:
    rows = [sft(i) for i in range(12)]
    rows[3]["messages"][-1]["content"] = "hatewordmed"
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_validate_screens_with_the_key_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CONTENT_SAFETY_KEY", KEY)
    with ContentSafetyFake(key=KEY) as fake:
        code = main(["validate", str(_file(tmp_path)), "--safety-endpoint", fake.url,
                     "--safety-out", str(tmp_path / "out"), "--json"])
    out, err = capsys.readouterr()
    assert code == 1                                   # valid data, but a row was dropped
    data = json.loads(out)
    assert data["valid"] is True
    assert [row["line"] for row in data["safety_check"]["dropped"]] == [4]
    assert (tmp_path / "out" / "kept.jsonl").read_text(encoding="utf-8").count("\n") == 11
    assert KEY not in out + err


def test_validate_without_the_key_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_CONTENT_SAFETY_KEY", raising=False)
    with ContentSafetyFake(key=KEY) as fake:
        code = main(["validate", str(_file(tmp_path)), "--safety-endpoint", fake.url])
        assert fake.requests == 0
    assert code == 2
    assert "AZURE_CONTENT_SAFETY_KEY" in capsys.readouterr().err
