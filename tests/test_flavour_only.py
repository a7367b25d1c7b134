"""The few end-to-end behaviours that exist in one flavour only (everything else is written once in
``tests/_async`` and generated into ``tests/_sync``): watching many jobs concurrently in one event
loop (async), and Ctrl-C while a blocking ``wait()`` watches a job (sync)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest
from _dataset_helpers import sft_dataset

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune import AsyncFoundry, Foundry
from foundry_tune.aio import AsyncJob
from foundry_tune.emulator import Emulator
from foundry_tune.job import Job, JobStatus
from foundry_tune.methods import Supervised

# An emulator of this module's own: twenty jobs at once fill the resource's queue (20), and short
# jobs keep that test quick.
pytestmark = [pytest.mark.own_emulator(job_duration=0.3), pytest.mark.emulator, pytest.mark.slow]

WAIT = 120.0


@pytest.mark.anyio
async def test_watch_twenty_jobs_concurrently_in_one_loop(aft: AsyncFoundry, emulator: Emulator) -> None:
    data = sft_dataset(20, seed=77, name="many.jsonl")
    before = emulator.stats()
    threads: set[int] = set()
    seen: dict[str, list[str]] = {}
    statuses: list[list[JobStatus]] = []
    builder = (aft.fine_tune("gpt-4.1-mini").train_on(data).method(Supervised(n_epochs=1))
               .training_type("GlobalStandard"))
    jobs = [await builder.suffix(f"many-{i:02d}").start() for i in range(20)]
    returned: list[tuple[AsyncJob, float]] = []

    async def watch(job: AsyncJob) -> None:
        def on_event(event: Any) -> None:
            threads.add(threading.get_ident())
            seen.setdefault(job.id, []).append(event.id)

        await job.wait(timeout=WAIT, progress=False, poll=0.3, on_event=on_event)
        returned.append((job, time.time()))

    async def sample_statuses() -> None:
        while len(returned) < len(jobs):
            statuses.append([j.status for j in jobs])
            await asyncio.sleep(0.2)

    await asyncio.gather(sample_statuses(), *(watch(job) for job in jobs))
    assert len(returned) == 20 and all(job.status is JobStatus.SUCCEEDED for job, _ in returned)
    assert len({job.fine_tuned_model for job, _ in returned}) == 20
    assert threads == {threading.get_ident()}  # one loop, no thread per job
    assert all(len(ids) == len(set(ids)) for ids in seen.values())
    # The waits overlapped: while one job ran, others were being watched in the queue (Azure
    # says `pending` for a job waiting for the slot).
    assert any(s.count(JobStatus.RUNNING) == 1 and s.count(JobStatus.PENDING) >= 5 for s in statuses)
    # Each wait returned when its own job finished, not after the whole batch: in finishing order
    # (up to the poll interval), the first ones long before the last job was done.
    finished = [job.finished_at.timestamp() for job, _ in returned if job.finished_at is not None]
    assert len(finished) == 20
    assert all(later >= earlier - 3 for earlier, later in itertools.pairwise(finished))  # poll jitter
    assert returned[0][1] < max(finished)
    after = emulator.stats()
    # one upload shared by all twenty, plus one result file per job
    assert after["files"] == before["files"] + 1 + 20 and after["jobs"] == before["jobs"] + 20


def test_ctrl_c_stops_watching_but_not_the_job(ft: Foundry, capsys: pytest.CaptureFixture[str]) -> None:
    job = (ft.fine_tune("gpt-4.1-mini").train_on(sft_dataset(20, seed=91)).suffix("ctrlc")
           .training_type("GlobalStandard").start())

    def interrupt(_: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        job.wait(timeout=WAIT, on_event=interrupt, progress="plain")
    err = capsys.readouterr().err
    assert f"Job.attach(ft, '{job.id}')" in err and f"foundry-tune jobs watch {job.id}" in err
    again = Job.attach(ft, job.id)
    assert again.status is not JobStatus.CANCELLED
    again.wait(timeout=WAIT, progress=False, poll=0.2)
    assert again.status is JobStatus.SUCCEEDED


@pytest.mark.anyio
async def test_start_awaits_an_async_on_progress(aft: AsyncFoundry) -> None:
    """An ``async def`` progress callback of the async builder sees every step (it was never awaited)."""
    lines: list[str] = []

    async def on_progress(line: str) -> None:
        await asyncio.sleep(0)
        lines.append(line)

    builder = (aft.fine_tune("gpt-4.1-mini").train_on(sft_dataset(12, seed=81, name="progress.jsonl"))
               .method(Supervised(n_epochs=1)).training_type("GlobalStandard").suffix("on-progress"))
    job = await builder.start(on_progress=on_progress)
    assert any(line.startswith("uploading progress.jsonl") for line in lines), lines
    assert lines[-1] == f"started job {job.id} on gpt-4.1-mini"
    again = await builder.start(on_progress=on_progress)
    assert again.id == job.id and "already has this fingerprint" in lines[-1]
    await job.cancel()
