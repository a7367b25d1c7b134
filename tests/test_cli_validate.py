"""``foundry-tune validate``: exit codes, the text report and the --json shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _dataset_helpers import GOOD, SAMPLES, good_file, line, write_lines

from foundry_tune.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(["validate", *args])
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_file_exits_0_and_detects_the_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, str(good_file(tmp_path / "d.jsonl", "dpo")))
    assert code == 0
    assert "valid for DPO fine-tuning, 12 examples, 0 errors" in out


def test_invalid_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [line(GOOD["sft"](i)) for i in range(12)]
    rows[6] = "not json"
    code, out, _ = _run(capsys, str(write_lines(tmp_path / "bad.jsonl", rows)), "--method", "sft")
    assert code == 1
    assert "line 7: invalid JSON" in out and "[file.invalid_json]" in out


def test_json_output_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [line(GOOD["rft"](i)) for i in range(12)]
    rows[2] = line({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]})
    path = write_lines(tmp_path / "rft.jsonl", rows)
    code, out, _ = _run(capsys, str(path), "--method", "rft", "--model", "o4-mini", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False and data["method"] == "rft" and data["examples"] == 12
    assert data["path"] == str(path)
    assert data["errors"] == [
        {"line": 3, "code": "rft.last_not_user", "message": data["errors"][0]["message"]}
    ]
    assert data["warnings"] == []
    assert data["tokens"]["examples"] == 11
    assert data["estimate"]["model"] == "o4-mini"


def test_strict_turns_long_examples_into_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [line(GOOD["sft"](i)) for i in range(12)]
    long = {
        "messages": [{"role": "user", "content": "word " * 40_000}, {"role": "assistant", "content": "ok"}]
    }
    rows[4] = line(long)
    path = str(write_lines(tmp_path / "long.jsonl", rows))
    code, out, _ = _run(capsys, path, "--model", "gpt-4.1-nano", "--json")
    assert code == 0 and json.loads(out)["warnings"][0]["code"] == "tokens.example_too_long"
    code, out, _ = _run(capsys, path, "--model", "gpt-4.1-nano", "--strict", "--json")
    assert code == 1 and json.loads(out)["errors"][0] == {
        "line": 5,
        "code": "tokens.example_too_long",
        "message": json.loads(out)["errors"][0]["message"],
    }


def test_validation_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = good_file(tmp_path / "train.jsonl", "sft", n=20)
    valid = write_lines(tmp_path / "valid.jsonl", [line(GOOD["sft"](i)) for i in range(5, 17)])
    code, out, _ = _run(capsys, str(train), "--validation-file", str(valid), "--json")
    assert code == 0
    data = json.loads(out)
    assert [w["code"] for w in data["warnings"]] == ["data.validation_overlap"] * 12
    assert data["validation"]["path"] == str(valid) and data["validation"]["valid"] is True
    bad_valid = write_lines(tmp_path / "bad.jsonl", [line(GOOD["sft"](i)) for i in range(30, 35)])
    code, out, _ = _run(capsys, str(train), "--validation-file", str(bad_valid))
    assert code == 1 and "too_few_examples" in out


def test_grader_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grader = tmp_path / "grader.json"
    grader.write_text(
        json.dumps(
            {
                "type": "string_check",
                "name": "g",
                "input": "{{item.label}}",
                "reference": "{{sample.output_text}}",
                "operation": "eq",
            }
        )
    )
    code, out, _ = _run(
        capsys, str(good_file(tmp_path / "r.jsonl", "rft")), "--grader", str(grader), "--json"
    )
    assert code == 1
    (error,) = json.loads(out)["errors"]
    assert (
        error["code"] == "rft.grader_field_missing"
        and error["line"] == 1
        and "12 of 12 rows" in error["message"]
    )


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample data not available")
def test_medmcq_sample_with_its_grader(capsys: pytest.CaptureFixture[str]) -> None:
    folder = SAMPLES / "sample-rft-medmcq"
    code, out, _ = _run(
        capsys, str(folder / "medmcq_validation.jsonl"), "--grader", str(folder / "stringcheck_grader.json")
    )
    assert code == 1 and "reference_answer" in out and "6,150 of 6,150 rows" in out


@pytest.mark.parametrize(
    "args",
    [
        ["missing.jsonl"],
        ["{file}", "--method", "ppo"],
        ["{file}", "--grader", "missing-grader.json"],
        ["{file}", "--grader", "{file}"],  # not a JSON object file
        ["{file}", "--validation-file", "missing.jsonl"],
        [],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    path = good_file(tmp_path / "ok.jsonl", "rft")
    code, _, err = _run(capsys, *[a.replace("{file}", str(path)) for a in args])
    assert code == 2
    assert err and "Traceback" not in err


def test_a_directory_is_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, str(tmp_path))
    assert code == 2
    assert f"not a file: {tmp_path}" in err
    code, _, err = _run(capsys, str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no such file" in err


def test_console_script_end_to_end(tmp_path: Path) -> None:
    path = good_file(tmp_path / "s.jsonl", "sft")
    done = subprocess.run(
        [sys.executable, "-m", "foundry_tune", "validate", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["valid"] is True
