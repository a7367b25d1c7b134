"""The pure decisions of watching many jobs with one listing per look
(``foundry_tune._core.watch_many``): which jobs are still wanted, how large a page, when to stop
paging, what to retrieve one by one, the progress lines and the timeout message, and when a sweep
holding trials back counts the resource's live jobs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from foundry_tune._core.paging import PageGuard
from foundry_tune._core.status import JobStatus
from foundry_tune._core.watch_many import (
    FULL_COUNT_EVERY,
    FULL_SCAN_JOBS,
    GONE,
    MAX_PAGE,
    MAX_PAGES,
    PAGE_MARGIN,
    FullCount,
    ListingDepth,
    ListingLook,
    StatusLines,
    Watched,
    newest_first,
    still_wanted,
    wanted_from_raw,
    watch_timeout_message,
)


def job(n: int, status: str = "running", created: int | None = None) -> dict[str, Any]:
    """A listed job ``ftjob-<n>``; created at ``1000 + n`` unless given (newer jobs: larger n)."""
    return {"id": f"ftjob-{n}", "status": status, "created_at": 1000 + n if created is None else created}


def listing(newest: int, oldest: int) -> list[dict[str, Any]]:
    """Jobs ``ftjob-<newest>`` down to ``ftjob-<oldest>``, newest first, as the service lists them."""
    return [job(n) for n in range(newest, oldest - 1, -1)]


def run_look(look: ListingLook, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Page through ``jobs`` as the network layer does; the ``list_kwargs`` of every page read."""
    guard = look.guard()
    asked: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        kwargs = look.list_kwargs(after)
        asked.append(kwargs)
        start = 0 if after is None else next(i for i, j in enumerate(jobs) if j["id"] == after) + 1
        page = jobs[start:start + kwargs["limit"]]
        after = look.offer_page(page, start + len(page) < len(jobs), guard)
        if after is None:
            return asked


@pytest.mark.parametrize(("statuses", "wanted"), [
    ([], []),
    ([("a", JobStatus.RUNNING), ("b", JobStatus.SUCCEEDED), ("c", JobStatus.QUEUED)], ["a", "c"]),
    ([("a", JobStatus("brand_new")), ("a", JobStatus.RUNNING)], ["a"]),  # unknown is live; once
    ([("a", JobStatus.FAILED), ("b", JobStatus.CANCELLED)], []),
])
def test_still_wanted_keeps_the_live_jobs_once(
    statuses: list[tuple[str, JobStatus]], wanted: list[str]
) -> None:
    assert still_wanted(statuses) == wanted


@pytest.mark.parametrize(("raw", "watched"), [
    ({"id": "ftjob-1", "created_at": 1700000000}, Watched("ftjob-1", 1700000000.0)),
    ({"id": "ftjob-1", "created_at": None}, Watched("ftjob-1", None)),
    ({"id": "ftjob-1", "created_at": True}, Watched("ftjob-1", None)),
    ({"id": "ftjob-1", "created_at": "yesterday"}, Watched("ftjob-1", None)),
    ({"id": "ftjob-1", "created_at": 0}, Watched("ftjob-1", None)),
    ({"id": "ftjob-1"}, Watched("ftjob-1", None)),
])
def test_wanted_from_raw(raw: dict[str, Any], watched: Watched) -> None:
    assert wanted_from_raw(raw) == watched


@pytest.mark.parametrize(("positions", "wanted", "size"), [
    ({}, ["a", "b", "c", "d", "e"], 5 + PAGE_MARGIN),         # first look: as many as wanted
    ({}, [], max(1, PAGE_MARGIN)),                            # nothing wanted: the smallest page
    ({"a": 3, "b": 9}, ["a", "b"], 9 + PAGE_MARGIN),          # as deep as the oldest seen
    ({"a": 3, "b": 9}, ["a"], 3 + PAGE_MARGIN),               # the deep one ended: shallower
    ({"a": 1}, ["a", "x", "y", "z"], 4 + PAGE_MARGIN),        # a new job counts as deep as the number
    ({"a": 500}, ["a"], MAX_PAGE),                            # never more than the service serves
])
def test_first_page_is_as_deep_as_the_oldest_watched_job(
    positions: dict[str, int], wanted: list[str], size: int
) -> None:
    assert ListingDepth(positions=dict(positions)).first_page(wanted) == size


@pytest.mark.parametrize(("previous", "size"), [(1, 2), (7, 14), (60, MAX_PAGE), (MAX_PAGE, MAX_PAGE)])
def test_following_pages_double(previous: int, size: int) -> None:
    assert ListingDepth.next_page(previous) == size


def test_learn_remembers_positions_and_forgets_ended_jobs() -> None:
    depth = ListingDepth(positions={"a": 2, "b": 4})
    depth.learn({"b": 5, "c": 1}, gone=["a", "zzz"])
    assert depth.positions == {"b": 5, "c": 1}


def w(n: int) -> Watched:
    """Watched job ``ftjob-<n>`` as the listing shows it."""
    return wanted_from_raw(job(n))


# One look over a listing: (watched jobs, the listing newest..oldest, the depth before)
# -> (page sizes asked, ids found, ids to retrieve one by one, why the paging stopped).
ALL = "every watched job found"
LOOKS = [
    pytest.param([w(10), w(9), w(8), w(7), w(6)], (10, 1), {}, [7], [6, 7, 8, 9, 10], [], ALL,
                 id="five newest: one page"),
    pytest.param([w(5), w(4)], (12, 1), {}, [4, 8], [4, 5], [], ALL,
                 id="others newer: the first page is short, the second twice as large"),
    pytest.param([w(5), w(4)], (12, 1), {"ftjob-5": 8, "ftjob-4": 9}, [11], [4, 5], [], ALL,
                 id="positions remembered: one page"),
    pytest.param([w(10), Watched("ftjob-99")], (10, 1), {}, [4, 8], [10], ["ftjob-99"],
                 "the page says has_more: false",
                 id="unknown age, not in the listing: paged to its end, then retrieved"),
    pytest.param([w(3)], (50, 1), {}, [3, 6, 12, 24, 48], [3], [], ALL,
                 id="deep: doubling pages"),
]


@pytest.mark.parametrize(("wanted", "span", "positions", "sizes", "found", "missing", "reason"), LOOKS)
def test_a_look_pages_only_as_deep_as_needed(
    wanted: list[Watched], span: tuple[int, int], positions: dict[str, int], sizes: list[int],
    found: list[int], missing: list[str], reason: str,
) -> None:
    jobs = listing(*span)
    look = ListingLook(wanted, ListingDepth(positions=dict(positions)))
    asked = run_look(look, jobs)
    assert [a["limit"] for a in asked] == sizes
    assert "after" not in asked[0] and all("after" in a for a in asked[1:])
    assert sorted(look.found) == sorted(f"ftjob-{n}" for n in found)
    assert look.missing() == missing
    assert look.reason == reason


def test_a_look_stops_once_past_the_creation_time_of_the_missing_jobs() -> None:
    # ftjob-99 claims to be created at 1005.5: once the listing shows a job created before that,
    # it cannot come later (newest first), so the look stops and retrieves it.
    jobs = listing(30, 1)
    look = ListingLook([Watched("ftjob-99", 1005.5), wanted_from_raw(job(30))])
    asked = run_look(look, jobs)
    assert look.reason == "the listing went past the creation time of the jobs still missing"
    assert look.missing() == ["ftjob-99"] and look.scanned < len(jobs)
    assert sum(a["limit"] for a in asked) >= 30 - 5  # read down to the first job older than it


def test_a_missing_job_of_unknown_age_pages_to_the_cap() -> None:
    jobs = [job(n) for n in range(5000, 0, -1)]
    look = ListingLook([Watched("ftjob-nowhere")])
    asked = run_look(look, jobs)
    assert len(asked) == MAX_PAGES and look.reason is not None and "page cap" in look.reason
    assert look.missing() == ["ftjob-nowhere"]


def test_a_listing_that_repeats_its_page_ends_the_look() -> None:
    look = ListingLook([Watched("ftjob-nowhere")])
    guard = look.guard()
    page = listing(10, 8)
    assert look.offer_page(page, True, guard) == "ftjob-8"
    assert look.offer_page(page, True, guard) is None  # the same page again: the cursor did not advance
    assert look.missing() == ["ftjob-nowhere"]


def test_a_full_look_reads_every_job_up_to_the_limit_and_keeps_them() -> None:
    jobs = listing(250, 1)
    look = ListingLook([wanted_from_raw(job(250))], full=True)
    asked = run_look(look, jobs)
    assert [a["limit"] for a in asked] == [MAX_PAGE] * 3
    assert [j["id"] for j in look.listed] == [j["id"] for j in jobs] and look.found.keys() == {"ftjob-250"}
    big = ListingLook([], full=True)
    assert big.needed
    assert len(run_look(big, [job(n) for n in range(3000, 0, -1)])) == FULL_SCAN_JOBS // MAX_PAGE
    assert len(big.listed) == FULL_SCAN_JOBS


def test_a_look_with_nothing_wanted_needs_no_listing() -> None:
    assert not ListingLook([]).needed


def test_finish_records_positions_for_the_next_look() -> None:
    depth = ListingDepth()
    look = ListingLook([wanted_from_raw(job(5)), wanted_from_raw(job(3))], depth)
    run_look(look, listing(6, 1))
    look.finish(ended=["ftjob-5"])
    assert depth.positions == {"ftjob-3": 4}
    assert depth.first_page(["ftjob-3"]) == 4 + PAGE_MARGIN


def test_sdk_objects_are_read_like_dicts() -> None:
    class Listed(SimpleNamespace):
        def model_dump(self, warnings: bool = True) -> dict[str, Any]:
            return dict(vars(self))

    look = ListingLook([Watched("ftjob-1", 1001.0)])
    page = [Listed(id="ftjob-1", status="running", created_at=1001)]
    assert look.offer_page(page, False, PageGuard("t")) is None
    assert look.found["ftjob-1"]["status"] == "running"


@pytest.mark.parametrize(("ids", "known", "order"), [
    (["a", "b", "c"], {"a": 1.0, "b": 3.0, "c": 2.0}, ["b", "c", "a"]),
    (["a", "b"], {"a": 1.0}, ["b", "a"]),            # unknown age first
    (["a", "b"], {}, ["a", "b"]),                     # else the order given
])
def test_newest_first(ids: list[str], known: dict[str, float], order: list[str]) -> None:
    watched = {i: Watched(i, c) for i, c in known.items()}
    assert newest_first(ids, watched) == order


def test_status_lines_report_each_change_once() -> None:
    lines = StatusLines()
    assert lines.changes([("ftjob-a", "queued", None), ("ftjob-b", "running", None)]) == [
        "[1/2] ftjob-a: queued", "[2/2] ftjob-b: running"]
    assert lines.changes([("ftjob-a", "queued", None), ("ftjob-b", "running", None)]) == []
    assert lines.changes([("ftjob-a", "running", None), ("ftjob-b", "failed", "invalid_training_file")]) == [
        "[1/2] ftjob-a: running", "[2/2] ftjob-b: failed (invalid_training_file)"]
    assert lines.changes([("ftjob-a", "succeeded", "ignored"), ("ftjob-b", "failed", "x")]) == [
        "[1/2] ftjob-a: succeeded"]


def test_timeout_message_counts_and_names_the_live_jobs() -> None:
    text = watch_timeout_message(
        [("ftjob-a", "running"), ("ftjob-b", "succeeded"), ("ftjob-c", "queued"), ("ftjob-a", "running")], 30)
    assert text.startswith("3 fine-tuning job(s): 1 queued, 1 running, 1 succeeded after 30 s;")
    assert "ftjob-a, ftjob-c still live" in text and "keep running" in text


def test_status_lines_number_a_job_given_twice_once() -> None:
    lines = StatusLines()
    given = [("ftjob-a", "running", None), ("ftjob-b", "running", None), ("ftjob-c", "queued", None),
             ("ftjob-a", "running", None)]
    assert lines.changes(given) == [
        "[1/3] ftjob-a: running", "[2/3] ftjob-b: running", "[3/3] ftjob-c: queued"]
    assert lines.changes([("ftjob-a", "succeeded", None), *given[1:]]) == ["[1/3] ftjob-a: succeeded"]


def test_a_gone_job_is_said_once_with_why() -> None:
    lines = StatusLines()
    lines.changes([("ftjob-a", "running", None), ("ftjob-b", "running", None)])
    assert lines.changes([("ftjob-a", "running", None), ("ftjob-b", GONE, None)]) == [
        "[2/2] ftjob-b: gone (not found any more: deleted, or no longer visible to this credential)"]
    assert lines.changes([("ftjob-a", "running", None), ("ftjob-b", GONE, None)]) == []
    text = watch_timeout_message([("ftjob-a", "running"), ("ftjob-b", GONE)], 5)
    assert "1 gone, 1 running" in text and "ftjob-a still live" in text


def test_full_count_first_after_an_own_job_ended_and_every_nth_look() -> None:
    count = FullCount(every=4)
    plan = []
    for ended in (False, False, False, False, False, True, False, False, False, False, False):
        full = count.due()
        plan.append(full)
        count.looked(full=full, ended_mine=ended)
    # full at once, then every 4th look; the look after one of the sweep's own jobs ended is full
    assert plan == [True, False, False, False, True, False, True, False, False, False, True]
    # an end seen by a full look needs no second one
    count = FullCount()
    count.looked(full=True, ended_mine=True)
    assert not count.due() and FULL_COUNT_EVERY == 10
