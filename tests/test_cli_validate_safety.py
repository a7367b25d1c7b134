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



def _valid_file(tmp_path: Path) -> Path:
    """A validation file (other examples than the training file's) with one row to drop: line 2."""
    rows = [sft(100 + i) for i in range(10)]
    rows[1]["messages"][-1]["content"] = "violencehigh"
    path = tmp_path / "valid.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_file_with_errors_is_not_screened_and_stderr_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CONTENT_SAFETY_KEY", KEY)
    path = _file(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "not json\n", encoding="utf-8")
    with ContentSafetyFake(key=KEY) as fake:
        code = main(["validate", str(path), "--safety-endpoint", fake.url])
        assert fake.requests == 0
    out, err = capsys.readouterr()
    assert code == 1 and out.startswith(f"{path}: ")                 # the validation report
    assert err.strip() == (f"foundry-tune validate: safety screening skipped: {path} has errors; "
                           "fix them and run again")


def test_the_validation_file_is_screened_too_into_its_own_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CONTENT_SAFETY_KEY", KEY)
    train, valid, out_dir = _file(tmp_path), _valid_file(tmp_path), tmp_path / "out"
    both = ["validate", str(train), "--validation-file", str(valid)]
    with ContentSafetyFake(key=KEY) as fake:
        code = main([*both, "--safety-endpoint", fake.url, "--safety-out", str(out_dir), "--json"])
        assert fake.requests == 12 + 10
        out, err = capsys.readouterr()
        text_code = main([*both, "--safety-endpoint", fake.url, "--safety-out", str(tmp_path / "text")])
        text, _ = capsys.readouterr()
    assert code == text_code == 1 and err == ""
    data = json.loads(out)
    assert data["safety_check"]["source"] == str(train)
    assert [row["line"] for row in data["safety_check"]["dropped"]] == [4]
    screened = data["validation"]["safety_check"]
    assert screened["source"] == str(valid) and [row["line"] for row in screened["dropped"]] == [2]
    assert screened["files"]["kept"] == str(out_dir / "validation" / "kept.jsonl")
    kept = {role: (out_dir / role / "kept.jsonl").read_text(encoding="utf-8").count("\n")
            for role in ("training", "validation")}
    assert kept == {"training": 11, "validation": 9}                 # nothing overwritten
    assert f"{train}: 12 rows screened" in text and f"{valid}: 10 rows screened" in text


def test_a_refused_key_still_prints_the_validation_report_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CONTENT_SAFETY_KEY", KEY + "-wrong")
    path = _file(tmp_path)
    with ContentSafetyFake(key=KEY) as fake:
        code = main(["validate", str(path), "--safety-endpoint", fake.url, "--safety-out",
                     str(tmp_path / "out")])
        out, err = capsys.readouterr()
        json_code = main(["validate", str(path), "--safety-endpoint", fake.url, "--json"])
        json_out, json_err = capsys.readouterr()
    assert code == json_code == 1
    assert out.startswith(f"{path}: ") and "rows screened" not in out  # the validation report only
    assert err.startswith("foundry-tune validate: error: Content Safety at ")
    assert "refused the credential" in err
    assert json.loads(json_out)["valid"] is True and "safety_check" not in json.loads(json_out)
    assert json.loads(json_err)["error"]["type"] == "AuthenticationError"
    assert KEY not in out + err + json_out + json_err
