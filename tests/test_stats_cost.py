"""Token statistics (real percentiles, limits, billing cap) and the training cost estimate."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import LIST_PRICES_AS_OF, Price, lookup_model, price_for, set_price
from foundry_tune.dataset._accumulator import StatsAccumulator
from foundry_tune.dataset._cost import default_epochs, estimate_cost
from foundry_tune.dataset._stats import Distribution, TokenStats, percentile
from foundry_tune.errors import InvalidParameterError


@pytest.mark.parametrize("seed", range(20))
def test_percentiles_match_numpy(seed: int) -> None:
    rng = random.Random(seed)
    values = sorted(rng.randint(0, 100_000) for _ in range(rng.randint(1, 500)))
    for p in (0, 1, 5, 25, 50, 75, 95, 99, 100, rng.uniform(0, 100)):
        assert percentile(values, p) == pytest.approx(float(np.percentile(values, p)), rel=1e-12, abs=1e-9)


def test_distribution_matches_numpy_and_labels_real_p5_p95() -> None:
    rng = random.Random(7)
    values = [rng.randint(1, 70_000) for _ in range(1001)]
    d = Distribution.of(values)
    assert d is not None
    assert (d.min, d.max) == (min(values), max(values))
    assert d.mean == pytest.approx(float(np.mean(values)))
    assert d.median == pytest.approx(float(np.median(values)))
    assert d.p5 == pytest.approx(float(np.percentile(values, 5)))
    assert d.p95 == pytest.approx(float(np.percentile(values, 95)))
    assert d.p5 != pytest.approx(float(np.quantile(values, 0.1)))  # the cookbook's mislabeled "p5"
    assert Distribution.of([]) is None


@pytest.mark.parametrize("seed", range(10))
def test_distribution_with_many_repeated_values_matches_numpy(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.choice([3, 3, 3, 7, 8, 8, 100]) for _ in range(rng.randint(1, 400))]
    d = Distribution.of(iter(values))  # any iterable, consumed once
    assert d is not None
    for got, p in ((d.p5, 5), (d.median, 50), (d.p95, 95)):
        assert got == pytest.approx(float(np.percentile(values, p)))
    assert d.mean == pytest.approx(float(np.mean(values)))


def test_percentile_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def test_accumulator_totals_limit_and_billing_cap() -> None:
    acc = StatsAccumulator(max_example_tokens=1000, encoding="o200k_base")
    acc.add(500, 100, 3, line=1)
    acc.add(1500, 200, 2, line=2)   # over the limit: billed at 1000
    acc.add(1000, 0, 4, line=4)     # exactly the limit is fine
    stats = acc.result()
    assert (stats.examples, stats.messages) == (3, 9)
    assert (stats.total_tokens, stats.assistant_tokens) == (3000, 300)
    assert (stats.over_limit, stats.over_limit_lines) == (1, [2])
    assert stats.billable_tokens == 500 + 1000 + 1000
    assert stats.tokens_per_example is not None and stats.tokens_per_example.median == 1000
    json.dumps(stats.to_dict())
    assert "over the 1,000-token limit: 1 (lines 2" in stats.to_text()


def test_over_limit_lines_are_bounded_but_counted() -> None:
    acc = StatsAccumulator(max_example_tokens=10)
    for line in range(1, 1001):
        acc.add(11, line=line)
    stats = acc.result()
    assert stats.over_limit == 1000
    assert stats.over_limit_lines == list(range(1, 101))


def test_accumulator_for_model_uses_the_catalog_limit() -> None:
    assert StatsAccumulator.for_model("gpt-4.1-nano").max_example_tokens == 32_768
    assert StatsAccumulator.for_model("gpt-35-turbo").max_example_tokens == 16_385
    acc = StatsAccumulator.for_model("gpt-4o")
    assert (acc.max_example_tokens, acc.encoding) == (65_536, "o200k_base")
    assert StatsAccumulator.for_model(None).max_example_tokens is None


def test_empty_accumulator() -> None:
    stats = StatsAccumulator().result()
    assert stats.examples == 0 and stats.tokens_per_example is None and stats.total_tokens == 0


@pytest.mark.parametrize(("examples", "epochs"), [
    (1, 25),       # 100 // 1 = 100, capped at 25
    (4, 25),
    (5, 20),       # 5 * 3 < 100 -> 100 // 5
    (10, 10),
    (20, 5),
    (33, 3),       # 99 < 100 -> 100 // 33 = 3
    (34, 3),       # 102 >= 100 -> the target, 3
    (1000, 3),
    (8333, 3),     # 24,999 <= 25,000
    (8334, 2),     # 25,002 > 25,000 -> 25,000 // 8,334
    (12_500, 2),
    (12_501, 1),
    (20_000, 1),
    (1_000_000, 1),
])
def test_default_epochs_follows_the_service_rule(examples: int, epochs: int) -> None:
    assert default_epochs(examples) == epochs


def test_default_epochs_needs_examples() -> None:
    with pytest.raises(InvalidParameterError):
        default_epochs(0)


def stats_of(examples: int, tokens_each: int, limit: int | None = 65_536) -> TokenStats:
    acc = StatsAccumulator(max_example_tokens=limit)
    for line in range(1, examples + 1):
        acc.add(tokens_each, tokens_each // 4, 3, line)
    return acc.result()


def test_supervised_cost_by_hand() -> None:
    # 20 examples x 50,000 tokens = 1,000,000 tokens per epoch; auto -> 5 epochs; gpt-4.1-mini $5 / 1M
    price = price_for("gpt-4.1-mini")
    assert price is not None and price.training_per_1m == 5.0
    estimate = estimate_cost(stats_of(20, 50_000), "gpt-4.1-mini", "sft")
    assert (estimate.n_epochs, estimate.epochs_source) == (5, "auto")
    assert estimate.tokens_per_epoch == 1_000_000
    assert estimate.billed_tokens == 5_000_000
    assert estimate.training_usd == pytest.approx(25.0)
    assert estimate.hosting_per_hour_usd == price.hosting_per_hour
    assert estimate.prices_as_of == LIST_PRICES_AS_OF  # the date the price used was read
    assert "$25.00" in estimate.to_text()
    json.dumps(estimate.to_dict())


def test_given_epochs_and_the_per_example_cap() -> None:
    # 10 examples of 70,000 tokens each are billed at the 65,536 limit: 655,360 per epoch, x2 epochs
    estimate = estimate_cost(stats_of(10, 70_000), "gpt-4o", MethodKind.DPO, n_epochs=2)
    assert estimate.epochs_source == "given"
    assert estimate.billed_tokens == 1_310_720
    assert estimate.training_usd == pytest.approx(1_310_720 / 1_000_000 * 25.0)


@pytest.mark.parametrize("bad", [0, 51, -1, 2.5, "three", True])
def test_invalid_epochs_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="n_epochs"):
        estimate_cost(stats_of(20, 100), "gpt-4o", "sft", n_epochs=bad)  # type: ignore[arg-type]


def test_reinforcement_is_billed_per_hour_not_per_token() -> None:
    estimate = estimate_cost(stats_of(100, 300), "o4-mini", "rft")
    assert estimate.billed_tokens is None and estimate.training_usd is None
    info = lookup_model("o4-mini")
    assert info is not None and estimate.training_per_hour_usd == info.price.training_per_hour
    assert any("per hour" in note for note in estimate.notes)
    assert "per training hour" in estimate.to_text()


def test_set_price_overrides_and_restores() -> None:
    stats = stats_of(20, 50_000)
    try:
        set_price("gpt-4.1-mini", Price(10.0, None, 2.0, 0.4, 1.6, 0.8, 3.2))
        assert estimate_cost(stats, "gpt-4.1-mini-2025-04-14", "sft").training_usd == pytest.approx(50.0)
    finally:
        set_price("gpt-4.1-mini", None)
    assert estimate_cost(stats, "gpt-4.1-mini", "sft").training_usd == pytest.approx(25.0)


def test_unknown_model_or_no_model_still_estimates_tokens() -> None:
    for model in (None, "my-own-model"):
        estimate = estimate_cost(stats_of(20, 1000), model, "sft")
        assert estimate.billed_tokens == 100_000 and estimate.training_usd is None
        assert estimate.notes
    set_price("my-own-model", Price(2.0, None, 0.0, 0, 0, 0, 0))
    try:
        assert estimate_cost(stats_of(20, 1000), "my-own-model", "sft").training_usd == pytest.approx(0.2)
    finally:
        set_price("my-own-model", None)


def test_method_the_model_cannot_train_is_noted() -> None:
    estimate = estimate_cost(stats_of(20, 1000), "o4-mini", "sft")
    assert estimate.training_usd is None
    assert any("cannot be fine-tuned with supervised" in note for note in estimate.notes)
