"""Intervals and paired tests against hand-computed values."""

from __future__ import annotations

import math
import statistics

import pytest

from foundry_tune.evaluation._stats import (
    bootstrap_interval,
    estimate,
    mcnemar_exact,
    paired_difference,
    wilson_interval,
)


def test_wilson_interval_8_of_10() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and 0.69 < low < 0.73


def test_mcnemar_exact_by_hand() -> None:
    # 1 pair only the first got right, 9 only the second: p = 2 * (C(10,0) + C(10,1)) / 2^10.
    first = [1.0] * 1 + [0.0] * 9 + [1.0] * 5
    second = [0.0] * 1 + [1.0] * 9 + [1.0] * 5
    assert mcnemar_exact(first, second) == pytest.approx(22 / 1024)
    assert mcnemar_exact([1, 0, 0, 0, 1, 1, 1], [0, 1, 1, 1, 0, 0, 0]) == 1.0  # 3 vs 3 discordant, capped
    assert mcnemar_exact([1, 0], [1, 0]) == 1.0


def test_estimate_binary_uses_wilson_and_continuous_bootstrap() -> None:
    e = estimate([1.0] * 8 + [0.0] * 2, binary=True)
    assert e.mean == 0.8 and e.n == 10 and (e.low, e.high) == pytest.approx(wilson_interval(8, 10))
    values = [0.1 * i for i in range(11)]
    c = estimate(values, binary=False)
    assert c.mean == pytest.approx(0.5)
    assert c.low < 0.5 < c.high
    assert c == estimate(values, binary=False)  # seeded: reproducible
    assert math.isnan(estimate([]).mean)


def test_bootstrap_interval_narrows_with_more_data() -> None:
    small = bootstrap_interval([0.0, 1.0] * 5)
    large = bootstrap_interval([0.0, 1.0] * 200)
    assert (large[1] - large[0]) < (small[1] - small[0]) / 3
    assert bootstrap_interval([0.3, 0.3]) == (0.3, 0.3)


def test_paired_difference_binary_is_mcnemar() -> None:
    first = [1.0] * 1 + [0.0] * 9 + [1.0] * 5
    second = [0.0] * 1 + [1.0] * 9 + [1.0] * 5
    d = paired_difference(first, second)
    assert d.test == "mcnemar-exact"
    assert d.difference == pytest.approx(8 / 15)
    assert d.p_value == pytest.approx(22 / 1024)
    # One pseudo-pair added to each discordant cell: (10 - 2)/17 ± 1.96 * sqrt((12/17 - (8/17)²) / 17)
    half = 1.959964 * math.sqrt((12 / 17 - (8 / 17) ** 2) / 17)
    assert (d.low, d.high) == pytest.approx((8 / 17 - half, 8 / 17 + half), abs=1e-5)
    assert d.significant() and d.low > 0


def test_paired_difference_continuous_sign_flip() -> None:
    base = [0.2, 0.3, 0.25, 0.4, 0.1, 0.35, 0.3, 0.2, 0.15, 0.3] * 3
    better = [b + 0.3 + 0.01 * (i % 3) for i, b in enumerate(base)]
    d = paired_difference(base, better)
    assert d.test == "sign-flip-monte-carlo"
    assert d.difference == pytest.approx(0.31, abs=0.001)
    # Every difference is positive: no sampled sign pattern beats the observed one.
    assert d.p_value == pytest.approx(2 / 10_000) and 0.3 < d.low < d.difference < d.high < 0.32
    noise = [b + (0.05 if i % 2 else -0.05) for i, b in enumerate(base)]
    same = paired_difference(base, noise)
    assert same.p_value > 0.5 and same.low < 0 < same.high
    with pytest.raises(ValueError, match="same examples"):
        paired_difference([0.1], [0.1, 0.2])


def test_large_samples_use_the_normal_interval() -> None:
    values = [(i * 7919 % 1000) / 1000 for i in range(2000)]  # a spread of values in [0, 1)
    e = estimate(values, binary=False)
    mean = sum(values) / len(values)
    sd = statistics.stdev(values)
    assert (e.low, e.high) == pytest.approx((mean - 1.959964 * sd / math.sqrt(2000),
                                             mean + 1.959964 * sd / math.sqrt(2000)), abs=1e-6)
    # ... and it agrees with the bootstrap that small samples use.
    boot = bootstrap_interval(values)
    assert boot == pytest.approx((e.low, e.high), abs=0.005)
    shifted = [v + 0.01 + (0.02 if i % 2 else -0.02) for i, v in enumerate(values)]
    d = paired_difference(values, shifted, binary=False)
    # The paired test samples sign patterns at every size; none comes near the observed sum here.
    assert d.test == "sign-flip-monte-carlo" and d.difference == pytest.approx(0.01)
    assert d.p_value == pytest.approx(2 / 10_000) and d.low > 0
