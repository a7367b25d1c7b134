"""On a service that does not echo job metadata (no Azure recording shows it coming back), a start
is still made once: the reuse lookup, the reconcile after a lost create and the check for a rival
started elsewhere recognise a job by what it was made of (files, model, method, suffix, seed).
Every start here runs as on another machine (a fresh local state folder): no local ledger helps."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._builder import AsyncFineTuneBuilder
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._upload import wait_processed
from foundry_tune._core.upload import UploadOptions, clean_hash, upload_name
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator

from ._helpers import DropAfterCreate, finish, flaky_connection, sft_data
from .test_rival_start import start_with_a_rival

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(drop_metadata=True, job_duration=2.0)]


@pytest.fixture
def another_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[], None]:
    """Call before a start: it then sees a fresh local state folder, as on another machine."""
    machines = itertools.count()

    def switch() -> None:
        monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path / f"machine-{next(machines)}"))

    switch()
    return switch


def builder(ft: AsyncFoundry, suffix: str, seed: int = 71) -> AsyncFineTuneBuilder:
    return ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=seed, name="nometa.jsonl")).suffix(suffix)


@pytest.mark.anyio
async def test_identical_starts_make_one_job_without_metadata(
    ft: AsyncFoundry, emulator: Emulator, another_machine: Callable[[], None]
) -> None:
    before = emulator.stats()["jobs"]
    first = await builder(ft, "nometa").start()
    assert first.fingerprint is None and not first.reused  # the service dropped the metadata
    another_machine()
    again = await builder(ft, "nometa").start()
    assert again.id == first.id and again.reused
    assert (await builder(ft, "nometa").plan()).existing_job_id == first.id
    assert emulator.stats()["jobs"] == before + 1

    # Once trained, the body shows the hyperparameters the start left to the service resolved
    # (-1 before): a start that sent none still matches.
    await finish(first)
    assert -1 not in first.raw["hyperparameters"].values()
    another_machine()
    after_training = await builder(ft, "nometa").start()
    assert after_training.id == first.id and after_training.reused
    assert (await builder(ft, "nometa").plan()).existing_job_id == first.id

    other_suffix = await builder(ft, "nometa-two").start()
    other_seed = await builder(ft, "nometa").seed(7).start()  # a seed sent must be the job's
    assert not other_suffix.reused and not other_seed.reused
    assert len({first.id, other_suffix.id, other_seed.id}) == 3
    assert emulator.stats()["jobs"] == before + 3
    for job in (other_suffix, other_seed):
        await job.cancel()


@pytest.mark.anyio
async def test_a_lost_create_is_found_by_its_inputs(
    emulator: Emulator, another_machine: Callable[[], None]
) -> None:
    transport = DropAfterCreate(httpx2.AsyncHTTPTransport())
    before = emulator.stats()["jobs"]
    async with flaky_connection(emulator.info, transport) as flaky:
        job = await builder(flaky, "nometa-lost", seed=72).start()
        assert transport.dropped == 1 and job.fingerprint is None and not job.reused
        assert emulator.stats()["jobs"] == before + 1  # the retry found the job, made no other
        another_machine()
        again = await builder(flaky, "nometa-lost", seed=72).start()
        assert again.id == job.id and again.reused
        await job.cancel()


@pytest.mark.anyio
async def test_a_rival_started_elsewhere_is_kept_and_ours_cancelled(
    ft: AsyncFoundry, emulator: Emulator, another_machine: Callable[[], None]
) -> None:
    before = emulator.stats()["jobs"]
    job, rival = await start_with_a_rival(ft, builder(ft, "nometa-rival", seed=73))
    assert job.id == rival.id and job.reused and job.fingerprint is None
    assert emulator.stats()["jobs"] == before + 2
    mine = [j for j in (await ft.openai.fine_tuning.jobs.list(limit=100)).data
            if j.suffix == "nometa-rival" and j.id != rival.id]
    assert len(mine) == 1 and mine[0].status in ("cancelled", "cancelling")
    await job.cancel()


async def job_on_own_upload(ft: AsyncFoundry, data: Dataset, content: bytes, suffix: str) -> Any:
    """What another machine's start leaves behind: its own upload of ``content`` under the name
    ``data`` is uploaded with, and a job on it (no metadata comes back)."""
    name = upload_name(data.name, clean_hash(data.content_hash()))
    uploaded = await ft.openai.files.create(file=(name, io.BytesIO(content)), purpose="fine-tune")
    await wait_processed(ft, uploaded.id, UploadOptions())
    return await ft.openai.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=uploaded.id,
                                                   suffix=suffix, extra_body={"trainingType": "Standard"})


@pytest.mark.anyio
async def test_a_job_on_another_upload_of_the_same_data_is_reused(
    ft: AsyncFoundry, emulator: Emulator, tmp_path: Path
) -> None:
    data = sft_data(20, seed=74, name="again.jsonl")
    path = tmp_path / "again.jsonl"
    data.to_jsonl(path)
    theirs = await job_on_own_upload(ft, data, path.read_bytes(), "nometa-again")
    # A third machine uploaded the same data again: the newest copy, which this start reuses, is
    # not the file their job was made of.
    name = upload_name(data.name, clean_hash(data.content_hash()))
    await ft.openai.files.create(file=(name, io.BytesIO(path.read_bytes())), purpose="fine-tune")
    before = emulator.stats()["jobs"]
    builder = ft.fine_tune("gpt-4.1-mini").train_on(data).suffix("nometa-again").training_type("Standard")
    job = await builder.start()
    assert job.id == theirs.id and job.reused  # its file holds our data: the same job
    assert emulator.stats()["jobs"] == before
    await job.cancel()


@pytest.mark.anyio
async def test_a_job_on_a_planted_file_is_not_reused(ft: AsyncFoundry, tmp_path: Path) -> None:
    data = sft_data(20, seed=75, name="planted.jsonl")
    other = tmp_path / "other.jsonl"
    sft_data(20, seed=76).to_jsonl(other)
    # Our hash-bearing name, other (valid) bytes: a job on it is not made of our data.
    planted = await job_on_own_upload(ft, data, other.read_bytes(), "nometa-planted")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(data).suffix("nometa-planted").training_type("Standard")
    job = await builder.start()
    assert job.id != planted.id and not job.reused
    for made in (job, await ft.jobs.get(planted.id)):
        await made.cancel()
