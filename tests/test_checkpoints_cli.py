"""``foundry-tune jobs checkpoints JOB_ID [--json]`` against the emulator, through the CLI entry point."""

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
from foundry_tune.methods import Supervised

pytestmark = [pytest.mark.emulator]


@pytest.fixture()
def cli(ft: Foundry, monkeypatch: pytest.MonkeyPatch) -> Foundry:
    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    return ft


def test_checkpoints_table_best_and_json(cli: Foundry, capsys: pytest.CaptureFixture[str]) -> None:
    train, validation = Dataset.from_records(demo_records(40, seed=71)).split(validation=0.25, seed=1)
    job = (cli.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
           .method(Supervised(n_epochs=3)).seed(5).suffix("cli-ckpt").training_type("GlobalStandard").start())
    job.wait(timeout=90, progress=False, poll=0.2)
    best = job.best_checkpoint()

    assert main(["jobs", "checkpoints", job.id]) == 0
    out = capsys.readouterr().out
    assert "full valid loss" in out and "(final)" in out
    assert f"best by full_valid_loss: step {best.step} " in out and best.model in out

    assert main(["jobs", "checkpoints", job.id, "--json", "--metric", "train_loss"]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert shown["job_id"] == job.id and shown["metric"] == "train_loss"
    assert [c["step"] for c in shown["checkpoints"]] == [c.step for c in job.checkpoints()]
    assert shown["best"]["step"] == job.best_checkpoint("train_loss").step


def test_checkpoints_without_validation_say_why_there_is_no_best(
        cli: Foundry, capsys: pytest.CaptureFixture[str]) -> None:
    data = Dataset.from_records(demo_records(20, seed=72))
    job = (cli.fine_tune("gpt-4.1-mini").train_on(data).suffix("cli-ckpt-noval")
           .training_type("GlobalStandard").start())
    job.wait(timeout=90, progress=False, poll=0.2)
    assert main(["jobs", "checkpoints", job.id]) == 0
    out = capsys.readouterr().out
    assert "train loss" in out and "valid loss" not in out
    assert "no best by valid_loss" in out and "validate_on" in out
    assert main(["jobs", "checkpoints", job.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["best"] is None
