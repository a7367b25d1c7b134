"""The live progress line in a fixed-width fake terminal (80 and 40 columns): no redraw is wider than
the terminal, and a terminal emulation of the output ends with exactly the lines that were meant to
stay (no stacked, stale copies of the status line), for job progress (also through ``Job.wait()``)
and evaluation progress; widths are counted in display cells (CJK, emoji)."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from _client_fakes import Reply, ScriptedServer
from _emulator_helpers import read_recording
from _progress_fakes import FakeTerminal

from foundry_tune import Foundry
from foundry_tune._core.progress import ProgressState, display_width, fit_width, make_reporter, terminal_width
from foundry_tune.client import StaticTokenCredential
from foundry_tune.evaluation._progress import make_progress
from foundry_tune.job import Job, JobEvent, JobStatus

JOB_ID = "ftjob-0123456789abcdef0123456789abcdef"  # a real id's length: 38 characters
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture(params=[80, 40])
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    columns = int(request.param)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("FOUNDRY_TUNE_PROGRESS", raising=False)
    size = os.terminal_size((columns, 24))
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=(80, 24): size)
    return columns


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def emulate(output: str, width: int) -> list[str]:
    """The screen rows a terminal of ``width`` columns shows after ``output``: ``\\r``, ``\\n``
    (as CR LF), ``ESC[K`` / ``ESC[2K``, and automatic wrapping at the right margin."""
    rows: list[list[str]] = [[]]
    row = col = 0
    pending_wrap = False
    i = 0
    while i < len(output):
        char = output[i]
        if char == "\x1b":
            match = ANSI.match(output, i)
            assert match is not None, repr(output[i:i + 10])
            code = match.group()
            line = rows[row]
            if code == "\x1b[K":
                del line[col:]
            elif code == "\x1b[2K":
                line.clear()
            pending_wrap = False
            i = match.end()
            continue
        i += 1
        if char == "\r":
            col, pending_wrap = 0, False
        elif char == "\n":
            row, col, pending_wrap = row + 1, 0, False
        else:
            cells = _cells(char)
            if pending_wrap or col + cells > width:
                row, col, pending_wrap = row + 1, 0, False
            while len(rows) <= row:
                rows.append([])
            line = rows[row]
            line.extend(" " * (col - len(line)))
            line[col:col + max(cells, 1)] = [char] + [""] * (cells - 1)
            col += cells
            if col >= width:
                col, pending_wrap = width - 1, True
        while len(rows) <= row:
            rows.append([])
    screen = ["".join(r) for r in rows]
    while screen and not screen[-1].strip():
        screen.pop()
    return screen


def rows_taken(line: str, width: int) -> int:
    return max(1, -(-display_width(line) // width))


def live_draws(output: str) -> list[str]:
    """Every redraw of the live line (ANSI stripped): what follows a ``\\r`` up to the next ``\\r``
    or the end; what ends with ``\\n`` is a line printed to stay, not a redraw."""
    found = [ANSI.sub("", m.group(1)) for m in re.finditer(r"\r([^\r\n]*)(?=\r|\Z)", output)]
    draws = [d for d in found if d]
    assert draws, "the live line was never drawn"
    return draws


def _events(messages: list[str]) -> list[JobEvent]:
    return [JobEvent(f"ftevent-{i}", 1765452551 + i, "info", text, "message", None)
            for i, text in enumerate(messages)]


def _recorded_messages() -> list[str]:
    return list(reversed(read_recording("notebooks/dpo_event_messages_newest_first.json")["body"]))


def test_a_replayed_job_never_overflows_and_leaves_no_stale_lines(width: int) -> None:
    events = _events(_recorded_messages())
    out = FakeTerminal()
    reporter = make_reporter("auto", out)  # a terminal: the live line
    state = ProgressState(JOB_ID, wall_clock=lambda: 1765452551.0)
    kept: list[str] = []
    for start in range(0, len(events), 7):
        poll = events[start:start + 7]
        state.apply(JobStatus.RUNNING, poll, estimated_finish=1765452551 + 3600)
        reporter.update(state, poll)
        kept += [f"  {e.time:%H:%M:%S}  {e.message}" for e in poll if not e.is_metrics]
    state.apply(JobStatus.SUCCEEDED, [])
    reporter.close(state)
    kept.append(state.line())
    output = out.getvalue()

    draws = live_draws(output)
    assert len(draws) > 100
    assert all(display_width(d) <= width - 1 for d in draws), max(draws, key=display_width)
    assert any("step 8250" in d for d in draws)  # what matters survives the cut
    screen = emulate(output, width)
    assert len(screen) == sum(rows_taken(line, width) for line in kept)  # exactly what stays
    assert not any("train_loss" in row for row in screen[:-rows_taken(kept[-1], width)])  # no stale status


def test_the_line_drops_the_least_useful_parts_first(width: int) -> None:
    state = ProgressState(JOB_ID, wall_clock=lambda: 0.0)
    row = {"step": 120, "total_steps": 400, "train_loss": 0.4821, "valid_loss": 0.531}
    state.apply(JobStatus.RUNNING, [JobEvent("e", 1, "info", "", "metrics", row)], estimated_finish=250)
    line = state.fitted_line(width - 1)
    if width == 80:  # the job id goes first (it was printed when the job started)
        assert line == "running  step 120/400 (30%)  train_loss 0.4821  valid_loss 0.5310  ETA 4:10"
    else:  # then validation loss; then the line is cut
        assert line.startswith("running  step 120/400 (30%)  train_lo") and line.endswith("\u2026")
        assert display_width(line) == width - 1
    assert state.fitted_line(200) == "[######..............] " + state.line()  # room: all of it, and a bar


def test_wide_characters_count_two_cells(width: int) -> None:
    text = "训练开始 🚀 " * 20 + "done"
    fitted = fit_width(text, width - 1)
    assert display_width(fitted) <= width - 1 and fitted.endswith("\u2026")
    assert display_width("训练") == 4 and display_width("🚀") == 2 and display_width("e\u0301") == 1
    out = FakeTerminal()
    reporter = make_reporter("terminal", out)
    state = ProgressState(text)
    state.apply(JobStatus.RUNNING, [])
    reporter.update(state, [])
    assert all(display_width(d) <= width - 1 for d in live_draws(out.getvalue()))
    assert len(emulate(out.getvalue(), width)) == 1


def test_a_message_with_control_characters_stays_one_event(width: int) -> None:
    out = FakeTerminal()
    reporter = make_reporter("terminal", out)
    state = ProgressState(JOB_ID)
    event = JobEvent("e", 1, "info", "line one\rline two\n\x1b[2Jcleared?", "message", None)
    state.apply(JobStatus.RUNNING, [event])
    reporter.update(state, [event])
    reporter.close(state)
    assert "\x1b[2J" not in out.getvalue()
    assert any("line one line two" in row for row in emulate(out.getvalue(), width))


def test_evaluation_progress_fits_the_terminal(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    out = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", out)
    progress = make_progress(True)
    progress.start(100_000)
    for i in range(300):
        progress.advance(failed=i % 7 == 0)
    progress.close()
    output = out.getvalue()
    assert all(display_width(d) <= width - 1 for d in live_draws(output))
    screen = emulate(output, width)
    closing = "".join(screen)  # the last count stays as a line of its own, the redraws are gone
    assert closing.startswith("evaluating: 300/100000 requests, 43 failed")
    assert len(screen) == rows_taken(closing, width)


def test_the_width_of_the_streams_own_terminal_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    pty = pytest.importorskip("pty")
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    import struct

    monkeypatch.delenv("COLUMNS", raising=False)
    primary, secondary = pty.openpty()
    try:
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 57, 0, 0))
        with open(secondary, "w", closefd=False) as stream:
            assert terminal_width(stream) == 57
            monkeypatch.setenv("COLUMNS", "33")  # an explicit COLUMNS wins, as with shutil
            assert terminal_width(stream) == 33
    finally:
        os.close(primary)
        os.close(secondary)


# --- through Job.wait(): the caller `foundry-tune jobs watch` uses ----------------------------------


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


def _wire(messages: list[str]) -> list[dict[str, Any]]:
    return [{"id": f"ftevent-{i:032x}", "created_at": 1765452551 + i, "level": "info", "message": text,
             "type": "message", "object": "fine_tuning.job.event"} for i, text in enumerate(messages)]


def test_job_wait_in_a_narrow_terminal_leaves_no_stale_lines(server: ScriptedServer, width: int) -> None:
    messages = _recorded_messages()
    upto = [messages[:12], messages[:14], messages[:200], messages]
    body = {"id": JOB_ID, "object": "fine_tuning.job", "model": "gpt-4.1-mini", "created_at": 1765452551,
            "status": "running", "training_file": "file-1", "hyperparameters": {},
            "estimated_finish": int(time.time()) + 3600}
    with Foundry(server.url + "/api/projects/p", StaticTokenCredential("t")) as ft:
        job_path = urlparse(str(ft.openai.base_url)).path.rstrip("/") + f"/fine_tuning/jobs/{JOB_ID}"
        server.queue(job_path, *(Reply(200, body) for _ in upto[:-1]),
                     Reply(200, dict(body, status="succeeded", fine_tuned_model="gpt-4.1-mini.ft-1")))
        pages = [{"object": "list", "data": list(reversed(_wire(m))), "has_more": False} for m in upto]
        server.queue(job_path + "/events", *(Reply(200, p) for p in pages))
        server.default[job_path + "/events"] = Reply(200, pages[-1])
        out = FakeTerminal()
        Job(ft, dict(body, status="pending")).wait(poll=0.001, stream=out)
    output = out.getvalue()
    assert all(display_width(d) <= width - 1 for d in live_draws(output))
    screen = emulate(output, width)
    said = [e for e in _events(messages) if not e.is_metrics]
    taken = sum(rows_taken(f"  00:00:00  {e.message}", width) for e in said)
    assert not any("train_loss" in row for row in screen[:taken])  # no status line of a poll stayed
    closing = "".join(screen[taken:])
    assert closing.startswith(JOB_ID) and "succeeded" in closing and "step 8250" in closing
    assert len(screen) == taken + rows_taken(closing, width)
