"""A job's state without I/O (foundry_tune._core.job_state): what a status means for a wait, what
a control call's refusal means, what a deploy deploys, the texts a stopped wait shows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from foundry_tune._core.checkpoints import Checkpoint
from foundry_tune._core.job_state import (
    CANCEL_REACHED,
    PAUSE_REACHED,
    RESUME_REACHED,
    JobState,
    as_dict,
    control_already_applied,
    deploy_kwargs,
    model_to_deploy,
    nothing_to_deploy,
    reattach_hint,
    wait_is_over,
    wait_timeout_message,
)
from foundry_tune._core.status import JobStatus
from foundry_tune.errors import InvalidParameterError, JobCancelledError, JobFailedError


def state(**raw: Any) -> JobState:
    job = JobState()
    job._raw = as_dict({"id": "ftjob-1", **raw})
    return job


@pytest.mark.parametrize(("status", "over"), [
    ("succeeded", True),
    ("failed", True),
    ("cancelled", True),
    ("running", False),
    ("pending", False),
    ("queued", False),
    ("validating_files", False),
    ("pausing", False),
    ("paused", False),
    ("resuming", False),
    ("cancelling", False),
    ("queued_for_capacity", False),  # unknown to this version: live, the wait goes on
    ("", False),  # no status at all reads as "unknown": live
])
def test_when_a_wait_is_over(status: str, over: bool) -> None:
    assert wait_is_over(state(status=status).status) is over


@pytest.mark.parametrize(("http", "status", "reached", "applied"), [
    (409, "cancelling", CANCEL_REACHED, True),
    (400, "cancelled", CANCEL_REACHED, True),
    (409, "running", CANCEL_REACHED, False),  # refused and not applied: the error stands
    (500, "cancelled", CANCEL_REACHED, False),  # only a "conflict" answer can mean "already done"
    (None, "cancelled", CANCEL_REACHED, False),
    (409, "pausing", PAUSE_REACHED, True),
    (409, "paused", PAUSE_REACHED, True),
    (409, "running", PAUSE_REACHED, False),
    (409, "resuming", RESUME_REACHED, True),
    (409, "running", RESUME_REACHED, True),
    (409, "queued", RESUME_REACHED, True),
    (409, "pending", RESUME_REACHED, True),
    (409, "paused", RESUME_REACHED, False),
])
def test_a_refused_control_call_that_took_effect(
    http: int | None, status: str, reached: frozenset[JobStatus], applied: bool
) -> None:
    assert control_already_applied(http, JobStatus(status), reached) is applied


CKPT = Checkpoint(id="ckpt-1", step=10, model="m.ft-1:ckpt-step-10", metrics={}, created_at=1,
                  job_id="ftjob-1")


@pytest.mark.parametrize(("raw", "checkpoint", "model"), [
    ({"fine_tuned_model": "m.ft-1"}, None, "m.ft-1"),
    ({"fine_tuned_model": "m.ft-1"}, CKPT, "m.ft-1:ckpt-step-10"),
    ({"fine_tuned_model": None}, "m.ft-1:ckpt-step-5", "m.ft-1:ckpt-step-5"),
    ({"fine_tuned_model": None}, None, None),
    ({"fine_tuned_model": ""}, None, None),
])
def test_what_a_deploy_deploys(
    raw: dict[str, Any], checkpoint: Checkpoint | str | None, model: str | None
) -> None:
    assert model_to_deploy(state(**raw), checkpoint) == model


def test_nothing_to_deploy_says_why() -> None:
    error = nothing_to_deploy(state(status="running"))
    assert isinstance(error, InvalidParameterError)
    assert "ftjob-1" in str(error) and "running" in str(error)


@pytest.mark.parametrize(("capacity", "options", "expected"), [
    (None, {}, {"name": "d", "sku": "GlobalStandard"}),
    (5, {}, {"name": "d", "sku": "GlobalStandard", "capacity": 5}),
    (None, {"wait": False}, {"name": "d", "sku": "GlobalStandard", "wait": False}),
])
def test_deploy_kwargs(capacity: int | None, options: dict[str, Any], expected: dict[str, Any]) -> None:
    assert deploy_kwargs("d", "GlobalStandard", capacity, options) == expected


def test_reattach_hint_names_the_job_its_status_and_both_ways_back() -> None:
    hint = reattach_hint("ftjob-1", JobStatus.RUNNING, "Job.attach(ft, 'ftjob-1').wait()")
    assert "ftjob-1 is still running" in hint and "nothing was cancelled" in hint
    assert "Job.attach(ft, 'ftjob-1').wait()" in hint and "foundry-tune jobs watch ftjob-1" in hint


def test_wait_timeout_message() -> None:
    text = wait_timeout_message("ftjob-1", JobStatus.QUEUED, 2.5, "Job.attach(ft, 'ftjob-1')")
    assert "still queued after 2.5 s" in text and "keeps running" in text
    assert "Job.attach(ft, 'ftjob-1')" in text


@pytest.mark.parametrize(("raw", "error"), [
    ({"status": "succeeded"}, None),
    ({"status": "running"}, None),
    ({"status": "failed", "error": {"code": "invalid_training_file", "message": "bad line"}}, JobFailedError),
    ({"status": "failed", "error": {}}, JobFailedError),
    ({"status": "cancelled"}, JobCancelledError),
])
def test_raise_for_status(raw: dict[str, Any], error: type[Exception] | None) -> None:
    job = state(**raw)
    if error is None:
        job.raise_for_status()
    else:
        with pytest.raises(error):
            job.raise_for_status()


@pytest.mark.parametrize(("raw", "field", "value"), [
    ({"status": "Running"}, "status", JobStatus.RUNNING),
    ({"status": "queued_for_capacity"}, "status", JobStatus("queued_for_capacity")),
    ({}, "status", JobStatus("unknown")),
    ({"suffix": "a"}, "suffix", "a"),
    ({"user_provided_suffix": "b"}, "suffix", "b"),
    ({"error": {}}, "error", (None, None)),
    ({"error": "nonsense"}, "error", (None, None)),
    ({"trained_tokens": -1}, "trained_tokens", None),
    ({"trained_tokens": 1200}, "trained_tokens", 1200),
    ({"created_at": 0}, "created_at", None),
    ({"created_at": 86400}, "created_at", dt.datetime(1970, 1, 2, tzinfo=dt.timezone.utc)),
    ({"metadata": {"foundry_tune_fingerprint": "ftfp1-x"}}, "fingerprint", "ftfp1-x"),
    ({"metadata": None}, "metadata", {}),
    ({"result_files": ["file-1"]}, "result_files", ["file-1"]),
])
def test_fields(raw: dict[str, Any], field: str, value: Any) -> None:
    assert getattr(state(**raw), field) == value
