"""``foundry-tune spend``: the report as JSON and as a table, on the emulator; without ARM settings the
deployments are said to be unlisted rather than silently missing. And the reinforcement cap on the
command line: ``jobs create --max-cost`` without ``--wait`` says it is watched only while something
waits, ``jobs watch`` enforces the recorded cap (or ``--max-cost``) with commands as the hint."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from _cli_helpers import Borrowed, run_cli

from foundry_tune import Foundry, catalog
from foundry_tune._core.spend import JobSpend, SpendReport
from foundry_tune.cli import _jobs, _spend
from foundry_tune.cli._now import parse_now
from foundry_tune.client import StaticTokenCredential
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import InvalidParameterError
from foundry_tune.job import JobStatus

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=1.0, deployment_provision_delay=0.1, deployment_ready_delay=0.1),
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]


@pytest.fixture(scope="module")
def deployed(ft: Foundry) -> str:
    rows = [{"messages": [{"role": "user", "content": f"Say {i}."}, {"role": "assistant", "content": str(i)}]}
            for i in range(20)]
    job = ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(rows, name="spend-cli.jsonl")) \
        .training_type("GlobalStandard").start().wait(timeout=90, progress=False, poll=0.2)
    assert job.status == JobStatus.SUCCEEDED and job.fine_tuned_model
    ft.deployments.create(job.fine_tuned_model, "spend-cli", sku="Standard", capacity=1)
    return "spend-cli"


def test_spend_json_lists_the_billing_deployment_and_totals(
    ft: Foundry, deployed: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_spend, "connect", lambda: Borrowed(ft))
    code, out, err = run_cli(capsys, "spend", "--json")
    assert code == 0, err
    data = json.loads(out)
    (line,) = [d for d in data["deployments"] if d["name"] == deployed]
    assert line["sku"] == "Standard" and line["per_hour_usd"] == pytest.approx(1.70)
    assert line["hours"] is not None and line["so_far_usd"] is not None and line["created_at"].endswith("Z")
    assert data["per_hour_usd"] == pytest.approx(1.70)
    assert data["jobs"] == [] and data["incomplete"] == [] and data["unpriced"] == []
    assert data["prices_as_of"] and data["prices_source"]


def test_spend_prints_a_table(
    ft: Foundry, deployed: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_spend, "connect", lambda: Borrowed(ft))
    code, out, _ = run_cli(capsys, "spend")
    assert code == 0
    assert out.splitlines()[0].split() == ["DEPLOYMENT", "SKU", "$/H", "HOURS", "SO", "FAR", "BASE", "MODEL"]
    assert any(line.startswith(deployed + " ") and "1.70" in line for line in out.splitlines())
    assert "billing now: $1.70/h" in out and "no live fine-tuning jobs" in out


def test_without_arm_settings_the_report_says_deployments_were_not_listed(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    info = emulator.info
    credential = StaticTokenCredential(info.token or "t")
    bare = Foundry(info.project_endpoint, credential, verify=info.ca_cert or True)
    with bare:
        monkeypatch.setattr(_spend, "connect", lambda: Borrowed(bare))
        code, out, err = run_cli(capsys, "spend", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["deployments"] == []
    assert any("deployments not listed" in item for item in data["incomplete"])


def _rft_files(folder: Path) -> tuple[Path, Path, Path]:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} + {i}? (spend cli)"}],
             "answer": str(2 * i)} for i in range(110)]
    train, valid, grader = folder / "train.jsonl", folder / "valid.jsonl", folder / "grader.json"
    Dataset.from_records(rows[:100]).to_jsonl(train)
    Dataset.from_records(rows[100:]).to_jsonl(valid)
    grader.write_text(json.dumps({"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
                                  "reference": "{{item.answer}}", "operation": "eq"}), encoding="utf-8")
    return train, valid, grader


@pytest.mark.filterwarnings("ignore::foundry_tune.catalog.RetirementWarning")
def test_a_reinforcement_cap_without_wait_is_said_plainly_and_jobs_watch_enforces_it(
    ft: Foundry, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    train, valid, grader = _rft_files(tmp_path)
    emulator.switches(rft_hours=20)  # 2 h of preparation, then 18 h of training at $100/h
    job_id = None
    try:
        code, out, err = run_cli(capsys, "jobs", "create", "--model", "o4-mini", "--method", "rft",
                                 "--training-file", str(train), "--validation-file", str(valid),
                                 "--grader", str(grader), "--epochs", "4", "--batch-size", "1",
                                 "--training-type", "GlobalStandard", "--suffix", "cli-cap",
                                 "--max-cost", "150")
        assert code == 0, err
        job_id = out.strip().rsplit(" ", 1)[-1]
        # Never dropped silently: the cap is watched only while something waits, and how.
        assert "max_cost $150.00" in err and "watched only while something waits" in err
        assert f"foundry-tune jobs watch {job_id}" in err
        assert ft.jobs.get(job_id).max_cost == 150.0  # recorded for a later handle
        for _ in range(300):
            if ft.jobs.get(job_id).status is JobStatus.RUNNING:
                break
            time.sleep(0.1)
        emulator.advance(hours=5)  # about 3 h of training: $300, over the cap
        code, out, err = run_cli(capsys, "jobs", "watch", job_id, "--plain")  # the recorded cap
        assert code == 1
        assert "reached its spend cap" in err and "max_cost=$150.00" in err
        assert f"foundry-tune jobs checkpoints {job_id}" in err and "foundry-tune deploy create" in err
        assert f"foundry-tune jobs resume {job_id}" in err and "job." not in err.split("hint:", 1)[1]
        assert ft.jobs.get(job_id).status in (JobStatus.PAUSING, JobStatus.PAUSED)

        # Watching the paused job again with a cap it is past says so at once, in JSON too.
        code, out, err = run_cli(capsys, "jobs", "watch", job_id, "--json", "--max-cost", "200")
        assert code == 1 and out == ""
        error = json.loads(err.strip().splitlines()[-1])["error"]
        assert error["type"] == "SpendLimitReachedError" and error["cap"] == 200.0 and error["by"] == "user"
        assert f"foundry-tune jobs checkpoints {job_id}" in error["hint"]
    finally:
        emulator.switches(rft_hours=None)
        if job_id is not None:
            ft.jobs.get(job_id).cancel()


def test_jobs_watch_max_cost_must_be_a_number_of_usd(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "jobs", "watch", "ftjob-abc", "--max-cost", "-1")
    assert code == 2 and "--max-cost" in err


def test_spend_measures_hours_up_from_now(
    ft: Foundry, deployed: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_spend, "connect", lambda: Borrowed(ft))
    emulator.advance(hours=3)  # on the emulator's clock the Standard deployment has been up 3 h

    def hours(*now: str) -> float:
        code, out, err = run_cli(capsys, "spend", "--json", *now)
        assert code == 0, err
        (line,) = [d for d in json.loads(out)["deployments"] if d["name"] == deployed]
        return float(line["hours"])

    assert hours() < 3.0  # this machine's clock has not moved
    assert hours("--now", str(emulator.now())) >= 3.0
    assert hours("--now", _iso(emulator.now())) >= 3.0
    for bad in ("soon", "12", "nan"):
        code, out, err = run_cli(capsys, "spend", "--now", bad)
        assert code == 2 and out == "" and "--now" in err


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat()


def test_the_prices_line_dates_the_prices_the_report_used(
    ft: Foundry, deployed: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_spend, "connect", lambda: Borrowed(ft))
    code, out, _ = run_cli(capsys, "spend")
    assert code == 0
    tail = " ".join(out.split("prices:", 1)[1].split())
    assert f"hosting fees as of {catalog.PRICES_AS_OF} ({catalog.COST_GUIDE_URL})" in tail
    assert "prices as of" not in out and catalog.LIST_PRICES_AS_OF not in tail  # no list price was used
    code, out, _ = run_cli(capsys, "spend", "--json")
    assert {"what": "hosting fees", "as_of": catalog.PRICES_AS_OF, "source": catalog.COST_GUIDE_URL} \
        in json.loads(out)["prices_used"]

    # A job billed per token is priced from the per-model list prices, dated when they were read.
    job = JobSpend(id="ftjob-1", model="gpt-4.1-mini", status="running", method="supervised",
                   training_type="GlobalStandard", billing="tokens", estimate=1.5)
    report = SpendReport(at=dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc), deployments=(), jobs=(job,))
    line = report.prices_line()
    assert f"training per 1M tokens of gpt-4.1-mini as of {catalog.LIST_PRICES_AS_OF}" in line
    assert catalog.PRICES_AS_OF not in line
    empty = SpendReport(at=report.at, deployments=(), jobs=())
    assert empty.prices_line().startswith("prices: none used")


def test_the_command_lines_now_is_iso_8601_or_unix_seconds() -> None:
    noon = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    assert parse_now("2026-03-01T12:00:00Z") == noon == parse_now("2026-03-01 12:00")  # no zone: UTC
    assert parse_now(str(noon.timestamp())) == noon == parse_now(f" {int(noon.timestamp())} ")
    for bad in ("yesterday", "", "nan", "inf", "-5", "12", "2300-01-01T00:00Z", "1e300"):
        with pytest.raises(InvalidParameterError):
            parse_now(bad)
