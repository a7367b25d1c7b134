"""Progress of an evaluation run: a live line in a terminal (never wider than it), log lines
otherwise, a live cell in a notebook, or a callback."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from foundry_tune._core.progress import LiveLine, progress_mode
from foundry_tune._core.retry import RetryNotice
from foundry_tune._core.settings import progress_from_env
from foundry_tune._notebook import LiveHTML, live_html

__all__ = ["Progress", "ProgressUpdate", "make_progress"]


@dataclasses.dataclass(frozen=True)
class ProgressUpdate:
    """How far a run is: requests done (answered or failed) out of ``total``."""

    done: int
    total: int
    errors: int
    elapsed: float
    retries: int = 0
    """Failed attempts retried so far (429s, timeouts, 5xx): each was logged at INFO too."""
    concurrency: int = 0
    """Requests allowed in flight now: ``evaluate(concurrency=...)``, lower while the service
    throttles (0 before the run starts)."""


class Progress:
    """Counts finished requests and reports them; thread-safe."""

    def __init__(self, report: Callable[[ProgressUpdate], None] | None = None) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self.total = 0
        self.done = 0
        self.errors = 0
        self.retries = 0
        self.last_retry: RetryNotice | None = None
        self.concurrency = 0
        """Requests allowed in flight now (set by the run)."""
        self.maximum = 0
        """``evaluate(concurrency=...)``: the most allowed in flight (set by the run)."""

    def start(self, total: int) -> None:
        """Begin counting ``total`` requests."""
        self.total, self.done, self.errors, self.retries, self.last_retry = total, 0, 0, 0, None
        self._start = time.monotonic()
        self._emit()

    def advance(self, *, failed: bool) -> None:
        """One request finished."""
        with self._lock:
            self.done += 1
            self.errors += int(failed)
            self.last_retry = None
            self._emit()

    def retried(self, notice: RetryNotice) -> None:
        """A request failed and will be retried (shown until the next request finishes)."""
        with self._lock:
            self.retries += 1
            self.last_retry = notice
            self._emit()

    def close(self) -> None:
        """The run is over (finished or interrupted)."""

    def _update(self) -> ProgressUpdate:
        return ProgressUpdate(self.done, self.total, self.errors, time.monotonic() - self._start,
                              self.retries, self.concurrency)

    def _emit(self) -> None:
        if self._report is not None:
            self._report(self._update())


class _StreamProgress(Progress):
    def __init__(self, stream: TextIO, *, live: bool | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._live = LiveLine(stream) if (stream.isatty() if live is None else live) else None
        self._last_decile = -1
        self._text = ""

    def _emit(self) -> None:
        update = self._update()
        retried = f", {update.retries} retried" if update.retries else ""
        if 0 < update.concurrency < self.maximum:  # throttled: fewer at a time than asked for
            retried += f", {update.concurrency} at a time"
        self._text = (f"evaluating: {update.done}/{update.total} requests, {update.errors} failed"
                      f"{retried}, {update.elapsed:.1f} s")
        if self._live is not None:
            now = f"  {self.last_retry.short()}" if self.last_retry is not None else ""
            self._live.draw(self._text + now)
            return
        decile = 10 * update.done // max(update.total, 1)
        if decile != self._last_decile:
            self._last_decile = decile
            self._stream.write(self._text + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.print(self._text)  # the last count stays, as a line of its own


class _NotebookProgress(Progress):
    def __init__(self, cell: LiveHTML) -> None:
        super().__init__()
        self._cell = cell
        self._shown = -1.0

    def _emit(self) -> None:
        update = self._update()
        if update.done < update.total and update.elapsed - self._shown < 0.2:
            return  # a notebook redraw per request would flood the frontend
        self._shown = update.elapsed
        throttled = f"{update.concurrency} at a time, " if 0 < update.concurrency < self.maximum else ""
        self._cell.update(
            f'<progress value="{update.done}" max="{max(update.total, 1)}" style="width:20em"></progress> '
            f"<code>{update.done}/{update.total} requests, {update.errors} failed, {throttled}"
            f"{update.elapsed:.1f} s</code>")

    def close(self) -> None:
        self._shown = -1.0
        self._emit()


def make_progress(progress: bool | str | Callable[[ProgressUpdate], None] | None) -> Progress:
    """Pick the display for ``evaluate(progress=...)``.

    ``None`` (the default) or ``"auto"``: what ``FOUNDRY_TUNE_PROGRESS`` asks for, else a live
    cell in a notebook, a live line when stderr is a terminal, or quiet. ``True``: always on
    stderr (a live line in a terminal, log lines otherwise); ``False`` or ``"off"``: quiet;
    ``"plain"``: log lines on stderr; ``"terminal"``: a live line on stderr; ``"notebook"``: a
    live cell (stderr where no notebook can show one); a callable: called with every
    `ProgressUpdate`. The strings are `Job.wait()`'s (see `progress_mode`); any other value is an
    `InvalidParameterError` naming ``progress``. An explicit value wins over the variable.
    """
    if callable(progress):
        return Progress(progress)
    if progress is True:
        return _StreamProgress(sys.stderr)
    mode = progress_from_env() if progress is None else progress_mode(progress)
    if mode == "off":
        return Progress()
    if mode in ("plain", "terminal"):
        return _StreamProgress(sys.stderr, live=mode == "terminal")
    cell = live_html("")
    if cell is not None:
        return _NotebookProgress(cell)
    if mode == "notebook" or sys.stderr.isatty():
        return _StreamProgress(sys.stderr)
    return Progress()
