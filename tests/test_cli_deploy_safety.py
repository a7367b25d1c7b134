"""``foundry-tune deploy create`` of a model that failed the service's safety evaluation: one plain
line (the model, the harm categories, what to do) and exit code 1; with ``--json`` one JSON error
with ``kind`` and ``categories``. Against the emulator (its ``[emulator:unsafe-model]`` marker)."""

from __future__ import annotations

import json

import pytest
from _cli_helpers import Borrowed, run_cli

pytest.importorskip("starlette")

from foundry_tune._demo_data import demo_records
from foundry_tune.cli import _deploy
from foundry_tune.cli._connection import EXIT_FAILED
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator()]


@pytest.fixture()
def unsafe_checkpoint(ft: Foundry, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """``(job id, checkpoint model)`` of a job whose model failed its safety evaluation; the
    ``deploy`` commands use ``ft``."""
    monkeypatch.setattr(_deploy, "connect", lambda: Borrowed(ft))
    rows = list(demo_records(12, seed=721))
    user = rows[2]["messages"][1]
    rows[2]["messages"][1] = {**user, "content": f"{user['content']} [emulator:unsafe-model:hate]"}
    data = Dataset.from_records(rows, name="cli-deploy-unsafe.jsonl")
    job = ft.fine_tune("gpt-4.1-mini").train_on(data).suffix("cli-deploy-unsafe").start()
    job.wait(timeout=90, progress=False, poll=0.2, raise_on_failure=False)
    return job.id, job.checkpoints()[0].model


def test_deploy_create_of_an_unsafe_model_prints_one_line_and_json_with_the_kind(
    unsafe_checkpoint: tuple[str, str], emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id, model = unsafe_checkpoint
    before = emulator.stats()["deployments"]
    code, out, err = run_cli(capsys, "deploy", "create", model, "--sku", "Developer")
    assert code == EXIT_FAILED and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"foundry-tune deploy: error: {model} failed the service's safety "
                               "evaluation and cannot be deployed; harm categories: hate_fairness. hint: ")
    hint = lines[0].split("hint: ", 1)[1]
    assert "cannot be deployed" in hint and "Dataset.safety_check()" not in hint
    assert "foundry-tune validate FILE --safety-endpoint URL" in hint     # the CLI way to screen

    code, out, err = run_cli(capsys, "deploy", "create", model, "--sku", "Developer", "--json")
    assert code == EXIT_FAILED and out == ""
    error = json.loads(err)["error"]
    assert error["type"] == "SafetyCheckFailedError"
    assert (error["kind"], error["categories"]) == ("model", ["hate_fairness"])
    assert error["job_id"] == job_id
    assert error["hint"] and "cannot be deployed" in error["hint"]
    assert "foundry-tune validate FILE --safety-endpoint URL" in error["hint"]
    assert emulator.stats()["deployments"] == before
