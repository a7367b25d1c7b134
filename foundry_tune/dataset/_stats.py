"""Token statistics of a dataset, gathered one example at a time in bounded memory.

Percentiles use the linear-interpolation definition (numpy's default ``method="linear"``,
Hyndman & Fan type 7): the p-th percentile of n sorted values ``x`` is
``x[k] + (h - k) * (x[k + 1] - x[k])`` with ``h = (n - 1) * p / 100`` and ``k = floor(h)``.
The median is the 50th percentile by the same rule. Memory is 16 bytes per example, and the
summary works on distinct values, so it stays flat as files grow.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Distribution", "TokenStats", "percentile"]

PERCENTILE_METHOD = "linear interpolation between closest ranks (numpy's default, Hyndman-Fan type 7)"


def percentile(sorted_values: Sequence[int] | Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of already sorted values, by linear interpolation."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    h = (len(sorted_values) - 1) * p / 100
    k = math.floor(h)
    low = float(sorted_values[k])
    if k + 1 >= len(sorted_values):
        return low
    return low + (h - k) * (float(sorted_values[k + 1]) - low)


class _Ordered:
    """The sorted multiset behind a `Counter`: the k-th smallest value without expanding it."""

    def __init__(self, tally: Counter[int]) -> None:
        self.keys = sorted(tally)
        self.ends: list[int] = []  # ends[i]: how many values are <= keys[i]
        running = 0
        for key in self.keys:
            running += tally[key]
            self.ends.append(running)
        self.n = running

    def kth(self, k: int) -> int:
        """The k-th smallest value (0-based)."""
        return self.keys[bisect.bisect_right(self.ends, k)]

    def percentile(self, p: float) -> float:
        h = (self.n - 1) * p / 100
        k = math.floor(h)
        low = float(self.kth(k))
        if k + 1 >= self.n:
            return low
        return low + (h - k) * (float(self.kth(k + 1)) - low)


class Distribution(BaseModel):
    """Summary of one per-example quantity: min, max, mean, median, 5th and 95th percentile."""

    model_config = ConfigDict(frozen=True)

    min: int
    max: int
    mean: float
    median: float
    p5: float
    p95: float

    @classmethod
    def of(cls, values: Iterable[int]) -> Distribution | None:
        """The distribution of ``values``, or None when there are none.

        Works on the distinct values and their counts, so memory follows how many different
        values there are (a few thousand token counts), not how many examples."""
        tally = Counter(values)
        if not tally:
            return None
        ordered = _Ordered(tally)
        return cls(
            min=ordered.keys[0],
            max=ordered.keys[-1],
            mean=sum(value * n for value, n in tally.items()) / ordered.n,
            median=ordered.percentile(50),
            p5=ordered.percentile(5),
            p95=ordered.percentile(95),
        )

    def to_text(self) -> str:
        """``min 12 / p5 20.0 / median 88.0 / mean 91.3 / p95 160.2 / max 512``."""
        return (
            f"min {self.min:,} / p5 {self.p5:,.1f} / median {self.median:,.1f} / mean {self.mean:,.1f}"
            f" / p95 {self.p95:,.1f} / max {self.max:,}"
        )


class TokenStats(BaseModel):
    """Token statistics of a dataset, as counted for billing (see ``TokenCounter``)."""

    model_config = ConfigDict(frozen=True)

    encoding: str | None = None
    """The tokenizer encoding the counts come from (``o200k_base`` or ``cl100k_base``)."""
    examples: int
    messages: int
    total_tokens: int
    """Sum of every example's tokens."""
    assistant_tokens: int
    """Sum of the tokens the model learns to write (assistant output; 0 for reinforcement)."""
    tokens_per_example: Distribution | None
    assistant_tokens_per_example: Distribution | None
    max_example_tokens: int | None
    """The model's per-example limit the counts were checked against (None: no model given)."""
    over_limit: int
    """How many examples exceed ``max_example_tokens`` (the service truncates them)."""
    over_limit_lines: list[int]
    """Line numbers of the first 100 of those examples."""
    billable_tokens: int
    """Tokens per epoch as billed: each example counts at most ``max_example_tokens``."""
    percentile_method: str = PERCENTILE_METHOD

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``tokens`` object of ``foundry-tune validate --json``)."""
        return self.model_dump(mode="json")

    def to_text(self) -> str:
        """A few lines for the terminal."""
        lines = [
            f"examples: {self.examples:,}, messages: {self.messages:,}",
            f"total tokens: {self.total_tokens:,}" + (f" ({self.encoding})" if self.encoding else ""),
        ]
        if self.tokens_per_example is not None:
            lines.append(f"tokens per example: {self.tokens_per_example.to_text()}")
        lines.append(f"assistant tokens: {self.assistant_tokens:,}")
        if self.assistant_tokens_per_example is not None and self.assistant_tokens:
            lines.append(f"assistant tokens per example: {self.assistant_tokens_per_example.to_text()}")
        if self.max_example_tokens is not None:
            over = f"examples over the {self.max_example_tokens:,}-token limit: {self.over_limit:,}"
            if self.over_limit_lines:
                shown = ", ".join(str(n) for n in self.over_limit_lines[:10])
                more = " ..." if self.over_limit > 10 else ""
                over += f" (lines {shown}{more}; the service truncates them)"
            lines.append(over)
        lines.append(f"billable tokens per epoch: {self.billable_tokens:,}")
        return "\n".join(lines)
