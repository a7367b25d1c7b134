"""The sweep's pure decisions (``foundry_tune._core.sweep_plan``): grid, pacing, statuses, ranking.

No emulator, no connection: every case is a row of a table.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from foundry_tune._core import sweep_plan as plan
from foundry_tune._core.metrics import MetricRow, Metrics
from foundry_tune._core.status import JobStatus
from foundry_tune.errors import (
    AuthenticationError,
    ConfigurationError,
    DatasetError,
    GraderError,
    InvalidParameterError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServiceError,
)
from foundry_tune.methods import DPO, Supervised

S = JobStatus
NEW = JobStatus("provisioning_gpus")  # a status the service may add later: live, kind unknown


# -- pacing ---------------------------------------------------------------------------------------

FREE_SLOTS = [
    # (max_active, mine, others, expected)
    (21, [], [], 20),                                                  # the queue (20) is the bound
    (21, [S.RUNNING], [], 20),                                         # running holds no queue slot
    (21, [S.RUNNING], [S.QUEUED] * 3, 17),
    (3, [], [], 3),                                                    # max_active below the queue
    (3, [S.RUNNING, S.QUEUED], [], 1),
    (3, [S.RUNNING, S.QUEUED, S.QUEUED], [], 0),
    (1, [], [S.RUNNING], 0),                                           # the resource's other jobs count
    (2, [S.SUCCEEDED, S.FAILED, S.CANCELLED], [S.SUCCEEDED], 2),       # ended jobs hold nothing
    (2, [S.PAUSED], [S.PAUSING], 0),                                   # paused jobs are live
    (2, [S.CANCELLING, S.RESUMING], [], 0),
    (2, [NEW], [], 1),                                                 # unknown statuses are live ...
    (21, [S.QUEUED] * 19, [NEW], 0),                                   # ... and hold a queue slot
    (21, [S.VALIDATING_FILES, S.PENDING], [S.QUEUED] * 17, 1),
    (5, [S.RUNNING] * 7, [], 0),                                       # never negative
]


@pytest.mark.parametrize(("max_active", "mine", "others", "expected"), FREE_SLOTS)
def test_free_slots(max_active: int, mine: list[JobStatus], others: list[JobStatus], expected: int) -> None:
    assert plan.free_slots(max_active=max_active, mine=mine, others=others) == expected


@pytest.mark.parametrize(("status", "holds"), [
    (S.VALIDATING_FILES, True), (S.PENDING, True), (S.QUEUED, True), (NEW, True),
    (S.RUNNING, False), (S.PAUSED, False), (S.SUCCEEDED, False), (S.CANCELLING, False),
])
def test_which_statuses_hold_a_queue_slot(status: JobStatus, holds: bool) -> None:
    assert plan.holds_queue_slot(status) is holds


START_ERRORS: list[tuple[BaseException, bool, str]] = [
    # (error from start(), another trial already has a job, decision)
    (QuotaExceededError("queue full", status=429), False, "retry_later"),
    (QuotaExceededError("queue full", status=429), True, "retry_later"),
    (RateLimitError("slow down", status=429), True, "retry_later"),
    (DatasetError("bad rows"), True, "raise"),                 # the same data for every trial
    (InvalidParameterError("bad setting"), True, "raise"),
    (ConfigurationError("no endpoint"), True, "raise"),
    (GraderError("bad grader"), True, "raise"),
    (AuthenticationError("denied", status=401), False, "raise"),  # nothing started: a shared cause
    (AuthenticationError("denied", status=401), True, "record"),
    (NotFoundError("no model", status=404), True, "record"),
    (ServiceError("boom", status=500), True, "record"),
    (RuntimeError("a bug"), True, "raise"),                     # not ours: never swallowed
    (KeyboardInterrupt(), True, "raise"),
]


@pytest.mark.parametrize(("error", "any_started", "decision"), START_ERRORS)
def test_what_a_failed_start_means(error: BaseException, any_started: bool, decision: str) -> None:
    assert plan.after_start_error(error, any_started=any_started) == decision


# -- trial states ---------------------------------------------------------------------------------

TRIAL_STATES: list[tuple[JobStatus | None, str | None, str, bool]] = [
    # (job status, start error, shown status, done)
    (None, None, "waiting", False),
    (None, "quota", "not started", True),
    (S.QUEUED, None, "queued", False),
    (S.RUNNING, None, "running", False),
    (S.PAUSED, None, "paused", False),
    (NEW, None, "provisioning_gpus", False),   # an unknown status never ends the wait
    (S.SUCCEEDED, None, "succeeded", True),
    (S.FAILED, None, "failed", True),
    (S.CANCELLED, None, "cancelled", True),
]


@pytest.mark.parametrize(("job_status", "start_error", "shown", "done"), TRIAL_STATES)
def test_trial_status_and_done(job_status: JobStatus | None, start_error: str | None, shown: str,
                               done: bool) -> None:
    assert plan.trial_status(job_status, start_error) == shown
    assert plan.trial_done(job_status, start_error) is done


def test_count_text() -> None:
    assert plan.count_text(["waiting", "running", "waiting", "succeeded"]) == (
        "1 running, 1 succeeded, 2 waiting")
    assert plan.count_text([]) == ""


# -- ranking --------------------------------------------------------------------------------------

RANKINGS: list[tuple[list[float | None], bool, list[int]]] = [
    # (scores by trial, higher is better, positions best first)
    ([0.3, 0.1, 0.2], False, [1, 2, 0]),
    ([0.3, 0.1, 0.2], True, [0, 2, 1]),
    ([None, 0.5, None, 0.4], False, [3, 1, 0, 2]),          # unscored last, in trial order
    ([math.nan, 0.5, None], True, [1, 0, 2]),               # NaN ranks with the unscored
    ([0.2, 0.2, 0.1], False, [2, 0, 1]),                    # ties keep trial order
    ([], False, []),
]


@pytest.mark.parametrize(("scores", "higher", "expected"), RANKINGS)
def test_ranked(scores: list[float | None], higher: bool, expected: list[int]) -> None:
    assert plan.ranked(scores, higher_is_better=higher) == expected


@pytest.mark.parametrize(("rank_by", "higher"), [
    ("valid_loss", False), ("train_loss", False), ("full_valid_loss", False),
    ("valid_mean_token_accuracy", True), ("train_reward_mean", True), (lambda trial: 1.0, False),
])
def test_default_direction_follows_the_metric_name(rank_by: Any, higher: bool) -> None:
    assert plan.default_higher_is_better(rank_by) is higher


def _metrics(*rows: dict[str, Any]) -> Metrics:
    parsed = [MetricRow.from_mapping(row) for row in rows]
    return Metrics([r for r in parsed if r is not None], source="events")


FINAL_VALUES: list[tuple[Metrics, str, float | None]] = [
    (_metrics({"step": 1, "valid_loss": 0.9}, {"step": 2, "valid_loss": 0.7}), "valid_loss", 0.7),
    # the full-validation figure wins when the service reported one
    (_metrics({"step": 1, "valid_loss": 0.9, "full_valid_loss": 0.8}, {"step": 2, "valid_loss": 0.7}),
     "valid_loss", 0.8),
    (_metrics({"step": 1, "valid_mean_token_accuracy": 0.5, "full_valid_mean_token_accuracy": 0.6}),
     "valid_mean_token_accuracy", 0.6),
    (_metrics({"step": 1, "train_loss": 1.0}, {"step": 2}), "train_loss", 1.0),   # last reported value
    (_metrics({"step": 1, "train_loss": 1.0}), "valid_loss", None),
    (_metrics({"step": 3, "train_reward_mean": 0.25}), "train_reward_mean", 0.25),
    (_metrics(), "valid_loss", None),
]


@pytest.mark.parametrize(("metrics", "name", "expected"), FINAL_VALUES)
def test_final_value(metrics: Metrics, name: str, expected: float | None) -> None:
    assert plan.final_value(metrics, name) == expected


def test_ranking_rows() -> None:
    rows = plan.ranking_rows(
        ["n_epochs"], "valid_loss",
        [({"n_epochs": 2}, "succeeded", 0.12345, "ftjob-2"),
         ({"n_epochs": 1}, "not started", None, "quota exceeded\nsecond line")])
    assert rows == [["rank", "n_epochs", "status", "valid_loss", "job"],
                    ["1", "2", "succeeded", "0.1235", "ftjob-2"],
                    ["-", "1", "not started", "", "quota exceeded"]]


@pytest.mark.parametrize(("text", "expected"), [
    ("", ""), ("one\ntwo", "one"), ("  padded  ", "padded"), ("x" * 100, "x" * 77 + "..."),
])
def test_first_line(text: str, expected: str) -> None:
    assert plan.first_line(text) == expected


# -- the grid -------------------------------------------------------------------------------------


def test_grid_expands_first_axis_slowest_and_keeps_the_method_settings() -> None:
    grid = {"n_epochs": [1, 2], "learning_rate_multiplier": (0.5, 1)}
    combos = plan.expand_grid(Supervised(batch_size=2), grid)
    assert [list(c.values()) for c in combos] == [[1, 0.5], [1, 1], [2, 0.5], [2, 1]]
    assert all(list(c) == ["n_epochs", "learning_rate_multiplier"] for c in combos)
    tuned = plan.with_params(Supervised(batch_size=2), {**combos[3], "seed": 7})
    assert isinstance(tuned, Supervised)
    assert (tuned.n_epochs, tuned.learning_rate_multiplier, tuned.batch_size) == (2, 1, 2)
    assert plan.expand_grid(DPO(), {"seed": [1, 2]}) == [{"seed": 1}, {"seed": 2}]


BAD_GRIDS: list[tuple[Any, dict[str, Any], str]] = [
    (Supervised(), {}, "grid is empty"),
    (Supervised(), {"epochs": [1]}, "no hyperparameter 'epochs'"),
    (Supervised(), {"beta": [0.1]}, "no hyperparameter 'beta'"),           # a DPO setting
    (Supervised(), {"batch_size": []}, "no values for 'batch_size'"),
    (Supervised(), {"n_epochs": [1, 0]}, "n_epochs"),                       # out of range: checked first
    (DPO(), {"beta": ["high"]}, "beta"),
]


@pytest.mark.parametrize(("method", "grid", "message"), BAD_GRIDS)
def test_bad_grids_fail_before_anything_starts(method: Any, grid: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        plan.expand_grid(method, grid)


def test_a_string_is_one_value_not_its_characters() -> None:
    grid = plan.normalized_grid({"n_epochs": "auto", "seed": range(2)})
    assert grid == {"n_epochs": ["auto"], "seed": [0, 1]}


@pytest.mark.parametrize(("rank_by", "has_validation", "max_active", "message"), [
    ("valid_loss", False, None, "no validation data"),
    ("valid_mean_token_accuracy", False, None, "no validation data"),
    ("train_loss", True, 0, "max_active must be at least 1"),
])
def test_options_that_cannot_work(rank_by: str, has_validation: bool, max_active: int | None,
                                  message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        plan.check_options(rank_by, has_validation=has_validation, max_active=max_active)


@pytest.mark.parametrize(("rank_by", "has_validation", "max_active"), [
    ("valid_loss", True, None), ("train_loss", False, 1), (lambda trial: 0.0, False, None),
])
def test_options_that_work(rank_by: Any, has_validation: bool, max_active: int | None) -> None:
    plan.check_options(rank_by, has_validation=has_validation, max_active=max_active)


def test_sweep_id_is_stable_and_depends_on_the_builder_and_the_grid() -> None:
    combos = [{"n_epochs": 1}, {"n_epochs": 2}]
    first = plan.sweep_id("fp-a", combos)
    assert first == plan.sweep_id("fp-a", [dict(c) for c in combos]) and first.startswith("sw-")
    assert len({first, plan.sweep_id("fp-b", combos), plan.sweep_id("fp-a", combos[:1])}) == 3
