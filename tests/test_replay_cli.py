"""``foundry-tune jobs`` and ``foundry-tune deploy`` against the replay server (real Azure bodies,
see ``tests/_replay.py``), connected the way a user connects: through the environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _emulator_helpers import SAMPLES, first_rows, needs_samples, write_jsonl
from _replay import ReplayServer, Scenario, fixture, needs_recordings, recorded_exchange

from foundry_tune.cli import main
from foundry_tune.methods import Supervised

pytestmark = [
    needs_recordings,
    needs_samples,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayServer]:
    """A replay server the CLI finds through AZURE_AI_PROJECT_ENDPOINT and the ARM variables."""
    with ReplayServer(Scenario(running_polls=2)) as replay:
        monkeypatch.delenv("FOUNDRY_PROJECT_ENDPOINT", raising=False)
        for key, value in replay.env().items():
            monkeypatch.setenv(key, value)
        yield replay


def column_starts(header: str, names: list[str]) -> list[int]:
    return [header.index(name) for name in names]


def test_jobs_list_table_fits_the_recorded_ids(server: ReplayServer,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list", "--limit", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:]
    starts = column_starts(header, ["STATUS", "METHOD"])
    listed = {row.split()[0]: row for row in rows}
    assert set(server.recorded_list_ids) <= set(listed)
    for job_id in server.recorded_list_ids:
        row = listed[job_id]
        assert len(job_id) == 38
        assert row[starts[0]:].startswith("cancelled"), (header, row)  # columns line up with the header
    recorded = recorded_exchange("recordings/list_jobs_page1_head.json", "GET", r"/fine_tuning/jobs$")
    methods = [j["method"]["type"] for j in recorded["response"]["data"]]
    assert [listed[i][starts[1]:].split()[0] for i in server.recorded_list_ids] == methods


def test_jobs_list_json_recovers_the_method(server: ReplayServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list", "--json", "--limit", "100"]) == 0
    listed = {j["id"]: j for j in json.loads(capsys.readouterr().out)}
    no_method = server.job_ids["notebooks/video_job_succeeded.json"]  # top-level hyperparameters only
    assert listed[no_method]["status"] == "succeeded"
    assert listed[no_method]["method"] == "supervised"
    assert listed[no_method]["suffix"] == fixture("notebooks/video_job_succeeded.json")["body"]["suffix"]


def test_jobs_show_reads_metrics_from_event_messages_and_checkpoints(
        server: ReplayServer, capsys: pytest.CaptureFixture[str]) -> None:
    job_id = server.job_ids["recordings/list_checkpoints.json"]
    assert main(["jobs", "show", job_id]) == 0
    out = capsys.readouterr().out
    assert "succeeded" in out
    assert "step 8250" in out  # the last "Step N: training loss=X" message of the recorded events
    for step in (1, 80, 90, 100):
        assert f"checkpoint:       step {step}:" in out

    assert main(["jobs", "show", job_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["last_metrics"]["step"] == 8250
    assert shown["last_metrics"]["train_loss"] == pytest.approx(3.814697265625e-06)
    assert shown["method"] == "supervised"


def test_jobs_watch_shows_step_and_loss(server: ReplayServer, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    gsm8k = SAMPLES / "sample-sft-text-gsm8k"
    train = write_jsonl(tmp_path / "train.jsonl", first_rows(gsm8k / "chat_train.jsonl", 12))
    with server.foundry() as ft:
        job = ft.fine_tune("gpt-4.1").train_on(train).method(Supervised()).training_type("Standard").start()
    assert main(["jobs", "watch", job.id, "--plain", "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    assert "status running" in out and f"{job.id} succeeded" in out
    assert "step 8250" in out and "train_loss" in out


def test_jobs_control_commands(server: ReplayServer, capsys: pytest.CaptureFixture[str]) -> None:
    running = server.job_ids["recordings/pause_job.json"]
    assert main(["jobs", "pause", running]) == 0
    assert f"{running}: pausing" in capsys.readouterr().out
    paused = server.job_ids["recordings/resume_job.json"]
    assert main(["jobs", "resume", paused]) == 0
    assert f"{paused}: resuming" in capsys.readouterr().out
    assert main(["jobs", "cancel", paused]) == 0
    assert f"{paused}: cancelled" in capsys.readouterr().out


def test_unknown_job_is_a_clean_error(server: ReplayServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "show", "ftjob-" + "0" * 32]) == 1
    assert "error" in capsys.readouterr().err


def test_deploy_commands(server: ReplayServer, capsys: pytest.CaptureFixture[str]) -> None:
    chat_text = fixture("spec-examples/chat_completions.json")["body"]["choices"][0]["message"]["content"]
    example = fixture("arm/ListDeployments.json")["body"]["value"][0]
    model = recorded_exchange("recordings/deploy_and_infer_oai_sft.json", "GET",
                              r"/fine_tuning/jobs/[^/]+$")["response"]["fine_tuned_model"]
    assert main(["deploy", "create", model, "--name", "cli-dep", "--capacity", "50"]) == 0
    assert "cli-dep" in capsys.readouterr().out
    put = server.requests_to("PUT", r"/deployments/cli-dep$")[0].json
    assert put["properties"]["model"]["format"] == "OpenAI"

    assert main(["deploy", "list"]) == 0
    table = capsys.readouterr().out
    assert "cli-dep" in table and example["name"] in table  # Azure's ListDeployments example is there too
    assert main(["deploy", "list", "--json", "--ours"]) == 0
    assert [d["name"] for d in json.loads(capsys.readouterr().out)] == ["cli-dep"]

    assert main(["deploy", "show", "cli-dep", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["state"], shown["sku"], shown["capacity"]) == ("Succeeded", "GlobalStandard", 50)
    assert shown["model"] == model
    assert main(["deploy", "show", example["name"]]) == 0
    assert example["properties"]["model"]["name"] in capsys.readouterr().out  # arm/GetDeployment.json

    assert main(["deploy", "chat", "cli-dep", "hello"]) == 0
    assert capsys.readouterr().out.strip() == chat_text
    assert main(["deploy", "delete", "cli-dep"]) == 0
    assert "deleted" in capsys.readouterr().out
    assert main(["deploy", "show", "cli-dep"]) == 1
