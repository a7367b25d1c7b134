"""Showing a running job: a live line in a terminal, updating HTML in a notebook, plain log lines
when output is not a terminal (CI logs, files).

The live line never gets wider than the terminal (one column spare, counted in display cells: a
CJK character or an emoji takes two), so that redrawing it with ``\r`` never leaves a wrapped,
stale copy behind. Plain lines carry the time of the event they report, not the time of printing.
``FOUNDRY_TUNE_PROGRESS`` (see `foundry_tune._core.settings.progress_from_env`) turns every display
off or forces one, unless a call's ``progress=`` says otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import math
import os
import shutil
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TextIO

from foundry_tune._core.events import JobEvent
from foundry_tune._core.metrics import loss_text
from foundry_tune._core.retry import RetryNotice, observe_retries
from foundry_tune._core.settings import ProgressMode, progress_from_env
from foundry_tune._core.status import JobStatus
from foundry_tune._notebook import in_notebook
from foundry_tune._table import char_width, display_width
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "LiveLine",
    "ProgressState",
    "Reporter",
    "display_width",
    "fit_width",
    "make_reporter",
    "progress_mode",
    "retries_shown",
    "terminal_width",
]

ELLIPSIS = "\u2026"


class ProgressState:
    """What the display shows: status, step, total steps, latest losses and an ETA.

    Steps and losses come from each event's [`metrics`][JobEvent.metrics]: the
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
        self.step_created_at: int | None = None
        """``created_at`` (unix seconds) of the event that gave the current step, when it had one."""
        self.retry: RetryNotice | None = None
        """The retry under way while the service is looked at, cleared by the next `apply`."""
        self._wall_clock = wall_clock
        self._first_step: tuple[float, int] | None = None
        self._last_step_time: float | None = None
        self._structured_step: int | None = None

    def apply(self, status: JobStatus, events: list[JobEvent], *, estimated_finish: Any = None) -> None:
        """Fold a poll's status, new events and the job's ``estimated_finish`` into the state."""
        self.status = status
        self.retry = None
        self.estimated_finish = _unix_seconds(estimated_finish)
        now = time.monotonic()
        for event in events:
            row = event.metrics
            if row is not None:
                self._apply_row(row, structured=event.is_structured_metrics, now=now,
                                created_at=event.created_at)
            elif event.message:
                self.last_message = event.message

    def _apply_row(self, data: dict[str, Any], *, structured: bool, now: float, created_at: int = 0) -> None:
        step = data.get("step")
        if isinstance(step, (int, float)) and not isinstance(step, bool) and math.isfinite(step):
            if not structured and int(step) == self._structured_step:
                return  # the structured row of this step was applied: its values are the precise ones
            if structured:
                self._structured_step = int(step)
            self.step = int(step)
            self.step_created_at = created_at or None
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

    def _parts(self) -> list[tuple[str, str]]:
        parts = [("id", self.job_id), ("status", str(self.status or "?"))]
        if self.retry is not None:
            parts.append(("retry", self.retry.short()))
        if self.step is not None:
            step = f"step {self.step}"
            if self.total_steps:
                step += f"/{self.total_steps} ({(self.fraction or 0.0):.0%})"
            parts.append(("step", step))
        if self.train_loss is not None:
            parts.append(("train_loss", f"train_loss {loss_text(self.train_loss)}"))
        if self.valid_loss is not None:
            parts.append(("valid_loss", f"valid_loss {loss_text(self.valid_loss)}"))
        if self.reward is not None:
            parts.append(("reward", f"reward {self.reward:.3f}"))
        eta = self.eta_seconds()
        if eta is not None and self.status is not None and not self.status.is_terminal:
            parts.append(("eta", f"ETA {_clock(eta)}"))
        return parts

    def line(self) -> str:
        """A one-line summary: ``ftjob-x running step 12/40 (30%) train_loss 0.53 ETA 0:45``."""
        return "  ".join(text for _, text in self._parts())

    def fitted_line(self, width: int, *, bar: bool = True) -> str:
        """The summary in at most ``width`` display cells: with a progress bar when there is room,
        else dropping the least useful parts first (the bar, the job id, validation loss and
        reward), cut with an ellipsis as a last resort."""
        parts = self._parts()

        def joined(keep: Callable[[str], bool]) -> str:
            return "  ".join(text for key, text in parts if keep(key))

        bar_text = _bar(self) if bar else ""
        candidates: list[str] = []
        for text in (joined(lambda _: True), joined(lambda key: key != "id"),
                     joined(lambda key: key not in ("id", "valid_loss", "reward"))):
            candidates += [bar_text + text, text] if bar_text else [text]
        for candidate in candidates:
            if display_width(candidate) <= width:
                return candidate
        return fit_width(candidates[-1], width)


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


# --- terminal text -------------------------------------------------------------------------------


def fit_width(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` display cells, ending with an ellipsis when cut."""
    if display_width(text) <= width:
        return text
    if width <= 0:
        return ""
    kept: list[str] = []
    used = 0
    for char in text:
        cells = char_width(char)
        if used + cells > width - 1:
            break
        kept.append(char)
        used += cells
    return "".join(kept) + ELLIPSIS


def _printable(text: str) -> str:
    """``text`` without control characters (a newline or an escape sequence sent by the service
    would break the line accounting, or drive the terminal)."""
    return "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)


def terminal_width(stream: TextIO) -> int:
    """Columns of the terminal ``stream`` writes to: ``$COLUMNS`` when set, else the size of the
    stream's own terminal, else `shutil.get_terminal_size()` (80 when nothing tells)."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        size = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # no file descriptor (io.UnsupportedOperation), closed
        size = 0
    return size if size > 0 else shutil.get_terminal_size().columns


class LiveLine:
    """One line redrawn in place at the bottom of a terminal, with lines printed above it.

    The line is drawn as ``\r`` + text + ``\x1b[K`` (erase the rest of the old one), cut to the
    terminal's width minus one column, so that it never wraps: a wrapped line would leave its first
    rows behind at every redraw. Lines printed above it are shown in full (they scroll away).
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._drawn = False

    @property
    def width(self) -> int:
        """Cells the live line may take now (read again at every draw: terminals get resized)."""
        return max(1, terminal_width(self.stream) - 1)

    def draw(self, text: str) -> None:
        """Show ``text`` (cut to `width`) as the live line."""
        self.stream.write("\r" + fit_width(_printable(text), self.width) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        """Erase the live line (the cursor stays at its start)."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False

    def print(self, text: str) -> None:
        """Print ``text`` (one line or more) above the live line (which the next `draw` redraws)."""
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()


# --- reporters ------------------------------------------------------------------------------------


class Reporter(Protocol):
    """Receives every poll of a wait: the current status and the events new since the last poll."""

    def update(self, state: ProgressState, new_events: list[JobEvent]) -> None: ...

    def close(self, state: ProgressState) -> None: ...

    def note(self, text: str) -> None: ...

    def retrying(self, state: ProgressState, notice: RetryNotice) -> None: ...


class _Silent:
    def update(self, state: ProgressState, new_events: list[JobEvent]) -> None:
        return None

    def close(self, state: ProgressState) -> None:
        return None

    def note(self, text: str) -> None:
        return None

    def retrying(self, state: ProgressState, notice: RetryNotice) -> None:
        return None


class _TerminalLine:
    """Messages scroll by as lines; the status line below them is redrawn in place."""

    def __init__(self, stream: TextIO) -> None:
        self._line = LiveLine(stream)

    def _draw(self, state: ProgressState) -> None:
        line = self._line
        line.draw(state.fitted_line(line.width))

    def update(self, state: ProgressState, new_events: list[JobEvent]) -> None:
        for event in new_events:
            if not event.is_metrics and event.message:
                self._line.print(f"  {event.time:%H:%M:%S}  {_printable(event.message)}")
        self._draw(state)

    def close(self, state: ProgressState) -> None:
        self._line.print(state.line())

    def note(self, text: str) -> None:
        self._line.print(text)

    def retrying(self, state: ProgressState, notice: RetryNotice) -> None:
        self._draw(state)


def _bar(state: ProgressState, width: int = 20) -> str:
    fraction = state.fraction
    if fraction is None:
        return ""
    filled = round(fraction * width)
    return "[" + "#" * filled + "." * (width - filled) + "] "


def _stamp(unix_seconds: float) -> str:
    return dt.datetime.fromtimestamp(unix_seconds, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _PlainLog:
    """One line per message event and status change, and a metrics line every ~10% of the steps.

    Each line starts with a UTC time: the event's own for events and steps (a CI log that prints
    late, or a poll that brings many events at once, still tells when things happened), the time of
    printing for what has no event (status changes, notes, retries)."""

    def __init__(self, stream: TextIO, *, wall_clock: Callable[[], float] | None = None) -> None:
        self._stream = stream
        self._wall_clock = wall_clock or time.time
        self._last_status: JobStatus | None = None
        self._last_logged_step: int | None = None
        self._last_text = ""

    def _write(self, text: str, at: float | None = None) -> None:
        self._last_text = text
        self._stream.write(f"{_stamp(at or self._wall_clock())} {text}\n")
        self._stream.flush()

    def update(self, state: ProgressState, new_events: list[JobEvent]) -> None:
        for event in new_events:
            if not event.is_metrics and event.message:
                self._write(f"{state.job_id}: {_printable(event.message)}", event.created_at)
        if state.status != self._last_status:
            self._last_status = state.status
            self._write(f"{state.job_id}: status {state.status}")
        if state.step is not None and state.step != self._last_logged_step:
            every = max(1, (state.total_steps or 10) // 10)
            last = self._last_logged_step
            if last is None or state.step - last >= every or state.step == state.total_steps:
                self._last_logged_step = state.step
                self._write(state.line(), state.step_created_at)

    def close(self, state: ProgressState) -> None:
        if state.line() != self._last_text:
            self._write(state.line())

    def note(self, text: str) -> None:
        self._write(text)

    def retrying(self, state: ProgressState, notice: RetryNotice) -> None:
        self._write(f"{state.job_id}: {notice.what} failed ({notice.reason}, attempt "
                    f"{notice.attempt}/{notice.max_attempts}); {notice.short()}")


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

    def retrying(self, state: ProgressState, notice: RetryNotice) -> None:
        self._handle.update(self._render(state))


_MODES: dict[object, ProgressMode] = {
    "terminal": "terminal", "plain": "plain", "notebook": "notebook", "none": "off", "off": "off",
}


def progress_mode(progress: bool | str | None) -> ProgressMode:
    """The display a ``progress=`` value asks for. ``"auto"`` (the default) defers to
    ``FOUNDRY_TUNE_PROGRESS``; every other value wins over it: ``True`` picks a display by
    environment, ``False``/``None``/``"off"`` show nothing, ``"terminal"``, ``"plain"`` and
    ``"notebook"`` force one. Anything else is an `InvalidParameterError` naming ``progress``."""
    if progress is True:
        return "auto"
    if progress is False or progress is None:
        return "off"
    if progress == "auto":
        return progress_from_env()
    mode = _MODES.get(progress) if isinstance(progress, str) else None
    if mode is None:
        raise InvalidParameterError(
            f"progress must be True, False, None, 'auto', 'terminal', 'plain', 'notebook' or 'off', "
            f"got {progress!r}")
    return mode


def make_reporter(progress: bool | str | None, stream: TextIO | None = None) -> Reporter:
    """Pick the display (see `progress_mode`): ``"auto"``/``True`` choose a notebook panel, a
    live terminal line or plain lines by environment; a ``stream`` given is never a notebook."""
    mode = progress_mode(progress)
    out = stream if stream is not None else sys.stderr
    if mode == "off":
        return _Silent()
    if mode == "plain":
        return _PlainLog(out)
    if mode == "terminal":
        return _TerminalLine(out)
    if mode == "notebook" or (stream is None and in_notebook()):
        try:
            return _NotebookHTML()
        except ImportError:
            pass
    isatty = getattr(out, "isatty", None)
    if callable(isatty) and isatty():
        return _TerminalLine(out)
    return _PlainLog(out)


@contextlib.contextmanager
def retries_shown(state: ProgressState, reporter: Reporter) -> Iterator[None]:
    """Show every retry of the calls made in the block on ``reporter`` (``retrying in 2 s (429)``
    in the live line); the next `ProgressState.apply` clears it."""

    def show(notice: RetryNotice) -> None:
        state.retry = notice
        reporter.retrying(state, notice)

    with observe_retries(show):
        yield
