"""When a sweep submits: never in its constructor (which cannot await in the async flavour), but on
``sweep()`` / ``ft.sweep()`` or, for a sweep constructed with ``start=True``, on its first use."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from foundry_tune.dataset import Dataset
from foundry_tune.sweep import Sweep
from tests._eval_data import rows


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


def _data() -> tuple[Dataset, Dataset]:
    return Dataset.from_records(rows(40, seed=17), name="tickets-start.jsonl").split(validation=0.25, seed=4)


@pytest.mark.emulator
def test_a_sweep_constructed_to_start_submits_on_its_first_results(ft: Any) -> None:
    train, validation = _data()
    base = ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
    base = base.training_type("GlobalStandard").suffix("start-pending")
    held = Sweep(base, {"n_epochs": [1, 2]}, max_active=1, start=False)
    held.results()
    assert all(t.job is None for t in held.trials)  # start=False: only submit/refresh/wait submit

    swept = Sweep(base, {"n_epochs": [1, 2]}, max_active=1)
    assert all(t.job is None for t in swept.trials)
    try:
        swept.results()
        assert [t.job is not None for t in swept.trials] == [True, False]  # max_active holds one
    finally:
        swept.cancel()


@pytest.mark.emulator
@pytest.mark.anyio
async def test_an_async_sweep_constructed_to_start_submits_on_its_first_results(aft: Any) -> None:
    pytest.importorskip("aiohttp")
    from foundry_tune.aio import AsyncSweep

    train, validation = _data()
    base = aft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
    base = base.training_type("GlobalStandard").suffix("start-pending-async")
    swept = AsyncSweep(base, {"n_epochs": [1, 2]}, max_active=1)
    assert all(t.job is None for t in swept.trials)
    try:
        await swept.results()
        assert [t.job is not None for t in swept.trials] == [True, False]
    finally:
        await swept.cancel()
