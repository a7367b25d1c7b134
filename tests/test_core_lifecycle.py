"""The pure lifecycle rules (``_core.lifecycle``), the deployments' expiry fields
(``DeploymentInfo``) and the audit decisions (``_core.audit``), with injected times."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from _emulator_helpers import needs_recordings

from foundry_tune import catalog
from foundry_tune._core.audit import (
    AuditReport,
    Deletable,
    DeploymentAudit,
    FileCleanupReport,
    FileDecision,
    UploadedFile,
    cleanup_decision,
    hosting_rate,
    idle_deployment_reason,
    tuned_models_of,
    uploaded_file,
)
from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.file_import import import_name
from foundry_tune._core.lifecycle import (
    MIN_FILE_AGE,
    base_model_of,
    file_users,
    inactivity_note,
    is_fine_tuned_model,
    is_library_upload,
    job_is_live,
    moment,
    parse_age,
    parse_time,
)
from foundry_tune._core.upload import upload_name
from foundry_tune.errors import FileInUseError, InvalidParameterError

RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "azure-recordings"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
FT_MODEL = "gpt-4.1-mini-2025-04-14.ft-b525297af36e4cfda898d13c3f91d3dc"


def test_library_uploads_are_recognised_by_the_name_upload_name_gives() -> None:
    assert is_library_upload(upload_name("my data.jsonl", "sha256:" + "AB" * 32))
    assert is_library_upload(upload_name("train.json", "0" * 64))
    for other in ("train.jsonl", "x.sha256-abc.jsonl", "x.sha256-" + "a" * 32 + ".jsonl.bak", "", None):
        assert not is_library_upload(other)


def test_files_the_library_imported_from_a_url_are_its_files_too() -> None:
    from foundry_tune._core.file_import import import_key, import_name

    assert is_library_upload(import_name("train.jsonl", import_key("https://acct.blob.core.windows.net/c/t.jsonl",
                                                                   "train.jsonl")))


def test_times_and_ages() -> None:
    assert parse_time("2026-02-04T04:17:12.9981593Z") == dt.datetime(2026, 2, 4, 4, 17, 12, 998159,
                                                                       tzinfo=dt.timezone.utc)
    assert parse_time(1_700_000_000) == dt.datetime.fromtimestamp(1_700_000_000, dt.timezone.utc)
    assert [parse_time(v) for v in (None, True, 0, "soon", float("nan"))] == [None] * 5
    assert parse_age("7d") == dt.timedelta(days=7) and parse_age("12h") == dt.timedelta(hours=12)
    assert parse_age("30m") == dt.timedelta(minutes=30) and parse_age("3") == dt.timedelta(days=3)
    with pytest.raises(ValueError, match="not an age"):
        parse_age("a week")
    # Emulator.now() is Unix seconds
    assert moment(1_700_000_000.0) == dt.datetime.fromtimestamp(1_700_000_000, dt.timezone.utc)
    assert moment(dt.datetime(2026, 3, 1, 12)) == NOW and moment(None).tzinfo is not None
    with pytest.raises(InvalidParameterError):
        moment("tomorrow")  # type: ignore[arg-type]


def test_which_jobs_are_live_and_use_which_file() -> None:
    live = ("running", "queued", "paused", "validating_files", "brand-new")
    assert [job_is_live(s) for s in live] == [True] * 5
    assert [job_is_live(s) for s in ("succeeded", "failed", "cancelled")] == [False] * 3
    jobs = [{"id": "j1", "status": "running", "training_file": "f1", "validation_file": "f2"},
            {"id": "j2", "status": "succeeded", "training_file": "f1", "validation_file": None}]
    assert file_users(jobs) == {"f1": [("j1", True), ("j2", False)], "f2": [("j1", True)]}


def test_a_job_that_trains_and_validates_on_one_file_uses_it_once() -> None:
    jobs = [{"id": "j1", "status": "running", "training_file": "f1", "validation_file": "f1"},
            {"id": "j2", "status": "failed", "training_file": "f1", "validation_file": "f1"}]
    assert file_users(jobs) == {"f1": [("j1", True), ("j2", False)]}
    listed = uploaded_file({"id": "f1", "filename": OURS}, file_users(jobs)["f1"])
    assert listed.used_by == ("j1", "j2") and listed.live_jobs == ("j1",)


def test_fine_tuned_model_ids() -> None:
    assert base_model_of(FT_MODEL) == "gpt-4.1-mini-2025-04-14"
    assert base_model_of("ft:gpt-4o-mini-2024-07-18:org:support:AbC123") == "gpt-4o-mini-2024-07-18"
    assert base_model_of("gpt-4o") == "gpt-4o"
    assert is_fine_tuned_model(FT_MODEL)
    assert not is_fine_tuned_model("gpt-4o") and not is_fine_tuned_model(None)


def _recorded_deployment() -> dict[str, Any]:
    recording = json.loads((RECORDINGS / "recordings" / "deploy_and_infer_oai_sft.json").read_text())
    return next(e["response"] for e in recording["exchanges"]
                if isinstance(e.get("response"), dict) and "systemData" in e["response"])


@needs_recordings
def test_deployment_created_at_comes_from_arm_when_there_is_no_tag() -> None:
    info = DeploymentInfo.from_arm(_recorded_deployment())
    created = dt.datetime(2026, 2, 4, 4, 17, 12, 998159, tzinfo=dt.timezone.utc)
    assert info.created_at == created and info.is_fine_tuned and not info.is_developer_tier
    assert info.expires_at is None
    assert info.inactivity_deletion_at == created + dt.timedelta(days=15)
    tagged = DeploymentInfo.from_arm({**_recorded_deployment(), "tags": {"foundry-tune-created-at":
                                                                         "2026-02-04T04:00:00Z"}})
    assert tagged.created_at == dt.datetime(2026, 2, 4, 4, 0, tzinfo=dt.timezone.utc)


def _deployment(sku: str, created: dt.datetime, model: str = FT_MODEL,
                state: str = "Succeeded") -> DeploymentInfo:
    return DeploymentInfo.from_arm({
        "name": f"d-{sku}", "sku": {"name": sku, "capacity": 50},
        "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"},
                       "provisioningState": state},
        "systemData": {"createdAt": created.isoformat()},
    })


def test_developer_tier_expires_after_24_hours() -> None:
    created = NOW - dt.timedelta(hours=2)
    dev = _deployment("DeveloperTier", created)
    assert dev.is_developer_tier and dev.expires_at == created + dt.timedelta(hours=24)
    note = dev.lifecycle_note(NOW) or ""
    assert note.startswith("expires 2026-03-02 10:00 UTC") and "15 days" not in note
    assert (dev.lifecycle_note(NOW + dt.timedelta(days=1)) or "").startswith("expired")
    assert _deployment("developer", created).expires_at == dev.expires_at  # any spelling


def test_inactivity_wording_says_what_is_known() -> None:
    created = NOW - dt.timedelta(days=2)
    std = _deployment("GlobalStandard", created)
    note = std.lifecycle_note(NOW) or ""
    assert "deleted if unused until 2026-03-14 12:00 UTC" in note and "does not see" in note
    old = _deployment("GlobalStandard", NOW - dt.timedelta(days=40)).lifecycle_note(NOW) or ""
    assert "does not know the last one" in old and "until" not in old
    called = inactivity_note(created, last_call=NOW, now=NOW)
    assert "until 2026-03-16 12:00 UTC (15 days after its last call)" in called
    assert _deployment("GlobalStandard", created, model="gpt-4o").lifecycle_note(NOW) is None  # base model


def test_hosting_rate() -> None:
    assert hosting_rate(FT_MODEL, "DeveloperTier") == 0.0
    assert hosting_rate("gpt-4o", "GlobalStandard") is None  # base models bill per token
    price = catalog.price_for("gpt-4.1-mini")
    assert price is not None
    assert hosting_rate(FT_MODEL, "GlobalStandard") == pytest.approx(price.hosting_per_hour)
    assert hosting_rate(FT_MODEL, "ProvisionedManaged") is None  # billed in PTUs
    assert hosting_rate("unknown-model.ft-abc", "GlobalStandard") is None


def _file(name: str, created: dt.datetime | None, users: Sequence[tuple[str, bool]] = ()) -> UploadedFile:
    raw = {"id": "file-1", "filename": name, "bytes": 10, "purpose": "fine-tune", "status": "processed",
           "created_at": None if created is None else created.timestamp()}
    return uploaded_file(raw, users)


OURS = upload_name("train.jsonl", "ab" * 32)


@pytest.mark.parametrize(("name", "age", "users", "complete", "action", "why"), [
    ("other.jsonl", 48, [], True, "kept", "not uploaded by foundry-tune"),
    (OURS, 48, [("j1", True)], True, "kept", "used by live job j1"),
    (OURS, 0.5, [], True, "kept", "younger than 1h (a start() may"),
    (OURS, 48, [], True, "delete", "no job uses it"),
    (OURS, 48, [("j2", False)], True, "delete", "its jobs ended (j2)"),
    (OURS, 48, [], False, "kept", "the job listing was incomplete"),
    (OURS, 1.5, [], False, "delete", "no job uses it"),  # newer than every unlisted job
])
def test_cleanup_decisions(name: str, age: float, users: list[tuple[str, bool]], complete: bool,
                           action: str, why: str) -> None:
    f = _file(name, NOW - dt.timedelta(hours=age), users)
    decision = cleanup_decision(f, now=NOW, older_than=MIN_FILE_AGE, jobs_complete=complete,
                                jobs_seen_since=NOW - dt.timedelta(hours=2))
    assert decision.action == action and decision.reason.startswith(why)


@pytest.mark.parametrize("status", ["error", "failed", "Error"])
def test_a_file_the_service_could_not_process_is_deletable_whatever_its_age(status: str) -> None:
    raw = {"id": "file-9", "filename": import_name("train.jsonl", "cd" * 32), "status": status,
           "created_at": (NOW - dt.timedelta(minutes=2)).timestamp()}
    decision = cleanup_decision(uploaded_file(raw), now=NOW, older_than=MIN_FILE_AGE, jobs_complete=True,
                                jobs_seen_since=None)
    assert decision.action == "delete" and "could not process it" in decision.reason
    assert "younger" not in decision.reason
    live = cleanup_decision(uploaded_file(raw, [("j1", True)]), now=NOW, older_than=MIN_FILE_AGE,
                            jobs_complete=True, jobs_seen_since=None)
    assert live.action == "kept"  # a live job names it: kept, as any file


def test_cleanup_report_text_and_json() -> None:
    f = _file(OURS, NOW - dt.timedelta(days=3))
    dry = FileCleanupReport(dry_run=True, decisions=(FileDecision(f, "delete", "no job uses it"),))
    assert dry.to_delete == [f] and not dry.deleted and "would be deleted" in str(dry)
    done = FileCleanupReport(dry_run=False, decisions=(FileDecision(f, "deleted", "no job uses it"),),
                             complete=False, incomplete=("jobs: page cap (10 pages) reached",))
    assert done.deleted == [f] and "incomplete: jobs" in str(done)
    assert json.loads(json.dumps(done.to_dict()))["files"][0]["action"] == "deleted"


def test_tuned_models_carry_the_catalogs_retirement_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    retire = types.SimpleNamespace(retires=dt.date(2027, 3, 31), fine_tuning_retires=dt.date(2026, 10, 1))
    monkeypatch.setattr(catalog, "lookup_model", lambda name: retire if name.startswith("gpt-4.1") else None)
    jobs = [{"id": "j1", "model": "gpt-4.1-mini-2025-04-14", "fine_tuned_model": FT_MODEL,
             "created_at": 1_700_000_000, "finished_at": 1_700_003_600, "suffix": "s"},
            {"id": "j2", "model": "gpt-4o", "fine_tuned_model": None, "status": "running"},
            {"id": "j3", "model": "mystery", "fine_tuned_model": "mystery.ft-1"}]
    models = tuned_models_of(jobs)
    assert [m.id for m in models] == [FT_MODEL, "mystery.ft-1"]
    first = models[0]
    assert first.retires == dt.date(2027, 3, 31) and first.fine_tuning_retires == dt.date(2026, 10, 1)
    assert first.created_at == dt.datetime.fromtimestamp(1_700_003_600, dt.timezone.utc)
    assert first.to_dict()["fine_tuning_retires"] == "2026-10-01"
    assert models[1].retires is None and models[1].base_model == "mystery"


def test_idle_deployments_and_the_report() -> None:
    up = _deployment("GlobalStandard", NOW - dt.timedelta(hours=30))
    fresh = _deployment("GlobalStandard", NOW - dt.timedelta(hours=3))
    dev = _deployment("DeveloperTier", NOW - dt.timedelta(hours=30))
    failed = _deployment("GlobalStandard", NOW - dt.timedelta(hours=1), state="Failed")
    audits = [DeploymentAudit(d, hosting_rate(d.model, d.sku), d.lifecycle_note(NOW))
              for d in (up, fresh, dev, failed)]
    reasons = [idle_deployment_reason(a, NOW) for a in audits]
    assert reasons[0] is not None and reasons[0].startswith("billing $") and "30 h" in reasons[0]
    assert reasons[1] is None and reasons[2] is None
    assert reasons[3] is not None and "Failed" in reasons[3]

    report = AuditReport(generated_at=NOW, models=(), deployments=tuple(audits), files=(),
                         deletable=(Deletable("deployment", up.name, reasons[0], 'ft.deployments.delete("x")',
                                              "foundry-tune deploy delete x"),),
                         incomplete=("files: time bound (60 s) reached",))
    assert not report.complete and report.hourly_cost == pytest.approx(3 * (audits[0].hourly_cost or 0))
    data = json.loads(report.to_json())
    assert data["complete"] is False and data["deployments"][2]["expires_at"].startswith("2026-03-01T06:00")
    text = str(report)
    assert "incomplete: files" in text and "$ foundry-tune deploy delete x" in text


def test_file_in_use_error_survives_pickling() -> None:
    err = FileInUseError("file f was not deleted", file_id="f", job_ids=["j1"])
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, FileInUseError) and back.job_ids == ("j1",) and str(back) == str(err)

