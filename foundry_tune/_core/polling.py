"""One polling schedule for every wait: jobs, file processing, deployments and sweeps.

A [`PollSchedule`][PollSchedule] answers one question, "how long until the next look?", and does no I/O:
the first interval is ``floor``; after a look that saw something change it is ``floor`` again;
after each look that saw nothing new it grows by ``factor`` up to ``cap``; and it never sleeps past
the time left before a deadline. A fixed interval is ``floor == cap``.

A job's wait also paces itself by the job's age (``age_share``): every interval is at least
``age_share`` times the time since the job was created, still within ``floor`` and ``cap``. A
running job says something at almost every look, so "reset to the floor on a change" alone would
look every second for hours; by age, a job a minute old is looked at every ~30 s, one five minutes
old every 60 s. So the lateness of noticing a change (the end of the job) is bounded by a fraction
of the job's age and by ``cap``: a short job (tests, the emulator, a demo) is still watched
closely, a long Azure job costs about two looks a minute. The wait also looks once right after the
job's ``estimated_finish`` (``due``), so that a job that ends on time is noticed at once. A
service's pacing headers may hold a look back further ([`Pacing`][Pacing]).

The presets keep each wait's pace:

===============================  =======  =====  ==========
preset                           floor    cap    age share
===============================  =======  =====  ==========
``job_schedule()``               1 s      60 s   0.6
``job_schedule(SPEND_POLL_CAP)`` 1 s      30 s   0.6
``sweep_schedule()``             1 s      15 s
``file_schedule()``              0.2 s    5 s
``deployment_schedule()``        1 s      10 s
===============================  =======  =====  ==========

Deployments use ``deployment_schedule`` with their own floor and cap
([`foundry_tune._core.deployment_state`][deployment_state]): 0.5 s to 15 s while provisioning, 0.5 s to 10 s
while
waiting for readiness or deletion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from foundry_tune._core.retry import check_seconds
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "DUE_SLACK",
    "JOB_AGE_SHARE",
    "SPEND_POLL_CAP",
    "Deadline",
    "PollSchedule",
    "adaptive_or_fixed",
    "deployment_schedule",
    "file_schedule",
    "job_schedule",
    "sweep_schedule",
]


JOB_AGE_SHARE = 0.6
"""A job's wait looks again after at least this share of the job's age (within 1 s and 60 s)."""

DUE_SLACK = 1.0
"""Seconds after the moment a change is due (a job's ``estimated_finish``) that the look comes."""

SPEND_POLL_CAP = 30.0
"""The longest interval of a job's wait that meters spend (``max_cost``): the job is paused within
this much training past its cap."""


@dataclass
class PollSchedule:
    """The next sleep interval of a polling loop (pure: the caller sleeps and looks).

    :param floor: the first interval, and the interval after a look that saw a change.
    :param cap: the longest interval.
    :param factor: how much the interval grows after each look that saw nothing new.
    :param age_share: each interval is at least this share of the watched thing's age (when
        ``next()`` is given ``age``), within ``floor`` and ``cap``; 0 (the default) ignores age.
        A schedule with an ``age_share`` also honours ``due`` (see [`next()`][next]).
    """

    floor: float = 1.0
    cap: float = 30.0
    factor: float = 1.5
    age_share: float = 0.0
    _last: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("floor", "cap", "factor"):
            check_seconds(getattr(self, name), f"poll schedule: {name}", zero=False)
        check_seconds(self.age_share, "poll schedule: age_share")
        if not (self.floor <= self.cap and self.factor >= 1):
            raise InvalidParameterError(
                "a poll schedule needs 0 < floor <= cap and factor >= 1: "
                f"{self.floor}, {self.cap}, {self.factor}"
            )

    @classmethod
    def fixed(cls, every: float) -> PollSchedule:
        """Always the same interval."""
        return cls(floor=every, cap=every, factor=1.0)

    def next(self, changed: bool = False, *, remaining: float | None = None, age: float | None = None,
             due: float | None = None) -> float:
        """Seconds to sleep before the next look.

        ``changed``: whether the look just made saw something new (resets to ``floor``).
        ``remaining``: seconds left before a deadline, if any; the answer never exceeds it
        (and is never negative), without slowing the schedule itself.
        ``age``: seconds since the watched thing started (a job's ``created_at``); with an
        ``age_share`` the interval is at least ``age_share * age`` (up to ``cap``).
        ``due``: seconds until the service expects the next change (a job's ``estimated_finish``);
        with an ``age_share``, a look that would come later than ``due`` plus
        [`DUE_SLACK`][DUE_SLACK] comes then instead (never sooner than ``floor``).
        """
        fresh = changed or self._last is None
        interval = self.floor if fresh else min(self.cap, (self._last or 0.0) * self.factor)
        self._last = interval
        if self.age_share > 0:
            if age is not None and age > 0:
                interval = min(self.cap, max(interval, self.age_share * age))
            if due is not None and due > 0:
                interval = min(interval, max(self.floor, due + DUE_SLACK))
        if remaining is None:
            return interval
        return max(0.0, min(interval, remaining))

    def back_off(self) -> None:
        """Slow straight down to ``cap`` (the service is unreachable: no point asking often)."""
        self._last = self.cap

    def reset(self) -> None:
        """Start over at ``floor``."""
        self._last = None


def job_schedule(cap: float = 60.0) -> PollSchedule:
    """A job's wait: at least every ``cap`` seconds (60 s; a wait that meters a reinforcement job's
    spend passes [`SPEND_POLL_CAP`][SPEND_POLL_CAP]) and at most every second; between them 0.6
    times the job's age, longer while nothing changes (x1.5 per quiet look), and a look right after
    the job's ``estimated_finish`` (see the module docs)."""
    return PollSchedule(floor=1.0, cap=cap, age_share=JOB_AGE_SHARE)


def sweep_schedule() -> PollSchedule:
    """A sweep's wait: every second while a trial changes, backing off to 15 s."""
    return PollSchedule(floor=1.0, cap=15.0)


def file_schedule() -> PollSchedule:
    """A file's processing wait: 0.2 s, growing to 5 s."""
    return PollSchedule(floor=0.2, cap=5.0)


def deployment_schedule(floor: float = 1.0, cap: float = 10.0) -> PollSchedule:
    """A deployment wait: 1 s growing to 10 s unless the wait gives its own (see the module docs)."""
    return PollSchedule(floor=floor, cap=cap)


def adaptive_or_fixed(poll: object, adaptive: Callable[[], PollSchedule]) -> PollSchedule:
    """The schedule a ``poll=`` argument asks for: ``"adaptive"`` or ``None`` means ``adaptive()``,
    a positive number of seconds a fixed interval; anything else is an InvalidParameterError."""
    if poll is None or poll == "adaptive":
        return adaptive()
    try:
        every = check_seconds(poll, "poll", zero=False)
    except InvalidParameterError:
        raise InvalidParameterError(
            f"poll must be 'adaptive' or a positive, finite number of seconds: {poll!r}") from None
    return PollSchedule.fixed(every)


@dataclass(frozen=True)
class Deadline:
    """When a wait gives up, on a monotonic clock; ``at`` None means never."""

    at: float | None

    @classmethod
    def after(cls, timeout: float | None, now: float) -> Deadline:
        """The deadline ``timeout`` seconds after ``now`` (None: no deadline). A ``timeout`` that
        is no finite number of seconds >= 0 (``nan``, ``inf``, negative, a bool or a string) is an
        [`InvalidParameterError`][InvalidParameterError] naming it."""
        return cls(None if timeout is None else now + check_seconds(timeout, "timeout"))

    def remaining(self, now: float) -> float | None:
        """Seconds left (may be negative once passed), or None without a deadline."""
        return None if self.at is None else self.at - now

    def passed(self, now: float) -> bool:
        """True once ``now`` reached the deadline."""
        return self.at is not None and now >= self.at
