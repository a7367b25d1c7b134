"""``foundry-tune jobs watch A B ...``: several jobs watched with one listing per look, a line per
status change per job, a final table or a JSON list in the order given, exit 0 only if every job
succeeded (a job gone while watched: shown ``gone``, exit 1); ``--max-cost`` goes with one job
id only. One id keeps the single-job behaviour
(``tests/test_job_cli.py``, ``tests/test_spend_cli.py``)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from _cli_helpers import Borrowed, run_cli

from foundry_tune._demo_data import demo_records
from foundry_tune._method_kind import MethodKind
from foundry_tune._sync._jobs import JobsAPI
from foundry_tune.cli import _jobs
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.errors import JobNotFoundError
from foundry_tune.job import Job, JobStatus

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(job_duration=0.5)]


@pytest.fixture()
def cli(ft: Foundry, monkeypatch: pytest.MonkeyPatch) -> Foundry:
    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    return ft


def start(ft: Foundry, suffix: str, n: int) -> list[Job]:
    data = Dataset.from_records(demo_records(20, seed=len(suffix)), name=f"{suffix}.jsonl")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(data).suffix(suffix).training_type("GlobalStandard")
    return [builder.seed(i).start() for i in range(n)]


def count_requests(ft: Foundry) -> dict[str, int]:
    counts = {"list": 0, "retrieve": 0}

    def hook(request: Any) -> None:
        path = request.url.path
        if request.method == "GET" and path.endswith("/fine_tuning/jobs"):
            counts["list"] += 1
        elif request.method == "GET" and "/fine_tuning/jobs/" in path and not path.endswith("/events"):
            counts["retrieve"] += 1

    ft.openai._client.event_hooks["request"].append(hook)
    return counts


def test_watch_several_jobs_lines_table_and_one_listing_per_look(
    cli: Foundry, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = start(cli, "cli-many", 2)
    counts = count_requests(cli)
    code, out, err = run_cli(capsys, "jobs", "watch", a.id, b.id, a.id, "--timeout", "90")
    assert code == 0, err
    lines = out.splitlines()
    assert f"[1/2] {a.id}: succeeded" in lines and f"[2/2] {b.id}: succeeded" in lines
    assert len([x for x in lines if x.startswith("[")]) == len({x for x in lines if x.startswith("[")})
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["ID", "STATUS", "FINE-TUNED", "MODEL", "ERROR"]
    assert [row.split()[:2] for row in table[1:3]] == [[a.id, "succeeded"], [b.id, "succeeded"]]
    assert counts["retrieve"] == 0 and counts["list"] >= 1  # one listing per look, no retrieve per job


def test_watch_several_as_json_and_exit_1_when_one_did_not_succeed(
    cli: Foundry, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = start(cli, "cli-many-json", 2)
    b.cancel()
    code, out, err = run_cli(capsys, "jobs", "watch", b.id, a.id, "--json", "--timeout", "90")
    assert code == 1, err
    listed = json.loads(out)
    assert [(j["id"], j["status"]) for j in listed] == [(b.id, "cancelled"), (a.id, "succeeded")]
    assert set(listed[0]) >= {"fingerprint", "error", "hint", "fine_tuned_model"}

    code, out, err = run_cli(capsys, "jobs", "watch", b.id, a.id, "--plain")
    assert code == 1
    assert f"[1/2] {b.id}: cancelled" in out and re.search(rf"^{b.id}\s+cancelled\s", out, re.MULTILINE)


def test_watch_several_with_a_timeout_exits_1_and_names_the_live_jobs(
    cli: Foundry, capsys: pytest.CaptureFixture[str], emulator: Any
) -> None:
    emulator.switches(hang=True)  # running jobs stop progressing
    try:
        a, b = start(cli, "cli-many-timeout", 2)
        code, out, _ = run_cli(capsys, "jobs", "watch", a.id, b.id, "--timeout", "0.5")
        assert code == 1 and "still live" in out and a.id in out.splitlines()[-1]
        code, out, err = run_cli(capsys, "jobs", "watch", a.id, b.id, "--timeout", "0.5", "--json")
        assert code == 1 and out == "" and json.loads(err.strip().splitlines()[-1])["error"]["type"] == \
            "WaitTimeoutError"
    finally:
        emulator.switches(hang=None)
        for job in (a, b):
            job.cancel()


def test_max_cost_goes_with_one_job_id_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "jobs", "watch", "ftjob-a", "ftjob-b", "--max-cost", "10")
    assert code == 2 and out == ""
    assert "--max-cost watches one job" in err and "jobs watch ID --max-cost USD" in err
    code, _, err = run_cli(capsys, "jobs", "watch", "ftjob-a", "ftjob-b", "--max-cost", "10", "--json")
    assert code == 2 and json.loads(err.strip().splitlines()[-1])["error"]["type"] == "UsageError"


def test_a_recorded_cap_not_watched_among_several_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    def fake(job_id: str, kind: MethodKind, status: JobStatus, cap: float | None) -> Any:
        return SimpleNamespace(id=job_id, method=SimpleNamespace(kind=kind), status=status, max_cost=cap)

    _jobs._note_unwatched_caps([
        fake("ftjob-rft", MethodKind.REINFORCEMENT, JobStatus.RUNNING, 150.0),
        fake("ftjob-done", MethodKind.REINFORCEMENT, JobStatus.SUCCEEDED, 150.0),
        fake("ftjob-sft", MethodKind.SUPERVISED, JobStatus.RUNNING, None),
    ])
    err = capsys.readouterr().err
    assert "max_cost $150.00 of reinforcement job ftjob-rft" in err
    assert "foundry-tune jobs watch ftjob-rft" in err and "ftjob-done" not in err and "ftjob-sft" not in err


def test_a_job_gone_while_watched_is_shown_gone_and_exits_1(
    cli: Foundry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = start(cli, "cli-many-gone", 2)
    a.wait(progress=False)
    why = "not found any more: deleted, or no longer visible to this credential"

    def vanished(self: Any, jobs: list[str], *args: Any, **kwargs: Any) -> list[Job]:
        kwargs["progress"]([a, b])
        raise JobNotFoundError(f"fine-tuning job(s) {b.id} gone while watched", job_ids=[b.id], jobs=[a, b])

    monkeypatch.setattr(JobsAPI, "wait_all", vanished)
    code, out, err = run_cli(capsys, "jobs", "watch", a.id, b.id, "--plain")
    assert code == 1, err
    assert re.search(rf"^{b.id}\s+gone\s", out, re.MULTILINE) and re.search(rf"^{a.id}\s+succeeded\s", out,
                                                                             re.MULTILINE)
    assert out.splitlines()[-1] == f"{b.id}: gone: {why}"
    code, out, err = run_cli(capsys, "jobs", "watch", a.id, b.id, "--json")
    assert code == 1, err
    listed = json.loads(out)
    assert [(j["id"], j["status"]) for j in listed] == [(a.id, "succeeded"), (b.id, "gone")]
    assert listed[1]["gone"] == why
