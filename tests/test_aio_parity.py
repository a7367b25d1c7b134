"""The async twins of the sync end-to-end promises in ``test_e2e_workflow.py``, on the emulator over
real HTTP (real ``openai.AsyncOpenAI`` and ARM clients): a dropped connection on create leaves one
job, the same bytes are uploaded once, large files go through the Uploads API intact, a file the
service rejects raises ``UploadError``, a deployment quota error is typed, pause / resume / cancel."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

import httpx2
import openai
from _aio_helpers import (
    AsyncDropAfterCreate,
    AsyncMetadataDroppingService,
    run,
    sft_data,
    stats,
)

from foundry_tune import AsyncFoundry, RetryPolicy
from foundry_tune._demo_data import demo_records
from foundry_tune.aio import AsyncDeployment, AsyncJob
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import EmulatorInfo
from foundry_tune.errors import DeploymentQuotaError, JobCancelledError, UploadError, WaitTimeoutError
from foundry_tune.job import JobStatus, UploadOptions
from foundry_tune.methods import Supervised

# An emulator of this module's own: these are the async twins of test_e2e_workflow.py's tests, with
# the same data and suffixes; on a shared emulator they would find the sync tests' jobs and files.
# Its 1 s jobs are long enough for pause to land while one runs; jobs not under test are cancelled.
pytestmark = [
    pytest.mark.own_emulator(),
    pytest.mark.emulator,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]

WAIT = 90.0


async def finish(job: AsyncJob) -> AsyncJob:
    return await job.wait(timeout=WAIT, progress=False, poll=0.2)


def flaky_connection(info: EmulatorInfo, transport: AsyncDropAfterCreate) -> AsyncFoundry:
    """An AsyncFoundry whose openai client goes through ``transport`` (short backoff)."""
    client = openai.AsyncOpenAI(base_url=info.openai_base_url, api_key="emulator-key", max_retries=0,
                                http_client=httpx2.AsyncClient(transport=transport))
    return AsyncFoundry.from_openai_client(client, retry=RetryPolicy(initial_backoff=0.05, max_backoff=0.2))


# --- never pay twice --------------------------------------------------------------------------


def test_async_dropped_connection_on_create_leaves_one_job(emulator_info: EmulatorInfo) -> None:
    transport = AsyncDropAfterCreate(httpx2.AsyncHTTPTransport())
    before = stats(emulator_info)["jobs"]

    async def body() -> None:
        async with flaky_connection(emulator_info, transport) as flaky:
            job = await (flaky.fine_tune("gpt-4.1-mini").train_on(sft_data(21, seed=41)).suffix("dropped")
                         .training_type("GlobalStandard").start())
            assert transport.dropped == 1 and job.fingerprint is not None
            assert stats(emulator_info)["jobs"] == before + 1  # the retry found the job, made no other
            assert [j.id for j in await flaky.jobs.list(fingerprint=job.fingerprint, limit=10)] == [job.id]
            await finish(job)
            assert job.status is JobStatus.SUCCEEDED

    asyncio.run(body())


def test_async_dropped_create_on_a_service_without_metadata_leaves_one_job(
    emulator_info: EmulatorInfo,
) -> None:
    transport = AsyncMetadataDroppingService(httpx2.AsyncHTTPTransport())
    before = stats(emulator_info)["jobs"]

    async def body() -> None:
        async with flaky_connection(emulator_info, transport) as flaky:
            job = await (flaky.fine_tune("gpt-4.1-mini").train_on(sft_data(21, seed=43)).suffix("no-metadata")
                         .training_type("GlobalStandard").start())
            assert transport.dropped == 1 and job.fingerprint is None
            assert stats(emulator_info)["jobs"] == before + 1  # found by what it was made of
            assert job.suffix == "no-metadata"
            await job.cancel()

    asyncio.run(body())


def test_async_same_data_is_uploaded_once(emulator_info: EmulatorInfo, tmp_path: Path) -> None:
    path_a, path_b = tmp_path / "a.jsonl", tmp_path / "b-copy.jsonl"
    sft_data(25, seed=21).to_jsonl(path_a)
    sft_data(25, seed=21).to_jsonl(path_b)
    before = stats(emulator_info)

    async def body(ft: AsyncFoundry) -> None:
        base = ft.fine_tune("gpt-4.1-mini").training_type("GlobalStandard").method(Supervised(n_epochs=1))
        first = await base.train_on(path_a).suffix("once-a").start()
        second = await base.train_on(path_b).suffix("once-b").start()  # another job, the same bytes
        assert first.id != second.id
        assert first.training_file == second.training_file
        assert stats(emulator_info)["files"] == before["files"] + 1
        plan = await base.train_on(path_b).suffix("once-c").plan()
        assert [f.action for f in plan.files] == ["reuse"] and plan.files[0].file_id == first.training_file
        await asyncio.gather(first.cancel(), second.cancel())

    run(emulator_info, body)
    assert stats(emulator_info)["jobs"] == before["jobs"] + 2


def test_async_large_files_go_through_the_uploads_api_intact(emulator_info: EmulatorInfo) -> None:
    data = sft_data(60, seed=71, name="big.jsonl")
    before = stats(emulator_info)

    async def body(ft: AsyncFoundry) -> None:
        builder = (ft.fine_tune("gpt-4.1-mini").train_on(data).suffix("parts").training_type("GlobalStandard")
                   .upload_options(single_request_limit=4096, part_size=5000, parallel_parts=3))
        assert data.size_bytes > 3 * 5000  # several parts, more than the parallel limit at once
        assert (await builder.plan()).files[0].via == "uploads"
        job = await builder.start()
        after = stats(emulator_info)
        assert after["uploads"] == before["uploads"] + 1 and after["files"] == before["files"] + 1
        content = (await ft.openai.files.content(job.training_file or "")).content
        assert hashlib.sha256(content).hexdigest() == data.content_hash()
        await job.cancel()

    run(emulator_info, body)


# --- failures are typed and explained ---------------------------------------------------------


def test_async_file_rejected_in_processing_raises_upload_error(emulator_info: EmulatorInfo) -> None:
    from foundry_tune._async._upload import upload_once

    rows = list(demo_records(15, seed=61))
    rows[2] = {"messages": [{"role": "user", "content": "hi"}]}

    async def body(ft: AsyncFoundry) -> None:
        with pytest.raises(UploadError) as info:
            await upload_once(ft, Dataset.from_records(rows, name="bad.jsonl"), UploadOptions())
        assert info.value.file_id and info.value.details and "line 3" in info.value.details

    run(emulator_info, body)


def test_async_deployment_quota_error_is_typed(emulator_info: EmulatorInfo) -> None:
    async def body(ft: AsyncFoundry) -> None:
        job = await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=81)).suffix("quota")
                     .training_type("GlobalStandard").start())
        await finish(job)
        created: list[AsyncDeployment] = []
        try:
            with pytest.raises(DeploymentQuotaError) as info:
                for i in range(10):
                    created.append(await job.deploy(f"quota-{i}", capacity=1, wait=False))
            assert info.value.code and info.value.status
            assert len(created) == stats(emulator_info)["deployments"] == 5  # the emulator's fine-tuned limit
        finally:
            await asyncio.gather(*(deployment.delete() for deployment in created))
        assert stats(emulator_info)["deployments"] == 0

    run(emulator_info, body)


# --- control ----------------------------------------------------------------------------------


def test_async_pause_resume_cancel(emulator_info: EmulatorInfo) -> None:
    async def body(ft: AsyncFoundry) -> None:
        job = await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=101)).suffix("control")
                     .training_type("GlobalStandard").start())
        for _ in range(400):
            if (await job.refresh()).status is JobStatus.RUNNING:
                break
            await asyncio.sleep(0.02)
        assert (await job.pause()).status is JobStatus.PAUSING  # as Azure answers, then `paused`
        assert (await job.pause()).status in {JobStatus.PAUSING, JobStatus.PAUSED}  # no error
        for _ in range(400):
            if (await job.refresh()).status is JobStatus.PAUSED:
                break
            await asyncio.sleep(0.02)
        assert job.status is JobStatus.PAUSED
        with pytest.raises(WaitTimeoutError):  # a paused job is live: wait() keeps waiting
            await job.wait(timeout=0.3, progress=False)
        assert job.status is JobStatus.PAUSED
        assert (await job.resume()).status is JobStatus.RESUMING  # then `running`
        assert (await job.resume()).status in {JobStatus.RESUMING, JobStatus.RUNNING}  # no error
        await job.cancel()
        assert job.status is JobStatus.CANCELLED
        assert (await job.cancel()).status is JobStatus.CANCELLED
        with pytest.raises(JobCancelledError):
            await finish(job)

    run(emulator_info, body)
