"""Job scans without I/O (foundry_tune._core.scan): which listed jobs match, page sizes, when a
scan is complete, how a lost create and a job to reuse are recognised where the service keeps no
metadata, and which of several racing jobs a start keeps."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from foundry_tune._core.paging import PageGuard
from foundry_tune._core.scan import (
    JobScan,
    created_by_request,
    job_filter,
    live_or_succeeded,
    oldest_live,
    oldest_rival,
    same_inputs,
    wanted_metadata,
)
from foundry_tune._core.status import JobStatus

FP = "foundry_tune_fingerprint"


@pytest.mark.parametrize(("status", "suffix", "raw", "kept"), [
    (None, None, {"status": "running"}, True),
    ("running", None, {"status": "running"}, True),
    ("Running", None, {"status": "running"}, True),  # any spelling
    (JobStatus.RUNNING, None, {"status": "succeeded"}, False),
    (["succeeded", JobStatus.FAILED], None, {"status": "failed"}, True),
    (["succeeded", JobStatus.FAILED], None, {"status": "running"}, False),
    ("queued_for_capacity", None, {"status": "queued_for_capacity"}, True),  # unknown: kept as it is
    (None, None, {}, True),
    ("running", None, {}, False),
    (None, "a", {"suffix": "a"}, True),
    (None, "a", {"user_provided_suffix": "a"}, True),  # OpenAI's spelling
    (None, "a", {"suffix": "b"}, False),
    (None, "a", {}, False),
    ("running", "a", {"status": "running", "suffix": "a"}, True),
    ("running", "a", {"status": "paused", "suffix": "a"}, False),
])
def test_job_filter(status: Any, suffix: str | None, raw: dict[str, Any], kept: bool) -> None:
    assert job_filter(status, suffix)(raw) is kept


@pytest.mark.parametrize(("metadata", "fingerprint", "expected"), [
    (None, None, {}),
    ({"team": "x"}, None, {"team": "x"}),
    (None, "ftfp1-a", {FP: "ftfp1-a"}),
    ({"team": "x", FP: "old"}, "ftfp1-a", {"team": "x", FP: "ftfp1-a"}),
])
def test_wanted_metadata(
    metadata: dict[str, str] | None, fingerprint: str | None, expected: dict[str, str]
) -> None:
    assert wanted_metadata(metadata, fingerprint) == expected


@pytest.mark.parametrize(("want", "keep", "after", "expected"), [
    (None, None, None, {"limit": 100}),
    (1, None, None, {"limit": 1}),  # one wanted: one job per page is enough
    (500, None, None, {"limit": 100}),
    (1, lambda raw: True, None, {"limit": 100}),  # a predicate may reject many: full pages
    (None, None, "ftjob-9", {"limit": 100, "after": "ftjob-9"}),
])
def test_list_kwargs(want: int | None, keep: Any, after: str | None, expected: dict[str, Any]) -> None:
    assert JobScan({}, keep=keep, want=want).list_kwargs(after) == expected


def test_list_kwargs_ask_the_service_to_filter_by_metadata() -> None:
    assert JobScan({FP: "x"}).list_kwargs()["metadata"] == {FP: "x"}


def _job(job_id: str, created: int, **raw: Any) -> dict[str, Any]:
    return {"id": job_id, "created_at": created, **raw}


def _page(jobs: list[dict[str, Any]], has_more: bool) -> Any:
    return SimpleNamespace(data=jobs, has_more=has_more)


@pytest.mark.parametrize(("scan", "pages", "found", "cursors"), [
    # the metadata match is checked again: not every service honours the filter
    (JobScan({FP: "a"}), [[_job("j1", 1, metadata={FP: "a"}), _job("j2", 2, metadata={FP: "b"})]],
     ["j1"], [None]),
    # newest first, whatever the listing order
    (JobScan({}), [[_job("j1", 1), _job("j2", 3), _job("j3", 2)]], ["j2", "j3", "j1"], [None]),
    # enough found: the scan ends on this page
    (JobScan({}, want=1), [[_job("j1", 1), _job("j2", 2)], [_job("j3", 3)]], ["j1"], [None]),
    # the next page is read while more are wanted
    (JobScan({}, want=2), [[_job("j1", 1)], [_job("j2", 2)]], ["j2", "j1"], ["j1", None]),
    # the scan limit ends it
    (JobScan({}, keep=lambda raw: False, limit=2), [[_job("j1", 1), _job("j2", 2)], [_job("j3", 3)]], [],
     [None]),
])
def test_offer_page(scan: JobScan, pages: list[list[dict[str, Any]]], found: list[str],
                    cursors: list[str | None]) -> None:
    guard = PageGuard("test", missing_has_more="more")
    seen: list[str | None] = []
    for index, jobs in enumerate(pages):
        cursor = scan.offer_page(_page(jobs, has_more=index < len(pages) - 1), guard)
        seen.append(cursor)
        if cursor is None:
            break
    assert [raw["id"] for raw in scan.found()] == found
    assert seen == cursors


REQUEST = {"training_file": "file-t", "validation_file": None, "suffix": "s", "model": "gpt-4.1-mini"}


MATCH = {"training_file": "file-t", "suffix": "s", "model": "gpt-4.1-mini", "created_at": 1000}


@pytest.mark.parametrize(("raw", "kept"), [
    (MATCH, True),
    ({**MATCH, "model": "gpt-4.1-mini-2025-04-14"}, True),  # the service names the version
    ({**MATCH, "suffix": None, "user_provided_suffix": "s"}, True),  # OpenAI's spelling
    ({**MATCH, "created_at": 701}, True),  # clock skew
    ({**MATCH, "created_at": 600}, False),  # older than the request
    ({**MATCH, "training_file": "file-x"}, False),
    ({**MATCH, "validation_file": "file-v"}, False),
    ({**MATCH, "suffix": "other"}, False),
    ({**MATCH, "model": "gpt-4.1-nano"}, False),
    # a job that carries a fingerprint was found (or not) by the exact lookup already
    ({**MATCH, "metadata": {FP: "ftfp1-a"}}, False),
])
def test_created_by_request(raw: dict[str, Any], kept: bool) -> None:
    assert created_by_request(REQUEST, since=1000.0)(raw) is kept


# --- reuse on a service that drops metadata: a job recognised by what it was made of -------------

SENT: dict[str, Any] = {
    "model": "gpt-4.1-mini",
    "training_file": "file-t",
    "validation_file": "file-v",
    "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    "metadata": {FP: "ftfp1-x", "foundry_tune_attempt": "a1", "team": "a"},
    "suffix": "s",
    "seed": 7,
    "extra_body": {"trainingType": "GlobalStandard"},
}
"""Create arguments as ``JobSpec.create_kwargs`` gives them."""

SAME: dict[str, Any] = {
    "status": "running",
    "model": "gpt-4.1-mini-2025-04-14",
    "training_file": "file-t",
    "validation_file": "file-v",
    "method": {"type": "supervised", "supervised": {"hyperparameters": {
        "n_epochs": 3, "batch_size": -1, "learning_rate_multiplier": -1}}},
    "suffix": "s",
    "seed": 7,
    "trainingType": "globalStandard",
    "created_at": 1,  # long ago: no time window
}
"""An Azure body of a job made from SENT before training starts (dated model, -1 for what was not
sent, the training type as echoed, no metadata)."""


def _method(hp: dict[str, Any], kind: str = "supervised", **extra: Any) -> dict[str, Any]:
    return {"type": kind, kind: {"hyperparameters": hp, **extra}}


@pytest.mark.parametrize(("changes", "kept"), [
    ({}, True),
    ({"model": "gpt-4.1-mini"}, True),  # the undated name
    ({"status": "validating_files"}, True),
    ({"status": "queued"}, True),
    ({"status": "paused"}, True),
    ({"status": "succeeded"}, True),
    ({"status": "failed"}, False),
    ({"status": "cancelled"}, False),
    ({"status": "cancelling"}, False),
    ({"status": "new_thing"}, True),  # unknown statuses count as live, as in the fingerprint lookup
    ({"metadata": {}}, True),
    ({"metadata": None}, True),
    ({"metadata": {"team": "a"}}, False),  # the service keeps metadata: the fingerprint decides
    ({"metadata": {FP: "ftfp1-x"}}, False),
    ({"model": "gpt-4.1-mini-2024-01-01-x"}, False),
    ({"model": "gpt-4.1"}, False),
    ({"model": "gpt-4.1-mini-long"}, False),
    ({"training_file": "file-other"}, False),
    ({"validation_file": None}, False),
    ({"validation_file": "file-other"}, False),
    ({"suffix": "other"}, False),
    ({"suffix": None}, False),
    ({"suffix": None, "user_provided_suffix": "s"}, True),  # OpenAI's spelling
    ({"seed": 8}, False),
    ({"seed": None}, False),
    ({"trainingType": "Standard"}, False),
    ({"trainingType": None}, False),
    ({"trainingType": None, "training_type": "GlobalStandard"}, True),
    ({"trainingType": "no-such-tier"}, False),
    ({"method": _method({"n_epochs": 4})}, False),
    # training started: what the request left to the service shows resolved (resume_job.json)
    ({"method": _method({"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 2.0})}, True),
    ({"method": _method({"n_epochs": 3.0})}, True),
    ({"method": _method({})}, False),  # the sent n_epochs is not there
    ({"method": _method({"n_epochs": -1})}, False),
    ({"method": _method({"n_epochs": 3}, "dpo")}, False),
    ({"method": None, "hyperparameters": {"n_epochs": 3, "batch_size": -1}}, True),  # Azure without method
    ({"method": None, "hyperparameters": {"n_epochs": 3, "batch_size": 4}}, True),
    ({"method": None, "hyperparameters": {"n_epochs": 2}}, False),
])
def test_same_inputs(changes: dict[str, Any], kept: bool) -> None:
    assert same_inputs(SENT)({**SAME, **changes}) is kept


@pytest.mark.parametrize(("sent", "raw", "kept"), [
    # no seed sent: the service draws one, any seed matches (so does one another start set)
    ({"seed": None}, {"seed": 123}, True),
    # no training type sent: the service's default (Standard) or none
    ({"extra_body": None}, {"trainingType": "standard"}, True),
    ({"extra_body": None}, {"trainingType": None}, True),
    ({"extra_body": None}, {"trainingType": "globalStandard"}, False),
    # no validation file on either side
    ({"validation_file": None}, {"validation_file": None}, True),
    ({"validation_file": None}, {"validation_file": "file-v"}, False),
    ({"suffix": None}, {"suffix": None}, True),
    ({"suffix": None}, {"suffix": "s"}, False),
    # hyperparameters left to the service match any value: unset before training, resolved after,
    # or set that way by another start (indistinguishable in the body)
    ({"method": _method({})}, {"method": _method({"n_epochs": -1, "batch_size": -1})}, True),
    ({"method": _method({})}, {"method": _method({"n_epochs": 3, "batch_size": 1})}, True),
    ({"method": _method({"n_epochs": "auto"})}, {"method": _method({"n_epochs": 10})}, True),
    ({"method": None}, {"method": _method({"n_epochs": 10})}, True),  # no method: supervised, all unset
    # the method's other settings as sent
    ({"method": _method({}, "reinforcement", grader={"type": "string_check"})},
     {"method": _method({}, "reinforcement", grader={"type": "string_check"})}, True),
    ({"method": _method({}, "reinforcement", grader={"type": "string_check"})},
     {"method": _method({}, "reinforcement", grader={"type": "score_model"})}, False),
    ({"method": _method({}, "reinforcement", grader={"type": "string_check"})},
     {"method": None, "hyperparameters": {}}, False),
])
def test_same_inputs_when_the_request_leaves_things_to_the_service(
    sent: dict[str, Any], raw: dict[str, Any], kept: bool,
) -> None:
    assert same_inputs({**SENT, **sent})({**SAME, **raw}) is kept


@pytest.mark.parametrize(("raw", "kept"), [
    ({}, True),
    ({"training_file": "file-other", "validation_file": "file-w"}, True),  # the files are not compared
    ({"validation_file": None}, False),  # but whether there is a validation file is
    ({"suffix": "other"}, False),
    ({"seed": 8}, False),
])
def test_same_inputs_but_the_files(raw: dict[str, Any], kept: bool) -> None:
    assert same_inputs(SENT, files=False)({**SAME, **raw}) is kept


@pytest.mark.parametrize(("status", "kept"), [
    ("validating_files", True), ("pending", True), ("queued", True), ("running", True), ("paused", True),
    ("succeeded", True), ("failed", False), ("cancelled", False), ("cancelling", False), (None, True),
])
def test_live_or_succeeded(status: str | None, kept: bool) -> None:
    assert live_or_succeeded({"status": status}) is kept


# --- racing starts: which job each keeps ------------------------------------------------------------


def _rival(job_id: str, created_at: int | None, status: str = "pending") -> dict[str, Any]:
    return {"id": job_id, "created_at": created_at, "status": status}


@pytest.mark.parametrize(("ours", "found", "kept"), [
    (_rival("b", 10), [], None),
    (_rival("b", 10), [_rival("b", 10)], None),  # the listing shows ours: no rival
    (_rival("b", 10), [_rival("b", 10), _rival("a", 9)], "a"),
    (_rival("b", 10), [_rival("a", 9)], "a"),  # the listing does not show ours yet
    (_rival("b", 10), [_rival("c", 11), _rival("b", 10)], None),  # younger: that start cancels its own
    # the same second: listed later is older, whatever the ids
    (_rival("b", 10), [_rival("b", 10), _rival("a", 10)], "a"),
    (_rival("a", 10), [_rival("a", 10), _rival("b", 10)], "b"),
    (_rival("b", 10), [_rival("a", 10), _rival("b", 10)], None),
    (_rival("b", 10), [_rival("a", 10)], None),  # ours not listed yet: nothing of its second is older
    (_rival("b", 10), [_rival("c", 11), _rival("a", 9, "cancelled")], None),
    (_rival("b", 10), [_rival("a", 9, "cancelling")], None),
    (_rival("b", 10), [_rival("a", 9, "failed")], None),
    (_rival("b", 10), [_rival("a", 9, "succeeded")], "a"),
    (_rival("c", 10), [_rival("c", 10), _rival("b", 8), _rival("a", 5), _rival("d", 3, "cancelled")], "a"),
    (_rival("b", 10), [_rival("a", None)], None),  # no creation time: counted as the newest
    (_rival("b", None), [_rival("a", 3)], "a"),
])
def test_oldest_rival(ours: dict[str, Any], found: list[dict[str, Any]], kept: str | None) -> None:
    got = oldest_rival(ours, found)
    assert (got["id"] if got else None) == kept


def test_two_racers_that_each_miss_their_own_job_never_both_cancel() -> None:
    """A lagging listing shows each racer the other's job but not its own: at least one keeps its own."""
    a, b = _rival("a", 10), _rival("b", 10)
    assert oldest_rival(a, [b]) is None or oldest_rival(b, [a]) is None


@pytest.mark.parametrize("listing", [
    ["a", "c", "b"], ["c", "b", "a"], ["b", "a", "c"],
])
def test_every_racing_start_keeps_the_same_rival(listing: list[str]) -> None:
    """Three jobs created in the same second, listed newest first: each start, seeing the same
    listing, keeps the job listed last (the first one created), and only that one keeps its own."""
    jobs = [_rival(job_id, 10) for job_id in listing]
    kept = {j["id"]: (oldest_rival(j, jobs) or j)["id"] for j in jobs}
    assert set(kept.values()) == {listing[-1]}
    # A start that checked before the later jobs existed kept its own; a job created after that
    # check is listed before it, so it never comes out older.
    first = jobs[-1]
    assert oldest_rival(first, [first]) is None and oldest_rival(first, jobs) is None


@pytest.mark.parametrize(("found", "kept"), [
    ([], None),
    ([_rival("a", 9, "cancelled")], None),
    ([_rival("c", 11), _rival("b", 10), _rival("a", 9, "cancelled")], "b"),
    ([_rival("b", 10), _rival("a", 10)], "a"),  # the same second: listed later is older
    ([_rival("a", None), _rival("b", 12)], "b"),  # no creation time: never the oldest
])
def test_oldest_live(found: list[dict[str, Any]], kept: str | None) -> None:
    got = oldest_live(found)
    assert (got["id"] if got else None) == kept
