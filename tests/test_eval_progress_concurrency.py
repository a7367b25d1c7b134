"""The evaluation progress shows the concurrency while the service throttles it (issue 15)."""

from __future__ import annotations

import io

from foundry_tune.evaluation._progress import Progress, ProgressUpdate, _NotebookProgress, _StreamProgress


def _lines(concurrency: int) -> str:
    stream = io.StringIO()
    progress = _StreamProgress(stream, live=False)
    progress.maximum, progress.concurrency = 8, concurrency
    progress.start(10)
    return stream.getvalue()


def test_the_line_says_how_many_at_a_time_only_when_it_is_below_the_maximum() -> None:
    assert "evaluating: 0/10 requests, 0 failed, 4 at a time, " in _lines(4)
    assert "at a time" not in _lines(8)


def test_the_notebook_cell_says_it_too() -> None:
    class Cell:
        html = ""

        def update(self, html: str) -> None:
            self.html = html

    cell = Cell()
    progress = _NotebookProgress(cell)  # type: ignore[arg-type]
    progress.maximum, progress.concurrency = 8, 2
    progress.start(5)
    assert "2 at a time" in cell.html


def test_a_callback_gets_the_concurrency() -> None:
    updates: list[ProgressUpdate] = []
    progress = Progress(updates.append)
    progress.concurrency = 3
    progress.start(2)
    progress.advance(failed=False)
    assert [u.concurrency for u in updates] == [3, 3]
