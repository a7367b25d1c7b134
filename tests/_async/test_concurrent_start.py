"""Identical starts on one machine make one job and upload each distinct file once: tasks of one
``AsyncFoundry`` started at the same instant, and a later start that the service's listing would
not help (it finds what the earlier one made in the local ledger). Threads and processes:
``tests/test_concurrent_start_threads.py`` and ``tests/test_concurrent_start_processes.py``."""

from __future__ import annotations

import types
import uuid
from typing import Any

import pytest
from _dataset_helpers import race_data

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator

pytestmark = pytest.mark.own_emulator()

ROUNDS = 5
CALLERS = 3


async def uploads_of(ft: AsyncFoundry, *datasets: Dataset) -> int:
    """How many files on the service hold one of ``datasets`` (their names carry the content hash)."""
    markers = tuple(f".sha256-{data.content_hash()[:32]}.jsonl" for data in datasets)
    count = 0
    async for f in ft.openai.files.list(purpose="fine-tune"):
        count += f.filename.endswith(markers)
    return count


def quiet(line: str) -> None:
    """An ``on_progress`` that shows nothing."""


def hide_listings(monkeypatch: pytest.MonkeyPatch, ft: AsyncFoundry) -> None:
    """Make the service list no job and no file (a listing that lags, or a service that drops
    metadata): only the local ledger can tell a later start what an earlier one made."""

    async def nothing(*args: Any, **kwargs: Any) -> Any:
        return types.SimpleNamespace(data=[], has_more=False)

    monkeypatch.setattr(ft.openai.fine_tuning.jobs, "list", nothing)
    monkeypatch.setattr(ft.openai.files, "list", nothing)


@pytest.mark.anyio
async def test_a_later_start_returns_the_job_and_files_the_ledger_names(
    ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = f"ledger-{uuid.uuid4().hex[:8]}"
    train, validation = race_data(tag)
    builder = ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation).suffix(tag)
    first = await builder.start(on_progress=quiet)
    jobs_before = emulator.stats()["jobs"]

    with monkeypatch.context() as patch:
        hide_listings(patch, ft)
        again = await builder.start(on_progress=quiet)
        # Another job (another suffix) on the same data: the files come from the ledger too.
        other = await builder.suffix(f"{tag}-other").start(on_progress=quiet)

    assert again.id == first.id and again.reused and not first.reused
    assert other.id != first.id and not other.reused
    assert emulator.stats()["jobs"] == jobs_before + 1  # the other suffix only
    assert await uploads_of(ft, train) == await uploads_of(ft, validation) == 1


@pytest.mark.anyio
async def test_a_ledger_entry_for_a_deleted_file_is_not_reused(
    ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = f"gone-{uuid.uuid4().hex[:8]}"
    train, validation = race_data(tag)
    builder = ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation).suffix(tag)
    first = await builder.start(on_progress=quiet)
    await first.cancel()
    assert first.training_file is not None
    await ft.openai.files.delete(first.training_file)

    with monkeypatch.context() as patch:
        hide_listings(patch, ft)
        second = await builder.start(on_progress=quiet)

    assert second.id != first.id and not second.reused  # the ledger's job was cancelled
    assert second.training_file != first.training_file  # and its training file deleted: uploaded again
    assert second.validation_file == first.validation_file


# unasync: remove-begin
async def task_race(ft: AsyncFoundry, emulator: Emulator, tag: str) -> None:
    """``CALLERS`` tasks start the identical job at the same instant; one job, one upload per file."""
    import anyio

    train, validation = race_data(tag)
    builder = ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation).suffix(tag)
    results: list[tuple[str, bool]] = []
    go = anyio.Event()
    ready = 0

    async def start() -> None:
        nonlocal ready
        ready += 1
        if ready == CALLERS:
            go.set()
        await go.wait()
        job = await builder.start(on_progress=quiet)
        results.append((job.id, job.reused))

    before = emulator.stats()
    async with anyio.create_task_group() as tasks:
        for _ in range(CALLERS):
            tasks.start_soon(start)
    after = emulator.stats()

    assert after["jobs"] - before["jobs"] == 1, f"{tag}: {results}"
    assert await uploads_of(ft, train) == await uploads_of(ft, validation) == 1, tag
    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(reused for _, reused in results) == [False] + [True] * (CALLERS - 1)


@pytest.mark.anyio
async def test_tasks_of_one_connection_make_one_job_and_upload_once(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    for round_no in range(ROUNDS):
        await task_race(ft, emulator, f"tasks-{round_no}-{uuid.uuid4().hex[:8]}")
# unasync: remove-end
