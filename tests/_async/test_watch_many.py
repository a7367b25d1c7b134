"""Watching many jobs costs one listing per look, not one retrieve per job: ``ft.jobs.wait_all()``
and the sweep, end to end on an emulator of this module's own whose jobs stay live until a test
moves its clock. Requests are counted by path with an event hook on the connection's HTTP client.
Written once, run in both flavours. The decisions without a service are in
``tests/test_core_watch_many.py``."""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune._async._sweep import AsyncSweep
from foundry_tune.emulator import Emulator
from foundry_tune.errors import (
    InvalidParameterError,
    JobCancelledError,
    JobNotFoundError,
    NotFoundError,
    WaitTimeoutError,
)

from ._helpers import FLAVOUR, WAIT, sft_data

# Jobs last ten minutes of the emulator's clock: they stay live until a test advances it.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(job_duration=600)]

_RETRIEVE = re.compile(r"/fine_tuning/jobs/[^/]+$")


class Requests:
    """Requests of one connection, counted by kind: ``list`` (the jobs listing), ``retrieve`` (one
    job), ``other``."""

    def __init__(self, ft: AsyncFoundry) -> None:
        self.counts: Counter[str] = Counter()
        self.listings: list[dict[str, str]] = []
        ft.openai._client.event_hooks["request"].append(self.hook)

    async def hook(self, request: Any) -> None:
        path = request.url.path
        if request.method == "GET" and path.endswith("/fine_tuning/jobs"):
            self.counts["list"] += 1
            self.listings.append(dict(request.url.params))
        elif request.method == "GET" and _RETRIEVE.search(path):
            self.counts["retrieve"] += 1
        else:
            self.counts["other"] += 1

    def reset(self) -> None:
        self.counts.clear()
        self.listings.clear()


async def start_jobs(ft: AsyncFoundry, n: int, tag: str) -> list[AsyncJob]:
    """``n`` new jobs (one upload), live until the emulator's clock moves."""
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=len(tag), name=f"{tag}.jsonl"))
               .training_type("GlobalStandard").suffix(tag))
    return [await builder.seed(i).start(on_progress=lambda _: None) for i in range(n)]


def finish_on_look(emulator: Emulator, look: int, seen: list[int]) -> Any:
    """A ``progress`` callable that counts the looks and, at look number ``look``, moves the
    emulator's clock far enough for every job to end."""

    def progress(_: Any) -> None:
        seen.append(1)
        if len(seen) == look:
            emulator.advance(hours=3)

    return progress


@pytest.mark.anyio
async def test_five_jobs_cost_one_listing_per_look_and_no_retrieve(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    jobs = await start_jobs(ft, 5, f"many-{FLAVOUR}")
    assert all(not job.status.is_terminal for job in jobs)
    requests = Requests(ft)
    looks: list[int] = []
    done = await ft.jobs.wait_all(jobs, timeout=WAIT, poll=0.05, progress=finish_on_look(emulator, 4, looks))
    assert done == jobs and all(a is b for a, b in zip(done, jobs, strict=True))  # updated in place
    assert all(job.status.value == "succeeded" for job in jobs)
    assert len(looks) >= 5
    assert requests.counts == {"list": len(looks)}  # one listing per look, not one retrieve per job
    assert all(int(params["limit"]) <= 5 + 2 for params in requests.listings)  # one short page


@pytest.mark.anyio
async def test_ids_are_resolved_by_the_listing_and_come_back_in_order(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    jobs = await start_jobs(ft, 3, f"ids-{FLAVOUR}")
    ids = [jobs[2].id, jobs[0].id, jobs[1].id, jobs[0].id]
    second_handle = await ft.jobs.get(jobs[1].id)
    requests = Requests(ft)
    stream = io.StringIO()
    looks: list[int] = []
    progress = finish_on_look(emulator, 2, looks)

    async def show(watched: list[AsyncJob]) -> None:  # a callable gets the jobs after every look
        progress(watched)
        stream.write(" ".join(job.status.value for job in watched) + "\n")

    done = await ft.jobs.wait_all(ids, timeout=WAIT, poll=0.05, progress=show)
    assert [job.id for job in done] == ids and done[1] is done[3]  # the same id: one job
    assert all(isinstance(job, AsyncJob) and job.status.value == "succeeded" for job in done)
    assert requests.counts == {"list": len(looks)}
    assert stream.getvalue().splitlines()[-1] == "succeeded succeeded succeeded succeeded"

    # Job objects and ids mixed, one job given three ways: an id stands for the first object given
    # for it, and every object given ends up current.
    mixed: list[Any] = [jobs[1].id, second_handle, jobs[1]]
    again = await ft.jobs.wait_all(mixed, timeout=WAIT, progress=False)
    assert again == [second_handle, second_handle, jobs[1]] and again[0] is second_handle
    assert second_handle.status.value == jobs[1].status.value == "succeeded"


@pytest.mark.anyio
async def test_a_job_the_listing_does_not_show_is_retrieved_on_its_own(
    ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = await start_jobs(ft, 3, f"hidden-{FLAVOUR}")
    hidden = jobs[1].id
    jobs_api = ft.openai.fine_tuning.jobs
    real_list = jobs_api.list

    async def misbehaving_list(**kwargs: Any) -> Any:  # a listing that leaves one job out
        page = await real_list(**kwargs)
        page.data = [job for job in page.data if job.id != hidden]
        return page

    monkeypatch.setattr(jobs_api, "list", misbehaving_list)
    requests = Requests(ft)
    stream = io.StringIO()
    looks: list[int] = []
    progress = finish_on_look(emulator, 3, looks)

    async def show(watched: list[AsyncJob]) -> None:
        progress(watched)

    done = await ft.jobs.wait_all(jobs, timeout=WAIT, poll=0.05, progress=show, stream=stream)
    assert all(job.status.value == "succeeded" for job in done)  # the hidden one too
    # every look: one listing, plus one retrieve of the job it did not show (while that one was live)
    assert requests.counts == {"list": len(looks), "retrieve": len(looks)}


@pytest.mark.anyio
async def test_progress_lines_timeout_failures_and_bad_arguments(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    jobs = await start_jobs(ft, 2, f"lines-{FLAVOUR}")
    stream = io.StringIO()
    with pytest.raises(WaitTimeoutError) as timed_out:
        await ft.jobs.wait_all(jobs, timeout=0.3, poll=0.05, progress="plain", stream=stream)
    assert f"{jobs[0].id}, {jobs[1].id} still live" in str(timed_out.value)
    first = stream.getvalue().splitlines()
    assert first[0].startswith(f"[1/2] {jobs[0].id}: ") and first[1].startswith(f"[2/2] {jobs[1].id}: ")
    assert len(first) == len(set(first))  # one line per status change

    await jobs[0].cancel()
    emulator.advance(hours=3)
    with pytest.raises(JobCancelledError):
        await ft.jobs.wait_all(jobs, timeout=WAIT, poll=0.05, progress=False, raise_on_failure=True)
    done = await ft.jobs.wait_all([job.id for job in jobs], timeout=WAIT, progress="plain", stream=stream)
    assert [job.status.value for job in done] == ["cancelled", "succeeded"]
    assert stream.getvalue().splitlines()[-2:] == [f"[1/2] {jobs[0].id}: cancelled",
                                                   f"[2/2] {jobs[1].id}: succeeded"]

    requests = Requests(ft)
    with pytest.raises(NotFoundError):
        await ft.jobs.wait_all([jobs[0].id, "ftjob-not-there"], timeout=WAIT, progress=False)
    assert requests.counts["retrieve"] == 1  # only the id the listing did not show
    requests.reset()
    for bad in (jobs[0].id, jobs[0], ["not a job id"], [42]):
        with pytest.raises(InvalidParameterError):
            await ft.jobs.wait_all(bad, progress=False)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        await ft.jobs.wait_all(jobs, progress="loud")
    assert not requests.counts  # refused before the first request


@pytest.mark.anyio
async def test_a_sweep_watches_its_jobs_with_one_listing_per_look(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    train, validation = sft_data(40, seed=33).split(validation=0.25, seed=1)
    base = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
            .training_type("GlobalStandard").suffix(f"sweep-many-{FLAVOUR}"))
    swept = await ft.sweep(base, grid={"n_epochs": [1, 2, 3, 4]})
    assert all(t.job is not None for t in swept.trials)
    requests = Requests(ft)
    looks: list[int] = []
    progress = finish_on_look(emulator, 3, looks)
    seen: list[list[str]] = []

    def show(s: AsyncSweep) -> None:
        progress(s)
        seen.append([t.status for t in s.trials])

    await swept.wait(timeout=WAIT, poll=0.05, progress=show)
    assert swept.done and all(t.succeeded for t in swept.trials)
    assert requests.counts["retrieve"] == 0  # the jobs' states come from the listing
    # one listing per look; reading the metrics of the finished trials is the only other traffic
    assert requests.counts["list"] == len(looks)
    assert seen[-1] == ["succeeded"] * 4


@pytest.mark.anyio
async def test_a_sweep_holding_trials_counts_slots_and_watches_with_the_same_listing(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    train, validation = sft_data(40, seed=34).split(validation=0.25, seed=1)
    base = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
            .training_type("GlobalStandard").suffix(f"sweep-held-{FLAVOUR}"))
    swept = await ft.sweep(base, grid={"n_epochs": [1, 2, 3, 4]}, max_active=2)
    assert [t.status for t in swept.trials].count("waiting") == 2  # held on the client side
    requests = Requests(ft)
    looks: list[int] = []

    def show(s: AsyncSweep) -> None:
        looks.append(1)
        if len(looks) >= 3:  # let the live jobs end, then the held ones once they started
            emulator.advance(hours=3)

    await swept.wait(timeout=WAIT, poll=0.05, progress=show)
    assert swept.done and all(t.succeeded for t in swept.trials)
    assert requests.counts["retrieve"] == 0
    # Starting a held trial looks its fingerprint up (a listing filtered by metadata); every other
    # listing is a look's: one per look, counting the free slots and reading the jobs' states.
    plain = [p for p in requests.listings if not any(k.startswith("metadata") for k in p)]
    assert len(plain) == len(looks)


def vanish_after(ft: AsyncFoundry, monkeypatch: pytest.MonkeyPatch, hidden: str, listing: int,
                 on_listing: Any = None) -> list[dict[str, Any]]:
    """From the ``listing``-th listing on, job ``hidden`` is gone: the listing leaves it out and its
    own retrieve answers 404 (the emulator's answer for an id it does not know). ``on_listing`` is
    called with the listing's number before it is read. Returns each listing's arguments."""
    jobs_api = ft.openai.fine_tuning.jobs
    real_list, real_retrieve = jobs_api.list, jobs_api.retrieve
    listings: list[dict[str, Any]] = []

    async def vanishing_list(**kwargs: Any) -> Any:
        listings.append(kwargs)
        if on_listing is not None:
            on_listing(len(listings))
        page = await real_list(**kwargs)
        if len(listings) >= listing:
            page.data = [job for job in page.data if job.id != hidden]
        return page

    async def vanishing_retrieve(job_id: str, **kwargs: Any) -> Any:
        gone = job_id == hidden and len(listings) >= listing
        return await real_retrieve(f"{job_id}-deleted" if gone else job_id, **kwargs)

    monkeypatch.setattr(jobs_api, "list", vanishing_list)
    monkeypatch.setattr(jobs_api, "retrieve", vanishing_retrieve)
    return listings


@pytest.mark.anyio
async def test_a_job_that_vanishes_while_watched_is_dropped_and_named_once_the_others_ended(
    ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = await start_jobs(ft, 3, f"vanish-{FLAVOUR}")
    hidden = jobs[1].id
    ids = [job.id for job in jobs]

    def finish_at_fourth(n: int) -> None:
        if n == 4:
            emulator.advance(hours=3)

    vanish_after(ft, monkeypatch, hidden, 2, finish_at_fourth)
    requests = Requests(ft)
    stream = io.StringIO()
    with pytest.raises(JobNotFoundError) as raised:
        await ft.jobs.wait_all([*ids, ids[0]], timeout=WAIT, poll=0.05, progress="plain", stream=stream)
    error = raised.value
    assert isinstance(error, NotFoundError) and error.job_ids == [hidden] and hidden in str(error)
    assert [job.id for job in error.jobs] == [*ids, ids[0]]  # every job, in the order given
    statuses = [job.status for job in error.jobs]  # the gone one in its last known (live) state
    assert statuses[1].is_live and [s.value for s in statuses[::2]] == ["succeeded", "succeeded"]
    assert requests.counts["retrieve"] == 1  # the gone job is not asked for again
    lines = stream.getvalue().splitlines()
    assert f"[2/3] {hidden}: gone (not found any more: deleted, or no longer visible to this credential)" \
        in lines
    assert lines[-1].startswith("[3/3]") and all("/4]" not in line for line in lines)  # 3 jobs, not 4


@pytest.mark.anyio
async def test_bad_jobs_and_raise_on_failure_are_refused_before_a_request(ft: AsyncFoundry) -> None:
    requests = Requests(ft)
    for bad in (None, 42):
        with pytest.raises(InvalidParameterError, match=r"jobs"):
            await ft.jobs.wait_all(bad, progress=False)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="raise_on_failure"):
        await ft.jobs.wait_all(["ftjob-x"], progress=False, raise_on_failure="yes")  # type: ignore[arg-type]
    assert not requests.counts


@pytest.mark.anyio
async def test_a_sweep_holding_trials_counts_the_live_jobs_only_when_a_slot_may_have_freed(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    emulator.advance(hours=3)  # no live job left by another test: the sweep's own take the slots
    train, validation = sft_data(40, seed=35).split(validation=0.25, seed=1)
    base = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
            .training_type("GlobalStandard").suffix(f"sweep-count-{FLAVOUR}"))
    swept = await ft.sweep(base, grid={"n_epochs": [1, 2, 3]}, max_active=1)
    assert [t.status for t in swept.trials].count("waiting") == 2
    requests = Requests(ft)

    def full_looks() -> int:  # pages of 100 without a metadata filter: counting the live jobs
        return sum(1 for p in requests.listings
                   if p.get("limit") == "100" and not any(k.startswith("metadata") for k in p))

    for _ in range(12):
        await swept.refresh()
    assert requests.counts["list"] == 12
    assert full_looks() == 2  # the first look and the 11th, not all 12
    emulator.advance(hours=3)  # the live trial ends
    requests.reset()
    await swept.refresh()  # sees it end (one short page) ...
    assert full_looks() == 0 and [t.status for t in swept.trials][1:] == ["waiting", "waiting"]
    await swept.refresh()  # ... so the next look counts, and submits the next trial
    assert full_looks() == 1 and swept.trials[1].job is not None and swept.trials[2].job is None
    await swept.cancel()


@pytest.mark.anyio
async def test_a_sweep_trial_whose_job_vanished_is_gone_and_done(
    ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, validation = sft_data(40, seed=36).split(validation=0.25, seed=1)
    base = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
            .training_type("GlobalStandard").suffix(f"sweep-vanish-{FLAVOUR}"))
    swept = await ft.sweep(base, grid={"n_epochs": [1, 2]})
    assert swept.trials[0].job is not None
    hidden = swept.trials[0].job.id

    def finish_at_third(n: int) -> None:
        if n == 3:
            emulator.advance(hours=3)

    vanish_after(ft, monkeypatch, hidden, 1, finish_at_third)
    await swept.wait(timeout=WAIT, poll=0.05, progress=False)
    assert swept.done and [t.status for t in swept.trials] == ["gone", "succeeded"]
    assert swept.best is swept.trials[1]
