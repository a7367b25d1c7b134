"""Reproducible fault injection: 429 with Retry-After, 500, 503, slow answers, and connections
dropped after the request took effect (the ambiguous case that makes naive clients duplicate work).

Whether request number *n* is faulted, and how, depends only on ``(seed, n)``, so a run with the
same seed and the same request sequence meets the same faults.
"""

from __future__ import annotations

import dataclasses
import random

KINDS: tuple[tuple[str, float], ...] = (
    ("rate_limit", 0.30),
    ("server_error", 0.15),
    ("unavailable", 0.15),
    ("slow", 0.20),
    ("drop", 0.20),
)
RETRY_AFTER_SECONDS = 1


@dataclasses.dataclass(frozen=True)
class FaultPlan:
    """Which requests fail, from ``rate`` (0..1) and ``seed``."""

    rate: float
    seed: int

    def decide(self, number: int) -> str | None:
        """The fault for the ``number``-th faultable request, or ``None``."""
        if self.rate <= 0:
            return None
        rng = random.Random(f"{self.seed}:{number}")  # noqa: S311
        if rng.random() >= self.rate:
            return None
        pick = rng.random()
        for kind, weight in KINDS:
            pick -= weight
            if pick < 0:
                return kind
        return KINDS[-1][0]
