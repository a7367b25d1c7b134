"""``Job.wait`` and ``AsyncJob.wait`` pace their looks by the job's age and look right after its
estimated finish (the default ``poll="adaptive"``), against the fake service of test_job_wait."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_job_wait import DONE, Flavour, _event, _Jobs


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Flavour:
    made = Flavour(request.param, monkeypatch)
    made.clock.now = 1000.0  # the fake clock is the wall clock too
    return made


def _running(**fields: Any) -> dict[str, Any]:
    return {"id": "ftjob-1", "status": "running", **fields}


def test_a_busy_job_is_looked_at_by_its_age_not_every_second(flavour: Flavour) -> None:
    running = _running(created_at=990)  # 10 s old; every look sees a new event
    jobs = _Jobs([running] * 4 + [DONE], [[_event(i)] for i in range(1, 6)])
    flavour.run(flavour.job(jobs, running).wait(progress=False))
    assert flavour.sleeps == pytest.approx([6.0, 9.6, 15.36, 24.576])  # 0.6 x the age


def test_an_old_job_is_looked_at_every_minute(flavour: Flavour) -> None:
    flavour.clock.now = 100_000.0
    running = _running(created_at=100_000 - 7200)  # two hours old
    jobs = _Jobs([running] * 2 + [DONE], [[_event(i)] for i in range(1, 4)])
    flavour.run(flavour.job(jobs, running).wait(progress=False))
    assert flavour.sleeps == pytest.approx([60.0, 60.0])


def test_a_look_comes_right_after_the_estimated_finish(flavour: Flavour) -> None:
    running = _running(created_at=990, estimated_finish=1020)
    jobs = _Jobs([running] * 4 + [DONE], [[_event(i)] for i in range(1, 6)])
    flavour.run(flavour.job(jobs, running).wait(progress=False))
    assert flavour.sleeps == pytest.approx([6.0, 9.6, 5.4, 18.6])  # 1015.6 -> 1021: the estimate + 1 s


def test_a_fixed_poll_ignores_age_and_estimate(flavour: Flavour) -> None:
    running = _running(created_at=990, estimated_finish=1002)
    jobs = _Jobs([running] * 2 + [DONE], [[_event(i)] for i in range(1, 4)])
    flavour.run(flavour.job(jobs, running).wait(progress=False, poll=5))
    assert flavour.sleeps == [5.0, 5.0]
