"""Metrics from the text of step events: Azure sends training progress only as ``message`` events
(``Step 8250: training loss=3.81E-06``); OpenAI sends the same line next to structured ``data``."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from _emulator_helpers import read_recording
from hypothesis import given, settings
from hypothesis import strategies as st

from foundry_tune._core.event_messages import parse_step_message
from foundry_tune.job import JobEvent, metrics_from_events


def _dpo_messages() -> list[str]:
    """The 840 recorded event messages of a DPO job on Azure, newest first."""
    body = read_recording("notebooks/dpo_event_messages_newest_first.json")["body"]
    assert isinstance(body, list) and all(isinstance(m, str) for m in body)
    return body


def _azure_events(messages_newest_first: list[str]) -> list[JobEvent]:
    """Events as Azure lists them (``type: message``, no ``data``), oldest first."""
    oldest_first = list(reversed(messages_newest_first))
    return [
        JobEvent.from_wire({"id": f"ftevent-{i}", "created_at": 1765452551 + i, "level": "info",
                            "message": text, "type": "message", "object": "fine_tuning.job.event"})
        for i, text in enumerate(oldest_first)
    ]


# --- the parser, table-driven ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Azure (the recorded DPO job): scientific notation, no total
        ("Step 8250: training loss=3.814697265625E-06", {"step": 8250, "train_loss": 3.814697265625e-06}),
        ("Step 1: training loss=0.6786144375801086", {"step": 1, "train_loss": 0.6786144375801086}),
        # OpenAI's wording: total steps and validation losses
        ("Step 100/1000: training loss=0.53, validation loss=0.61",
         {"step": 100, "total_steps": 1000, "train_loss": 0.53, "valid_loss": 0.61}),
        ("Step 300/300: training loss=0.15, validation loss=0.27, full validation loss=0.40",
         {"step": 300, "total_steps": 300, "train_loss": 0.15, "valid_loss": 0.27, "full_valid_loss": 0.40}),
        # token accuracies, every spelling of the three
        ("Step 7: training loss=1, token accuracy=0.5, validation token accuracy=0.25, "
         "full validation token accuracy=0.75",
         {"step": 7, "train_loss": 1.0, "train_mean_token_accuracy": 0.5, "valid_mean_token_accuracy": 0.25,
          "full_valid_mean_token_accuracy": 0.75}),
        ("Step 8: train mean token accuracy=0.9, valid mean token accuracy=0.8, valid loss=2",
         {"step": 8, "train_mean_token_accuracy": 0.9, "valid_mean_token_accuracy": 0.8, "valid_loss": 2.0}),
        # RFT (OpenAI's reinforcement fine-tuning guide): a space before the comma, reward names
        ("Step 10/20 , train mean reward=0.42, full validation mean reward=0.68, "
         "full validation mean parse error=0.00",
         {"step": 10, "total_steps": 20, "train_reward_mean": 0.42, "full_valid_reward_mean": 0.68,
          "full_valid_mean_parse_error": 0.0}),
        ("Step 3: train reward=0.1, valid reward=0.2, train_reward_mean=0.3",
         {"step": 3, "valid_reward_mean": 0.2, "train_reward_mean": 0.3}),
        # spacing, case, ints, negatives, signs, percent, unknown names in snake_case
        ("STEP 3 : Training Loss : -1, Token Accuracy = 93.5%",
         {"step": 3, "train_loss": -1.0, "train_mean_token_accuracy": 0.935}),
        ("step 4: loss = +2e3, Learning-Rate=1E-5",
         {"step": 4, "train_loss": 2000.0, "learning_rate": 1e-05}),
        ("Step 5 of 50: training loss=.5", {"step": 5, "total_steps": 50, "train_loss": 0.5}),
        ("Step 12/40", {"step": 12, "total_steps": 40}),
        # nan is dropped, inf kept; the step still counts
        ("Step 6: training loss=nan, validation loss=inf", {"step": 6, "valid_loss": math.inf}),
        ("Step 9: training loss=0.5, checkpoint saved", {"step": 9, "train_loss": 0.5}),
    ],
)
def test_step_lines_become_metric_rows(text: str, expected: dict[str, Any]) -> None:
    assert parse_step_message(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Job started.", "Training tokens billed: 7223000", "Step 12", "Step 2: uploading the model",
        "Steps 3: loss=1", "Checkpoint created at step 101 with Snapshot ID: ft:x:ckpt-step-101",
        "Preprocessing completed for file training file.", "", "Step", "Step 1: loss=abc",
        "New fine-tuned model created: ft:gpt-4o-mini:org::abc",
    ],
)
def test_other_lines_are_not_step_lines(text: str) -> None:
    assert parse_step_message(text) is None


def test_non_text_is_not_a_step_line() -> None:
    for value in (None, 3, b"Step 1: training loss=1", {"step": 1}):
        assert parse_step_message(value) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_without_raising(text: str) -> None:
    row = parse_step_message("Step 1: " + text)
    assert row is None or row["step"] == 1
    parse_step_message(text)


# --- the 840 recorded messages of a DPO job on Azure ------------------------------------------

def test_every_recorded_step_line_of_the_dpo_job_is_read() -> None:
    messages = _dpo_messages()
    step_lines = [m for m in messages if m.startswith("Step ")]
    recorded = {int(m.split()[1].rstrip(":")): float(m.rsplit("=", 1)[1]) for m in step_lines}
    assert len(messages) == 840 and len(step_lines) == 826 and len(recorded) == 826

    for text in messages:
        row = parse_step_message(text)
        if text in step_lines:
            assert row is not None and row["train_loss"] == recorded[int(row["step"])], text
        else:
            assert row is None, text

    metrics = metrics_from_events(_azure_events(messages))
    assert metrics.source == "events" and len(metrics) == 826
    assert [r.step for r in metrics] == sorted(recorded)
    assert all(r.train_loss == recorded[r.step] for r in metrics)
    assert metrics.last is not None and metrics.last.step == 8250
    newest = messages[[m.startswith("Step ") for m in messages].index(True)]
    assert metrics.last.train_loss == float(re.split("=", newest)[1]) == recorded[8250]
    assert metrics.last.valid_loss is None and metrics.last.total_steps is None


def test_recorded_azure_events_are_metrics_and_the_rest_are_messages() -> None:
    events = _azure_events(_dpo_messages())
    assert sum(e.is_metrics for e in events) == 826
    plain = [e.message for e in events if not e.is_metrics]
    assert "Job succeeded." in plain and "Training tokens billed: 7223000" in plain and len(plain) == 14


# --- JobEvent.metrics: structured data first, then the message ---------------------------------

def test_structured_data_is_the_row_when_a_service_sends_it() -> None:
    # OpenAI: the message is rounded, the data is exact
    event = JobEvent.from_wire({
        "id": "ftevent-1", "created_at": 1, "type": "metrics",
        "message": "Step 60/200: training loss=0.73, validation loss=1.46",
        "data": {"step": 60, "train_loss": 0.7305774688720703, "valid_loss": 1.4598660469055176,
                 "total_steps": 200},
    })
    assert event.is_metrics and event.is_structured_metrics
    assert event.metrics == {"step": 60, "train_loss": 0.7305774688720703, "valid_loss": 1.4598660469055176,
                             "total_steps": 200}


def test_message_events_with_empty_data_read_the_message() -> None:
    # OpenAI's spec shows "data": {} on message events; Azure sends no data at all
    for data in ({}, None, "text"):
        event = JobEvent.from_wire({"id": "e", "type": "message", "data": data,
                                    "message": "Step 5: training loss=0.25"})
        assert event.metrics == {"step": 5, "train_loss": 0.25} and not event.is_structured_metrics
    started = JobEvent.from_wire({"id": "e", "type": "message", "data": {}, "message": "Job started."})
    assert started.metrics is None and not started.is_metrics


def test_metrics_event_without_a_step_in_data_takes_it_from_the_message() -> None:
    event = JobEvent.from_wire({"id": "e", "type": "metrics", "data": {"train_loss": 0.123},
                                "message": "Step 7/9: training loss=0.12"})
    assert event.metrics == {"step": 7, "total_steps": 9, "train_loss": 0.123}


def test_from_wire_reads_sdk_objects_and_tolerates_odd_values() -> None:
    from openai.types.fine_tuning import FineTuningJobEvent

    sdk = FineTuningJobEvent.construct(id="ftevent-9", created_at=1765452551, level="info",
                                       message="Step 10: training loss=0.7283068299293518",
                                       object="fine_tuning.job.event", type="message")
    event = JobEvent.from_wire(sdk)
    assert event.metrics == {"step": 10, "train_loss": 0.7283068299293518}

    class Bare:  # no model_dump: read by attribute
        id = "x"
        created_at = "not a time"
        message = "Step 2: training loss=1"

    odd = JobEvent.from_wire(Bare())
    assert odd.created_at == 0 and odd.metrics == {"step": 2, "train_loss": 1.0}
    assert JobEvent.from_wire({"created_at": 1e30}).created_at == 0


# --- metrics_from_events: the same step from data and from text counts once ----------------------

def test_structured_row_and_message_of_the_same_step_merge_into_one_row() -> None:
    events = [
        JobEvent("a", 1, "info", "Step 10: training loss=0.50, validation loss=0.90", "message", None),
        JobEvent("b", 2, "info", "Step 10: training loss=0.50", "metrics",
                 {"step": 10, "train_loss": 0.5012, "train_mean_token_accuracy": 0.8}),
        JobEvent("c", 3, "info", "Step 10: training loss=0.50", "message", None),  # repeated, rounded
        JobEvent("d", 4, "info", "Step 20: training loss=0.25", "message", None),
    ]
    metrics = metrics_from_events(events)
    assert [r.step for r in metrics] == [10, 20]
    assert metrics[0].train_loss == 0.5012  # the structured value wins over the rounded text
    assert metrics[0].train_mean_token_accuracy == 0.8
    assert metrics[0].valid_loss == 0.90  # only the message had it
    assert metrics[1].train_loss == 0.25


def test_metrics_from_events_accepts_wire_dicts() -> None:
    metrics = metrics_from_events([
        {"id": "1", "type": "message", "message": "Step 1/4: training loss=2, train reward=0.5"},
        {"id": "2", "type": "message", "message": "Job started."},
    ])
    assert len(metrics) == 1 and metrics[0].total_steps == 4
    assert metrics[0].extra == {"train_reward_mean": 0.5}
