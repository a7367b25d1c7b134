"""The emulator's controllable clock: wall time plus an offset that only moves forward.

Every simulated transition (jobs, deployments, file processing, operations, events, inference
``created`` stamps) reads ``Context.now()``, which is this clock, so ``POST /_emulator/clock``
(see `._control`) moves them all at once: a test can see a Developer-tier deployment expire after
24 hours, or a reinforcement job reach the service's $5,000 cap, in seconds. The offset is kept in
the store, so an emulator restarted on the same data folder keeps its time (its stored timestamps
were written on this clock).
"""

from __future__ import annotations

import math
import threading
import time

from foundry_tune.emulator._store import Store

_KIND = "clock"
_ID = "offset"
MAX_OFFSET_SECONDS = 100 * 365 * 24 * 3600.0
"""How far the clock may be moved in all (a century): beyond it, dates no longer print."""


class ClockError(ValueError):
    """An advance the clock refuses (negative, not finite, or too far)."""


class Clock:
    """Wall-clock seconds plus a forward-only offset, kept in ``store``."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        doc = store.get(_KIND, _ID)
        self._offset = float(doc["offset_seconds"]) if doc is not None else 0.0

    @property
    def offset(self) -> float:
        """Seconds the clock is ahead of the wall clock."""
        return self._offset

    def now(self) -> float:
        """The emulator's time, in epoch seconds."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (stored at once); the new time.

        :raises ClockError: ``seconds`` is negative, not finite, or the total would pass a century.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise ClockError("The clock advances by a finite number of seconds")
        if seconds < 0:
            raise ClockError("The clock only moves forward: the advance must not be negative")
        with self._lock:
            offset = self._offset + float(seconds)
            if offset > MAX_OFFSET_SECONDS:
                raise ClockError("The clock can be moved at most a century ahead in all")
            self._store.put(_KIND, {"id": _ID, "offset_seconds": offset})
            self._offset = offset
        return self.now()
