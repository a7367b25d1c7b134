"""Job scans without I/O (foundry_tune._core.scan): which listed jobs match, page sizes, when a
scan is complete, how a lost create is recognised where the service keeps no metadata."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from foundry_tune._core.paging import PageGuard
from foundry_tune._core.scan import JobScan, created_by_request, job_filter, wanted_metadata
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
