"""Unit tests of the job package's pure parts: status enum, fingerprint, events paging, metrics."""

from __future__ import annotations

import io
import pickle
import time
from typing import Any

import pytest
from _emulator_helpers import read_recording
from _progress_fakes import fake_notebook

from foundry_tune._core.events import EventTail
from foundry_tune._core.progress import ProgressState, make_reporter
from foundry_tune._sync._listings import list_all_events, poll_events
from foundry_tune.errors import JobFailedError
from foundry_tune.job import (
    FINGERPRINT_KEY,
    JobEvent,
    JobStatus,
    failure_hint,
    fingerprint,
    metrics_from_csv,
    metrics_from_events,
)

# --- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["pending", "paused", "cancelling", "validating_files", "queued",
                                   "running"])
def test_azure_and_openai_live_statuses_are_known_and_live(value: str) -> None:
    status = JobStatus(value)
    assert status.is_known
    assert status.is_live and not status.is_terminal


@pytest.mark.parametrize("value", ["succeeded", "failed", "cancelled"])
def test_terminal_statuses(value: str) -> None:
    assert JobStatus(value).is_terminal


def test_unknown_status_is_kept_and_counts_as_live() -> None:
    status = JobStatus("queued_for_capacity")
    assert status.value == "queued_for_capacity"
    assert str(status) == "queued_for_capacity"
    assert not status.is_known
    assert status.is_live
    assert JobStatus("queued_for_capacity") is status
    assert JobStatus("Running") is JobStatus.RUNNING
    assert JobStatus.RUNNING == "running"
    assert pickle.loads(pickle.dumps(JobStatus.PAUSED)) is JobStatus.PAUSED


# --- fingerprint ------------------------------------------------------------------------------

_BASE: dict[str, Any] = {
    "model": "gpt-4.1-mini",
    "training": "sha256:" + "a" * 64,
    "validation": None,
    "method": {"type": "supervised",
               "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": "auto"}}},
    "suffix": "support",
    "seed": 7,
    "training_type": "GlobalStandard",
}


def test_fingerprint_is_stable_and_ignores_key_order() -> None:
    first = fingerprint(**_BASE)
    reordered = dict(_BASE)
    reordered["method"] = {"supervised": {"hyperparameters": {"batch_size": "auto", "n_epochs": 3}},
                           "type": "supervised"}
    assert fingerprint(**reordered) == first
    assert first.startswith("ftfp1-") and len(first) <= 64
    # A value pinned from an earlier run: the recipe must not drift between versions.
    assert first == "ftfp1-97367eb8de81e80502bdeaa5ae08852712064c75"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model", "gpt-4.1-nano"),
        ("training", "sha256:" + "b" * 64),
        ("validation", "sha256:" + "c" * 64),
        ("method", {"type": "dpo", "dpo": {"hyperparameters": {}}}),
        ("suffix", "other"),
        ("seed", 8),
        ("training_type", "Developer"),
    ],
)
def test_fingerprint_changes_with_every_input(field: str, value: Any) -> None:
    changed = dict(_BASE)
    changed[field] = value
    assert fingerprint(**changed) != fingerprint(**_BASE)


def test_fingerprint_key_name() -> None:
    assert FINGERPRINT_KEY == "foundry_tune_fingerprint"


# --- events paging ----------------------------------------------------------------------------


class FakeEvents:
    """The events endpoint's contract: newest first; ``after`` continues with older events."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []  # oldest first
        self.calls: list[tuple[str | None, int]] = []

    def add(self, n: int) -> None:
        start = len(self.events)
        for i in range(start, start + n):
            self.events.append(JobEvent(id=f"ev-{i}", created_at=1000 + i, level="info", message=f"m{i}",
                                        type="message", data=None))

    def fetch(self, after: str | None, limit: int) -> tuple[list[JobEvent], bool]:
        self.calls.append((after, limit))
        newest_first = list(reversed(self.events))
        if after is not None:
            ids = [e.id for e in newest_first]
            newest_first = newest_first[ids.index(after) + 1:]
        return newest_first[:limit], len(newest_first) > limit


def test_tail_yields_every_event_once_oldest_first() -> None:
    server = FakeEvents()
    tail = EventTail(page_size=5)
    server.add(12)
    assert [e.id for e in poll_events(tail, server.fetch)] == [f"ev-{i}" for i in range(12)]
    assert poll_events(tail, server.fetch) == []
    server.add(3)
    assert [e.id for e in poll_events(tail, server.fetch)] == ["ev-12", "ev-13", "ev-14"]
    server.add(7)
    assert [e.id for e in poll_events(tail, server.fetch)] == [f"ev-{i}" for i in range(15, 22)]


def test_tail_reads_only_new_pages() -> None:
    server = FakeEvents()
    tail = EventTail(page_size=10)
    server.add(100)
    poll_events(tail, server.fetch)
    assert tail.requests == 10  # the whole history once
    server.calls.clear()
    server.add(2)
    assert len(poll_events(tail, server.fetch)) == 2
    assert server.calls == [(None, 10)]  # one page from the top, never the old pages again
    server.calls.clear()
    assert poll_events(tail, server.fetch) == []
    assert server.calls == [(None, 5)]  # sized from the last poll's 2 new events: 2 * 2 + 1


def test_tail_pages_down_when_more_than_a_page_is_new() -> None:
    server = FakeEvents()
    tail = EventTail(page_size=4)
    server.add(2)
    poll_events(tail, server.fetch)
    server.calls.clear()
    server.add(9)
    assert [e.id for e in poll_events(tail, server.fetch)] == [f"ev-{i}" for i in range(2, 11)]
    assert server.calls == [(None, 4), ("ev-7", 4), ("ev-3", 4)]


def test_list_all_events_oldest_first() -> None:
    server = FakeEvents()
    server.add(25)
    assert [e.created_at for e in list_all_events(server.fetch, page_size=7)] == list(range(1000, 1025))


def test_event_from_wire_tolerates_missing_keys() -> None:
    event = JobEvent.from_wire({"id": "ev-1", "type": "metrics", "data": {"step": 3}})
    assert event.is_metrics and event.level == "info" and event.message == ""
    assert not JobEvent.from_wire({"id": "x", "data": "not a dict"}).is_metrics


# --- metrics ----------------------------------------------------------------------------------

_CSV = (
    "step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,"
    "full_valid_mean_token_accuracy\n"
    "1,2.5,0.41,,,,\n"
    "2,2.1,0.47,2.3,0.44,,\n"
    "3,1.7,0.55,,,1.9,0.52\n"
)


def test_metrics_from_result_csv() -> None:
    metrics = metrics_from_csv(_CSV)
    assert metrics.source == "results"
    assert [r.step for r in metrics] == [1, 2, 3]
    assert metrics[0].train_loss == 2.5 and metrics[0].valid_loss is None
    assert metrics[1].valid_mean_token_accuracy == 0.44
    assert metrics.last is not None and metrics.last.full_valid_loss == 1.9
    assert metrics.column("train_loss") == [2.5, 2.1, 1.7]


def test_metrics_from_base64_result_csv_and_bom() -> None:
    import base64

    encoded = base64.b64encode(_CSV.encode()).decode()
    assert [r.train_loss for r in metrics_from_csv(encoded)] == [2.5, 2.1, 1.7]
    assert len(metrics_from_csv(("\ufeff" + _CSV).encode())) == 3


def test_metrics_from_events_keeps_reward_fields_and_skips_messages() -> None:
    events = [
        JobEvent("e1", 1, "info", "Step 1", "message", None),
        JobEvent("e2", 2, "info", "", "metrics", {"step": 2, "total_steps": 10, "train_loss": 0.9,
                                                   "train_reward_mean": 0.4}),
        JobEvent("e3", 3, "info", "", "metrics", {"step": 1, "train_loss": 1.2, "valid_loss": "nan"}),
        JobEvent("e4", 4, "info", "", "metrics", {"no_step": True}),
    ]
    metrics = metrics_from_events(events)
    assert [r.step for r in metrics] == [1, 2]  # step order, row without a step dropped
    assert metrics[0].valid_loss is None
    assert metrics[1].extra == {"train_reward_mean": 0.4}
    assert metrics[1].total_steps == 10


def test_metrics_to_pandas() -> None:
    pytest.importorskip("pandas")
    frame = metrics_from_csv(_CSV).to_pandas()
    assert list(frame["step"]) == [1, 2, 3]
    assert frame["train_loss"].iloc[-1] == 1.7


# --- hints and progress -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "needle"),
    [
        ("invalidModel", "The specified base model does not support fine-tuning.", "training_type"),
        ("quotaExceeded", "This resource already has 20 queued jobs", "quota"),
        ("invalidTrainingFile", "The job failed due to an invalid training file.", "foundry-tune validate"),
        ("unsupported_model", "Model gpt-9 is not supported for fine-tuning", "cannot be fine-tuned"),
    ],
)
def test_failure_hints_for_known_causes(code: str, message: str, needle: str) -> None:
    hint = failure_hint(code, message)
    assert hint is not None and needle in hint


def test_no_hint_for_unknown_cause() -> None:
    assert failure_hint("internal", "Something went wrong on our side.") is None


def test_job_failed_error_carries_service_reason() -> None:
    err = JobFailedError(job_id="ftjob-1", code="invalidTrainingFile", service_message="bad line 3",
                         hint=failure_hint("invalidTrainingFile", "invalid training file"))
    text = str(err)
    assert "ftjob-1" in text and "invalidTrainingFile" in text and "bad line 3" in text and "hint:" in text


def _metrics_event(i: int, step: int, total: int, loss: float) -> JobEvent:
    data = {"step": step, "total_steps": total, "train_loss": loss}
    return JobEvent(f"m{i}", i, "info", "", "metrics", data)


def test_plain_progress_logs_messages_status_and_sparse_metrics() -> None:
    out = io.StringIO()
    reporter = make_reporter("auto", out)  # a StringIO is not a terminal -> plain lines
    state = ProgressState("ftjob-x")
    first = [JobEvent("a", 1, "info", "Validating training file.", "message", None)]
    state.apply(JobStatus.RUNNING, first)
    reporter.update(state, first)
    steps = [_metrics_event(i, i, 100, 1.0 / i) for i in range(1, 101)]
    for event in steps:
        state.apply(JobStatus.RUNNING, [event])
        reporter.update(state, [event])
    state.apply(JobStatus.SUCCEEDED, [])
    reporter.close(state)
    text = out.getvalue()
    assert "Validating training file." in text
    assert "status running" in text
    assert "\r" not in text
    assert 5 <= text.count("step ") <= 15  # every ~10% of the steps, not 100 lines
    assert "step 100/100" in text


def test_terminal_progress_redraws_one_line() -> None:
    out = io.StringIO()
    reporter = make_reporter("terminal", out)
    state = ProgressState("ftjob-x")
    for i in range(1, 4):
        event = _metrics_event(i, i * 10, 40, 0.5)
        state.apply(JobStatus.RUNNING, [event])
        reporter.update(state, [event])
    text = out.getvalue()
    assert text.count("\r") == 3 and text.count("\x1b[K") == 3 and "\n" not in text  # redrawn in place
    assert "step 30/40 (75%)" in out.getvalue()
    assert "train_loss 0.5000" in out.getvalue()


def test_silent_progress_writes_nothing() -> None:
    out = io.StringIO()
    reporter = make_reporter(False, out)
    state = ProgressState("ftjob-x")
    reporter.update(state, [])
    reporter.close(state)
    assert out.getvalue() == ""


# --- file processing wait (a fake service: the point is our polling logic) ----------------------


class _FakeFiles:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0

    def retrieve(self, file_id: str) -> Any:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class _FakeConn:
    def __init__(self, files: _FakeFiles) -> None:
        self.openai = type("OpenAI", (), {"files": files})()
        self.retry = type("Retry", (), {"call": staticmethod(lambda fn, what: fn()),
                                        "clock": staticmethod(time.monotonic)})()
        self.deployments = None


def _file(status: str, details: str | None = None) -> Any:
    from openai.types import FileObject

    # construct(): the service sends statuses the SDK's type does not list (Azure's "pending", "running").
    return FileObject.construct(id="file-1", bytes=10, created_at=1, filename="a.jsonl", object="file",
                                purpose="fine-tune", status=status, status_details=details)


def test_wait_processed_retries_a_404_right_after_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    from foundry_tune._sync._upload import wait_processed
    from foundry_tune.errors import NotFoundError
    from foundry_tune.job import UploadOptions

    monkeypatch.setattr("time.sleep", lambda s: None)
    files = _FakeFiles([NotFoundError("no such file", status=404), _file("pending"), _file("processed")])
    result = wait_processed(_FakeConn(files), "file-1", UploadOptions())  # type: ignore[arg-type]
    assert result.status == "processed" and files.calls == 3


def test_wait_processed_gives_up_on_404_after_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    from foundry_tune._sync._upload import wait_processed
    from foundry_tune.errors import NotFoundError
    from foundry_tune.job import UploadOptions

    monkeypatch.setattr("time.sleep", lambda s: None)
    files = _FakeFiles([NotFoundError("no such file", status=404)])
    with pytest.raises(NotFoundError):
        wait_processed(_FakeConn(files), "file-1", UploadOptions(not_found_grace=0.0))  # type: ignore[arg-type]


def test_wait_processed_reports_the_services_reason() -> None:
    from foundry_tune._sync._upload import wait_processed
    from foundry_tune.errors import UploadError
    from foundry_tune.job import UploadOptions

    files = _FakeFiles([_file("error", "line 4: missing assistant message")])
    with pytest.raises(UploadError) as info:
        wait_processed(_FakeConn(files), "file-1", UploadOptions(), display_name="train.jsonl")  # type: ignore[arg-type]
    assert info.value.details == "line 4: missing assistant message"
    assert "train.jsonl" in str(info.value) and "line 4" in str(info.value)


def test_notebook_progress_updates_one_display(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = fake_notebook(monkeypatch)
    reporter = make_reporter("notebook")
    state = ProgressState("ftjob-<x>")
    event = _metrics_event(1, 5, 10, 0.25)
    state.apply(JobStatus.RUNNING, [event])
    reporter.update(state, [event])
    reporter.close(state)
    assert len(shown) == 2
    assert 'progress value="0.500"' in shown[-1] and "ftjob-&lt;x&gt;" in shown[-1]


def test_eta_needs_steps_seen_at_two_moments(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 110.0])
    monkeypatch.setattr("foundry_tune._core.progress.time.monotonic", lambda: next(clock))
    state = ProgressState("ftjob-x")
    state.apply(JobStatus.RUNNING, [_metrics_event(1, 1, 100, 1.0), _metrics_event(2, 10, 100, 0.9)])
    assert state.eta_seconds() is None and "ETA" not in state.line()
    state.apply(JobStatus.RUNNING, [_metrics_event(3, 20, 100, 0.8)])
    assert state.eta_seconds() == pytest.approx(80 * 10 / 19)  # steps 1 -> 20 took 10 s; 80 to go
    assert "ETA 0:42" in state.line()


def test_the_recorded_too_few_examples_failure_gets_a_hint() -> None:
    recorded = read_recording("errors/job_failed_invalid_n_examples.json")["error"]
    hint = failure_hint(recorded["code"], recorded["message"])
    assert hint is not None and "at least 10" in hint
