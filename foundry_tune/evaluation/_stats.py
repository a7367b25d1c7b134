"""Confidence intervals and paired significance tests for evaluation scores.

Binary scores (pass/fail per example) get a Wilson interval and, between two targets, the exact
McNemar test on the discordant pairs (with the Wald interval of the paired difference).
Continuous scores get a percentile bootstrap interval and a paired bootstrap test (resampling the
per-example differences, centred under the null); above ``BOOTSTRAP_MAX_N`` examples, where the
central limit theorem makes the normal approximation as good and resampling gets slow in pure
Python, they get the normal interval and a paired z-test. Every resampling uses a seeded
generator, so a report is reproducible.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from statistics import NormalDist, fmean, stdev

__all__ = [
    "Estimate",
    "PairedDifference",
    "bootstrap_interval",
    "estimate",
    "mcnemar_exact",
    "normal_interval",
    "paired_difference",
    "wilson_interval",
]

DEFAULT_RESAMPLES = 2000
BOOTSTRAP_MAX_N = 500
"""Above this many examples, continuous scores use the normal approximation instead of resampling."""


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean score with its confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """Mean of ``second - first`` over the examples both targets answered, with its significance."""

    difference: float
    low: float
    high: float
    p_value: float
    test: str
    """``"mcnemar-exact"`` for binary metrics, ``"paired-bootstrap"`` for continuous ones
    (``"paired-z"`` above ``BOOTSTRAP_MAX_N`` examples)."""
    n: int
    confidence: float

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the difference is significant at level ``alpha``."""
        return self.p_value < alpha


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (well-behaved near 0 and 1, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    z = _z(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _resampled_means(values: Sequence[float], resamples: int, seed: int) -> list[float]:
    rng = random.Random(seed)  # noqa: S311 - reproducible resampling, not security
    n = len(values)
    return sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    position = q * (len(sorted_values) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    return sorted_values[lower] * (1 - fraction) + sorted_values[upper] * fraction


def bootstrap_interval(
    values: Sequence[float], confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    if not values:
        return (math.nan, math.nan)
    if len(set(values)) == 1:
        return (values[0], values[0])
    means = _resampled_means(values, resamples, seed)
    tail = (1 - confidence) / 2
    return (_percentile(means, tail), _percentile(means, 1 - tail))


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def normal_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean ± z · standard error (for large samples)."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (math.nan, math.nan)
    half = _z(confidence) * stdev(values) / math.sqrt(len(values))
    mean = fmean(values)
    return (mean - half, mean + half)


def _is_binary(values: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def estimate(
    values: Sequence[float], *, binary: bool | None = None, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Mean with a Wilson (binary) or bootstrap (continuous) confidence interval."""
    if not values:
        return Estimate(math.nan, math.nan, math.nan, 0, confidence)
    binary = _is_binary(values) if binary is None else binary
    mean = fmean(values)
    if binary:
        low, high = wilson_interval(round(sum(values)), len(values), confidence)
    elif len(values) > BOOTSTRAP_MAX_N:
        low, high = normal_interval(values, confidence)
    else:
        low, high = bootstrap_interval(values, confidence, seed=seed)
    return Estimate(mean, low, high, len(values), confidence)


def mcnemar_exact(first: Sequence[float], second: Sequence[float]) -> float:
    """Two-sided exact McNemar p-value for paired binary outcomes."""
    only_first = sum(1 for a, b in zip(first, second, strict=True) if a >= 0.5 > b)
    only_second = sum(1 for a, b in zip(first, second, strict=True) if b >= 0.5 > a)
    n = only_first + only_second
    if n == 0:
        return 1.0
    k = min(only_first, only_second)
    tail: float = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_difference(
    first: Sequence[float],
    second: Sequence[float],
    *,
    binary: bool | None = None,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """Compare two targets scored on the same examples (``second - first``)."""
    if len(first) != len(second):
        raise ValueError("paired scores must cover the same examples")
    n = len(first)
    if n == 0:
        return PairedDifference(math.nan, math.nan, math.nan, 1.0, "none", 0, confidence)
    diffs = [b - a for a, b in zip(first, second, strict=True)]
    observed = fmean(diffs)
    binary = (_is_binary(first) and _is_binary(second)) if binary is None else binary
    if binary:
        low, high = _paired_proportion_interval(diffs, confidence)
        return PairedDifference(observed, low, high, mcnemar_exact(first, second), "mcnemar-exact", n,
                                confidence)
    if len(set(diffs)) == 1:
        p_value = 1.0 if observed == 0 else 1 / (resamples + 1)
        return PairedDifference(observed, observed, observed, p_value, "paired-bootstrap", n, confidence)
    if n > BOOTSTRAP_MAX_N:
        low, high = normal_interval(diffs, confidence)
        z = abs(observed) / (stdev(diffs) / math.sqrt(n))
        return PairedDifference(observed, low, high, 2 * (1 - NormalDist().cdf(z)), "paired-z", n, confidence)
    means = _resampled_means(diffs, resamples, seed)
    tail = (1 - confidence) / 2
    # Null-centred: how often a resample strays from the observed mean as far as the observed
    # mean strays from zero.
    extreme = sum(1 for m in means if abs(m - observed) >= abs(observed))
    return PairedDifference(observed, _percentile(means, tail), _percentile(means, 1 - tail),
                            (extreme + 1) / (resamples + 1), "paired-bootstrap", n, confidence)


def _paired_proportion_interval(diffs: Sequence[float], confidence: float) -> tuple[float, float]:
    """Wald interval of a paired difference of proportions: (c - b)/n ± z·sqrt(b + c - (c - b)²/n)/n."""
    n = len(diffs)
    gained = sum(1 for d in diffs if d > 0)
    lost = sum(1 for d in diffs if d < 0)
    difference = (gained - lost) / n
    half = _z(confidence) * math.sqrt(max(0.0, gained + lost - (gained - lost) ** 2 / n)) / n
    return (max(-1.0, difference - half), min(1.0, difference + half))
