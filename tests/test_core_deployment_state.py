"""The pure deployment state (``foundry_tune._core.deployment_state``), table by table: what create
does about what ARM holds, what an operation's status and a provisioning state mean, what a readiness
call says, the tags and the cleanup choice. No emulator, no network."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.deployment_state import (
    DeploymentState,
    Readiness,
    ThrottleCount,
    as_messages,
    create_step,
    creation_tags,
    deletion_schedule,
    deployment_path,
    operation_done,
    provisioned,
    provisioning_schedule,
    readiness_of,
    readiness_schedule,
    select_for_cleanup,
)
from foundry_tune.errors import DeploymentError, DeploymentQuotaError, NameInUseError

MODEL = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef"
NOW = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.timezone.utc)


def info(state: str | None = "Succeeded", *, model: str | None = MODEL, name: str = "d",
         tags: dict[str, str] | None = None, error: dict[str, str] | None = None) -> DeploymentInfo:
    props: dict[str, Any] = {"model": {"name": model} if model else {}}
    if state is not None:
        props["provisioningState"] = state
    if error is not None:
        props["error"] = error
    return DeploymentInfo.from_arm({"name": name, "properties": props, "tags": tags or {}})


@pytest.mark.parametrize(("existing", "step"), [
    (None, "put"),
    (info("Accepted"), "reuse"),
    (info("Creating"), "reuse"),
    (info("Succeeded"), "reuse"),
    (info("Updating"), "reuse"),
    (info(None), "reuse"),
    (info("Failed"), "put"),
    (info("Canceled"), "put"),
    (info("cancelled"), "put"),
    (info("Deleting"), "wait_gone"),
    (info("deleting"), "wait_gone"),
    (info("Succeeded", model=None), "reuse"),  # ARM did not say which model: not a conflict
])
def test_what_create_does_about_what_arm_holds(existing: DeploymentInfo | None, step: str) -> None:
    assert create_step(existing, name="d", model=MODEL) == step


@pytest.mark.parametrize("state", ["Succeeded", "Creating", "Failed", "Deleting"])
def test_a_name_held_by_another_model_is_refused_in_every_state(state: str) -> None:
    with pytest.raises(NameInUseError, match="gpt-4o") as caught:
        create_step(info(state, model="gpt-4o"), name="d", model=MODEL)
    assert caught.value.code == "DeploymentNameInUse"
    assert "ft.deployments.delete('d')" in str(caught.value)


@pytest.mark.parametrize(("body", "done"), [
    (None, True),  # the service forgot the operation: read the resource itself
    ({"status": "Succeeded"}, True),
    ({"status": "succeeded"}, True),
    ({"status": "Running"}, False),
    ({"status": "InProgress"}, False),
    ({"status": "Accepted"}, False),
    ({}, False),
])
def test_what_an_operation_status_says(body: dict[str, Any] | None, done: bool) -> None:
    assert operation_done(body, name="d", action="provisioning") is done


@pytest.mark.parametrize(("body", "action", "error", "code", "words"), [
    ({"status": "Failed", "error": {"code": "ResourceOperationFailure", "message": "no capacity"}},
     "provisioning", DeploymentError, "ResourceOperationFailure", "no capacity"),
    ({"status": "Canceled"}, "provisioning", DeploymentError, "ProvisioningFailed", "Azure gave no reason"),
    ({"status": "Cancelled", "error": "not a mapping"},
     "deletion", DeploymentError, "DeletionFailed", "ended"),
    ({"status": "Failed", "error": {"code": "InsufficientQuota", "message": "50 needed"}},
     "provisioning", DeploymentQuotaError, "InsufficientQuota", "50 needed"),
])
def test_a_failed_operation_raises_with_its_code_and_message(
    body: dict[str, Any], action: str, error: type[Exception], code: str, words: str
) -> None:
    with pytest.raises(error) as caught:
        operation_done(body, name="d", action=action, hint=" hint!")
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert words in str(caught.value) and f"{action} of deployment 'd'" in str(caught.value)
    assert "hint!" in str(caught.value)


@pytest.mark.parametrize(("state", "over"), [
    ("Succeeded", True), ("succeeded", True),
    ("Accepted", False), ("Creating", False), (None, False), ("Deleting", False),
])
def test_when_provisioning_is_over(state: str | None, over: bool) -> None:
    assert provisioned(info(state)) is over


@pytest.mark.parametrize(("error", "code", "reason"), [
    ({"code": "ModelNotSupported", "message": "cannot be deployed"},
     "ModelNotSupported", "cannot be deployed"),
    (None, "ProvisioningFailed", "Azure gave no reason"),
])
def test_failed_provisioning_raises_with_azures_reason_and_what_to_do(
    error: dict[str, str] | None, code: str, reason: str
) -> None:
    with pytest.raises(DeploymentError) as caught:
        provisioned(info("Failed", error=error))
    assert caught.value.code == code and reason in str(caught.value)
    assert "ft.deployments.delete('d') before retrying" in str(caught.value)


@pytest.mark.parametrize(("status", "code", "readiness"), [
    (200, None, "ready"),
    (None, None, "not_yet"),  # no answer: the connection dropped or timed out
    (404, "DeploymentNotFound", "not_yet"),  # what Azure answers right after "Succeeded"
    (404, None, "not_yet"),
    (400, "DeploymentNotReady", "not_yet"),
    (409, "modelnotready", "not_yet"),
    (500, None, "not_yet"),
    (503, "busy", "not_yet"),
    (429, "rate_limit", "throttled"),
    (401, None, "refused"),
    (403, "PermissionDenied", "refused"),
    (400, "invalid_request", "ready"),  # the request is wrong, so the deployment read it: serving
    (422, None, "ready"),
    (400, 123, "ready"),  # a code that is not a string
])
def test_what_a_readiness_call_says(status: int | None, code: object, readiness: str) -> None:
    assert readiness_of(status, code) == readiness


@pytest.mark.parametrize(("outcomes", "ready"), [
    (["throttled"] * 3, [False, False, True]),
    (["throttled", "throttled", "not_yet", "throttled"], [False, False, False, False]),  # reset
    (["throttled", "throttled", "ready", "throttled"], [False, False, True, False]),
    (["not_yet", "ready"], [False, True]),
    (["refused"], [False]),
])
def test_only_enough_429s_in_a_row_count_as_ready(outcomes: list[Readiness], ready: list[bool]) -> None:
    count = ThrottleCount(throttled_enough=3)
    assert [count.ready(o) for o in outcomes] == ready


@pytest.mark.parametrize(("schedule", "first", "cap"), [
    (provisioning_schedule, 0.5, 15.0),
    (readiness_schedule, 0.5, 10.0),
    (deletion_schedule, 0.5, 10.0),
])
def test_the_waits_keep_their_pace(schedule: Any, first: float, cap: float) -> None:
    s = schedule()
    intervals = [s.next() for _ in range(20)]
    assert intervals[0] == first and intervals[1] == first * 1.5 and intervals[-1] == cap
    assert s.next(remaining=0.2) == 0.2  # never past the deadline


@pytest.mark.parametrize(("job_id", "extra", "expected"), [
    (None, None, {"created-by": "foundry-tune", "foundry-tune-created-at": "2026-01-10T12:00:00Z"}),
    ("ftjob-1", None, {"created-by": "foundry-tune", "foundry-tune-created-at": "2026-01-10T12:00:00Z",
                       "foundry-tune-job-id": "ftjob-1"}),
    ("ftjob-1", {"team": "a", "foundry-tune-job-id": "mine"},
     {"created-by": "foundry-tune", "foundry-tune-created-at": "2026-01-10T12:00:00Z",
      "foundry-tune-job-id": "mine", "team": "a"}),
])
def test_creation_tags(job_id: str | None, extra: dict[str, str] | None, expected: dict[str, str]) -> None:
    assert creation_tags(job_id, extra, now=NOW) == expected


def test_creation_time_is_written_in_utc() -> None:
    local = NOW.astimezone(dt.timezone(dt.timedelta(hours=5)))
    assert creation_tags(None, None, now=local)["foundry-tune-created-at"] == "2026-01-10T12:00:00Z"


class _View(DeploymentState):
    def __init__(self, name: str, job: str | None, created: str | None) -> None:
        tags = {"created-by": "foundry-tune", **({"foundry-tune-job-id": job} if job else {}),
                **({"foundry-tune-created-at": created} if created else {})}
        self._info = info(name=name, tags=tags)


VIEWS = [
    _View("old-a", "ftjob-a", "2026-01-01T00:00:00Z"),
    _View("new-a", "ftjob-a", "2026-01-10T11:30:00Z"),
    _View("old-b", "ftjob-b", "2026-01-02T00:00:00Z"),
    _View("undated", "ftjob-b", None),
    _View("garbled", None, "yesterday"),
]


@pytest.mark.parametrize(("older_than", "job_id", "chosen"), [
    (None, None, ["old-a", "new-a", "old-b", "undated", "garbled"]),
    (3600, None, ["old-a", "old-b"]),
    (dt.timedelta(minutes=10), None, ["old-a", "new-a", "old-b"]),
    (None, "ftjob-b", ["old-b", "undated"]),
    (3600, "ftjob-a", ["old-a"]),
    (dt.timedelta(days=30), None, []),
    (None, "ftjob-none", []),
])
def test_which_deployments_cleanup_picks(older_than: Any, job_id: str | None, chosen: list[str]) -> None:
    picked = select_for_cleanup(VIEWS, older_than=older_than, job_id=job_id, now=NOW)
    assert [v.name for v in picked] == chosen


def test_the_read_only_view_and_its_repr() -> None:
    view = _View("v", "ftjob-1", None)
    assert (view.name, view.model, view.job_id, view.created_by_foundry_tune) == ("v", MODEL, "ftjob-1", True)
    view.tags["mutated"] = "x"
    assert "mutated" not in view.tags  # a copy
    assert repr(view) == f"_View(name='v', model={MODEL!r}, sku=None, state='Succeeded')"


@pytest.mark.parametrize(("name", "path"), [
    ("plain", "/deployments/plain"),
    ("a.b_c-1", "/deployments/a.b_c-1"),
    ("x/../y", "/deployments/x%2F..%2Fy"),  # never another ARM path
])
def test_deployment_path_quotes_the_name(name: str, path: str) -> None:
    assert deployment_path(name) == path


@pytest.mark.parametrize(("given", "system", "messages"), [
    ("hi", None, [{"role": "user", "content": "hi"}]),
    ("hi", "be brief", [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]),
    ([{"role": "user", "content": "q"}], None, [{"role": "user", "content": "q"}]),
    ((m for m in [{"role": "assistant", "content": "a"}]), "s",
     [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]),
])
def test_as_messages(given: Any, system: str | None, messages: list[dict[str, str]]) -> None:
    assert as_messages(given, system) == messages


def test_as_messages_copies_the_callers_messages() -> None:
    original = [{"role": "user", "content": "q"}]
    as_messages(original, "s")[1]["content"] = "changed"
    assert original == [{"role": "user", "content": "q"}]
