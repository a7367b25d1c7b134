"""Showing a running job: a live line in a terminal, updating HTML in a notebook, plain log lines
when output is not a terminal (CI logs, files)."""

from __future__ import annotations

import html
import math
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from foundry_tune._core.events import JobEvent
from foundry_tune._core.metrics import loss_text
from foundry_tune._core.status import JobStatus

__all__ = ["ProgressState", "Reporter", "make_reporter"]


class ProgressState:
    """What the display shows: status, step, total steps, latest losses and an ETA.

    Steps and losses come from each event's :attr:`~foundry_tune.job.JobEvent.metrics`: the
    structured ``data`` of a ``metrics`` event, or a step line such as ``Step 8250: training
    loss=3.81E-06`` (Azure sends progress only as such messages). The ETA is extrapolated from the
    step rate when the total number of steps is known, else taken from the job's
    ``estimated_finish`` (unix seconds) while that lies in the future.
    """

    def __init__(self, job_id: str, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.job_id = job_id
        self.status: JobStatus | None = None
        self.step: int | None = None
        self.total_steps: int | None = None
        self.train_loss: float | None = None
        self.valid_loss: float | None = None
        self.reward: float | None = None
        self.last_message: str | None = None
        self.estimated_finish: float | None = None
        """The job's ``estimated_finish`` as last seen (unix seconds), or ``None``."""
        self._wall_clock = wall_clock
        self._first_step: tuple[float, int] | None = None
        self._last_step_time: float | None = None
        self._structured_step: int | None = None

    def apply(self, status: JobStatus, events: list[JobEvent], *, estimated_finish: Any = None) -> None:
        """Fold a poll's status, new events and the job's ``estimated_finish`` into the state."""
        self.status = status
        self.estimated_finish = _unix_seconds(estimated_finish)
        now = time.monotonic()
        for event in events:
            row = event.metrics
            if row is not None:
                self._apply_row(row, structured=event.is_structured_metrics, now=now)
            elif event.message:
                self.last_message = event.message

    def _apply_row(self, data: dict[str, Any], *, structured: bool, now: float) -> None:
        step = data.get("step")
        if isinstance(step, (int, float)) and not isinstance(step, bool) and math.isfinite(step):
            if not structured and int(step) == self._structured_step:
                return  # the structured row of this step was applied: its values are the precise ones
            if structured:
                self._structured_step = int(step)
            self.step = int(step)
            if self._first_step is None:
                self._first_step = (now, self.step)
            self._last_step_time = now
        total = data.get("total_steps")
        if isinstance(total, (int, float)) and not isinstance(total, bool) and 0 < total < math.inf:
            self.total_steps = int(total)
        self.train_loss = _float(data.get("train_loss"), self.train_loss)
        self.valid_loss = _float(data.get("valid_loss"), self.valid_loss)
        for key in ("train_reward_mean", "train_mean_reward", "reward_mean", "train_reward"):
            if key in data:
                self.reward = _float(data.get(key), self.reward)
                break

    @property
    def fraction(self) -> float | None:
        """Share of steps done, when the total is known."""
        if self.step is None or not self.total_steps:
            return None
        return max(0.0, min(1.0, self.step / self.total_steps))

    def eta_seconds(self) -> float | None:
        """Remaining seconds: extrapolated from the step rate seen while watching when the total is
        known, else until the job's ``estimated_finish``; ``None`` when neither tells."""
        by_rate = self._eta_from_rate()
        return by_rate if by_rate is not None else self._eta_from_estimate()

    def _eta_from_rate(self) -> float | None:
        if self._first_step is None or self.step is None or not self.total_steps:
            return None
        t0, s0 = self._first_step
        done = self.step - s0
        if done <= 0 or self._last_step_time is None or self._last_step_time <= t0:
            return None  # steps seen in one poll only: no rate yet
        rate = (self._last_step_time - t0) / done
        return max(0.0, rate * (self.total_steps - self.step))

    def _eta_from_estimate(self) -> float | None:
        if self.estimated_finish is None or self.status in (JobStatus.PAUSED, JobStatus.PAUSING):
            return None  # a paused job's estimate is stale until it runs again
        remaining = self.estimated_finish - self._wall_clock()
        return remaining if remaining > 0 else None

    def line(self) -> str:
        """A one-line summary: ``ftjob-x running step 12/40 (30%) train_loss 0.53 ETA 0:45``."""
        parts = [self.job_id, str(self.status or "?")]
        if self.step is not None:
            step = f"step {self.step}"
            if self.total_steps:
                step += f"/{self.total_steps} ({(self.fraction or 0.0):.0%})"
            parts.append(step)
        if self.train_loss is not None:
            parts.append(f"train_loss {loss_text(self.train_loss)}")
        if self.valid_loss is not None:
            parts.append(f"valid_loss {loss_text(self.valid_loss)}")
        if self.reward is not None:
            parts.append(f"reward {self.reward:.3f}")
        eta = self.eta_seconds()
        if eta is not None and self.status is not None and not self.status.is_terminal:
            parts.append(f"ETA {_clock(eta)}")
        return "  ".join(parts)


def _float(value: Any, default: float | None) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        return float(value)
    return default


def _unix_seconds(value: Any) -> float | None:
    """A positive, finite unix time in seconds from the wire (number or numeric text), else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _clock(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Reporter(Protocol):
    """Receives every poll of a wait: the current status and the events new since the last poll."""

    def update(self, state: ProgressState, new_events: list[JobEvent]) -> None: ...

    def close(self, state: ProgressState) -> None: ...

    def note(self, text: str) -> None: ...


class _Silent:
    def update(self, state: ProgressState, new_events: list[JobEvent]) -> None:
        return None

    def close(self, state: ProgressState) -> None:
        return None

    def note(self, text: str) -> None:
        return None


class _TerminalLine:
    """Messages scroll by as lines; the status line below them is redrawn in place."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._drawn = False

    def _clear(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[2K")
            self._drawn = False

    def update(self, state: ProgressState, new_events: list[JobEvent]) -> None:
        for event in new_events:
            if not event.is_metrics and event.message:
                self._clear()
                self._stream.write(f"  {event.time:%H:%M:%S}  {event.message}\n")
        self._clear()
        self._stream.write(_bar(state) + state.line())
        self._stream.flush()
        self._drawn = True

    def close(self, state: ProgressState) -> None:
        self._clear()
        self._stream.write(state.line() + "\n")
        self._stream.flush()

    def note(self, text: str) -> None:
        self._clear()
        self._stream.write(text + "\n")
        self._stream.flush()


def _bar(state: ProgressState, width: int = 20) -> str:
    fraction = state.fraction
    if fraction is None:
        return ""
    filled = round(fraction * width)
    return "[" + "#" * filled + "." * (width - filled) + "] "


class _PlainLog:
    """One line per message event and status change, and a metrics line every ~10% of the steps."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last_status: JobStatus | None = None
        self._last_logged_step: int | None = None
        self._last_text = ""

    def _write(self, text: str) -> None:
        self._last_text = text
        self._stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        self._stream.flush()

    def update(self, state: ProgressState, new_events: list[JobEvent]) -> None:
        for event in new_events:
            if not event.is_metrics and event.message:
                self._write(f"{state.job_id}: {event.message}")
        if state.status != self._last_status:
            self._last_status = state.status
            self._write(f"{state.job_id}: status {state.status}")
        if state.step is not None and state.step != self._last_logged_step:
            every = max(1, (state.total_steps or 10) // 10)
            last = self._last_logged_step
            if last is None or state.step - last >= every or state.step == state.total_steps:
                self._last_logged_step = state.step
                self._write(state.line())

    def close(self, state: ProgressState) -> None:
        if state.line() != self._last_text:
            self._write(state.line())

    def note(self, text: str) -> None:
        self._write(text)


class _NotebookHTML:
    """A small HTML panel that updates in place (IPython ``display_id``)."""

    def __init__(self) -> None:
        from IPython.display import HTML, display  # type: ignore[import-not-found,unused-ignore]

        self._html = HTML
        self._handle: Any = display(HTML(""), display_id=True)
        self._messages: list[str] = []

    def _render(self, state: ProgressState) -> Any:
        fraction = state.fraction
        bar = (
            f'<progress value="{fraction:.3f}" max="1" style="width:20em"></progress> '
            if fraction is not None else ""
        )
        messages = "".join(f"<li>{html.escape(m)}</li>" for m in self._messages[-5:])
        return self._html(
            f"<div><b>{html.escape(state.job_id)}</b> {bar}<code>{html.escape(state.line())}</code>"
            f"<ul style='margin:0.2em 0'>{messages}</ul></div>"
        )

    def update(self, state: ProgressState, new_events: list[JobEvent]) -> None:
        self._messages.extend(e.message for e in new_events if not e.is_metrics and e.message)
        self._handle.update(self._render(state))

    def close(self, state: ProgressState) -> None:
        self._handle.update(self._render(state))

    def note(self, text: str) -> None:
        self._messages.append(text)


def _in_notebook() -> bool:
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return False
    try:
        shell = ipython_module.get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def make_reporter(progress: bool | str | None, stream: TextIO | None = None) -> Reporter:
    """Pick the display: ``"auto"``/``True`` (notebook, terminal or plain by environment),
    ``"terminal"``, ``"plain"``, ``"notebook"``, or ``False``/``None`` for none."""
    out = stream if stream is not None else sys.stderr
    if progress is False or progress is None or progress == "none":
        return _Silent()
    if progress == "plain":
        return _PlainLog(out)
    if progress == "terminal":
        return _TerminalLine(out)
    if progress == "notebook" or (stream is None and _in_notebook()):
        try:
            return _NotebookHTML()
        except ImportError:
            pass
    isatty = getattr(out, "isatty", None)
    if callable(isatty) and isatty():
        return _TerminalLine(out)
    return _PlainLog(out)
