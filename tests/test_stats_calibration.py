"""Calibration of the paired comparison: with no real difference the tests reject at most at their
nominal rate, and the paired intervals cover the true difference at about their nominal rate.

Continuous metrics: a seeded simulation of exchangeable targets (the null hypothesis) at several
sample sizes, with and without tied scores. Pass/fail metrics: computed exactly, by weighting every
possible paired table with its probability, so there is no simulation error to allow for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from foundry_tune.evaluation._stats import paired_difference

NOMINAL = 0.05
EXPERIMENTS = 1000
# Three binomial standard errors of a rate of 5% over EXPERIMENTS simulated experiments (0.021).
MARGIN = 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / EXPERIMENTS)

Compare = Callable[[Sequence[float], Sequence[float]], Any]
"""A paired comparison: (first, second) -> an object with `p_value`, `low` and `high`."""

# The Monte-Carlo path is valid at any number of draws; 199 keeps the simulation fast
# (alpha * (199 + 1) / 2 is a whole number, so its level is exactly 5% on untied data).
continuous = functools.partial(paired_difference, binary=False, permutations=199)


def simulated_scores(n: int, *, ties: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """EXPERIMENTS x n scores in [0, 1] of two exchangeable targets: each example has a difficulty,
    each target's score is that plus independent noise. `ties` rounds scores to one decimal, as
    short answers do, so that many pairs have a zero difference and many differences are equal."""
    rng = np.random.default_rng(seed)
    difficulty = rng.beta(2, 2, size=(EXPERIMENTS, n))
    first = np.clip(difficulty + rng.normal(0, 0.15, size=difficulty.shape), 0, 1)
    second = np.clip(difficulty + rng.normal(0, 0.15, size=difficulty.shape), 0, 1)
    if ties:
        first, second = np.round(first, 1), np.round(second, 1)
    return first, second


def null_rejection_rate(compare: Compare, n: int, *, ties: bool, seed: int = 0) -> float:
    """How often `compare` calls a difference significant at 5% when there is none."""
    first, second = simulated_scores(n, ties=ties, seed=seed)
    return float(np.mean([compare(a.tolist(), b.tolist()).p_value < NOMINAL
                          for a, b in zip(first, second, strict=True)]))


def shift_coverage(compare: Compare, n: int, *, shift: float = 0.1, seed: int = 1) -> float:
    """How often `compare`'s 95% interval contains the true mean difference `shift`."""
    first, second = simulated_scores(n, ties=False, seed=seed)
    hits = 0
    for a, b in zip(first, second, strict=True):
        d = compare(a.tolist(), (b + shift).tolist())
        hits += d.low <= shift <= d.high
    return hits / EXPERIMENTS


@pytest.mark.parametrize("ties", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("n", [8, 12, 30, 50])
def test_sign_flip_test_holds_its_level(n: int, ties: bool) -> None:
    rate = null_rejection_rate(continuous, n, ties=ties)
    assert rate <= NOMINAL + MARGIN
    if not ties:  # not needlessly conservative either (ties make any exact test so)
        assert rate >= NOMINAL - MARGIN


@pytest.mark.parametrize("n", [8, 12, 30, 50])
def test_mean_difference_interval_covers(n: int) -> None:
    coverage = shift_coverage(continuous, n)
    assert 1 - NOMINAL - MARGIN <= coverage <= 1 - NOMINAL + MARGIN


# -- pass/fail metrics, exactly --------------------------------------------------------------

RATES = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.9, 1.0)
"""True rates of "only the first target passes" and "only the second passes" (the rest agree),
from never (10 of 10 both pass, or both fail) to always."""


def paired_tables(compare: Compare, n: int) -> dict[tuple[int, int], Any]:
    """`compare` on every paired table of n examples: b pass only for the first, c only for the second."""
    results = {}
    for b in range(n + 1):
        for c in range(n + 1 - b):
            first = [1.0] * b + [0.0] * c + [1.0] * (n - b - c)
            second = [0.0] * b + [1.0] * c + [1.0] * (n - b - c)
            results[b, c] = compare(first, second)
    return results


def table_probability(n: int, b: int, c: int, only_first: float, only_second: float) -> float:
    rest = 1 - only_first - only_second
    return float(math.comb(n, b) * math.comb(n - b, c)
                 * only_first**b * only_second**c * max(rest, 0.0) ** (n - b - c))


def pass_rate_coverage(compare: Compare, n: int) -> dict[tuple[float, float], float]:
    """Exact coverage of the paired difference's interval for every pair of RATES."""
    tables = paired_tables(compare, n)
    coverage = {}
    for only_first in RATES:
        for only_second in RATES:
            if only_first + only_second > 1:
                continue
            truth = only_second - only_first
            coverage[only_first, only_second] = sum(
                table_probability(n, b, c, only_first, only_second)
                for (b, c), d in tables.items() if d.low - 1e-12 <= truth <= d.high + 1e-12)
    return coverage


def mcnemar_null_rejection(compare: Compare, n: int, discordant: float) -> float:
    """Exact probability that `compare` is significant at 5% when each discordant kind has rate
    `discordant` / 2."""
    return sum(table_probability(n, b, c, discordant / 2, discordant / 2)
               for (b, c), d in paired_tables(compare, n).items() if d.p_value < NOMINAL)


@pytest.mark.parametrize("n", [8, 12, 15, 30, 50])
def test_pass_rate_difference_interval_covers(n: int) -> None:
    coverage = pass_rate_coverage(paired_difference, n)
    worst = min(coverage.values())
    mean = sum(coverage.values()) / len(coverage)
    # An adjusted Wald interval is approximate: no rate pair falls far below 95%, and on average it
    # is close to nominal (not the trivially covering [-1, 1]).
    assert worst >= 0.92, min(coverage.items(), key=lambda item: item[1])
    assert 0.95 <= mean <= 0.99
    assert coverage[0.0, 0.0] == 1.0  # 10 of 10 both ways: the interval contains 0


@pytest.mark.parametrize("n", [8, 15, 50])
@pytest.mark.parametrize("discordant", [0.05, 0.2, 0.5, 1.0])
def test_mcnemar_holds_its_level(n: int, discordant: float) -> None:
    assert mcnemar_null_rejection(paired_difference, n, discordant) <= NOMINAL
