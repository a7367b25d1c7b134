"""``progress=`` means the same in `Job.wait()`, `evaluate()` and `Sweep.wait()`: the strings of
`Job.wait()` (``"off"``, ``"plain"``, ``"terminal"``, ``"notebook"``, ``"auto"``), an explicit value
winning over ``FOUNDRY_TUNE_PROGRESS``, and any other value refused before a request is made."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from _client_fakes import Reply, ScriptedServer
from _progress_fakes import FakeTerminal, fake_notebook

from foundry_tune import Foundry, RetryPolicy
from foundry_tune.client import StaticTokenCredential
from foundry_tune.errors import InvalidParameterError
from foundry_tune.evaluation import Completion, Target, evaluate
from foundry_tune.job import FineTuneBuilder, Job
from foundry_tune.sweep import Sweep

VAR = "FOUNDRY_TUNE_PROGRESS"
JOB_ID = "ftjob-0123456789abcdef0123456789abcdef"
DEFAULT = object()
"""Leave ``progress=`` out of the call."""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    monkeypatch.setenv("COLUMNS", "80")


def _kwargs(progress: object) -> dict[str, Any]:
    return {} if progress is DEFAULT else {"progress": progress}


# Each runner calls one entry point with ``progress`` (output to ``out``), appends one item to
# ``requests`` per request it makes (a look at the service, a completion) and returns nothing.
Runner = Callable[[pytest.MonkeyPatch, object, io.StringIO, list[object]], None]


def _job_wait(monkeypatch: pytest.MonkeyPatch, progress: object, out: io.StringIO,
              requests: list[object]) -> None:
    body = {"id": JOB_ID, "object": "fine_tuning.job", "model": "gpt-4.1-mini", "created_at": 1765452551,
            "status": "running", "training_file": "file-1", "hyperparameters": {}}
    event = {"id": "ev-1", "object": "fine_tuning.job.event", "created_at": 1765452552, "level": "info",
             "message": "Training started.", "type": "message"}
    server = ScriptedServer()
    try:
        with Foundry(server.url + "/api/projects/p", StaticTokenCredential("t"),
                     retry=RetryPolicy(sleep=lambda _: None)) as ft:
            job_path = urlparse(str(ft.openai.base_url)).path.rstrip("/") + f"/fine_tuning/jobs/{JOB_ID}"
            server.default[job_path] = Reply(200, dict(body, status="succeeded"))
            server.default[job_path + "/events"] = Reply(
                200, {"object": "list", "data": [event], "has_more": False})
            Job(ft, body).wait(poll=0.001, stream=out, **_kwargs(progress))
    finally:
        server.close()
        requests.extend(server.seen)


def _evaluate(monkeypatch: pytest.MonkeyPatch, progress: object, out: io.StringIO,
              requests: list[object]) -> None:
    def answer(target: Target, messages: list[Any]) -> Completion:
        requests.append(messages)
        return Completion("yes", 3, 1, 0.01)

    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "yes"}]}
            for i in range(4)]
    monkeypatch.setattr(sys, "stderr", out)
    evaluate({"a": Target("m")}, rows, "exact_match", completer=answer, **_kwargs(progress))


def _sweep_wait(monkeypatch: pytest.MonkeyPatch, progress: object, out: io.StringIO,
                requests: list[object]) -> None:
    builder = FineTuneBuilder(None, "gpt-4.1-mini").validate_on("file-validation")  # type: ignore[arg-type]
    sweep = Sweep(builder, {"n_epochs": [1, 2]}, start=False)

    def look() -> Sweep:  # one look at the service: every trial is refused, so the wait ends
        requests.append("refresh")
        for trial in sweep.trials:
            trial.start_error = "quota exceeded"
        return sweep

    monkeypatch.setattr(sweep, "refresh", look)
    sweep.wait(poll=0.001, stream=out, **_kwargs(progress))


ENTRIES: dict[str, tuple[Runner, str]] = {
    # entry point -> (runner, text its progress output shows)
    "Job.wait": (_job_wait, "Training started."),
    "evaluate": (_evaluate, "evaluating: 4/4 requests, 0 failed"),
    "Sweep.wait": (_sweep_wait, "sweep [1/2] n_epochs=1: not started"),
}
entries = pytest.mark.parametrize("entry", list(ENTRIES))


def _printed(monkeypatch: pytest.MonkeyPatch, entry: str, progress: object,
             out: io.StringIO | None = None) -> str:
    runner, _ = ENTRIES[entry]
    out = FakeTerminal() if out is None else out
    requests: list[object] = []
    runner(monkeypatch, progress, out, requests)
    assert requests, "the entry point did its work"
    return out.getvalue()


@entries
def test_off_prints_nothing(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    assert ENTRIES[entry][1] in _printed(monkeypatch, entry, DEFAULT)  # shown by default in a terminal
    assert _printed(monkeypatch, entry, "off") == ""
    assert _printed(monkeypatch, entry, False) == ""


@entries
def test_plain_prints_log_lines_even_in_a_terminal(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    text = _printed(monkeypatch, entry, "plain")
    assert ENTRIES[entry][1] in text
    assert text.endswith("\n") and "\r" not in text and "\x1b" not in text


@entries
def test_terminal_draws_the_live_line_where_there_is_one(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    text = _printed(monkeypatch, entry, "terminal", io.StringIO())  # forced, though not a terminal
    if entry == "Sweep.wait":  # no live line: one line per status change
        assert "\r" not in text and ENTRIES[entry][1] + "\n" in text
    else:
        assert "\r" in text and "\x1b[K" in text


@entries
@pytest.mark.parametrize("value", ["bogus", "termnal", "OFF", "", 0, 2.5])
def test_any_other_value_is_refused_before_a_request(
        monkeypatch: pytest.MonkeyPatch, entry: str, value: object) -> None:
    runner, _ = ENTRIES[entry]
    requests: list[object] = []
    out = FakeTerminal()
    with pytest.raises(InvalidParameterError, match=r"^progress must be True, False, None, 'auto'.* got "):
        runner(monkeypatch, value, out, requests)
    assert requests == [] and out.getvalue() == ""


@entries
def test_the_variable_silences_the_default_and_auto(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    monkeypatch.setenv(VAR, "off")
    assert _printed(monkeypatch, entry, DEFAULT) == ""
    assert _printed(monkeypatch, entry, "auto") == ""


@entries
def test_auto_defers_to_the_variable(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    monkeypatch.setenv(VAR, "plain")
    text = _printed(monkeypatch, entry, "auto")  # a terminal, yet plain lines
    assert ENTRIES[entry][1] in text and "\r" not in text


@entries
def test_an_explicit_value_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    monkeypatch.setenv(VAR, "off")
    assert ENTRIES[entry][1] in _printed(monkeypatch, entry, "plain")
    assert ENTRIES[entry][1] in _printed(monkeypatch, entry, True)
    monkeypatch.setenv(VAR, "plain")
    assert _printed(monkeypatch, entry, "off") == ""
    assert _printed(monkeypatch, entry, False) == ""


@entries
def test_notebook_shows_the_live_cell_and_prints_nothing(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    shown = fake_notebook(monkeypatch)
    kernel = type("ZMQInteractiveShell", (), {})()
    monkeypatch.setattr(sys.modules["IPython"], "get_ipython", lambda: kernel, raising=False)
    assert _printed(monkeypatch, entry, "notebook") == ""
    assert shown, "the live cell was updated"
