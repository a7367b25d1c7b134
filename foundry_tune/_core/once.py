"""The create-at-most-once decision, without I/O.

A create that could bill (a job, a deployment, an upload) is attempted under the retry policy. The
first attempt creates. When an attempt fails in a way that leaves the outcome unknown (timeout,
dropped connection, 5xx, 429), the policy tries again, and every later attempt first looks the
object up and creates only when nothing is found: a create is never repeated after it took effect.

A create that got *no answer* may still be on its way: a gateway can forward it after the client
gave up (a timeout, a dropped connection, a gateway's 502 or 504). After such a failure the lookups
go on, without creating, for a *settle window* (`RetryPolicy.create_settle
<foundry_tune.RetryPolicy.create_settle>`, at most half the retry budget left when the create
failed), so that a create the gateway forwards late is found instead of made twice. A failure the
service itself answered (a 500, 503 or 429 with its error body) is not in flight any more: one
lookup tells what it did. A create that arrives later than the window (or a listing that lags it by
more) can still be made twice; the caller's check right after the create (see ``start()``) catches
a late duplicate it can see then.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

__all__ = ["IN_FLIGHT_STATUSES", "SETTLE_POLLS", "CreateOnce", "Step", "in_flight"]

Step = Literal["create", "lookup"]

IN_FLIGHT_STATUSES = frozenset({502, 504})
"""Gateway answers after which the request may still reach the service (or be running there)."""

SETTLE_POLLS = (0.5, 1.0, 1.0, 2.0, 2.0, 4.0)
"""Waits between the lookups of a settle window (the last one repeats)."""


def in_flight(status: int | None) -> bool:
    """Whether a create that failed with this HTTP ``status`` (None: no answer at all, i.e. a
    timeout or a dropped connection) may still take effect later."""
    return status is None or status in IN_FLIGHT_STATUSES


@dataclasses.dataclass
class CreateOnce:
    """Decides, attempt by attempt, whether to create or to look up first, and how long to keep
    looking up after a create that may still be in flight (``settle`` seconds, see the module)."""

    settle: float = 0.0
    attempts: int = 0
    settle_until: float | None = None
    """Until when (on the policy's clock) lookups go on before the next create, if a create is in flight."""
    polls: int = 0

    def next_step(self) -> Step:
        """Begin an attempt: ``"create"`` for the first one, ``"lookup"`` for every later one."""
        self.attempts += 1
        return "create" if self.attempts == 1 else "lookup"

    def create_failed(self, now: float, *, status: int | None, budget: float | None = None) -> None:
        """Note a failed create at ``now``: with ``status`` (None for no answer) it may still be in
        flight, and the lookups go on for the settle window, at most half of ``budget`` (the
        seconds left in the retry budget, if known) so that a create can still follow in time."""
        if not in_flight(status) or self.settle <= 0:
            self.settle_until = None
            return
        window = self.settle if budget is None else min(self.settle, max(budget, 0.0) / 2)
        self.settle_until = now + window
        self.polls = 0

    def settle_wait(self, now: float) -> float:
        """After a lookup that found nothing: seconds to wait before looking up again, or 0 when
        the settle window is over (or there is none) and the next create may go."""
        if self.settle_until is None or not now < self.settle_until:
            return 0.0
        poll = SETTLE_POLLS[min(self.polls, len(SETTLE_POLLS) - 1)]
        self.polls += 1
        wait = min(poll, self.settle_until - now)
        return wait if math.isfinite(wait) and wait > 0 else 0.0

    def after_lookup(self, found: bool, now: float | None = None) -> Literal["return", "create", "wait"]:
        """After a lookup: return what was found, wait and look up again (the settle window of an
        in-flight create is not over at ``now``), or create (nothing took effect)."""
        if found:
            return "return"
        if now is not None and self.settle_until is not None and now < self.settle_until:
            return "wait"
        return "create"
