"""``foundry-tune jobs watch`` / ``jobs create --wait`` on a job the service's safety screening
stopped: one plain line (the check, the harm categories, what to do) and the failed-job exit code;
with ``--json`` the job's error carries ``kind`` and ``categories``. Against the emulator, whose
data markers produce both outcomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _cli_helpers import Borrowed, run_cli

pytest.importorskip("starlette")

from foundry_tune._demo_data import demo_records
from foundry_tune.cli import _jobs
from foundry_tune.cli._connection import EXIT_FAILED
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.job import Job

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator()]

CLI_SCREEN = "foundry-tune validate FILE --safety-endpoint URL (the key in AZURE_CONTENT_SAFETY_KEY)"


@pytest.fixture()
def cli(ft: Foundry, monkeypatch: pytest.MonkeyPatch) -> Foundry:
    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    monkeypatch.delenv("FOUNDRY_TUNE_PROGRESS", raising=False)
    return ft


def marked_rows(seed: int, marker: str) -> list[dict[str, Any]]:
    rows = list(demo_records(12, seed=seed))
    user = rows[2]["messages"][1]
    rows[2]["messages"][1] = {**user, "content": f"{user['content']} {marker}"}
    return rows


def start(ft: Foundry, seed: int, marker: str) -> Job:
    data = Dataset.from_records(marked_rows(seed, marker), name=f"cli-safety-{seed}.jsonl")
    return ft.fine_tune("gpt-4.1-mini").train_on(data).suffix(f"cli-safety-{seed}").start()


def test_watch_prints_one_line_for_a_data_safety_failure(
    cli: Foundry, capsys: pytest.CaptureFixture[str]
) -> None:
    job = start(cli, 601, "[emulator:unsafe-data:violence]")
    code, out, _ = run_cli(capsys, "jobs", "watch", job.id, "--plain", "--timeout", "90")
    assert code == EXIT_FAILED
    last = out.strip().splitlines()[-1]
    expected = f"{job.id} failed the training-data safety check; harm categories: violence. hint: "
    assert last.startswith(expected)
    assert CLI_SCREEN in last and "Dataset.safety_check()" not in last  # the CLI way, not Python's

    code, out, _ = run_cli(capsys, "jobs", "watch", job.id, "--json")
    assert code == EXIT_FAILED
    shown = json.loads(out)
    assert shown["status"] == "failed"
    assert shown["error"]["kind"] == "data" and shown["error"]["categories"] == ["violence"]
    assert "[violence]" in shown["error"]["message"] and CLI_SCREEN in shown["hint"]

    code, out, _ = run_cli(capsys, "jobs", "show", job.id)
    assert code == 0 and CLI_SCREEN in out  # the safety hint, not a generic one


def test_create_wait_shows_a_model_safety_failure(
    cli: Foundry, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "unsafe-model.jsonl"
    Dataset.from_records(marked_rows(602, "[emulator:unsafe-model:sexual,self-harm]")).to_jsonl(path)
    common = ("jobs", "create", "--model", "gpt-4.1-mini", "--training-file", str(path), "--wait")
    code, out, _ = run_cli(capsys, *common, "--suffix", "cli-model-plain", "--plain", "--timeout", "90")
    assert code == EXIT_FAILED
    last = out.strip().splitlines()[-1]
    assert "failed the safety evaluation (not deployable); harm categories: sexual, self_harm. hint: " in last
    assert "cannot be deployed" in last and CLI_SCREEN in last

    code, out, _ = run_cli(capsys, *common, "--suffix", "cli-model-json", "--json", "--timeout", "90")
    assert code == EXIT_FAILED
    created = json.loads(out)
    assert created["error"]["kind"] == "model"
    assert created["error"]["categories"] == ["sexual", "self_harm"]
    assert created["hint"] is not None and "cannot be deployed" in created["hint"]
    assert CLI_SCREEN in created["hint"] and "Dataset.safety_check()" not in created["hint"]


def test_a_job_that_failed_otherwise_has_no_safety_fields(
    cli: Foundry, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from foundry_tune.methods import DPO

    path = tmp_path / "chat.jsonl"
    Dataset.from_records(list(demo_records(12, seed=603))).to_jsonl(path)
    with path.open("rb") as fh:  # chat data for a DPO job: the service rejects the file
        uploaded = cli.openai.files.create(file=("chat.jsonl", fh), purpose="fine-tune")
    job = cli.fine_tune("gpt-4.1-mini").train_on(uploaded.id).method(DPO()).start()
    code, out, _ = run_cli(capsys, "jobs", "watch", job.id, "--json", "--timeout", "90")
    assert code == EXIT_FAILED
    error = json.loads(out)["error"]
    assert error["code"] and "kind" not in error and "categories" not in error
