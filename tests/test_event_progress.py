"""Live progress from Azure-style events: step and loss come from ``Step N: training loss=X``
messages (Azure sends no structured ``metrics`` events) in the terminal, notebook and plain
displays, through the public ``ProgressState``/reporter API and through ``Job.wait()`` /
``AsyncJob.wait()`` against a scripted service; the ETA falls back to the job's
``estimated_finish``."""

from __future__ import annotations

import asyncio
import io
import time
import types
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from _client_fakes import Reply, ScriptedServer
from _emulator_helpers import read_recording
from _progress_fakes import fake_notebook

from foundry_tune import Foundry
from foundry_tune._core.progress import ProgressState, make_reporter
from foundry_tune.aio import AsyncFoundry, AsyncJob, AsyncStaticTokenCredential
from foundry_tune.client import StaticTokenCredential
from foundry_tune.job import Job, JobEvent, JobStatus

JOB_ID = "ftjob-0123456789abcdef0123456789abcdef"


def _dpo_oldest_first() -> list[str]:
    return list(reversed(read_recording("notebooks/dpo_event_messages_newest_first.json")["body"]))


def _recorded_job_body() -> dict[str, Any]:
    """The job body Azure answered to a create (recorded), with its ``estimated_finish``."""
    exchanges = read_recording("recordings/sft_create_cancel_events.json")["exchanges"]
    body = next(x["response"] for x in exchanges
                if x["method"] == "POST" and x["uri"].split("?")[0].endswith("/fine_tuning/jobs"))
    assert isinstance(body.get("estimated_finish"), int)
    return dict(body, id=JOB_ID)


def _wire(messages: list[str], start: int = 0) -> list[dict[str, Any]]:
    """Azure's event objects for ``messages`` (oldest first): type ``message``, no ``data``."""
    return [{"id": f"ftevent-{start + i:032x}", "created_at": 1765452551 + start + i, "level": "info",
             "message": text, "type": "message", "object": "fine_tuning.job.event"}
            for i, text in enumerate(messages)]


def _events(messages: list[str], start: int = 0) -> list[JobEvent]:
    return [JobEvent.from_wire(e) for e in _wire(messages, start)]


def _recorded_loss(messages: list[str], step: int) -> float:
    line = next(m for m in messages if m.startswith(f"Step {step}:"))
    return float(line.rsplit("=", 1)[1])


# --- the three displays, fed through the public state/reporter API --------------------------------

def _feed(progress: str, stream: io.StringIO | None = None) -> tuple[ProgressState, Any]:
    messages = _dpo_oldest_first()
    reporter = make_reporter(progress, stream)
    state = ProgressState(JOB_ID)
    polls = [messages[:12], messages[12:14]]  # "...Training started.", "Step 1", "Step 10" | "Step 20", "30"
    start = 0
    for poll in polls:
        new = _events(poll, start)
        start += len(poll)
        state.apply(JobStatus.RUNNING, new)
        reporter.update(state, new)
    return state, reporter


def test_terminal_line_shows_step_and_loss_from_azure_messages() -> None:
    out = io.StringIO()
    state, reporter = _feed("terminal", out)
    reporter.close(state)
    text = out.getvalue()
    loss = _recorded_loss(_dpo_oldest_first(), 30)
    assert state.step == 30 and state.train_loss == loss
    assert f"step 30  train_loss {loss:.4f}" in text
    assert "Training started." in text  # ordinary messages still scroll by
    assert "Step 10: training loss" not in text  # step lines feed the status line, not the log


def test_plain_log_prints_step_and_loss_from_azure_messages() -> None:
    out = io.StringIO()
    state, reporter = _feed("plain", out)
    reporter.close(state)
    lines = out.getvalue().splitlines()
    messages = _dpo_oldest_first()
    assert any(f"step 10  train_loss {_recorded_loss(messages, 10):.4f}" in line for line in lines)
    assert any(f"step 30  train_loss {_recorded_loss(messages, 30):.4f}" in line for line in lines)
    assert any(line.endswith("Job started.") for line in lines)
    assert "\r" not in out.getvalue()


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    return fake_notebook(monkeypatch)


def test_notebook_panel_shows_step_and_loss_from_azure_messages(notebook: list[Any]) -> None:
    state, reporter = _feed("notebook")
    reporter.close(state)
    loss = _recorded_loss(_dpo_oldest_first(), 30)
    assert f"step 30  train_loss {loss:.4f}" in notebook[-1]
    assert "<li>Training started.</li>" in notebook[-1]
    assert "Step 30: training loss" not in notebook[-1]


# --- ETA --------------------------------------------------------------------------------------

def test_eta_from_estimated_finish_when_the_total_is_unknown() -> None:
    wall = 1_765_452_551.0
    state = ProgressState(JOB_ID, wall_clock=lambda: wall)
    events = _events(["Step 10: training loss=0.5"])
    state.apply(JobStatus.RUNNING, events, estimated_finish=int(wall) + 900)
    assert state.eta_seconds() == 900 and "ETA 15:00" in state.line()
    state.apply(JobStatus.RUNNING, [], estimated_finish=str(int(wall) + 3700))  # numeric text is read
    assert "ETA 1:01:40" in state.line()
    for past_or_absent in (int(wall) - 1, int(wall), None, "soon", True):
        state.apply(JobStatus.RUNNING, [], estimated_finish=past_or_absent)
        assert state.eta_seconds() is None and "ETA" not in state.line()
    state.apply(JobStatus.PAUSED, [], estimated_finish=int(wall) + 900)
    assert "ETA" not in state.line()  # a paused job's estimate is stale
    state.apply(JobStatus.SUCCEEDED, [], estimated_finish=int(wall) + 900)
    assert "ETA" not in state.line()


def test_step_rate_beats_estimated_finish_once_the_total_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 110.0])
    monkeypatch.setattr("foundry_tune._core.progress.time.monotonic", lambda: next(clock))
    state = ProgressState(JOB_ID, wall_clock=lambda: 0.0)
    state.apply(JobStatus.RUNNING, _events(["Step 10/110: training loss=0.9"]), estimated_finish=5000)
    assert state.eta_seconds() == 5000  # one poll: no rate yet
    state.apply(JobStatus.RUNNING, _events(["Step 20/110: training loss=0.8"], 1), estimated_finish=5000)
    assert state.eta_seconds() == pytest.approx(90.0)  # 10 steps took 10 s; 90 to go
    assert "step 20/110 (18%)" in state.line() and "ETA 1:30" in state.line()


def test_a_step_sent_as_metrics_and_as_message_counts_once() -> None:
    state = ProgressState(JOB_ID)
    structured = JobEvent("a", 1, "info", "Step 100: training loss=0.00", "metrics",
                          {"step": 100, "train_loss": 0.0016, "valid_loss": 1.5})
    echo = JobEvent("b", 2, "info", "Step 100: training loss=0.00, validation loss=9", "message", None)
    state.apply(JobStatus.RUNNING, [structured, echo])
    assert (state.step, state.train_loss, state.valid_loss) == (100, 0.0016, 1.5)
    state.apply(JobStatus.RUNNING, _events(["Step 110: training loss=0.001"], 5))
    assert (state.step, state.train_loss) == (110, 0.001)


# --- Job.wait() / AsyncJob.wait() against a scripted service answering like Azure ---------------

def _script(server: ScriptedServer, job_path: str) -> dict[str, Any]:
    """Three polls: running (the recorded, past estimated_finish), running (a future one), succeeded."""
    messages = _dpo_oldest_first()
    seen = [messages[:12], messages[:14], messages]  # up to Step 10, Step 30, everything
    recorded = _recorded_job_body()
    future = int(time.time()) + 3600
    bodies = [dict(recorded, status="running"),
              dict(recorded, status="running", estimated_finish=future),
              dict(recorded, status="succeeded", finished_at=future, fine_tuned_model="gpt-4.1.ft-1")]
    pages = [{"object": "list", "data": list(reversed(_wire(upto))), "has_more": False} for upto in seen]
    server.queue(job_path, *(Reply(200, b) for b in bodies))
    server.queue(job_path + "/events", *(Reply(200, p) for p in pages))
    server.default[job_path + "/events"] = Reply(200, pages[-1])
    return {"messages": messages, "recorded": recorded}


def _check_plain_output(text: str, messages: list[str]) -> None:
    lines = text.splitlines()
    step10 = [line for line in lines if f"step 10  train_loss {_recorded_loss(messages, 10):.4f}" in line]
    step30 = [line for line in lines if f"step 30  train_loss {_recorded_loss(messages, 30):.4f}" in line]
    assert step10 and step30, text
    assert "ETA" not in step10[0]  # the recorded estimated_finish lies in the past
    assert "ETA " in step30[0]  # the next body's lies an hour ahead
    last = _recorded_loss(messages, 8250)  # 3.8e-06: shown with its digits, not as 0.0000
    assert f"step 8250  train_loss {last:.3g}" in lines[-1] and "succeeded" in lines[-1]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


def test_job_wait_shows_azure_progress_and_metrics_read_the_messages(server: ScriptedServer) -> None:
    with Foundry(server.url + "/api/projects/p", StaticTokenCredential("t")) as ft:
        job_path = urlparse(str(ft.openai.base_url)).path.rstrip("/") + f"/fine_tuning/jobs/{JOB_ID}"
        script = _script(server, job_path)
        job = Job(ft, dict(script["recorded"], status="pending"))
        out = io.StringIO()
        assert job.wait(poll=0.001, progress="plain", stream=out) is job
        _check_plain_output(out.getvalue(), script["messages"])

        metrics = job.metrics(source="events")
        assert metrics.source == "events" and len(metrics) == 826
        assert metrics.last is not None and metrics.last.step == 8250
        assert metrics.last.train_loss == _recorded_loss(script["messages"], 8250)
        assert job.metrics().source == "events"  # no result file: "auto" falls back to the events


def test_async_job_wait_shows_azure_progress_and_metrics_read_the_messages(server: ScriptedServer) -> None:
    async def body() -> None:
        async with AsyncFoundry(server.url + "/api/projects/p", AsyncStaticTokenCredential("t")) as ft:
            job_path = urlparse(str(ft.openai.base_url)).path.rstrip("/") + f"/fine_tuning/jobs/{JOB_ID}"
            script = _script(server, job_path)
            job = AsyncJob(ft, dict(script["recorded"], status="pending"))
            out = io.StringIO()
            assert await job.wait(poll=0.001, progress="plain", stream=out) is job
            _check_plain_output(out.getvalue(), script["messages"])

            metrics = await job.metrics(source="events")
            assert len(metrics) == 826 and metrics.last is not None and metrics.last.step == 8250
            assert metrics.last.train_loss == _recorded_loss(script["messages"], 8250)

    asyncio.run(body())


# --- source="auto" still prefers the result file --------------------------------------------------

_CSV = b"step,train_loss\n1,2.5\n2,2.0\n"


class _Content:
    content = _CSV


def _page(messages: list[str]) -> Any:
    from openai.types.fine_tuning import FineTuningJobEvent

    data = [FineTuningJobEvent.construct(**e) for e in reversed(_wire(messages))]
    return types.SimpleNamespace(data=data, has_more=False)


def test_metrics_auto_prefers_results_csv_and_events_reads_messages() -> None:
    messages = ["Training started.", "Step 1: training loss=0.75", "Step 10: training loss=0.5"]

    class Jobs:
        def list_events(self, job_id: str, **kwargs: Any) -> Any:
            return _page(messages)

    class Files:
        def content(self, file_id: str) -> Any:
            return _Content()

    conn = types.SimpleNamespace(
        openai=types.SimpleNamespace(fine_tuning=types.SimpleNamespace(jobs=Jobs()), files=Files()),
        retry=types.SimpleNamespace(call=lambda fn, what: fn(), clock=time.monotonic),
    )
    job = Job(conn, {"id": JOB_ID, "status": "succeeded", "result_files": ["file-r"]})  # type: ignore[arg-type]
    assert [(r.step, r.train_loss) for r in job.metrics()] == [(1, 2.5), (2, 2.0)]
    assert job.metrics().source == "results"
    events = job.metrics(source="events")
    assert events.source == "events" and [(r.step, r.train_loss) for r in events] == [(1, 0.75), (10, 0.5)]


def test_async_metrics_auto_prefers_results_csv_and_events_reads_messages() -> None:
    messages = ["Step 1: training loss=0.75", "Job started.", "Step 10: training loss=0.5"]

    class Jobs:
        async def list_events(self, job_id: str, **kwargs: Any) -> Any:
            return _page(messages)

    class Files:
        async def content(self, file_id: str) -> Any:
            return _Content()

    async def call(fn: Any, what: str) -> Any:
        return await fn()

    ft = types.SimpleNamespace(
        openai=types.SimpleNamespace(fine_tuning=types.SimpleNamespace(jobs=Jobs()), files=Files()),
        retry=types.SimpleNamespace(call=call, clock=time.monotonic),
    )

    async def body() -> None:
        job = AsyncJob(ft, {"id": JOB_ID, "status": "succeeded", "result_files": ["file-r"]})  # type: ignore[arg-type]
        assert (await job.metrics()).source == "results"
        events = await job.metrics(source="events")
        assert [(r.step, r.train_loss) for r in events] == [(1, 0.75), (10, 0.5)]

    asyncio.run(body())
