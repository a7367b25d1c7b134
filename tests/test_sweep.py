"""Sweeps: grid expansion and checks (no network), and a 9-job sweep on the emulator."""

from __future__ import annotations

import io
import itertools
import json
import sys
import urllib.request
from typing import Any

import pytest

from foundry_tune.errors import DatasetValidationError, InvalidParameterError
from foundry_tune.methods import DPO, Supervised
from foundry_tune.sweep import Sweep, sweep
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


# -- on the emulator ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(ft: Any) -> Any:
    from foundry_tune.dataset import Dataset

    train, val = Dataset.from_records(rows(60, seed=3), name="tickets.jsonl").split(validation=0.2, seed=1)
    return ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(val).training_type("GlobalStandard")


def _stats(ft: Any) -> dict[str, Any]:
    with urllib.request.urlopen(ft.emulator_instance.info.stats_url) as response:  # loopback only
        data: dict[str, Any] = json.loads(response.read())
    return data


def _running_windows(jobs: list[Any]) -> list[tuple[int, int]]:
    windows = []
    for job in jobs:
        started = [e.created_at for e in job.events() if "started" in e.message.lower()]
        created = started[0]
        stamp = int(created.timestamp()) if hasattr(created, "timestamp") else int(created)
        windows.append((stamp, int(job.raw["finished_at"])))
    return sorted(windows)


@pytest.mark.emulator
def test_nine_job_sweep_runs_one_at_a_time_ranks_and_deploys_the_best(ft: Any, base: Any) -> None:
    jobs_before = _stats(ft)["jobs"]
    running_per_poll: list[int] = []
    s = ft.sweep(base.suffix("grid"), grid={"n_epochs": [1, 2, 3], "learning_rate_multiplier": [0.5, 1, 2]})
    s.wait(timeout=240, progress=lambda sw: running_per_poll.append(
        sum(1 for t in sw.trials if t.status == "running")))
    assert s.done and all(t.succeeded for t in s.trials)
    assert _stats(ft)["jobs"] - jobs_before == 9
    assert max(running_per_poll) == 1

    # The service's own record: no job started before the previous one finished.
    windows = _running_windows([t.job for t in s.trials])
    for (_, finished), (next_start, _) in itertools.pairwise(windows):
        assert next_start >= finished

    ranked = s.results()
    scores = [s.score(t) for t in ranked]
    assert all(v is not None for v in scores) and scores == sorted(scores)  # type: ignore[type-var]
    best = s.best
    assert best is ranked[0]
    final = best.job.metrics().column("full_valid_loss")  # type: ignore[union-attr]
    assert s.score(best) == [v for v in final if v is not None][-1]
    table = str(s)
    assert table.splitlines()[0].split(" | ")[:3] == ["rank", "n_epochs", "learning_rate_multiplier"]

    deployment = s.deploy_best()
    try:
        assert deployment.model == best.job.fine_tuned_model  # type: ignore[union-attr]
        assert deployment.chat("My parcel and the courier tracking number are wrong")
    finally:
        deployment.delete()

    # Same builder, same grid: every job is found again, none is started twice.
    again = sweep(base.suffix("grid"), grid={"n_epochs": [1, 2, 3], "learning_rate_multiplier": [0.5, 1, 2]})
    assert [t.job.id for t in again.trials] == [t.job.id for t in s.trials]  # type: ignore[union-attr]
    assert _stats(ft)["jobs"] - jobs_before == 9


@pytest.mark.emulator
def test_max_active_holds_trials_on_the_client(ft: Any, base: Any) -> None:
    live_per_poll: list[int] = []
    s = sweep(base.suffix("held"), grid={"n_epochs": [1, 2, 3]}, max_active=1)
    assert [t.status for t in s.trials].count("waiting") == 2
    s.wait(timeout=120, progress=lambda sw: live_per_poll.append(
        sum(1 for t in sw.trials if t.job is not None and not t.done)))
    assert all(t.succeeded for t in s.trials)
    assert max(live_per_poll) == 1
    shown = io.StringIO()
    s.wait(stream=shown)  # already done: shows every trial, then the ranking
    lines = shown.getvalue().splitlines()
    assert sum(": " in line and "succeeded" in line for line in lines if line.startswith("sweep [")) == 3
    headers = [[c.strip() for c in line.split(" | ")] for line in lines if line.startswith("rank")]
    assert headers == [["rank", "n_epochs", "status", "valid_loss", "job"]]


@pytest.mark.emulator
def test_invalid_data_fails_once_and_uploads_nothing(ft: Any) -> None:
    from foundry_tune.dataset import Dataset

    files_before = _stats(ft)["files"]
    bad = Dataset.from_records(rows(12)[:5], name="too-few.jsonl")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(bad).training_type("GlobalStandard")
    with pytest.raises(DatasetValidationError):
        sweep(builder, grid={"n_epochs": [1, 2]}, rank_by="train_loss")
    assert _stats(ft)["files"] == files_before


def test_wait_output_lists_every_trial(capsys: pytest.CaptureFixture[str]) -> None:
    s = Sweep(_builder(), {"n_epochs": [1, 2]}, start=False)
    s._display(None, sys.stderr)(s)
    err = capsys.readouterr().err
    assert "sweep [1/2] n_epochs=1: waiting" in err and "sweep [2/2] n_epochs=2: waiting" in err
