"""``Job.wait`` and ``AsyncJob.wait`` against a fake service, in both flavours: the poll schedule,
riding out an outage, the timeout, and what stopping a wait (Ctrl-C, a cancelled task) shows."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from foundry_tune._core.pacing import MAX_PACING, Pacing
from foundry_tune._core.polling import SPEND_POLL_CAP
from foundry_tune._core.status import JobStatus
from foundry_tune.aio import AsyncJob
from foundry_tune.errors import InvalidParameterError, RetryBudgetExceededError, WaitTimeoutError
from foundry_tune.job import Job

OUTAGE = RetryBudgetExceededError("get job: gave up after 8 attempts", status=503)


def _page(events: list[dict[str, Any]]) -> Any:
    return type("Page", (), {"data": events, "has_more": False})()


class _Jobs:
    """``fine_tuning.jobs``: each ``retrieve`` answers the next of ``answers`` (the last repeats)."""

    def __init__(self, answers: list[Any], events: list[list[dict[str, Any]]] | None = None) -> None:
        self.answers = answers
        self.events = events or []
        self.retrieves = 0

    def retrieve(self, job_id: str) -> Any:
        self.retrieves += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def list_events(self, job_id: str, **kwargs: Any) -> Any:
        return _page(self.events.pop(0) if self.events else [])


class _AsyncJobs:
    def __init__(self, jobs: _Jobs) -> None:
        self.jobs = jobs

    async def retrieve(self, job_id: str) -> Any:
        return self.jobs.retrieve(job_id)

    async def list_events(self, job_id: str, **kwargs: Any) -> Any:
        return self.jobs.list_events(job_id, **kwargs)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _conn(jobs: Any, clock: _Clock, call: Callable[..., Any]) -> Any:
    conn = type("Conn", (), {})()
    conn.openai = type("OpenAI", (), {"fine_tuning": type("FT", (), {"jobs": jobs})()})()
    conn.retry = type("Retry", (), {"call": staticmethod(call), "clock": staticmethod(clock),
                                    "wall_clock": staticmethod(clock)})()
    conn.pacing = Pacing()  # what the service said about pacing: nothing, here
    return conn


async def _acall(fn: Callable[[], Awaitable[Any]], what: str) -> Any:
    return await fn()


class Flavour:
    """Runs the same scenario on ``Job`` or ``AsyncJob``; sleeps advance the fake clock."""

    def __init__(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.name = name
        self.clock = _Clock()
        self.sleeps: list[float] = []
        self.monkeypatch = monkeypatch
        self.interrupt_after: int | None = None

    def _slept(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.now += seconds
        if self.interrupt_after is not None and len(self.sleeps) >= self.interrupt_after:
            raise KeyboardInterrupt

    def job(self, jobs: _Jobs, raw: dict[str, Any]) -> Any:
        if self.name == "sync":
            self.monkeypatch.setattr("foundry_tune._sync._flavour.sleep", self._slept)
            return Job(_conn(jobs, self.clock, lambda fn, what: fn()), raw)

        async def asleep(seconds: float) -> None:
            self._slept(seconds)

        self.monkeypatch.setattr("foundry_tune._async._flavour.sleep", asleep)
        return AsyncJob(_conn(_AsyncJobs(jobs), self.clock, _acall), raw)

    def run(self, result: Any) -> Any:
        return asyncio.run(result) if self.name == "async" else result


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Flavour:
    return Flavour(request.param, monkeypatch)


RUNNING = {"id": "ftjob-1", "status": "running"}
DONE = {"id": "ftjob-1", "status": "succeeded", "fine_tuned_model": "m.ft-1"}


def _event(n: int) -> dict[str, Any]:
    return {"id": f"ev-{n}", "created_at": 1000 + n, "level": "info", "message": f"m{n}", "type": "message"}


def test_wait_backs_off_while_quiet_and_resets_on_events(flavour: Flavour) -> None:
    events: list[list[dict[str, Any]]] = [[], [], [], [_event(1)], []]
    jobs = _Jobs([RUNNING] * 5 + [DONE], events)
    job = flavour.job(jobs, RUNNING)
    assert flavour.run(job.wait(progress=False)) is job
    assert job.status is JobStatus.SUCCEEDED
    assert flavour.sleeps == pytest.approx([1.0, 1.5, 2.25, 1.0, 1.5])


def test_wait_with_a_fixed_poll(flavour: Flavour) -> None:
    job = flavour.job(_Jobs([RUNNING] * 3 + [DONE]), RUNNING)
    flavour.run(job.wait(progress=False, poll=5))
    assert flavour.sleeps == [5.0, 5.0, 5.0]


@pytest.mark.parametrize("poll", [0, -1.0, "fast"])
def test_wait_refuses_a_bad_poll(flavour: Flavour, poll: Any) -> None:
    job = flavour.job(_Jobs([DONE]), RUNNING)
    with pytest.raises(InvalidParameterError, match="poll must be"):
        flavour.run(job.wait(progress=False, poll=poll))


def test_wait_rides_out_a_service_outage(flavour: Flavour) -> None:
    job = flavour.job(_Jobs([OUTAGE, OUTAGE, DONE]), RUNNING)
    out = io.StringIO()
    flavour.run(job.wait(progress="plain", stream=out))
    assert out.getvalue().count("cannot reach the service") == 2
    assert flavour.sleeps == [60.0, 60.0]  # backs off to the longest poll while the service is away


def test_wait_times_out_without_sleeping_past_the_deadline(flavour: Flavour) -> None:
    job = flavour.job(_Jobs([RUNNING]), RUNNING)
    with pytest.raises(WaitTimeoutError) as info:
        flavour.run(job.wait(timeout=4.0, progress=False))
    assert flavour.sleeps == pytest.approx([1.0, 1.5, 1.5])  # 2.25 would pass the deadline
    attach = "Job.attach(ft, 'ftjob-1')" if flavour.name == "sync" else "await AsyncJob.attach(ft, 'ftjob-1')"
    assert "still running after 4 s" in str(info.value) and attach in str(info.value)


def test_unknown_statuses_are_waited_through(flavour: Flavour) -> None:
    odd = {"id": "ftjob-1", "status": "queued_for_capacity"}
    jobs = _Jobs([odd, odd, DONE])
    job = flavour.job(jobs, odd)
    flavour.run(job.wait(progress=False))
    assert jobs.retrieves == 3 and job.status is JobStatus.SUCCEEDED


def test_ctrl_c_stops_watching_and_shows_how_to_reattach(flavour: Flavour) -> None:
    flavour.interrupt_after = 2
    job = flavour.job(_Jobs([RUNNING]), RUNNING)
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        flavour.run(job.wait(progress="plain", stream=out))
    assert "Job ftjob-1 is still running on the service (nothing was cancelled)" in out.getvalue()
    assert "foundry-tune jobs watch ftjob-1" in out.getvalue()
    assert job.reattach_hint() in out.getvalue()


def test_reattach_hint_is_written_for_each_flavour(flavour: Flavour) -> None:
    hint = flavour.job(_Jobs([RUNNING]), RUNNING).reattach_hint()
    if flavour.name == "sync":
        assert "Re-attach with: Job.attach(ft, 'ftjob-1').wait()" in hint
    else:
        assert "Re-attach with: await (await AsyncJob.attach(ft, 'ftjob-1')).wait()" in hint


def test_cancelling_the_waiting_task_stops_watching_only(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = _Jobs([RUNNING])
    job = AsyncJob(_conn(_AsyncJobs(jobs), _Clock(), _acall), RUNNING)
    out = io.StringIO()
    ticks = itertools.count()

    async def asleep(seconds: float) -> None:
        next(ticks)
        await asyncio.sleep(0)

    monkeypatch.setattr("foundry_tune._async._flavour.sleep", asleep)

    async def main() -> None:
        task = asyncio.create_task(job.wait(progress="plain", stream=out))
        while next(ticks) < 3:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert "nothing was cancelled" in out.getvalue() and "AsyncJob.attach(ft, 'ftjob-1')" in out.getvalue()


def test_a_wait_that_meters_spend_looks_within_its_cap_whatever_the_pacing(flavour: Flavour) -> None:
    """A reinforcement job with a spend cap is looked at at least every SPEND_POLL_CAP seconds, even
    while the service asks to hold back for 300 s (else it could train 300 s past its cap)."""
    grader = {"type": "string_check", "name": "g", "input": "{{sample.output_text}}", "reference": "a",
              "operation": "eq"}
    rft = {"id": "ftjob-1", "status": "running", "model": "o4-mini", "created_at": 1,
           "method": {"type": "reinforcement", "reinforcement": {"grader": grader}}}
    job = flavour.job(_Jobs([rft] * 3 + [DONE]), rft)
    job._ft.pacing.observe({"Retry-After": "300"}, 0.0, status=429)
    assert job._ft.pacing.delay(0.0) == MAX_PACING
    flavour.run(job.wait(progress=False, max_cost=1000.0))
    assert flavour.sleeps and max(flavour.sleeps) <= SPEND_POLL_CAP, flavour.sleeps
    unmetered = Flavour(flavour.name, flavour.monkeypatch)
    plain = unmetered.job(_Jobs([RUNNING, DONE]), RUNNING)
    plain._ft.pacing.observe({"Retry-After": "300"}, 0.0, status=429)
    unmetered.run(plain.wait(progress=False))
    assert unmetered.sleeps == [MAX_PACING]  # without a spend cap the service's pacing holds the look back
