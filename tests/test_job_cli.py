"""``foundry-tune jobs ...`` against the emulator (real HTTP), through the CLI entry point."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _cli_helpers import Borrowed

pytest.importorskip("starlette")

from foundry_tune._demo_data import demo_records
from foundry_tune.cli import _jobs, main
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.job import Job

# An emulator of this module's own: `jobs list` must show exactly the jobs made here, and a 1.5 s
# job leaves `watch` time to see it running.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(job_duration=1.5)]


@pytest.fixture()
def cli(ft: Foundry, monkeypatch: pytest.MonkeyPatch) -> Foundry:
    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    return ft


def start(ft: Foundry, suffix: str, seed: int) -> Job:
    data = Dataset.from_records(demo_records(20, seed=seed))
    return ft.fine_tune("gpt-4.1-mini").train_on(data).suffix(suffix).training_type("GlobalStandard").start()


def test_watch_list_show(cli: Foundry, capsys: pytest.CaptureFixture[str]) -> None:
    job = start(cli, "cli-watch", 1)
    assert main(["jobs", "watch", job.id, "--plain", "--timeout", "90"]) == 0
    out = capsys.readouterr().out
    assert "status running" in out and f"{job.id} succeeded" in out

    assert main(["jobs", "list", "--json"]) == 0
    listed: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert [j["id"] for j in listed] == [job.id]
    assert listed[0]["status"] == "succeeded" and listed[0]["fingerprint"] == job.fingerprint

    assert main(["jobs", "show", job.id]) == 0
    shown = capsys.readouterr().out
    assert "succeeded" in shown and "last metrics:" in shown and "checkpoint:" in shown

    assert main(["jobs", "list", "--status", "failed"]) == 0
    assert "no fine-tuning jobs" in capsys.readouterr().out


def test_control_commands(cli: Foundry, capsys: pytest.CaptureFixture[str]) -> None:
    job = start(cli, "cli-control", 2)
    assert main(["jobs", "cancel", job.id]) == 0
    assert f"{job.id}: cancelled" in capsys.readouterr().out
    assert main(["jobs", "watch", job.id, "--plain"]) == 1
    assert "cancelled" in capsys.readouterr().out


def test_unknown_job_is_a_clean_error(cli: Foundry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "show", "ftjob-does-not-exist"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("foundry-tune jobs: error:") and "Traceback" not in err


def test_jobs_without_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs"]) == 2


def test_show_explains_a_failed_job(cli: Foundry, capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    from foundry_tune.methods import DPO

    path = tmp_path / "chat.jsonl"
    Dataset.from_records(demo_records(20, seed=3)).to_jsonl(path)
    with path.open("rb") as fh:
        uploaded = cli.openai.files.create(file=("chat.jsonl", fh), purpose="fine-tune")
    job = cli.fine_tune("gpt-4.1-mini").train_on(uploaded.id).method(DPO()).training_type("Standard").start()
    assert main(["jobs", "watch", job.id, "--plain", "--timeout", "90"]) == 1
    assert "invalidTrainingFile" in capsys.readouterr().out
    assert main(["jobs", "show", job.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "failed" and shown["error"]["code"] == "invalidTrainingFile"
    assert "foundry-tune validate" in shown["hint"]
