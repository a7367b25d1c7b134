"""A reinforcement job's metrics carry its reward columns: from the service's metrics events (the
nested shape of OpenAI's RFT guide), from a result file with reward columns (the emulator's), or
added from the events to a result file without them. Supervised and DPO metrics are unchanged."""

from __future__ import annotations

import csv
import io

import pytest

from foundry_tune._core.events import JobEvent
from foundry_tune._core.metrics import with_rewards_from
from foundry_tune._method_kind import MethodKind
from foundry_tune.emulator._curves import CSV_HEADER, metrics_at, results_header, results_row
from foundry_tune.job import metrics_from_csv, metrics_from_events

# The metrics event of a real RFT job in OpenAI's reinforcement fine-tuning guide (appendix
# "Training metrics"; the guide leaves step, total_steps and token counts blank: filled from its
# message line). The rewards are nested under `scores`, next to top-level `train_mean_reward`.
GUIDE_EVENT = {
    "object": "fine_tuning.job.event",
    "id": "ftevent-Iq5LuNLDsac1C3vzshRBuBIy",
    "created_at": 1746130000,
    "level": "info",
    "message": "Step 10/20 , train mean reward=0.42, full validation mean reward=0.68, full validation "
               "mean parse error=0.00",
    "data": {
        "step": 10,
        "usage": {
            "graders": [{"name": "basic_model_grader", "type": "score_model", "model": "gpt-4o-2024-08-06",
                         "train_prompt_tokens_mean": 241.0, "valid_prompt_tokens_mean": 241.0}],
            "samples": {"train_reasoning_tokens_mean": 3330.017964071856,
                        "valid_reasoning_tokens_mean": 1948.9,
                        "train_reasoning_tokens_count": 1668339.0,
                        "valid_reasoning_tokens_count": 38978.0},
        },
        "errors": {"graders": [{"name": "basic_model_grader", "type": "score_model",
                                "train_other_error_mean": 0.0, "valid_other_error_mean": 0.0}]},
        "scores": {
            "graders": [{"name": "basic_model_grader", "type": "score_model",
                         "train_reward_mean": 0.4471057884231537, "valid_reward_mean": 0.675}],
            "train_reward_mean": 0.4215686274509804,
            "valid_reward_mean": 0.675,
        },
        "timing": {"step": {"eval": 101.69, "sampling": 226.82, "training": 402.43,
                            "full_iteration": 731.50}},
        "total_steps": 20,
        "train_mean_reward": 0.4215686274509804,
        "reasoning_tokens_mean": 3330.017964071856,
        "completion_tokens_mean": 3376.0019607843137,
        "full_valid_mean_reward": 0.675,
        "mean_unresponsive_rewards": 0.0,
        "model_graders_token_usage": {"gpt-4o-2024-08-06": {"train_prompt_tokens": 120741}},
        "full_valid_mean_parse_error": 0.0,
        "valid_reasoning_tokens_mean": 1948.9,
    },
    "type": "metrics",
}
_SFT_COLUMNS = ["step", "train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy",
                "full_valid_loss", "full_valid_mean_token_accuracy"]


def test_the_guides_rft_event_gives_the_reward_columns() -> None:
    metrics = metrics_from_events([GUIDE_EVENT])
    row = metrics[0]
    assert (row.step, row.total_steps) == (10, 20)
    assert row.extra["train_reward_mean"] == pytest.approx(0.4215686274509804)
    assert row.extra["valid_reward_mean"] == 0.675
    assert row.extra["full_valid_reward_mean"] == 0.675  # its `full_valid_mean_reward`
    assert row.extra["basic_model_grader.train_reward_mean"] == pytest.approx(0.4471057884231537)
    assert row.extra["train_reasoning_tokens_mean"] == pytest.approx(3330.017964071856)
    assert "train_mean_reward" not in row.extra  # one name per value
    assert metrics.has_rewards
    assert metrics.column("valid_reward_mean") == [0.675]


def test_the_guides_step_line_alone_gives_the_same_names() -> None:
    # Azure sends such lines as plain messages, without `data`.
    event = JobEvent.from_wire({**GUIDE_EVENT, "type": "message", "data": None})
    row = metrics_from_events([event])[0]
    assert row.extra["train_reward_mean"] == 0.42 and row.extra["full_valid_reward_mean"] == 0.68


def test_a_result_file_with_reward_columns() -> None:
    text = ("step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,"
            "full_valid_mean_token_accuracy,train_reward_mean,valid_reward_mean\n"
            "1,1.2,0.5,1.3,0.4,,,0.31,0.22\n"
            "2,1.0,0.6,1.1,0.5,0.9,0.55,0.45,0.40\n")
    metrics = metrics_from_csv(text)
    assert metrics.has_rewards
    assert metrics.column("train_reward_mean") == [0.31, 0.45]
    assert list(metrics.to_pandas().columns) == [*_SFT_COLUMNS, "train_reward_mean", "valid_reward_mean"]


def test_supervised_metrics_are_unchanged() -> None:
    text = ",".join(_SFT_COLUMNS) + "\n1,1.2,0.5,,,,\n2,1.0,0.6,1.1,0.5,,\n"
    metrics = metrics_from_csv(text)
    assert not metrics.has_rewards
    assert list(metrics.to_pandas().columns) == _SFT_COLUMNS
    assert all(row.extra == {} for row in metrics)


def test_rewards_from_events_fill_a_result_file_without_them() -> None:
    results = metrics_from_csv(",".join(_SFT_COLUMNS) + "\n2,1.0,0.6,,,,\n4,0.8,0.7,,,,\n")
    lines = ["Step 1/4 , train mean reward=0.2, validation mean reward=0.1",
             "Step 2/4 , train mean reward=0.3, validation mean reward=0.25",
             "Step 3/4: training loss=0.9"]
    events = metrics_from_events([{"id": f"e{i}", "type": "message", "message": line}
                                  for i, line in enumerate(lines)])
    merged = with_rewards_from(results, events)
    assert merged.source == "results+events"
    assert [row.step for row in merged] == [1, 2, 4]  # step 3 has no reward: not added
    assert merged.column("train_reward_mean") == [0.2, 0.3, None]
    assert merged.column("train_loss") == [None, 1.0, 0.8]  # the CSV's values kept
    assert with_rewards_from(results, metrics_from_events([])) is results


def test_a_result_value_wins_over_the_events() -> None:
    results = metrics_from_csv("step,train_loss,train_reward_mean\n1,1.0,0.9\n")
    events = metrics_from_events([{"id": "e", "type": "metrics", "data": {"step": 1, "train_reward_mean": 0.1,
                                                                         "valid_reward_mean": 0.2}}])
    merged = with_rewards_from(results, events)
    assert merged[0].extra == {"train_reward_mean": 0.9, "valid_reward_mean": 0.2}


def _emulator_csv(kind: MethodKind) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(results_header(kind))
    for step in (1, 2, 3):
        writer.writerow(results_row(kind, metrics_at(kind, 7, step, 3, has_validation=True)))
    return buffer.getvalue()


def test_the_emulators_rft_result_file_has_the_reward_columns() -> None:
    metrics = metrics_from_csv(_emulator_csv(MethodKind.REINFORCEMENT))
    assert results_header(MethodKind.REINFORCEMENT)[-2:] == ["train_reward_mean", "valid_reward_mean"]
    for name in ("train_reward_mean", "valid_reward_mean"):
        values = metrics.column(name)
        assert len(values) == 3 and all(v is not None and 0.0 <= v <= 1.0 for v in values)
    expected = [metrics_at(MethodKind.REINFORCEMENT, 7, s, 3, has_validation=True)["train_reward_mean"]
                for s in (1, 2, 3)]
    assert metrics.column("train_reward_mean") == expected


@pytest.mark.parametrize("kind", [MethodKind.SUPERVISED, MethodKind.DPO])
def test_the_emulators_sft_and_dpo_result_files_are_unchanged(kind: MethodKind) -> None:
    assert results_header(kind) == CSV_HEADER
    metrics = metrics_from_csv(_emulator_csv(kind))
    assert not metrics.has_rewards and list(metrics.to_pandas().columns) == _SFT_COLUMNS


def test_a_multi_graders_rewards_are_added_too_and_shown_in_the_repr() -> None:
    results = metrics_from_csv(",".join(_SFT_COLUMNS) + "\n10,0.5,0.8,,,,\n")
    merged = with_rewards_from(results, metrics_from_events([GUIDE_EVENT]))
    assert merged[0].train_loss == 0.5
    assert merged[0].extra["basic_model_grader.valid_reward_mean"] == 0.675
    assert "train_reasoning_tokens_mean" not in merged[0].extra  # only rewards are added
    assert "train_reward_mean 0.4216, valid_reward_mean 0.6750" in repr(merged)
