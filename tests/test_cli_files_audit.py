"""``foundry-tune files ...``, ``foundry-tune audit`` and the expiry fields of ``foundry-tune deploy
list`` against an emulator of this module's own (real HTTP), through the CLI entry point."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from _cli_helpers import Borrowed, run_cli

pytest.importorskip("starlette")

from foundry_tune._core.upload import upload_name
from foundry_tune._demo_data import demo_records
from foundry_tune.cli import _audit, _deploy, _files
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=1),
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]


@pytest.fixture()
def cli(ft: Foundry, monkeypatch: pytest.MonkeyPatch) -> Foundry:
    for module in (_files, _audit, _deploy):
        monkeypatch.setattr(module, "connect", lambda: Borrowed(ft))
    return ft


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture()
def hanging(emulator: Emulator) -> Iterator[None]:
    """Running jobs stay running (live) until the test ends."""
    emulator.switches(hang=True)
    yield
    emulator.switches(hang=None)


def test_files_list_cleanup_delete_and_audit(cli: Foundry, hanging: None,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = Dataset.from_records(demo_records(12, seed=51), name="cli.jsonl")
    job = cli.fine_tune("gpt-4.1-mini").train_on(data).suffix("cli-files").start()
    orphan = cli.openai.files.create(file=(upload_name("orphan.jsonl", "12" * 32), io.BytesIO(b"{}\n")),
                                     purpose="fine-tune").id

    listed = {f["id"]: f for f in _json(capsys, "files", "list", "--json")}
    assert set(listed) == {job.training_file, orphan}
    assert listed[job.training_file]["live_jobs"] == [job.id]
    code, out, _ = run_cli(capsys, "files", "list")
    assert code == 0 and job.training_file in out and "LIVE" in out.splitlines()[0]

    dry = _json(capsys, "files", "cleanup", "--older-than", "0s", "--json")
    actions = {f["id"]: f["action"] for f in dry["files"]}
    assert dry["dry_run"] is True and actions == {job.training_file: "kept", orphan: "delete"}
    code, _, err = run_cli(capsys, "files", "cleanup", "--older-than", "soon")
    assert code == 2 and "--older-than" in err

    code, _, err = run_cli(capsys, "files", "delete", job.training_file or "", "--json")
    assert code == 1 and json.loads(err)["error"]["type"] == "FileInUseError"

    audit = _json(capsys, "audit", "--json")
    assert audit["complete"] is True
    assert {f["id"] for f in audit["files"]} >= {job.training_file, orphan}
    assert all(d["id"] != job.training_file for d in audit["deletable"])  # a live job uses it

    done = _json(capsys, "files", "cleanup", "--older-than", "0s", "--yes", "--json")
    assert {f["id"]: f["action"] for f in done["files"]}[orphan] == "deleted"
    assert {f["id"] for f in _json(capsys, "files", "list", "--json")} == {job.training_file}


def test_deploy_list_shows_expiry(cli: Foundry, capsys: pytest.CaptureFixture[str]) -> None:
    data = Dataset.from_records(demo_records(12, seed=52), name="deploy.jsonl")
    job = cli.fine_tune("gpt-4.1-mini").train_on(data).suffix("cli-deploy").start()
    model = job.wait(timeout=90, progress=False, poll=0.2).fine_tuned_model
    assert model is not None
    cli.deployments.create(model, "cli-dev", sku="Developer", ready_check=False)
    cli.deployments.create(model, "cli-std", ready_check=False)
    listed = {d["name"]: d for d in _json(capsys, "deploy", "list", "--json")}
    dev, std = listed["cli-dev"], listed["cli-std"]
    assert dev["developer_tier"] is True and dev["expires_at"] and "24 hours" in dev["lifecycle"]
    assert std["expires_at"] is None and std["inactivity_deletion_at"]
    assert "deleted if unused until" in std["lifecycle"]
    code, out, _ = run_cli(capsys, "deploy", "list")
    assert code == 0 and "EXPIRY" in out and "(24 h tier)" in out and "if unused until" in out


def test_files_cleanup_and_audit_measure_ages_from_now(cli: Foundry, emulator: Emulator,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    body = "".join(json.dumps(row) + "\n" for row in demo_records(12, seed=53)).encode()
    aged = cli.openai.files.create(file=(upload_name("aged.jsonl", "34" * 32), io.BytesIO(body)),
                                   purpose="fine-tune").id
    assert cli.openai.files.wait_for_processing(aged, poll_interval=0.1).status == "processed"
    emulator.advance(hours=2)  # the file is 2 h old on the emulator's clock, not on this machine's
    when = str(emulator.now())

    local = _json(capsys, "files", "cleanup", "--json")
    (kept,) = [f for f in local["files"] if f["id"] == aged]
    assert kept["action"] == "kept" and "younger than 1h" in kept["reason"], kept  # by this clock
    dry = _json(capsys, "files", "cleanup", "--json", "--now", when)
    (decision,) = [f for f in dry["files"] if f["id"] == aged]
    assert decision["action"] == "delete" and decision["reason"] == "no job uses it"

    audit = _json(capsys, "audit", "--json", "--now", when)
    assert audit["generated_at"].startswith(
        dt.datetime.fromtimestamp(float(when), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M"))
    assert aged in {d["id"] for d in audit["deletable"]}
    assert aged not in {d["id"] for d in _json(capsys, "audit", "--json")["deletable"]}

    for argv in (("files", "cleanup"), ("audit",)):
        code, out, err = run_cli(capsys, *argv, "--now", "next tuesday")
        assert code == 2 and out == "" and "--now" in err and "ISO 8601" in err
    cli.files.delete(aged)
