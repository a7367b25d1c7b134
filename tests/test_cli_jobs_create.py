"""``foundry-tune jobs create``: from flags or a YAML job file, through ``start()`` (once), against the
shared emulator; bad job files and flags are usage errors before anything is uploaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _cli_helpers import Borrowed
from _cli_helpers import run_cli as _run

pytest.importorskip("starlette")

from foundry_tune._demo_data import demo_records
from foundry_tune.cli import _jobs
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator

pytestmark = pytest.mark.emulator


@pytest.fixture()
def cli(ft: Foundry, monkeypatch: pytest.MonkeyPatch) -> Foundry:
    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    return ft


def _data(folder: Path, seed: int) -> tuple[Path, Path]:
    train, validation = folder / "train.jsonl", folder / "validation.jsonl"
    Dataset.from_records(demo_records(30, seed=seed)).to_jsonl(train)
    Dataset.from_records(demo_records(12, seed=seed + 1000)).to_jsonl(validation)
    return train, validation


def _job_file(folder: Path, text: str) -> Path:
    path = folder / "job.yaml"
    path.write_text(text, encoding="utf-8")
    return path


AZD_JOB = """\
model: gpt-4.1-mini
training_file: local:train.jsonl
validation_file: validation.jsonl
method:
  type: supervised
  supervised:
    hyperparameters:
      epochs: 2
      learning_rate_multiplier: 1e-1
seed: 11
suffix: {suffix}
metadata:
  team: support
extra_body:
  trainingType: GlobalStandard
"""


def test_a_job_file_starts_one_job_however_often_it_is_run(
    cli: Foundry, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _data(tmp_path, seed=101)
    job_file = _job_file(tmp_path, AZD_JOB.format(suffix="cli-create-file"))
    before = emulator.stats()

    code, out, err = _run(capsys, "jobs", "create", "--file", str(job_file), "--json")
    assert code == 0, err
    first: dict[str, Any] = json.loads(out)
    assert first["reused"] is False and first["suffix"] == "cli-create-file"
    assert first["training_type"] == "GlobalStandard" and first["method"] == "supervised"
    job = cli.jobs.get(first["id"])
    assert job.method is not None
    assert job.method.hyperparameters() == {"n_epochs": 2, "batch_size": "auto",
                                            "learning_rate_multiplier": 0.1}
    assert job.raw["seed"] == 11 and job.raw["metadata"]["team"] == "support"

    code, out, err = _run(capsys, "jobs", "create", "--file", str(job_file))
    assert code == 0, err
    assert f"job {first['id']}" in out and "already has this fingerprint" in out
    assert "--force-new" in out and "force_new=True" not in out
    after = emulator.stats()
    assert after["jobs"] == before["jobs"] + 1
    assert after["files"] == before["files"] + 2  # training and validation, uploaded once


def test_flags_override_the_file_and_wait_follows_the_job(
    cli: Foundry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _data(tmp_path, seed=102)
    job_file = _job_file(tmp_path, AZD_JOB.format(suffix="from-the-file"))
    code, out, err = _run(capsys, "jobs", "create", "-f", str(job_file), "--suffix", "cli-create-flags",
                          "--epochs", "3", "--wait", "--plain", "--timeout", "120")
    assert code == 0, err
    assert "status running" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("ftjob-") and " succeeded: " in last and last.endswith("-cli-create-flags")
    job = cli.jobs.get(last.split()[0])
    assert job.suffix == "cli-create-flags"
    assert job.method is not None and job.method.hyperparameters()["n_epochs"] == 3


def test_flags_alone_start_a_job(cli: Foundry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train, _ = _data(tmp_path, seed=103)
    code, out, err = _run(capsys, "jobs", "create", "--model", "gpt-4.1-mini", "--training-file", str(train),
                          "--method", "sft", "--batch-size", "4", "--suffix", "cli-create-bare",
                          "--training-type", "globalstandard", "--metadata", "owner=cli")
    assert code == 0, err
    started = [line for line in out.splitlines() if line.startswith("started job ")]
    assert len(started) == 1
    job_id = started[0].split()[2]
    assert f"foundry-tune jobs watch {job_id}" in out
    job = cli.jobs.get(job_id)
    assert job.method is not None
    assert job.method.hyperparameters() == {"n_epochs": "auto", "batch_size": 4,
                                            "learning_rate_multiplier": "auto"}
    assert job.raw["metadata"]["owner"] == "cli"


def test_dry_run_prints_the_plan_and_cost_and_uploads_nothing(
    cli: Foundry, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _data(tmp_path, seed=104)
    job_file = _job_file(tmp_path, AZD_JOB.format(suffix="cli-create-dry"))
    before = emulator.stats()
    code, out, err = _run(capsys, "jobs", "create", "-f", str(job_file), "--dry-run")
    assert code == 0, err
    assert "plan for gpt-4.1-mini (supervised)" in out
    assert "training: upload" in out and "job: create" in out
    assert "estimated training cost" in out and "nothing was uploaded or started" in out

    code, out, err = _run(capsys, "jobs", "create", "-f", str(job_file), "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["creates_job"] is True and plan["valid"] is True
    assert [f["action"] for f in plan["files"]] == ["upload", "upload"]
    assert plan["estimate"]["n_epochs"] == 2 and plan["estimate"]["training_usd"] > 0
    assert plan["suffix"] == "cli-create-dry" and plan["training_type"] == "GlobalStandard"
    after = emulator.stats()
    counted = ("files", "jobs", "uploads")
    assert [after[k] for k in counted] == [before[k] for k in counted]


def test_a_training_url_is_imported_and_its_sas_token_never_printed(
    cli: Foundry, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "sig=Zm9vYmFyLWNhbmFyeQ"
    url = f"https://acct.blob.core.windows.net/data/train.jsonl?sv=2024&{secret}"
    before = emulator.stats()
    code, out, err = _run(capsys, "jobs", "create", "--model", "gpt-4.1-mini", "--training-file", url,
                          "--suffix", "cli-create-url", "--dry-run")
    assert code == 0, err
    assert "import" in out and "acct.blob.core.windows.net/data/train.jsonl" in out
    assert secret not in out + err
    after = emulator.stats()
    counted = ("files", "jobs", "uploads")
    assert [after[k] for k in counted] == [before[k] for k in counted]


def test_dry_run_of_invalid_data_exits_1(cli: Foundry, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "no answer"}]}\n' * 12, encoding="utf-8")
    code, out, _ = _run(capsys, "jobs", "create", "--model", "gpt-4.1-mini", "--training-file", str(bad),
                        "--dry-run")
    assert code == 1
    assert "would not train" in out


BAD_FILES = [
    ("model: gpt-4.1-mini\nsuffix: a: b\n", "job.yaml: line 2, column 10", "not valid YAML"),
    ("- just\n- a list\n", "job.yaml", "a job file is a mapping"),
    ("model: gpt-4.1-mini\ntraining_file: train.jsonl\ncolour: blue\n", "job.yaml: colour", "unknown key"),
    ("model: gpt-4.1-mini\ntraining_file: train.jsonl\nsuffix: a\nsuffix: b\n", "line 4", "given twice"),
    ("model: gpt-4.1-mini\ntraining_file: train.jsonl\nmethod:\n  type: supervised\n  supervised:\n"
     "    hyperparameters:\n      epochs: 0\n", "job.yaml: method.supervised.hyperparameters.epochs",
     "n_epochs=0 is out of range"),
    ("model: gpt-4.1-mini\ntraining_file: train.jsonl\nmethod:\n  type: supervised\n  supervised:\n"
     "    hyperparameters:\n      beta: 0.1\n", "job.yaml: method.supervised.hyperparameters.beta",
     "unknown key"),
    ("model: gpt-4.1-mini\ntraining_file: train.jsonl\nmethod:\n  type: distillation\n",
     "job.yaml: method.type", "supervised (sft), dpo or reinforcement"),
    ("model: gpt-4.1-mini\ntraining_file: missing.jsonl\n", "job.yaml: training_file", "no such file"),
    ("model: gpt-4.1-mini\ntraining_file: train.jsonl\nsuffix: has.dots\n", "job.yaml: suffix", "dots"),
    ("model: gpt-4.1-mini\ntraining_file: train.jsonl\nseed: yes\n", "job.yaml: seed", "whole number"),
    ("model: gpt-4.1-mini\ntraining_file: train.jsonl\nextra_body:\n  learningRate: 2\n",
     "job.yaml: extra_body.learningRate", "unknown key"),
    ("model: gpt-4.1-mini\ntraining_file: train.jsonl\ntraining_type: Global\nextra_body:\n"
     "  trainingType: Standard\n", "job.yaml: extra_body.trainingType", "already given"),
    ("training_file: train.jsonl\n", "no model", "--model"),
]


@pytest.mark.parametrize(("text", "where", "rule"), BAD_FILES)
def test_a_bad_job_file_is_a_one_line_usage_error_and_nothing_is_uploaded(
    cli: Foundry, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    text: str, where: str, rule: str,
) -> None:
    _data(tmp_path, seed=105)
    job_file = _job_file(tmp_path, text)
    before = emulator.stats()
    code, out, err = _run(capsys, "jobs", "create", "--file", str(job_file))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("foundry-tune jobs: error: ")
    assert where in lines[0] and rule in lines[0]
    # Uploads and jobs, not files: an earlier test's job may finish meanwhile and leave its results file.
    after = emulator.stats()
    assert (after["uploads"], after["jobs"], after["requests"]) == \
        (before["uploads"], before["jobs"], before["requests"])


@pytest.mark.parametrize(("flags", "expected"), [
    (["--epochs", "0"], "--epochs: Supervised: n_epochs=0 is out of range"),
    (["--method", "dpo", "--beta", "3"], "--beta: DPO: beta=3.0 is out of range"),
    (["--beta", "0.5"], "--beta: supervised fine-tuning has no beta"),
    (["--method", "rft"], "a reinforcement job needs a grader"),
    (["--training-file", "nope.jsonl"], "--training-file: no such file"),
    (["--seed", "-1"], "--seed: seed must be an integer between 0 and 2147483647"),
    (["--metadata", "novalue"], "--metadata: expected KEY=VALUE"),
    (["--training-type", "Premium"], "--training-type"),
])
def test_bad_flags_are_usage_errors(
    cli: Foundry, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], expected: str
) -> None:
    train, _ = _data(tmp_path, seed=106)
    argv = ["jobs", "create", "--model", "gpt-4.1-mini", "--training-file", str(train), *flags]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert expected in err, err


def test_argparse_errors_of_create_exit_2(cli: Foundry, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "jobs", "create", "--model", "gpt-4.1-mini", "--epochs", "two")
    assert code == 2 and "expected a whole number or 'auto'" in err
    code, _, err = _run(capsys, "jobs", "create", "--model", "gpt-4.1-mini", "--method", "ppo")
    assert code == 2 and "invalid choice" in err


def test_a_reinforcement_job_file_with_its_grader(
    cli: Foundry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "answer": str(2 * i)}
            for i in range(24)]
    Dataset.from_records(rows[:14]).to_jsonl(tmp_path / "train.jsonl")
    Dataset.from_records(rows[14:]).to_jsonl(tmp_path / "valid.jsonl")
    grader = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "eq"}
    (tmp_path / "grader.json").write_text(json.dumps(grader), encoding="utf-8")
    job_file = _job_file(tmp_path, (
        "model: o4-mini\ntraining_file: train.jsonl\nvalidation_file: valid.jsonl\nsuffix: cli-create-rft\n"
        "method:\n  type: reinforcement\n  reinforcement:\n    grader: grader.json\n"
        "    hyperparameters:\n      reasoning_effort: low\n      eval_interval: 2\n"
    ))
    code, out, err = _run(capsys, "jobs", "create", "-f", str(job_file), "--json")
    assert code == 0, err
    job = cli.jobs.get(json.loads(out)["id"])
    body = job.raw["method"]["reinforcement"]
    assert body["grader"]["reference"] == "{{item.answer}}"
    assert body["hyperparameters"]["reasoning_effort"] == "low"

    bad = _job_file(tmp_path, (
        "model: o4-mini\ntraining_file: train.jsonl\nvalidation_file: valid.jsonl\n"
        "method:\n  type: reinforcement\n  reinforcement:\n    grader: {type: string_check}\n"
    ))
    code, _, err = _run(capsys, "jobs", "create", "-f", str(bad))
    assert code == 2 and "job.yaml: method.reinforcement.grader" in err


def test_wait_reports_how_the_job_ended(cli: Foundry, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    train, _ = _data(tmp_path, seed=107)
    code, out, err = _run(capsys, "jobs", "create", "--model", "gpt-4.1-mini", "--training-file", str(train),
                          "--suffix", "cli-create-wait", "--training-type", "GlobalStandard",
                          "--wait", "--timeout", "120", "--json")
    assert code == 0, err
    finished = json.loads(out)
    assert finished["status"] == "succeeded" and finished["fine_tuned_model"].endswith("-cli-create-wait")

    # Chat rows uploaded as they are, then trained as DPO: the service fails the job, and so does the command.
    with train.open("rb") as fh:
        uploaded = cli.openai.files.create(file=("chat.jsonl", fh), purpose="fine-tune")
    code, out, err = _run(capsys, "jobs", "create", "--model", "gpt-4.1-mini", "--training-file", uploaded.id,
                          "--method", "dpo", "--training-type", "Standard", "--wait", "--plain",
                          "--timeout", "120")
    assert code == 1, err
    assert "invalidTrainingFile" in out


def test_a_bad_progress_variable_is_a_usage_error_before_anything_is_uploaded(
    cli: Foundry, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _data(tmp_path, seed=106)
    job_file = _job_file(tmp_path, AZD_JOB.format(suffix="cli-create-env"))
    monkeypatch.setenv("FOUNDRY_TUNE_PROGRESS", "bogus")
    before = emulator.stats()
    code, out, err = _run(capsys, "jobs", "create", "-f", str(job_file), "--wait")
    assert code == 2 and out == ""
    assert "FOUNDRY_TUNE_PROGRESS='bogus' is not a progress setting" in err
    after = emulator.stats()
    counted = ("files", "jobs", "uploads")
    assert [after[k] for k in counted] == [before[k] for k in counted]


def test_progress_off_leaves_only_the_result_line(
    cli: Foundry, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _data(tmp_path, seed=107)
    job_file = _job_file(tmp_path, AZD_JOB.format(suffix="cli-create-quiet"))
    monkeypatch.setenv("FOUNDRY_TUNE_PROGRESS", "off")
    code, out, err = _run(capsys, "jobs", "create", "-f", str(job_file), "--wait", "--timeout", "120")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, out  # no upload or step lines, no progress: the job and how it ended
    assert lines[0].startswith("ftjob-") and " succeeded: " in lines[0]


def test_the_retirement_warning_shows_once_in_a_dry_run_and_in_a_create(
    cli: Foundry, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime

    from foundry_tune import catalog

    monkeypatch.setattr(catalog, "_today", lambda: datetime.date(2027, 3, 1))  # gpt-4.1-mini: 44 days left
    train, _ = _data(tmp_path, seed=111)
    argv = ["jobs", "create", "--model", "gpt-4.1-mini", "--training-file", str(train),
            "--suffix", "cli-create-retiring", "--training-type", "GlobalStandard"]
    for extra in (["--dry-run"], []):  # the dry run says what start() would warn about
        code, out, err = _run(capsys, *argv, *extra)
        assert code == 0, err
        assert err.count("retires on 2027-04-14") == 1, err
        assert "foundry-tune jobs: warning:" in err
    cli.jobs.get(out.strip().rsplit(" ", 1)[-1]).cancel()
