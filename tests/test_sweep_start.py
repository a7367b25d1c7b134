"""When a sweep submits: never in its constructor (which cannot await in the async flavour), but on
``sweep()`` / ``ft.sweep()`` or, for a sweep constructed with ``start=True``, on its first use
(on the emulator: ``tests/_async/test_sweep.py`` and its generated twin)."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable

import pytest

from foundry_tune.sweep import Sweep


def _runtime_warnings(make_and_drop: Callable[[], None]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_and_drop()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def test_an_async_sweep_dropped_unsubmitted_leaves_no_coroutine_behind() -> None:
    pytest.importorskip("aiohttp")
    from foundry_tune.aio import AsyncFineTuneBuilder, AsyncSweep

    async def pending() -> int:
        return 0

    # The check sees what the old constructor did: a coroutine created and never awaited.
    assert any("never awaited" in m for m in _runtime_warnings(lambda: (pending(), None)[1]))

    def construct_and_drop() -> None:
        builder = AsyncFineTuneBuilder(None, "gpt-4.1-mini").validate_on("file-validation")  # type: ignore[arg-type]
        swept = AsyncSweep(builder, {"n_epochs": [1, 2]})  # start=True: nothing submitted yet
        assert [t.status for t in swept.trials] == ["waiting", "waiting"]

    assert _runtime_warnings(construct_and_drop) == []


def test_constructing_a_sync_sweep_talks_to_nobody() -> None:
    from foundry_tune.job import FineTuneBuilder

    builder = FineTuneBuilder(None, "gpt-4.1-mini").validate_on("file-validation")  # type: ignore[arg-type]
    swept = Sweep(builder, {"n_epochs": [1, 2]})  # no connection: submitting here would raise
    assert [t.status for t in swept.trials] == ["waiting", "waiting"]
    swept.cancel()  # nothing was submitted: the trials are dropped, nothing is sent
    assert [t.status for t in swept.trials] == ["not started", "not started"]
