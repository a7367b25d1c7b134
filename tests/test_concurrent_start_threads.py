"""Threads sharing one ``Foundry`` start the identical job at the same instant (a thread pool, a
notebook's background threads): one job is made and each distinct file is uploaded once; every
thread gets that job back, and all but one are told ``reused``."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from _dataset_helpers import race_data

from foundry_tune import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator

pytestmark = pytest.mark.own_emulator()

ROUNDS = 5
CALLERS = 3


def uploads_of(ft: Foundry, *datasets: Dataset) -> int:
    """How many files on the service hold one of ``datasets`` (their names carry the content hash)."""
    markers = tuple(f".sha256-{data.content_hash()[:32]}.jsonl" for data in datasets)
    return sum(f.filename.endswith(markers) for f in ft.openai.files.list(purpose="fine-tune"))


def thread_race(ft: Foundry, emulator: Emulator, tag: str) -> None:
    """``CALLERS`` threads start the identical job at the same instant; one job, one upload per file."""
    train, validation = race_data(tag)
    barrier = threading.Barrier(CALLERS)

    def start(_: int) -> tuple[str, bool]:
        # Each thread describes the job itself, from its own datasets of the same content.
        own_train, own_validation = race_data(tag)
        builder = ft.fine_tune("gpt-4.1-mini").train_on(own_train).validate_on(own_validation).suffix(tag)
        barrier.wait(timeout=30)
        job = builder.start(on_progress=lambda line: None)
        return job.id, job.reused

    before = emulator.stats()
    with ThreadPoolExecutor(CALLERS) as pool:
        results = list(pool.map(start, range(CALLERS)))
    after = emulator.stats()

    assert after["jobs"] - before["jobs"] == 1, f"{tag}: {results}"
    assert uploads_of(ft, train) == uploads_of(ft, validation) == 1, tag
    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(reused for _, reused in results) == [False] + [True] * (CALLERS - 1)


def test_threads_sharing_one_foundry_make_one_job_and_upload_once(ft: Foundry, emulator: Emulator) -> None:
    for round_no in range(ROUNDS):
        thread_race(ft, emulator, f"threads-{round_no}-{uuid.uuid4().hex[:8]}")
