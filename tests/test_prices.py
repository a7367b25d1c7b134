"""Prices per training type and method, dated and sourced; hosting and reinforcement rates; the
retirement dates and the warning at ``start()`` (an injected clock); ``start(max_cost=...)``
refusing before any request (a connection that fails the test when touched); ``jobs create
--max-cost`` and the job file's ``max_cost``."""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import pickle
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from _cli_helpers import Borrowed, run_cli

import foundry_tune
from foundry_tune import catalog
from foundry_tune._demo_data import demo_records
from foundry_tune._method_kind import MethodKind
from foundry_tune.aio import AsyncFineTuneBuilder
from foundry_tune.catalog import (
    COST_GUIDE_URL,
    LIST_PRICES_AS_OF,
    LIST_PRICES_URL,
    RETIREMENTS_URL,
    Price,
    RetirementWarning,
    TrainingType,
    hosting_per_hour,
    known_models,
    lookup_model,
    retirement_notice,
    set_price,
    training_per_hour,
    training_price,
)
from foundry_tune.cli import _jobs
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset, TokenStats
from foundry_tune.dataset._accumulator import StatsAccumulator
from foundry_tune.dataset._cost import estimate_cost
from foundry_tune.emulator import Emulator
from foundry_tune.errors import CostLimitError, InvalidParameterError
from foundry_tune.job import FineTuneBuilder
from foundry_tune.methods import Reinforcement, Supervised

ALL = {TrainingType.STANDARD, TrainingType.GLOBAL_STANDARD, TrainingType.DATA_ZONE, TrainingType.DEVELOPER}
GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}


def stats_of(examples: int, tokens_each: int) -> TokenStats:
    acc = StatsAccumulator(max_example_tokens=65_536)
    for line in range(1, examples + 1):
        acc.add(tokens_each, tokens_each // 4, 3, line)
    return acc.result()


@pytest.fixture()
def restore_prices() -> Iterator[None]:
    yield
    for name in ("gpt-4.1-mini", "Ministral-3B", "my-own-model"):
        set_price(name, None)
        for kind in TrainingType:
            set_price(name, None, training_type=kind)


# --- the model table -------------------------------------------------------------------------------


def test_the_catalog_has_the_supported_models_table_methods_and_training_types() -> None:
    models = known_models()
    gpt5 = models["gpt-5"]
    assert gpt5.methods == {MethodKind.REINFORCEMENT} and gpt5.training_types == ALL
    assert models["o4-mini"].methods == {MethodKind.REINFORCEMENT}
    assert models["o4-mini"].training_types == ALL - {TrainingType.DEVELOPER}
    for name in ("gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o"):
        assert models[name].methods == {MethodKind.SUPERVISED, MethodKind.DPO}
        assert models[name].training_types == ALL  # every OpenAI model lists Data Zone (US)
    for name in ("Ministral-3B", "Qwen-32B", "Llama-3.3-70B-Instruct", "gpt-oss-20b"):
        assert models[name].training_types == {TrainingType.GLOBAL_STANDARD, TrainingType.DATA_ZONE}
    assert lookup_model("gpt-5-2025-08-07") is gpt5
    assert lookup_model("gpt-5-mini") is None and lookup_model("gpt-5.1") is None


def test_gpt_4o_mini_dpo_is_accepted_as_recorded_but_the_estimate_quotes_the_table() -> None:
    # the table lists SFT only; the service accepted DPO jobs on it in the recordings
    assert known_models()["gpt-4o-mini"].supports(MethodKind.DPO)
    notes = estimate_cost(stats_of(20, 1000), "gpt-4o-mini", "dpo").notes
    assert any("lists supervised only for gpt-4o-mini" in note for note in notes)
    assert not any("lists" in note for note in estimate_cost(stats_of(20, 1000), "gpt-4o-mini", "sft").notes)


def test_retirement_dates_are_the_published_ones() -> None:
    d = datetime.date
    models = known_models()
    assert (models["gpt-4.1-mini"].fine_tuning_retires, models["gpt-4.1-mini"].retires) == (d(2027, 4, 14),
                                                                                            d(2027, 10, 14))
    assert (models["gpt-4o-mini"].fine_tuning_retires, models["gpt-4o-mini"].retires) == (d(2027, 4, 1),
                                                                                          d(2027, 10, 1))
    assert models["o4-mini"].fine_tuning_retires == d(2026, 10, 16)  # base model retirement (new customers)
    assert models["gpt-5"].fine_tuning_retires == d(2027, 2, 9) and models["gpt-5"].retires is None
    assert models["Qwen-32B"].fine_tuning_retires is None and models["Qwen-32B"].retires is None


# --- prices per training type and method ----------------------------------------------------------


def test_each_training_type_has_its_price_date_source_and_basis() -> None:
    global_ = training_price("gpt-4.1-mini", "GlobalStandard")
    assert global_ is not None and global_.per_1m == 5.0 and global_.per_hour is None
    assert (global_.as_of, global_.source, global_.inferred) == (LIST_PRICES_AS_OF, LIST_PRICES_URL, False)
    assert training_price("gpt-4.1-mini") == global_  # no training type: the Global list price
    developer = training_price("gpt-4.1-mini", "developerTier")
    assert developer is not None and developer.per_1m == 2.5 and developer.inferred  # 50% below Global
    standard = training_price("gpt-4.1-mini", "Standard")
    assert standard is not None and standard.per_1m == pytest.approx(5.0 / 0.7, abs=1e-3)
    assert standard.inferred and "upper bound" in standard.basis and COST_GUIDE_URL in standard.source
    data_zone = training_price("gpt-4.1-mini", "DataZone")
    assert data_zone is not None and data_zone.per_1m == standard.per_1m and data_zone.inferred
    text = standard.describe()
    assert "Standard training" in text and LIST_PRICES_AS_OF in text and "inference:" in text


def test_reinforcement_is_priced_per_hour_and_has_no_token_price() -> None:
    rft = training_price("o4-mini")
    assert rft is not None and rft.method is MethodKind.REINFORCEMENT
    assert (rft.per_hour, rft.per_1m, rft.source) == (100.0, None, COST_GUIDE_URL)
    assert training_per_hour("o4-mini", "GlobalStandard") == 100.0
    assert training_per_hour("gpt-4.1-mini") is None  # no reinforcement on it
    assert training_per_hour("gpt-5") is None and training_price("gpt-5") is None  # no public rate
    estimate = estimate_cost(stats_of(100, 300), "o4-mini", "rft", training_type="Standard")
    assert estimate.training_usd is None and estimate.training_per_hour_usd == 100.0
    assert any("model-grader tokens" in note and "$5,000" in note for note in estimate.notes)


def test_the_training_type_changes_the_estimate() -> None:
    stats = stats_of(20, 50_000)  # 1,000,000 tokens per epoch, 5 epochs
    usd = {t: estimate_cost(stats, "gpt-4.1-mini", "sft", training_type=t).training_usd for t in TrainingType}
    assert usd[TrainingType.GLOBAL_STANDARD] == pytest.approx(25.0)
    assert usd[TrainingType.DEVELOPER] == pytest.approx(12.5)
    assert usd[TrainingType.STANDARD] == pytest.approx(5 * 5.0 / 0.7, abs=0.01)
    estimate = estimate_cost(stats, "gpt-4.1-mini", "sft", training_type="developer")
    assert estimate.training_type is TrainingType.DEVELOPER and estimate.price_inferred
    assert estimate.formula == "1,000,000 tokens x 5 epochs x $2.5 per 1M tokens = $12.50"
    assert "Developer training" in estimate.to_text() and estimate.prices_as_of == LIST_PRICES_AS_OF
    assert estimate.priced_for("GlobalStandard").training_usd == pytest.approx(25.0)
    unsupported = estimate_cost(stats, "Ministral-3B", "sft", training_type="Developer")
    assert any("cannot be trained with training type Developer" in note for note in unsupported.notes)


def test_a_price_for_one_training_type_overrides_only_that_type(restore_prices: None) -> None:
    stats = stats_of(20, 50_000)
    set_price("gpt-4.1-mini", Price(1.0, None, 1.7, 0, 0, 0, 0), training_type="Standard")
    mine = training_price("gpt-4.1-mini-2025-04-14", "standard")
    assert mine is not None and (mine.per_1m, mine.inferred, mine.basis) == (1.0, False, "your price")
    assert "training_type='Standard'" in mine.source

    def usd(training_type: str) -> float | None:
        return estimate_cost(stats, "gpt-4.1-mini", "sft", training_type=training_type).training_usd

    assert usd("Standard") == pytest.approx(5.0) and usd("Global") == pytest.approx(25.0)
    set_price("gpt-4.1-mini", Price(2.0, None, 1.7, 0, 0, 0, 0))  # every type, behind the typed one
    assert usd("Standard") == pytest.approx(5.0) and usd("Global") == pytest.approx(10.0)
    set_price("gpt-4.1-mini", None, training_type="Standard")
    assert usd("Standard") == pytest.approx(10.0)
    set_price("gpt-4.1-mini", None)
    assert estimate_cost(stats, "gpt-4.1-mini", "sft").training_usd == pytest.approx(25.0)
    with pytest.raises(InvalidParameterError):
        set_price("gpt-4.1-mini", Price(1.0, None, 1.7, 0, 0, 0, 0), training_type="Premium")
    with pytest.raises(InvalidParameterError):
        set_price("gpt-4.1-mini", cast(Any, 3.0))


def test_hosting_per_hour_by_deployment_sku() -> None:
    assert hosting_per_hour("gpt-4.1-mini", "Standard") == 1.70
    assert hosting_per_hour("gpt-4.1-mini.ft-0123", "globalstandard") == 1.70
    for sku in ("DeveloperTier", "developer", "Developer-Tier"):
        assert hosting_per_hour("gpt-4.1-mini", sku) == 0.0  # no hosting fee
    assert hosting_per_hour("Ministral-3B", "DeveloperTier") == 0.0
    assert hosting_per_hour("gpt-4.1-mini", "ProvisionedManaged") is None  # billed in PTUs
    assert hosting_per_hour("Ministral-3B.ft-1", "GlobalStandard") is None  # no known price
    for bad in ("", "  ", None, 3):
        with pytest.raises(InvalidParameterError):
            hosting_per_hour("gpt-4.1-mini", cast(Any, bad))


# --- retirement ------------------------------------------------------------------------------------


def test_the_retirement_notice_starts_60_days_ahead_and_says_when_it_passed() -> None:
    when = datetime.date(2027, 4, 14)
    assert retirement_notice("gpt-4.1-mini", when - datetime.timedelta(days=61)) is None
    soon = retirement_notice("gpt-4.1-mini", when - datetime.timedelta(days=60))
    assert soon is not None and "2027-04-14, in 60 days" in soon and RETIREMENTS_URL in soon
    assert "2027-10-14" in soon  # when deployments of its fine-tunes stop
    past = retirement_notice("gpt-4.1-mini-2025-04-14", when + datetime.timedelta(days=1))
    assert past is not None and "retired on 2027-04-14" in past and "new jobs may be refused" in past
    assert retirement_notice("Qwen-32B", when) is None and retirement_notice("my-own-model", when) is None


class NoNetwork:
    """A connection that fails the test if anything touches the service."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the builder touched the service ({name})")


def builder(model: str, rows: int = 20) -> FineTuneBuilder:
    data = Dataset.from_records(demo_records(rows, seed=7), name="prices.jsonl")
    return FineTuneBuilder(cast(Any, NoNetwork()), model).train_on(data)


def test_start_warns_about_a_near_retirement_before_anything_is_sent(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(catalog, "_today", lambda: datetime.date(2027, 3, 1))
    b = builder("gpt-4.1-mini").training_type("GlobalStandard")
    with caplog.at_level(logging.INFO, logger="foundry_tune.job"), \
            pytest.warns(RetirementWarning, match=r"retires on 2027-04-14, in 44 days"), \
            pytest.raises(CostLimitError):
        b.start(max_cost=0.0)  # refused by the cap: the warning came before it, and nothing was sent
    noted = [r for r in caplog.records
             if "2027-04-14" in r.getMessage() and RETIREMENTS_URL in r.getMessage()]
    # One log line at INFO: a WARNING record would be printed a second time where logging is not
    # configured (Python's last-resort handler; the CLI), next to the warning itself.
    assert [r.levelno for r in noted] == [logging.INFO]
    monkeypatch.setattr(catalog, "_today", lambda: datetime.date(2026, 12, 2))
    rows = [{"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}] * 12
    data = Dataset.from_records(rows, name="rft.jsonl")
    a = (AsyncFineTuneBuilder.create(cast(Any, NoNetwork()), "o4-mini").train_on(data).validate_on(data)
         .method(Reinforcement(grader=GRADER)))
    with pytest.warns(RetirementWarning, match="new jobs may be refused"), \
            pytest.raises(AssertionError, match="touched the service"):
        asyncio.run(a.start())


def test_start_does_not_warn_far_from_retirement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "_today", lambda: datetime.date(2027, 2, 12))  # 61 days ahead
    with warnings.catch_warnings():
        warnings.simplefilter("error", RetirementWarning)
        with pytest.raises(CostLimitError):
            builder("gpt-4.1-mini").training_type("Global").start(max_cost=0.0)


# --- start(max_cost=...) ---------------------------------------------------------------------------


def test_max_cost_refuses_before_any_request_with_the_estimate_and_how() -> None:
    b = builder("gpt-4.1-mini").training_type("Developer").method(Supervised(n_epochs=2))
    estimate = b.estimate()
    assert estimate.training_type is TrainingType.DEVELOPER and estimate.training_usd is not None
    cap = estimate.training_usd / 2
    with pytest.raises(CostLimitError) as info:
        b.start(max_cost=cap)  # NoNetwork: any request would fail the test with an AssertionError
    err = info.value
    assert err.estimate == pytest.approx(estimate.training_usd) and err.cap == cap
    assert f"{estimate.tokens_per_epoch:,} tokens x 2 epochs x $2.5 per 1M tokens" in err.how
    for part in ("Developer training", LIST_PRICES_AS_OF, LIST_PRICES_URL, "exceeds max_cost"):
        assert part in str(err)
    assert pickle.loads(pickle.dumps(err)).how == err.how
    assert isinstance(err, foundry_tune.FoundryTuneError) and foundry_tune.CostLimitError is CostLimitError


def test_max_cost_prices_the_services_default_training_type_when_none_is_set() -> None:
    b = builder("gpt-4.1-mini").method(Supervised(n_epochs=2))
    estimate = b.estimate()
    assert estimate.training_type is TrainingType.STANDARD
    assert any("service's default" in note for note in estimate.notes)
    plan = b.plan(check_service=False)
    assert plan.estimate is not None and plan.estimate.training_usd == estimate.training_usd
    text = str(plan)
    assert "Standard training" in text and "tokens x 2 epochs" in text and LIST_PRICES_URL in text


def test_max_cost_refuses_when_no_price_is_known_unless_one_is_set(restore_prices: None) -> None:
    b = builder("Ministral-3B").training_type("GlobalStandard")
    with pytest.raises(CostLimitError, match="cannot be estimated") as info:
        b.start(max_cost=1000.0)
    assert info.value.estimate is None and "set_price" in str(info.value)
    set_price("Ministral-3B", Price(1.0, None, 0.0, 0, 0, 0, 0), training_type="GlobalStandard")
    with pytest.raises(AssertionError, match="touched the service"):  # passes the cap: on to the service
        b.start(max_cost=1000.0)


def test_max_cost_does_not_refuse_reinforcement_on_its_hourly_rate() -> None:
    rows = [{"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}] * 12
    data = Dataset.from_records(rows, name="rft.jsonl")
    b = (FineTuneBuilder(cast(Any, NoNetwork()), "o4-mini").train_on(data).validate_on(data)
         .method(Reinforcement(grader=GRADER)))
    with pytest.raises(AssertionError, match="touched the service"):
        b.start(max_cost=0.01)


@pytest.mark.parametrize("bad", [-1, -0.01, math.nan, math.inf, True, "5", 10**400])
def test_invalid_caps_are_invalid_parameters(bad: Any) -> None:
    with pytest.raises(InvalidParameterError, match="max_cost"):
        builder("gpt-4.1-mini").start(max_cost=bad)
    with pytest.raises(InvalidParameterError, match="max_cost"):
        asyncio.run(AsyncFineTuneBuilder.create(cast(Any, NoNetwork()), "gpt-4.1-mini").start(max_cost=bad))


def test_the_async_builder_refuses_the_same_way() -> None:
    data = Dataset.from_records(demo_records(20, seed=7), name="prices.jsonl")
    a = AsyncFineTuneBuilder.create(cast(Any, NoNetwork()), "gpt-4.1-mini").train_on(data)
    with pytest.raises(CostLimitError, match="exceeds max_cost"):
        asyncio.run(a.start(max_cost=0.0))


# --- the CLI ---------------------------------------------------------------------------------------


def _train(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    Dataset.from_records(demo_records(20, seed=3)).to_jsonl(path)
    return path


@pytest.mark.parametrize("bad", ["-1", "nan", "inf", "five"])
def test_cli_max_cost_must_be_a_number_of_usd(bad: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "jobs", "create", "--model", "gpt-4.1-mini", "--training-file",
                           str(_train(tmp_path)), f"--max-cost={bad}")
    assert code == 2 and "--max-cost" in err


def test_cli_job_file_max_cost_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _train(tmp_path)
    job = tmp_path / "job.yaml"
    job.write_text("model: gpt-4.1-mini\ntraining_file: train.jsonl\nmax_cost: -3\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "jobs", "create", "--file", str(job))
    assert code == 2 and "max_cost" in err and "-3" in err


@pytest.mark.emulator
def test_cli_max_cost_refuses_before_any_upload(ft: Foundry, emulator: Emulator, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    train = _train(tmp_path)
    counted = ("files", "jobs", "requests")
    before = emulator.stats()
    code, _, err = run_cli(capsys, "jobs", "create", "--model", "gpt-4.1-mini", "--training-file", str(train),
                           "--training-type", "Global", "--max-cost", "0.0001")
    assert code == 1 and "exceeds max_cost $0.00" in err and "tokens x" in err
    job = tmp_path / "job.yaml"
    job.write_text("model: gpt-4.1-mini\ntraining_file: train.jsonl\ntraining_type: Global\nmax_cost: 0\n",
                   encoding="utf-8")
    code, _, err = run_cli(capsys, "jobs", "create", "--file", str(job), "--json")
    assert code == 1 and "CostLimitError" in err
    after = emulator.stats()
    assert {k: after[k] for k in counted} == {k: before[k] for k in counted}


# --- prices that would slip past a cap --------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, -5.0, math.inf, -math.inf, True, "1.0"])
@pytest.mark.parametrize("field", ["training_per_1m", "training_per_hour", "hosting_per_hour",
                                   "base_input_per_1m", "tuned_output_per_1m"])
def test_a_price_must_be_finite_and_not_negative(field: str, bad: Any) -> None:
    values: dict[str, Any] = {"training_per_1m": 1.0, "training_per_hour": None, "hosting_per_hour": 1.7,
                              "base_input_per_1m": 0, "base_output_per_1m": 0, "tuned_input_per_1m": 0,
                              "tuned_output_per_1m": 0}
    values[field] = bad
    with pytest.raises(InvalidParameterError, match=f"Price.{field}"):
        Price(**values)


def test_a_nan_or_negative_price_never_reaches_a_cap(restore_prices: None) -> None:
    # The review's case: a NaN override made the estimate NaN, and NaN > cap is False: it started.
    with pytest.raises(InvalidParameterError):
        set_price("gpt-4.1-mini", Price(math.nan, None, 1.7, 0, 0, 0, 0))
    with pytest.raises(InvalidParameterError):
        set_price("gpt-4.1-mini", Price(-5.0, None, 1.7, 0, 0, 0, 0))
    with pytest.raises(CostLimitError, match="exceeds max_cost"):  # the list price still holds
        builder("gpt-4.1-mini").training_type("GlobalStandard").start(max_cost=0.0)


@pytest.mark.parametrize("name", ["", "   ", " gpt-4.1-mini", "gpt-4.1-mini\n", "gpt\x00x", 4])
def test_set_price_names_a_model(name: Any, restore_prices: None) -> None:
    with pytest.raises(InvalidParameterError, match="model name"):
        set_price(name, Price(1.0, None, 1.7, 0, 0, 0, 0))
    with pytest.raises(InvalidParameterError, match="model name"):
        set_price(name, None)


def test_the_cap_check_fails_closed_on_an_estimate_that_is_not_a_number(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from foundry_tune._core import start_checks

    real = start_checks.priced_for_job

    def broken(estimate: Any, training_type: Any) -> Any:
        return real(estimate, training_type).model_copy(update={"training_usd": math.nan})

    monkeypatch.setattr(start_checks, "priced_for_job", broken)
    with pytest.raises(CostLimitError, match="cannot be estimated") as info:
        builder("gpt-4.1-mini").training_type("GlobalStandard").start(max_cost=1000.0)
    assert info.value.estimate is None and "not a cost" in info.value.how


def test_max_cost_refuses_reinforcement_without_an_hourly_rate_before_any_request(
        restore_prices: None) -> None:
    rows = [{"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}] * 12
    data = Dataset.from_records(rows, name="rft-gpt5.jsonl")
    assert training_per_hour("gpt-5") is None  # no published reinforcement rate
    b = (FineTuneBuilder(cast(Any, NoNetwork()), "gpt-5").train_on(data).validate_on(data)
         .method(Reinforcement(grader=GRADER)))
    with pytest.raises(CostLimitError, match="cannot be watched") as info:
        b.start(max_cost=500.0)  # NoNetwork: a request (grader check, upload) would fail the test
    assert "set_price" in str(info.value) and "training_per_hour" in str(info.value)
    assert info.value.estimate is None and info.value.cap == 500.0
    a = (AsyncFineTuneBuilder.create(cast(Any, NoNetwork()), "gpt-5").train_on(data).validate_on(data)
         .method(Reinforcement(grader=GRADER)))
    with pytest.raises(CostLimitError, match="cannot be watched"):
        asyncio.run(a.start(max_cost=500.0))
    set_price("gpt-5", Price(None, 120.0, 1.7, 0, 0, 0, 0))  # with a rate: on to the service
    with pytest.raises(AssertionError, match="touched the service"):
        b.start(max_cost=500.0)
    set_price("gpt-5", None)
    with pytest.raises(AssertionError, match="touched the service"):  # no cap: no rate needed
        b.start()
