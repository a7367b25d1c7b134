"""A job's wait paces itself by the job's age and looks right after its estimated finish (pure)."""

from __future__ import annotations

import pytest

from foundry_tune._core.polling import DUE_SLACK, JOB_AGE_SHARE, SPEND_POLL_CAP, PollSchedule, job_schedule

# (looks as (changed, remaining, age, due), expected sleeps) on a fresh job_schedule()
CASES = [
    pytest.param([(True, None, 0.2, None), (True, None, 1.2, None), (True, None, 2.2, None)],
                 [1.0, 1.0, 2.2 * JOB_AGE_SHARE], id="young-job-watched-every-second"),
    pytest.param([(True, None, 60.0, None), (True, None, 600.0, None), (True, None, 36_000.0, None)],
                 [36.0, 60.0, 60.0], id="older-job-by-age-up-to-the-cap"),
    pytest.param([(True, None, 100.0, 10.0)], [10.0 + DUE_SLACK], id="look-right-after-the-estimated-finish"),
    pytest.param([(True, None, 100.0, 0.2)], [1.2], id="a-due-moment-near-now-keeps-the-slack"),
    pytest.param([(True, None, 100.0, -30.0)], [60.0], id="a-past-estimate-is-ignored"),
    pytest.param([(True, None, 100.0, 500.0)], [60.0], id="a-far-estimate-changes-nothing"),
    pytest.param([(True, 5.0, 100.0, None)], [5.0], id="never-past-the-deadline"),
    pytest.param([(False, None, 1.0, None)] * 4, [1.0, 1.5, 2.25, 3.375], id="quiet-young-job-backs-off"),
    pytest.param([(False, None, 10.0, None), (False, None, 16.0, None), (False, None, 26.0, None),
                  (False, None, 42.0, None)], [6.0, 9.6, 15.6, 25.2],
                 id="quiet-the-larger-of-back-off-and-age"),
    pytest.param([(False, None, None, None)] * 3, [1.0, 1.5, 2.25], id="unknown-age-as-before"),
]


@pytest.mark.parametrize(("looks", "expected"), CASES)
def test_job_schedule_by_age(looks: list[tuple[bool, float | None, float | None, float | None]],
                             expected: list[float]) -> None:
    schedule = job_schedule()
    got = [schedule.next(changed, remaining=remaining, age=age, due=due)
           for changed, remaining, age, due in looks]
    assert got == pytest.approx(expected)


def test_a_fixed_interval_ignores_age_and_estimates() -> None:
    schedule = PollSchedule.fixed(5.0)
    assert [schedule.next(True, age=1000.0, due=1.0), schedule.next(age=0.1)] == [5.0, 5.0]


def _looks(duration: float, schedule: PollSchedule, start: float = 0.1) -> list[float]:
    """When a wait that starts ``start`` s after the job was created looks, for a job that runs
    ``duration`` s, says something at every look and has an accurate estimated finish."""
    t, looks = start, [start]
    while t < duration:
        t += schedule.next(True, age=t, due=duration - t)
        looks.append(t)
    return looks


@pytest.mark.parametrize(("minutes", "most_looks"), [(3, 14), (30, 45)])
def test_looks_per_job_leave_a_margin_below_the_cookbook(minutes: int, most_looks: int) -> None:
    looks = _looks(minutes * 60.0, job_schedule())
    cookbook_looks = minutes * 6 + 1  # every 10 s
    assert len(looks) <= most_looks < 0.8 * cookbook_looks
    assert looks[-1] - minutes * 60.0 <= DUE_SLACK + 1e-9  # the end is seen right after it


def test_lateness_stays_within_one_interval_when_the_estimate_is_wrong() -> None:
    schedule = job_schedule()
    t, end = 0.1, 1000.0  # the job ends at 1000 s, its estimate said 200 s
    while t < end:
        step = schedule.next(True, age=t, due=200.0 - t)
        assert step <= 60.0
        t += step
    assert t - end <= 60.0


@pytest.mark.parametrize("age_share", [-0.1, float("nan"), float("inf")])
def test_age_share_must_be_a_finite_share(age_share: float) -> None:
    with pytest.raises(Exception, match="age_share"):
        PollSchedule(age_share=age_share)


def test_a_wait_that_meters_spend_looks_at_least_every_30_s() -> None:
    schedule = job_schedule(SPEND_POLL_CAP)
    got = [schedule.next(True, age=age) for age in (10.0, 100.0, 10_000.0)]
    assert got == pytest.approx([6.0, 30.0, 30.0])
