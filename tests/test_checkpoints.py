"""Picking a checkpoint by its metrics (names as the service sends them, full-validation figures
first, direction from the name, ties, a missing metric), the checkpoints table, the comparison's
deployment names and its winner: pure, no service."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from foundry_tune._core.checkpoints import (
    Checkpoint,
    Checkpoints,
    best_checkpoint,
    comparison_name,
    in_step_order,
    metric_mode,
    resolve_metric,
    winner_of,
)
from foundry_tune._core.deployment_body import default_name, validate_name
from foundry_tune.errors import CheckpointMetricError, InvalidParameterError
from foundry_tune.evaluation import EvaluationReport, MetricInfo, Sample, Target, TargetResult

RECORDINGS = Path(__file__).resolve().parents[2] / "shared/data/azure-recordings"
RECORDING = RECORDINGS / "recordings/list_checkpoints.json"
SPEC_EXAMPLE = RECORDINGS / "spec-examples/get_finetuning_job_checkpoints.json"
MODEL = "gpt-4.1-mini-2025-04-14.ft-0a1b2c3d4e5f60718293a4b5c6d7e8f9-support"


def ckpt(step: int, final: bool = False, **metrics: float) -> Checkpoint:
    return Checkpoint(id=f"ftckpt-{step}", step=step, model=MODEL if final else f"{MODEL}:ckpt-step-{step}",
                      metrics={"step": float(step), **metrics}, created_at=step, job_id="ftjob-0a1b2c3d4e5f")


def recorded_checkpoints(path: Path) -> Checkpoints:
    if not path.exists():
        pytest.skip("the Azure recordings are not available")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    body = data["exchanges"][1]["response"] if "exchanges" in data else data["body"]
    return in_step_order(Checkpoint.from_wire(c) for c in body["data"])


def test_azure_recording_final_model_and_no_validation_metric() -> None:
    found = recorded_checkpoints(RECORDING)
    assert [c.step for c in found] == [1, 80, 90, 100]  # listed newest first, sorted by step
    assert [c.final for c in found] == [False, False, False, True]  # the final one has no :ckpt-step-N
    assert found.final is found[-1]
    with pytest.raises(CheckpointMetricError) as info:
        found.best()
    assert info.value.available == ("train_loss", "train_mean_token_accuracy")
    assert "validate_on" in str(info.value) and "train_loss" in str(info.value)
    assert found.best("train_loss").step == 80  # train_loss 0.129 there, the lowest
    assert found.best("train_mean_token_accuracy").step == 80


def test_full_validation_figure_wins_over_the_sampled_one() -> None:
    # Azure's own example: the sampled valid_loss is noisy (10.1, 11.3, 9.3), the full one is not
    found = recorded_checkpoints(SPEC_EXAMPLE)
    assert resolve_metric(found, "valid_loss") == "full_valid_loss"
    assert found.best().step == 30 and found.best("loss").step == 30
    assert resolve_metric(found, "valid_mean_token_accuracy") == "full_valid_mean_token_accuracy"
    assert found.best("accuracy").step == 30
    assert found[0].metric("valid_loss") == 0.567 and found[0].metrics["valid_loss"] == 10.112
    assert best_checkpoint(found, "full_valid_loss").step == 30


def test_only_sampled_validation_when_no_checkpoint_has_the_full_one() -> None:
    found = [ckpt(10, valid_loss=0.9), ckpt(20, valid_loss=0.5), ckpt(30, True, valid_loss=0.7)]
    assert resolve_metric(found, "valid_loss") == "valid_loss"
    assert best_checkpoint(found).step == 20


def test_one_key_for_all_checkpoints() -> None:
    # the step-1 checkpoint has only a sampled figure: it is left out rather than compared with full ones
    found = [ckpt(1, valid_loss=0.01), ckpt(30, valid_loss=0.8, full_valid_loss=0.6),
             ckpt(60, True, valid_loss=0.7, full_valid_loss=0.65)]
    assert best_checkpoint(found).step == 30


@pytest.mark.parametrize(("metric", "mode"), [
    ("valid_loss", "min"), ("full_valid_loss", "min"), ("train_loss", "min"),
    ("valid_mean_token_accuracy", "max"), ("valid_reward_mean", "max"),
])
def test_direction_follows_the_metric_name(metric: str, mode: str) -> None:
    assert metric_mode(metric) == mode


def test_explicit_mode_and_bad_mode() -> None:
    found = [ckpt(10, valid_loss=0.9), ckpt(20, True, valid_loss=0.5)]
    assert best_checkpoint(found, "valid_loss", "max").step == 10
    with pytest.raises(InvalidParameterError):
        best_checkpoint(found, "valid_loss", "lowest")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        best_checkpoint(found, "")


def test_a_tie_goes_to_the_earlier_step_and_nan_is_skipped() -> None:
    found = [ckpt(10, valid_loss=0.5), ckpt(20, valid_loss=math.nan), ckpt(30, True, valid_loss=0.5)]
    assert best_checkpoint(found).step == 10


def test_no_checkpoint_yet() -> None:
    with pytest.raises(CheckpointMetricError) as info:
        Checkpoints(job_id="ftjob-x").best()
    assert info.value.available == () and "no checkpoint yet" in str(info.value)
    assert str(Checkpoints(job_id="ftjob-x")) == "no checkpoints of ftjob-x"


def test_table_and_dict() -> None:
    found = Checkpoints([ckpt(30, valid_loss=0.8, full_valid_loss=0.6, train_loss=0.7),
                         ckpt(60, True, valid_loss=0.7, full_valid_loss=0.65, train_loss=0.4)])
    rows = found.rows()
    assert rows[0] == ["step", "model", "train loss", "valid loss", "full valid loss", "best"]
    assert rows[1][-1] == "<- lowest full_valid_loss" and rows[2][-1] == ""
    assert rows[2][1].endswith(" (final)") and rows[1][3] == "0.8000"
    assert "full valid loss" in found.to_text() and "<table>" in found._repr_html_()
    as_dict = found.to_dict()
    assert as_dict["job_id"] == "ftjob-0a1b2c3d4e5f"
    assert [c["final"] for c in as_dict["checkpoints"]] == [False, True]
    json.dumps(as_dict)
    assert isinstance(found, list) and found[0].step == 30  # still a list of Checkpoint


def test_comparison_names_are_deterministic_valid_and_apart_from_deploy_names() -> None:
    name = comparison_name("ftjob-0a1b2c3d4e5f60718293a4b5c6d7e8f9", 80)
    assert name == "cmp-0a1b2c3d4e5f-step80" == comparison_name("ftjob-0a1b2c3d4e5f60718293a4b5c6d7e8f9", 80)
    assert validate_name(name) == name
    assert name != default_name(f"{MODEL}:ckpt-step-80")
    assert comparison_name("ftjob-0a1b2c3d4e5f60718293a4b5c6d7e8f9", 90) != name
    odd = comparison_name("j", 5)  # an id of another shape gets a hash
    assert validate_name(odd) == odd and len(odd) == len("cmp-") + 12 + len("-step5")


def _report(scores: dict[str, list[float]]) -> EvaluationReport:
    metrics = [MetricInfo("rouge_l", binary=False)]
    targets = []
    for name, values in scores.items():
        samples = [Sample(line=i, output="x", scores={"rouge_l": v}) for i, v in enumerate(values)]
        targets.append(TargetResult.build(Target("m", name=name), samples, metrics, 0.95, 0))
    return EvaluationReport(tuple(targets), tuple(metrics), examples=len(next(iter(scores.values()))))


def test_winner_is_the_best_score_and_a_tie_keeps_the_later_step() -> None:
    found = [ckpt(90, True), ckpt(30), ckpt(60)]
    labels = ["step 90 (final)", "step 30", "step 60"]
    report = _report({labels[0]: [0.5, 0.5], labels[1]: [0.9, 0.9], labels[2]: [0.7, 0.7]})
    assert winner_of(report, labels, found) == 1
    tied = _report({labels[0]: [0.5, 0.5], labels[1]: [0.5, 0.5], labels[2]: [0.5, 0.5]})
    assert winner_of(tied, labels, found) == 0  # no evidence against the final model
    with pytest.raises(InvalidParameterError):
        winner_of(report, labels, found, "exact_match")
