"""The one polling schedule shared by job, file, deployment and sweep waits (pure, no emulator)."""

from __future__ import annotations

import pytest

from foundry_tune._core.polling import (
    Deadline,
    PollSchedule,
    adaptive_or_fixed,
    deployment_schedule,
    file_schedule,
    job_schedule,
    sweep_schedule,
)
from foundry_tune.errors import InvalidParameterError

# (schedule, looks as (changed, remaining), expected sleeps)
CASES = [
    pytest.param(job_schedule(), [(False, None)] * 3, [1.0, 1.5, 2.25], id="job-backs-off-while-quiet"),
    pytest.param(job_schedule(), [(False, None)] * 12, [1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375, 11.390625,
                                                       17.0859375, 25.62890625, 38.443359375, 57.6650390625,
                                                       60.0],
                 id="job-caps-at-60s"),
    pytest.param(job_schedule(), [(False, None), (False, None), (True, None), (False, None)],
                 [1.0, 1.5, 1.0, 1.5], id="job-resets-on-change"),
    pytest.param(sweep_schedule(), [(False, None)] * 9, [1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375, 11.390625,
                                                        15.0, 15.0], id="sweep-caps-at-15s"),
    pytest.param(file_schedule(), [(False, None)] * 4, [0.2, 0.3, 0.45, 0.675], id="file-starts-at-0.2s"),
    pytest.param(file_schedule(), [(False, None)] * 12, [0.2, 0.3, 0.45, 0.675, 1.0125, 1.51875, 2.278125,
                                                        3.4171875, 5.0, 5.0, 5.0, 5.0], id="file-caps-at-5s"),
    pytest.param(deployment_schedule(), [(False, None)] * 7, [1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10.0],
                 id="deployment-default-1s-to-10s"),
    pytest.param(deployment_schedule(0.5, 15.0), [(False, None)] * 3, [0.5, 0.75, 1.125],
                 id="deployment-provisioning-0.5s"),
    pytest.param(PollSchedule.fixed(5.0), [(False, None), (True, None), (False, None)], [5.0, 5.0, 5.0],
                 id="fixed-interval"),
    pytest.param(job_schedule(), [(False, 10.0), (False, 1.2), (False, 0.0), (False, -3.0)],
                 [1.0, 1.2, 0.0, 0.0], id="never-past-the-deadline"),
    pytest.param(job_schedule(), [(False, 0.5), (False, None)], [0.5, 1.5],
                 id="a-clamped-sleep-does-not-slow-the-schedule"),
]


@pytest.mark.parametrize(("schedule", "looks", "expected"), CASES)
def test_schedule(schedule: PollSchedule, looks: list[tuple[bool, float | None]],
                  expected: list[float]) -> None:
    schedule.reset()  # the parameters are built once per session
    got = [schedule.next(changed, remaining=remaining) for changed, remaining in looks]
    assert got == pytest.approx(expected)


def test_back_off_jumps_to_the_cap_and_a_change_resets() -> None:
    schedule = job_schedule()
    schedule.back_off()
    assert [schedule.next(), schedule.next(), schedule.next(True)] == [60.0, 60.0, 1.0]


def test_reset_starts_over() -> None:
    schedule = file_schedule()
    schedule.next()
    schedule.next()
    schedule.reset()
    assert schedule.next() == 0.2


@pytest.mark.parametrize(("poll", "expected"), [
    ("adaptive", [1.0, 1.5]),
    (None, [1.0, 1.5]),
    (2, [2.0, 2.0]),
    (0.25, [0.25, 0.25]),
])
def test_adaptive_or_fixed(poll: object, expected: list[float]) -> None:
    schedule = adaptive_or_fixed(poll, job_schedule)
    assert [schedule.next(), schedule.next()] == expected


@pytest.mark.parametrize("poll", [0, -1, "fast", True, float("nan")])
def test_adaptive_or_fixed_refuses_nonsense(poll: object) -> None:
    with pytest.raises(InvalidParameterError, match="poll must be"):
        adaptive_or_fixed(poll, job_schedule)


@pytest.mark.parametrize(("floor", "cap", "factor"), [(0.0, 1.0, 1.5), (2.0, 1.0, 1.5), (1.0, 2.0, 0.5)])
def test_schedule_refuses_impossible_settings(floor: float, cap: float, factor: float) -> None:
    with pytest.raises(InvalidParameterError):
        PollSchedule(floor, cap, factor)


@pytest.mark.parametrize(("timeout", "now", "remaining", "passed"), [
    (None, 100.0, None, False),
    (10.0, 105.0, 5.0, False),
    (10.0, 110.0, 0.0, True),
    (10.0, 120.0, -10.0, True),
    (0.0, 100.0, 0.0, True),
])
def test_deadline(timeout: float | None, now: float, remaining: float | None, passed: bool) -> None:
    deadline = Deadline.after(timeout, 100.0)
    assert deadline.remaining(now) == remaining
    assert deadline.passed(now) is passed
