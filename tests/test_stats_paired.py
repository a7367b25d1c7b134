"""The paired comparison's edge cases, against brute-force and hand-rolled references."""

from __future__ import annotations

import itertools
import json
import math
import random
from fractions import Fraction

import pytest

from foundry_tune.errors import InvalidParameterError
from foundry_tune.evaluation import Completion, Target, _stats, evaluate
from foundry_tune.evaluation._examples import Message
from foundry_tune.evaluation._stats import mcnemar_exact, paired_difference, sign_flip_test

Z95 = 1.959963984540054


def brute_force_sign_flip(diffs: list[float]) -> float:
    """Two-sided p-value over all 2^n sign patterns: the share with |sum| at least the observed |sum|."""
    scale = max((abs(d) for d in diffs), default=0.0)
    observed = abs(sum(diffs))
    hits = sum(1 for signs in itertools.product((1, -1), repeat=len(diffs))
               if abs(sum(s * d for s, d in zip(signs, diffs, strict=True))) >= observed - 1e-9 * scale)
    return hits / (1 << len(diffs))


def binomial_two_sided(k: int, m: int) -> Fraction:
    """Exact two-sided binomial test of k successes in m trials against 1/2, in rationals."""
    pmf = [Fraction(math.factorial(m), math.factorial(i) * math.factorial(m - i) * 2**m)
           for i in range(m + 1)]
    tail = min(sum(pmf[: k + 1], Fraction(0)), sum(pmf[k:], Fraction(0)))
    return min(Fraction(1), 2 * tail)


def continuous(first: list[float], second: list[float], *, permutations: int = _stats.DEFAULT_PERMUTATIONS,
               seed: int = 0) -> _stats.PairedDifference:
    return paired_difference(first, second, binary=False, permutations=permutations, seed=seed)


# -- the sign-flip test ----------------------------------------------------------------------

def test_exact_enumeration_matches_brute_force() -> None:
    rng = random.Random(7)
    # Values whose differences tie (0.3 - 0.25 is not exactly 0.05 in floating point), zeros, and
    # untied values.
    pool = [0.0, 0.05, -0.05, 0.1, 0.3 - 0.25, 0.2 - 0.15, -0.1]
    for _ in range(300):
        n = rng.randint(1, 11)
        diffs = [rng.choice(pool) if rng.random() < 0.6 else rng.uniform(-0.5, 0.5) for _ in range(n)]
        result = sign_flip_test(diffs)
        assert result.exact
        assert result.p_value == pytest.approx(brute_force_sign_flip(diffs), abs=1e-12), diffs


def test_interval_is_exactly_the_shifts_the_test_keeps() -> None:
    rng = random.Random(3)
    for n in (6, 9, 12):
        diffs = [rng.gauss(0.1, 0.3) for _ in range(n)]
        result = sign_flip_test(diffs)
        for bound, outward in ((result.low, -1e-7), (result.high, 1e-7)):
            inside = [d - (bound - outward) for d in diffs]
            outside = [d - (bound + outward) for d in diffs]
            assert brute_force_sign_flip(inside) >= 0.05 > brute_force_sign_flip(outside)


def test_monte_carlo_agrees_with_the_exact_test(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    diffs = [rng.gauss(0.08, 0.3) for _ in range(15)]
    exact = sign_flip_test(diffs)
    monkeypatch.setattr(_stats, "EXACT_MAX_N", 10)
    sampled = sign_flip_test(diffs)
    assert exact.exact and not sampled.exact
    assert 0.05 < exact.p_value < 0.5
    # 9,999 draws: the standard error of a p-value below 0.5 is at most 0.005.
    assert sampled.p_value == pytest.approx(exact.p_value, abs=0.02)
    assert (sampled.low, sampled.high) == pytest.approx((exact.low, exact.high), abs=0.03)


def test_monte_carlo_is_deterministic_and_seeded() -> None:
    rng = random.Random(5)
    first = [rng.random() for _ in range(40)]
    second = [v + rng.gauss(0.03, 0.1) for v in first]
    d = continuous(first, second)
    assert d.test == "sign-flip-monte-carlo"
    assert d == continuous(first, second)
    other = continuous(first, second, seed=1)
    assert other.difference == d.difference and other.p_value != d.p_value
    assert other.p_value == pytest.approx(d.p_value, abs=0.03)


def test_bad_arguments_are_refused_by_name() -> None:
    with pytest.raises(InvalidParameterError, match="permutations"):
        sign_flip_test([0.1] * 20, permutations=0)
    with pytest.raises(InvalidParameterError, match="same examples"):
        paired_difference([0.1], [0.1, 0.2])


def test_zero_differences_leave_the_p_value_unchanged() -> None:
    diffs = [0.2, -0.05, 0.1, 0.3, 0.15, -0.02, 0.12]
    with_zeros = diffs + [0.0] * 6
    assert sign_flip_test(with_zeros).p_value == sign_flip_test(diffs).p_value
    # ... but they are examples where nothing changed, so the interval is narrower around 0.
    assert sign_flip_test(with_zeros).high < sign_flip_test(diffs).high


def test_identical_targets_are_no_difference() -> None:
    scores = [0.1 * i for i in range(10)]
    for n in (1, 5, 10):
        d = continuous(scores[:n], scores[:n])
        assert d.difference == 0 and d.p_value == 1.0 and not d.significant()
    assert (continuous(scores, scores).low, continuous(scores, scores).high) == (0.0, 0.0)
    large = [s / 3 for s in range(40)]
    d = continuous(large, large)
    assert (d.test, d.p_value, d.low, d.high) == ("sign-flip-monte-carlo", 1.0, 0.0, 0.0)


def test_the_same_difference_on_every_example() -> None:
    d = continuous([0.2] * 8, [0.5] * 8)
    # Only the observed pattern and its mirror image are as extreme: 2 of 2^8.
    assert d.p_value == pytest.approx(2 / 2**8) and d.significant()
    assert (d.low, d.high) == pytest.approx((0.3, 0.3))
    # 5 examples cannot reach 5% (2 / 2^5 = 0.0625): not significant, and no finite interval is.
    small = continuous([0.2] * 5, [0.5] * 5)
    assert small.p_value == pytest.approx(2 / 2**5) and not small.significant()
    assert (small.low, small.high) == (-math.inf, math.inf)
    large = continuous([0.2] * 30, [0.5] * 30)
    assert large.p_value == pytest.approx(2 / 10_000) and large.low == pytest.approx(0.3)


def test_a_single_pair_is_never_significant() -> None:
    d = continuous([0.1], [0.9])
    assert d.n == 1 and d.difference == pytest.approx(0.8)
    assert d.p_value == 1.0 and (d.low, d.high) == (-math.inf, math.inf)
    b = paired_difference([0.0], [1.0])
    assert b.test == "mcnemar-exact" and b.p_value == 1.0 and b.low < 0 < b.high


def test_continuous_verdict_and_interval_never_disagree() -> None:
    rng = random.Random(2)
    for trial in range(150):
        n = rng.choice([3, 6, 7, 10, 14, 17, 25])
        first = [round(rng.random(), rng.choice([1, 3])) for _ in range(n)]
        shift = rng.choice([0.0, 0.05, 0.15])
        second = [min(1.0, max(0.0, round(v + shift + rng.gauss(0, 0.2), 2))) for v in first]
        d = continuous(first, second, permutations=999, seed=trial)
        assert d.significant() == (not d.low <= 0 <= d.high), (first, second, d)
        assert d.low <= d.difference <= d.high


# -- pass/fail metrics -----------------------------------------------------------------------

def test_exact_binomial_matches_rational_reference() -> None:
    for b in range(26):
        for c in range(26 - b):
            first = [1.0] * b + [0.0] * c + [1.0, 0.0]
            second = [0.0] * b + [1.0] * c + [1.0, 0.0]
            assert mcnemar_exact(first, second) == pytest.approx(float(binomial_two_sided(min(b, c), b + c)),
                                                                 rel=1e-12)
            assert mcnemar_exact(first, second) == mcnemar_exact(second, first)


def test_ten_of_ten_gained_does_not_collapse() -> None:
    d = paired_difference([0.0] * 10, [1.0] * 10)
    assert d.difference == 1.0 and d.p_value == pytest.approx(2 / 2**10)
    # 11/12 - 1/12 ± z·sqrt((1 - (10/12)²) / 12), clipped at 1.
    half = Z95 * math.sqrt((1 - (10 / 12) ** 2) / 12)
    assert (d.low, d.high) == pytest.approx((10 / 12 - half, 1.0))
    assert 0.5 < d.low < 0.55
    lost = paired_difference([1.0] * 10, [0.0] * 10)
    assert (lost.low, lost.high) == pytest.approx((-1.0, -(10 / 12 - half)))


@pytest.mark.parametrize("score", [1.0, 0.0], ids=["10 of 10 both", "0 of 10 both"])
def test_targets_that_always_agree(score: float) -> None:
    d = paired_difference([score] * 10, [score] * 10)
    half = Z95 * math.sqrt((2 / 12) / 12)
    assert d.difference == 0 and d.p_value == 1.0 and not d.significant()
    assert (d.low, d.high) == pytest.approx((-half, half))


def test_binary_verdict_and_interval_never_disagree() -> None:
    for n in range(1, 41):
        for b in range(n + 1):
            for c in range(n + 1 - b):
                first = [1.0] * b + [0.0] * c + [1.0] * (n - b - c)
                second = [0.0] * b + [1.0] * c + [1.0] * (n - b - c)
                d = paired_difference(first, second)
                assert d.significant() == (not d.low <= 0 <= d.high), (n, b, c, d)
                assert -1 <= d.low <= d.difference <= d.high <= 1


def test_binary_interval_reaches_zero_when_the_test_does_not_reject() -> None:
    # 0 lost, 4 gained of 5: the adjusted Wald interval alone would exclude 0, McNemar's p is 0.125.
    d = paired_difference([0.0] * 4 + [1.0], [1.0] * 4 + [1.0])
    assert d.p_value == pytest.approx(0.125) and d.low == 0.0 and d.high > 0.8


# -- in the report ---------------------------------------------------------------------------

def test_report_names_the_test_and_writes_valid_json() -> None:
    rows = [{"messages": [{"role": "user", "content": f"q {i}"},
                          {"role": "assistant", "content": f"the answer is {i}"}]} for i in range(4)]

    def completer(target: Target, messages: list[Message]) -> Completion:
        number = str(messages[-1]["content"]).split()[-1]
        text = f"the answer is {number}" if target.model == "tuned" else "no idea"
        return Completion(text, 3, 3, 0.01)

    report = evaluate({"base": Target("base"), "tuned": Target("tuned")}, rows, ["rouge_l"],
                      completer=completer, progress=False)
    assert "(p=0.125, sign-flip)" in report.to_text()  # 4 examples: 2 of 2^4 patterns
    comparison = json.loads(report.to_json(), parse_constant=pytest.fail)["comparisons"][0]
    assert comparison["test"] == "sign-flip-exact"
    assert comparison["low"] is None and comparison["high"] is None  # no finite 95% interval from 4 pairs
