"""Turning progress off (``FOUNDRY_TUNE_PROGRESS`` and ``progress=``; the parameter wins), plain
lines stamped with each event's own time, and retries logged at INFO and shown in the progress
instead of WARNING lines between redraws."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from _client_fakes import Reply, ScriptedServer
from _progress_fakes import FakeTerminal

from foundry_tune import Foundry, RetryPolicy
from foundry_tune._core.progress import ProgressState, make_reporter, retries_shown
from foundry_tune._core.retry import RetryNotice, observe_retries
from foundry_tune._core.settings import progress_from_env
from foundry_tune.client import StaticTokenCredential
from foundry_tune.errors import ConfigurationError, InvalidParameterError, ServiceError
from foundry_tune.evaluation import Completion, Target, evaluate
from foundry_tune.job import Job, JobEvent, JobStatus

JOB_ID = "ftjob-0123456789abcdef0123456789abcdef"
VAR = "FOUNDRY_TUNE_PROGRESS"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    monkeypatch.setenv("COLUMNS", "80")


def _show(progress: Any, stream: io.StringIO) -> str:
    reporter = make_reporter(progress, stream)
    state = ProgressState(JOB_ID)
    events = [JobEvent("e1", 1765452551, "info", "Training started.", "message", None),
              JobEvent("e2", 1765452552, "info", "Step 10/20: training loss=0.5", "message", None)]
    state.apply(JobStatus.RUNNING, events)
    reporter.update(state, events)
    reporter.note("a note")
    state.apply(JobStatus.SUCCEEDED, [])
    reporter.close(state)
    return stream.getvalue()


# --- the environment variable and the parameter ---------------------------------------------------


@pytest.mark.parametrize(("value", "mode"), [
    ("off", "off"), ("0", "off"), ("False", "off"), (" none ", "off"), ("no", "off"),
    ("", "auto"), ("auto", "auto"), ("1", "auto"), ("true", "auto"), ("on", "auto"),
    ("plain", "plain"), ("TERMINAL", "terminal"), ("live", "terminal"), ("notebook", "notebook"),
])
def test_the_variable_is_read(value: str, mode: str) -> None:
    assert progress_from_env({VAR: value}) == mode
    assert progress_from_env({}) == "auto"


def test_a_bad_value_is_a_configuration_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=f"{VAR}='quiet' is not a progress setting.*off"):
        progress_from_env({VAR: "quiet"})
    monkeypatch.setenv(VAR, "quiet")
    with pytest.raises(ConfigurationError, match=VAR):
        make_reporter("auto", io.StringIO())
    assert _show(False, io.StringIO()) == ""  # an explicit parameter does not read the variable


@pytest.mark.parametrize("value", ["off", "0", "false", "none"])
def test_the_variable_turns_job_progress_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(VAR, value)
    assert _show("auto", FakeTerminal()) == ""
    assert _show("auto", io.StringIO()) == ""


def test_the_parameter_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "off")
    assert "Training started." in _show(True, io.StringIO())
    assert "Training started." in _show("plain", io.StringIO())
    monkeypatch.setenv(VAR, "terminal")
    assert _show(False, FakeTerminal()) == ""
    assert "\r" not in _show("plain", FakeTerminal())


def test_the_variable_forces_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "plain")
    text = _show("auto", FakeTerminal())  # a terminal, yet plain lines
    assert "\r" not in text and "\x1b" not in text and "Training started." in text
    monkeypatch.setenv(VAR, "terminal")
    assert "\x1b[K" in _show("auto", io.StringIO())  # not a terminal, yet the live line


def test_a_misspelt_progress_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"progress must be .* got 'termnal'"):
        make_reporter("termnal", io.StringIO())


class _Answers:
    def __call__(self, target: Target, messages: list[Any]) -> Completion:
        return Completion("yes", 3, 1, 0.01)


_ROWS = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "yes"}]}
         for i in range(4)]


def test_the_variable_and_parameter_govern_evaluation_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(stderr: io.StringIO, **progress: Any) -> str:
        monkeypatch.setattr(sys, "stderr", stderr)
        evaluate({"a": Target("m")}, _ROWS, "exact_match", completer=_Answers(), **progress)
        return stderr.getvalue()

    monkeypatch.setenv(VAR, "off")
    assert run(FakeTerminal()) == ""
    assert "4/4 requests" in run(FakeTerminal(), progress=True)  # the parameter wins
    monkeypatch.setenv(VAR, "plain")  # not a terminal: quiet by default, but plain lines are asked for
    text = run(io.StringIO())
    assert "evaluating: 4/4 requests, 0 failed" in text and "\r" not in text
    assert run(FakeTerminal(), progress=False) == ""


# --- plain lines carry the event's own time -------------------------------------------------------


def test_plain_lines_carry_the_time_of_their_event(monkeypatch: pytest.MonkeyPatch) -> None:
    printed_at = 1_800_000_000.0  # 2027-01-15T08:00:00Z: long after the events happened
    monkeypatch.setattr("foundry_tune._core.progress.time.time", lambda: printed_at)
    lines = _show("plain", io.StringIO()).splitlines()
    assert lines[0] == f"2025-12-11T11:29:11Z {JOB_ID}: Training started."  # created_at 1765452551
    status = next(line for line in lines if line.endswith("status running"))
    assert status.startswith("2027-01-15T08:00:00Z")  # no event: the time it was seen
    step = next(line for line in lines if "step 10/20" in line)
    assert step.startswith("2025-12-11T11:29:12Z")  # the step line's event
    assert next(line for line in lines if line.endswith("a note")).startswith("2027-01-15T08:00:00Z")


# --- retries --------------------------------------------------------------------------------------


def _flaky(failures: int) -> Any:
    calls = [0]

    def call() -> str:
        calls[0] += 1
        if calls[0] <= failures:
            raise ServiceError("busy", status=503)
        return "ok"

    return call


def test_a_retry_is_logged_at_info_and_told_to_observers(caplog: pytest.LogCaptureFixture) -> None:
    policy = RetryPolicy(sleep=lambda _: None, jitter=0.0)
    notices: list[RetryNotice] = []
    with caplog.at_level(logging.DEBUG, logger="foundry_tune"), observe_retries(notices.append):
        assert policy.call(_flaky(2), what="get job ftjob-1") == "ok"
    records = [r for r in caplog.records if r.name == "foundry_tune.retry"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    assert records[0].getMessage().startswith("Retrying get job ftjob-1 in 1.00 seconds (attempt 1/8 failed")
    assert [(n.what, n.attempt, n.reason, n.delay) for n in notices] == [
        ("get job ftjob-1", 1, "503", 1.0), ("get job ftjob-1", 2, "503", 2.0)]
    assert notices[1].short() == "retrying in 2 s (503)"
    policy.call(_flaky(1), what="outside")  # no observer outside the block
    assert len(notices) == 2


def test_an_observer_that_fails_does_not_fail_the_call() -> None:
    def broken(_: RetryNotice) -> None:
        raise RuntimeError("display gone")

    with observe_retries(broken):
        assert RetryPolicy(sleep=lambda _: None).call(_flaky(1), what="x") == "ok"


def test_a_retry_shows_in_the_live_line_and_goes_with_the_next_poll() -> None:
    out = FakeTerminal()
    reporter = make_reporter("terminal", out)
    state = ProgressState(JOB_ID)
    state.apply(JobStatus.RUNNING, [])
    reporter.update(state, [])
    with retries_shown(state, reporter):
        RetryPolicy(sleep=lambda _: None, jitter=0.0).call(_flaky(1), what="get job")
    assert out.getvalue().endswith(f"\r{JOB_ID}  running  retrying in 1 s (503)\x1b[K")
    state.apply(JobStatus.RUNNING, [])
    reporter.update(state, [])
    assert out.getvalue().endswith(f"\r{JOB_ID}  running\x1b[K")


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.mark.parametrize("mode", ["terminal", "plain"])
def test_a_throttled_look_during_wait_shows_in_the_progress_not_as_a_warning(
        server: ScriptedServer, caplog: pytest.LogCaptureFixture, mode: str) -> None:
    body = {"id": JOB_ID, "object": "fine_tuning.job", "model": "gpt-4.1-mini", "created_at": 1765452551,
            "status": "running", "training_file": "file-1", "hyperparameters": {}}
    retry = RetryPolicy(sleep=lambda _: None)
    with Foundry(server.url + "/api/projects/p", StaticTokenCredential("t"), retry=retry) as ft:
        job_path = urlparse(str(ft.openai.base_url)).path.rstrip("/") + f"/fine_tuning/jobs/{JOB_ID}"
        throttled = Reply(429, {"error": {"code": "429", "message": "slow down"}},
                          headers={"retry-after": "2"})
        server.queue(job_path, Reply(200, body), throttled, Reply(200, dict(body, status="succeeded")))
        server.default[job_path + "/events"] = Reply(200, {"object": "list", "data": [], "has_more": False})
        out = FakeTerminal() if mode == "terminal" else io.StringIO()
        with caplog.at_level(logging.INFO, logger="foundry_tune"):
            Job(ft, body).wait(poll=0.001, stream=out)
    text = out.getvalue()
    assert "retrying in 2 s (429)" in text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert any(r.levelno == logging.INFO and r.getMessage().startswith(f"Retrying get job {JOB_ID} in 2.00")
               for r in caplog.records)
    if mode == "terminal":  # drawn in the live line, gone from the screen afterwards
        assert "\nretrying" not in text and "retrying" not in text.rsplit("\r", 1)[-1]
    else:
        assert f": get job {JOB_ID} failed (429, attempt 1/8); retrying in 2 s (429)" in text
