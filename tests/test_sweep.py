"""Sweeps without a service: grid expansion, checks, ranking direction, the same plan in both
flavours. End to end on the emulator: ``tests/_async/test_sweep.py`` (and its generated twin)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from foundry_tune.errors import InvalidParameterError
from foundry_tune.methods import DPO, Supervised
from foundry_tune.sweep import Sweep
from tests._eval_data import rows


def _builder(ft: Any = None, method: Any = None) -> Any:
    from foundry_tune.job import FineTuneBuilder

    builder = FineTuneBuilder(ft, "gpt-4.1-mini").validate_on("file-validation")
    return builder.method(method) if method is not None else builder


def test_grid_expands_over_the_method_hyperparameters() -> None:
    s = Sweep(_builder(method=Supervised(batch_size=2)),
              {"n_epochs": [1, 2, 3], "learning_rate_multiplier": [0.5, 1, 2]}, start=False)
    assert len(s.trials) == 9
    assert [t.params for t in s.trials[:2]] == [{"n_epochs": 1, "learning_rate_multiplier": 0.5},
                                                {"n_epochs": 1, "learning_rate_multiplier": 1}]
    method = s.trials[4].builder.tuning_method
    assert isinstance(method, Supervised)
    assert (method.n_epochs, method.learning_rate_multiplier, method.batch_size) == (2, 1, 2)
    assert dict(s.trials[0].builder.metadata_items)["sweep"] == s.id
    assert {t.status for t in s.trials} == {"waiting"}
    seeded = Sweep(_builder(method=DPO()), {"beta": [0.1, 0.2], "seed": [1, 2]}, start=False)
    assert [t.builder.seed_value for t in seeded.trials] == [1, 2, 1, 2]


def test_bad_grids_fail_before_anything_starts() -> None:
    with pytest.raises(InvalidParameterError, match="no hyperparameter 'epochs'"):
        Sweep(_builder(), {"epochs": [1, 2]}, start=False)
    with pytest.raises(InvalidParameterError, match="n_epochs"):
        Sweep(_builder(), {"n_epochs": [1, 0]}, start=False)
    with pytest.raises(InvalidParameterError, match="no values for 'batch_size'"):
        Sweep(_builder(), {"batch_size": []}, start=False)
    with pytest.raises(InvalidParameterError, match="grid is empty"):
        Sweep(_builder(), {}, start=False)
    with pytest.raises(InvalidParameterError, match="no hyperparameter 'beta'"):
        Sweep(_builder(), {"beta": [0.1]}, start=False)


def test_ranking_by_validation_loss_needs_validation_data() -> None:
    from foundry_tune.job import FineTuneBuilder

    no_validation = FineTuneBuilder(None, "gpt-4.1-mini")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="no validation data"):
        Sweep(no_validation, {"n_epochs": [1, 2]}, start=False)
    assert len(Sweep(no_validation, {"n_epochs": [1, 2]}, rank_by="train_loss", start=False).trials) == 2


def test_ranking_direction_follows_the_metric_name() -> None:
    assert not Sweep(_builder(), {"n_epochs": [1]}, start=False).higher_is_better
    by_accuracy = Sweep(_builder(), {"n_epochs": [1]}, rank_by="valid_mean_token_accuracy", start=False)
    assert by_accuracy.higher_is_better


def test_the_async_sweep_plans_what_the_sync_one_plans() -> None:
    pytest.importorskip("aiohttp")
    from foundry_tune.aio import AsyncFineTuneBuilder, AsyncSweep
    from foundry_tune.dataset import Dataset
    from foundry_tune.job import FineTuneBuilder

    data = Dataset.from_records(rows(60, seed=11), name="tickets.jsonl")
    train, validation = data.split(validation=0.2, seed=2)
    grid: dict[str, list[Any]] = {"n_epochs": [1, 2], "learning_rate_multiplier": [0.5, 1], "seed": [3]}
    method = Supervised(batch_size=2)
    async_builder = AsyncFineTuneBuilder(None, "gpt-4.1-mini")  # type: ignore[arg-type]
    sync_builder = FineTuneBuilder(None, "gpt-4.1-mini")  # type: ignore[arg-type]
    async_builder = async_builder.train_on(train).validate_on(validation).method(method)
    sync_builder = sync_builder.train_on(train).validate_on(validation).method(method)
    planned = AsyncSweep(async_builder, grid, start=False)
    reference = Sweep(sync_builder, grid, start=False)
    assert planned.id == reference.id
    assert [t.params for t in planned.trials] == [t.params for t in reference.trials]
    fingerprints = [t.builder.fingerprint() for t in reference.trials]
    assert [t.builder.fingerprint() for t in planned.trials] == fingerprints
    assert [t.status for t in planned.trials] == ["waiting"] * 4


def test_wait_output_lists_every_trial(capsys: pytest.CaptureFixture[str]) -> None:
    s = Sweep(_builder(), {"n_epochs": [1, 2]}, start=False)
    s._display(None, sys.stderr)(s)
    err = capsys.readouterr().err
    assert "sweep [1/2] n_epochs=1: waiting" in err and "sweep [2/2] n_epochs=2: waiting" in err


def test_the_progress_variable_turns_the_sweep_lines_off(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUNDRY_TUNE_PROGRESS", "off")
    s = Sweep(_builder(), {"n_epochs": [1, 2]}, start=False)
    s._display(None, sys.stderr)(s)
    assert capsys.readouterr().err == ""
    # an explicit callable still wins over the variable
    seen: list[object] = []
    s._display(seen.append, sys.stderr)(s)
    assert seen == [s]
