"""How reports read: the terminal text, the --json shape, notebook HTML, and the error they raise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _dataset_helpers import GOOD, good_file, line, write_lines

from foundry_tune import DatasetValidationError, MethodKind
from foundry_tune.dataset import Issue, ValidationReport, validate_file
from foundry_tune.errors import DatasetError, FoundryTuneError


def _broken(tmp_path: Path) -> Path:
    rows = [line(GOOD["sft"](i)) for i in range(12)]
    rows[1] = line(
        {
            "messages": [
                {"role": "user", "content": "<b>hi</b>"},
                {"role": "assistant", "weight": 9, "content": "x"},
            ]
        }
    )
    rows[5] = rows[0]
    return write_lines(tmp_path / "broken.jsonl", rows)


def test_json_shape(tmp_path: Path) -> None:
    report = validate_file(_broken(tmp_path), "sft", model="gpt-4.1-mini")
    data = json.loads(report.to_json())
    assert set(data) == {"valid", "path", "method", "examples", "errors", "warnings", "tokens", "estimate",
                         "tokens_approximate", "groups"}
    assert data["tokens_approximate"] is None  # gpt-4.1-mini counts are exact (o200k_base)
    assert data["valid"] is False and data["method"] == "sft" and data["examples"] == 12
    assert data["path"].endswith("broken.jsonl")
    assert data["errors"] == [{"line": 2, "code": "sft.weight_invalid", "message": report.errors[0].message}]
    assert data["warnings"] == [{"line": 6, "code": "data.duplicate", "message": report.warnings[0].message}]
    assert [(g["code"], g["severity"], g["count"], g["lines"]) for g in data["groups"]] == [
        ("sft.weight_invalid", "error", 1, [2]), ("data.duplicate", "warning", 1, [6])]
    # Statistics cover the examples that passed the rules.
    assert data["tokens"]["examples"] == 11 and data["tokens"]["total_tokens"] > 0
    assert data["estimate"]["n_epochs"] >= 1


def test_text_report(tmp_path: Path) -> None:
    report = validate_file(_broken(tmp_path), "sft", model="gpt-4.1-mini")
    text = report.to_text()
    assert text.splitlines()[0] == report.summary()
    assert "INVALID for supervised fine-tuning, 12 examples, 1 error, 1 warning" in text
    assert "line 2: messages[1] (assistant).weight is 9: use 0" in text and "[sft.weight_invalid]" in text
    assert "tokens:" in text and "estimate:" in text
    assert str(report) == text


def test_text_report_limits_each_code(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", ["{"] * 30)
    report = validate_file(path, "sft")
    text = report.to_text(limit_per_code=5, grouped=False)
    assert text.count("[file.invalid_json]") == 6  # 5 issues + the "not shown" line
    assert "25 more [file.invalid_json] not shown" in text
    assert report.to_text(limit_per_code=None).count("[file.invalid_json]") == 30


def test_html_escapes_and_lists_issues(tmp_path: Path) -> None:
    report = validate_file(_broken(tmp_path), "sft")
    page = report._repr_html_()
    assert "<table>" in page and "sft.weight_invalid" in page and "data.duplicate" in page
    issue = Issue(3, "sft.role_unknown", "role '<script>'", "error")
    tricky = ValidationReport(False, "<x>.jsonl", MethodKind.SUPERVISED, 1, [issue], [])
    page = tricky._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;x&gt;.jsonl" in page


def test_raise_for_errors_carries_the_report(tmp_path: Path) -> None:
    report = validate_file(_broken(tmp_path), "sft")
    with pytest.raises(DatasetValidationError) as raised:
        report.raise_for_errors()
    assert raised.value.report is report
    assert isinstance(raised.value, DatasetError) and isinstance(raised.value, FoundryTuneError)
    assert "broken.jsonl: INVALID" in str(raised.value)
    ok = validate_file(good_file(tmp_path / "ok.jsonl", "sft"), "sft")
    assert ok.raise_for_errors() is ok


def test_issue_text_and_dict() -> None:
    issue = Issue(None, "file.empty", "the file holds no examples")
    assert str(issue) == "file: the file holds no examples [file.empty]"
    assert issue.to_dict() == {"line": None, "code": "file.empty", "message": "the file holds no examples"}
    assert issue.severity == "error"


def test_exports_from_the_package() -> None:
    import foundry_tune

    for name in ("Dataset", "ValidationReport", "Issue", "validate_file", "TokenStats", "CostEstimate"):
        assert hasattr(foundry_tune, name), name
