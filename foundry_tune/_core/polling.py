"""One polling schedule for every wait: jobs, file processing, deployments and sweeps.

A [`PollSchedule`][PollSchedule] answers one question, "how long until the next look?", and does no I/O:
the first interval is ``floor``; after a look that saw something change it is ``floor`` again;
after each look that saw nothing new it grows by ``factor`` up to ``cap``; and it never sleeps past
the time left before a deadline. A fixed interval is ``floor == cap``.

The presets keep each wait's long-standing pace:

===============================  =======  =====
preset                           floor    cap
===============================  =======  =====
``job_schedule()``               1 s      30 s
``sweep_schedule()``             1 s      15 s
``file_schedule()``              0.2 s    5 s
``deployment_schedule()``        1 s      10 s
===============================  =======  =====

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
    "Deadline",
    "PollSchedule",
    "adaptive_or_fixed",
    "deployment_schedule",
    "file_schedule",
    "job_schedule",
    "sweep_schedule",
]


@dataclass
class PollSchedule:
    """The next sleep interval of a polling loop (pure: the caller sleeps and looks).

    :param floor: the first interval, and the interval after a look that saw a change.
    :param cap: the longest interval.
    :param factor: how much the interval grows after each look that saw nothing new.
    """

    floor: float = 1.0
    cap: float = 30.0
    factor: float = 1.5
    _last: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("floor", "cap", "factor"):
            check_seconds(getattr(self, name), f"poll schedule: {name}", zero=False)
        if not (self.floor <= self.cap and self.factor >= 1):
            raise InvalidParameterError(
                "a poll schedule needs 0 < floor <= cap and factor >= 1: "
                f"{self.floor}, {self.cap}, {self.factor}"
            )

    @classmethod
    def fixed(cls, every: float) -> PollSchedule:
        """Always the same interval."""
        return cls(floor=every, cap=every, factor=1.0)

    def next(self, changed: bool = False, *, remaining: float | None = None) -> float:
        """Seconds to sleep before the next look.

        ``changed``: whether the look just made saw something new (resets to ``floor``).
        ``remaining``: seconds left before a deadline, if any; the answer never exceeds it
        (and is never negative), without slowing the schedule itself.
        """
        fresh = changed or self._last is None
        interval = self.floor if fresh else min(self.cap, (self._last or 0.0) * self.factor)
        self._last = interval
        if remaining is None:
            return interval
        return max(0.0, min(interval, remaining))

    def back_off(self) -> None:
        """Slow straight down to ``cap`` (the service is unreachable: no point asking often)."""
        self._last = self.cap

    def reset(self) -> None:
        """Start over at ``floor``."""
        self._last = None


def job_schedule() -> PollSchedule:
    """A job's wait: every second while events arrive, backing off to 30 s."""
    return PollSchedule(floor=1.0, cap=30.0)


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
