"""End to end on the emulator over real HTTP (real openai and ARM clients, never mocked), written
once and run in both flavours: builder -> plan -> start -> wait -> metrics -> checkpoints -> deploy
-> chat -> evaluate -> delete for SFT, DPO and RFT, plus the promises: validate before upload,
upload once, start once (even when the answer is lost), typed failures, pause / resume / cancel."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune._async._builder import AsyncFineTuneBuilder
from foundry_tune._async._deployment import AsyncDeployment
from foundry_tune._async._flavour import sleep
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune._async._upload import upload_once
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import (
    DatasetValidationError,
    DeploymentQuotaError,
    JobCancelledError,
    JobFailedError,
    UploadError,
    WaitTimeoutError,
)
from foundry_tune.evaluation import Target
from foundry_tune.evaluation._async._evaluate import evaluate
from foundry_tune.graders import StringCheck
from foundry_tune.job import FINGERPRINT_KEY, JobStatus, UploadOptions
from foundry_tune.methods import DPO, Reinforcement, Supervised

from ._helpers import (
    WAIT,
    DropAfterCreate,
    MetadataDroppingService,
    connect,
    dpo_rows,
    finish,
    flaky_connection,
    rft_rows,
    sft_data,
    sft_rows,
)

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]


async def deploy_chat_delete(ft: AsyncFoundry, emulator: Emulator, job: AsyncJob, prompt: str) -> str:
    before = emulator.stats()["deployments"]
    async with await job.deploy(capacity=1) as deployment:
        assert deployment.model == job.fine_tuned_model and deployment.job_id == job.id
        assert emulator.stats()["deployments"] == before + 1
        answer = await deployment.chat(prompt)
    assert emulator.stats()["deployments"] == before
    assert deployment.name not in [d.name for d in await ft.deployments.list()]
    return answer


# --- the three methods, end to end ------------------------------------------------------------


@pytest.mark.anyio
async def test_sft_end_to_end(ft: AsyncFoundry, emulator: Emulator) -> None:
    train, validation = sft_data(60, seed=11).split(validation=0.2, seed=1)
    before = emulator.stats()
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
               .method(Supervised(n_epochs=2)).suffix("e2e-sft").training_type("GlobalStandard"))
    plan = await builder.plan()
    assert plan.creates_job and [f.action for f in plan.files] == ["upload", "upload"]
    job = await builder.start()
    assert not job.reused
    seen: list[str] = []
    done = await job.wait(timeout=WAIT, progress=False, poll=0.2, on_event=lambda e: seen.append(e.id))
    assert done is job and job.status is JobStatus.SUCCEEDED
    assert job.fine_tuned_model and job.fine_tuned_model.endswith("e2e-sft")
    assert len(seen) == len(set(seen)) == len(await job.events())  # every event exactly once

    metrics = await job.metrics()
    assert metrics.source == "results" and len(metrics) > 5
    assert metrics[0].train_loss is not None and metrics.last is not None
    assert metrics.last.train_loss is not None and metrics.last.train_loss < metrics[0].train_loss
    # Azure's step events come at step 1 and every 10th step; each agrees with the results file
    by_step = {r.step: r.train_loss for r in metrics}
    from_events = await job.metrics(source="events")
    assert from_events and [r.step for r in from_events][:2] == [1, 10]
    assert all(by_step[r.step] == r.train_loss for r in from_events)

    checkpoints = await job.checkpoints()
    assert checkpoints and checkpoints[-1].model.startswith(job.fine_tuned_model)
    assert [c.step for c in checkpoints] == sorted(c.step for c in checkpoints)

    attached = await ft.jobs.get(job.id)
    assert attached.id == job.id and attached.status is JobStatus.SUCCEEDED
    assert [j.id for j in await ft.jobs.find(job.fingerprint or "")] == [job.id]

    trained = {row["messages"][-1]["content"] for row in train.iter_records()}
    question = next(iter(train.iter_records()))["messages"][1]["content"]
    async with await job.deploy(capacity=1) as deployment:
        assert deployment.model == job.fine_tuned_model and deployment.job_id == job.id
        assert emulator.stats()["deployments"] == before["deployments"] + 1
        mine = [d.name for d in await ft.deployments.list(created_by_foundry_tune=True)]
        assert deployment.name in mine
        assert await deployment.chat(question) in trained  # the tuned model answers from its data
        planned = await ft.deployments.cleanup(job_id=job.id)  # a dry run: lists, deletes nothing
        assert [d.name for d in planned] == [deployment.name]
        assert [d.name for d in await ft.deployments.cleanup(job_id="ftjob-other")] == []
        assert emulator.stats()["deployments"] == before["deployments"] + 1
        report = await evaluate({"base": Target("gpt-4.1-mini"), "tuned": deployment}, validation,
                                ["exact_match", "rouge_l"], foundry=ft, concurrency=4)
    assert emulator.stats()["deployments"] == before["deployments"]
    assert deployment.name not in [d.name for d in await ft.deployments.list()]
    assert report.examples == 12 and report["tuned"].answered == report["base"].answered == 12
    assert report["tuned"].scores["rouge_l"].mean > report["base"].scores["rouge_l"].mean
    after = emulator.stats()
    # two uploads (training, validation) and the job's result file; one job
    assert after["files"] == before["files"] + 3 and after["jobs"] == before["jobs"] + 1


@pytest.mark.anyio
async def test_jobs_api_lists_and_filters(ft: AsyncFoundry) -> None:
    job = await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=13)).suffix("e2e-list")
                 .training_type("GlobalStandard").start())
    await job.cancel()  # an ended job, without waiting for it
    jobs = await ft.jobs.list(limit=50)
    assert jobs and all(isinstance(j, AsyncJob) for j in jobs)
    created = [j.created_at.timestamp() for j in jobs if j.created_at is not None]
    assert len(created) == len(jobs) and created == sorted(created, reverse=True)  # newest first
    cancelled = await ft.jobs.list(status="cancelled", limit=50)
    assert job.id in {j.id for j in cancelled} and all(j.status is JobStatus.CANCELLED for j in cancelled)
    tagged = [j for j in jobs if j.fingerprint]
    assert tagged and all(j.metadata[FINGERPRINT_KEY] == j.fingerprint for j in tagged)
    by_suffix = await ft.jobs.list(suffix="e2e-list")
    assert job.id in {j.id for j in by_suffix} and all(j.suffix == "e2e-list" for j in by_suffix)
    assert job.fingerprint is not None
    by_metadata = await ft.jobs.list(metadata={FINGERPRINT_KEY: job.fingerprint})
    assert [j.id for j in by_metadata] == [job.id]
    assert not await ft.jobs.list(metadata={FINGERPRINT_KEY: "no-such-fingerprint"})


@pytest.mark.anyio
async def test_dpo_end_to_end(ft: AsyncFoundry, emulator: Emulator) -> None:
    rows = list(dpo_rows(30))
    job = await (ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(rows[:20], name="dpo.jsonl"))
                 .validate_on(Dataset.from_records(rows[20:], name="dpo-val.jsonl"))
                 .method(DPO(beta=0.2, n_epochs=1)).training_type("Standard").start())
    await finish(job)
    method = job.method
    assert isinstance(method, DPO) and method.beta == 0.2
    assert len(await job.metrics()) > 0
    assert await job.checkpoints()
    assert await deploy_chat_delete(ft, emulator, job, "How long is the Trekker carbon poles guaranteed for?")


@pytest.mark.anyio
async def test_rft_end_to_end(ft: AsyncFoundry, emulator: Emulator) -> None:
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    job = await (ft.fine_tune("o4-mini").train_on(Dataset.from_records(rft_rows(20), name="rft.jsonl"))
                 .validate_on(Dataset.from_records(rft_rows(10, offset=100), name="rft-val.jsonl"))
                 .method(Reinforcement(grader=grader, reasoning_effort="low", n_epochs=1))
                 .training_type("GlobalStandard").start())
    await finish(job)
    assert isinstance(job.method, Reinforcement)
    assert len(await job.metrics(source="events")) > 0
    assert await job.checkpoints()
    assert await deploy_chat_delete(ft, emulator, job, "What is 3 times 4? Answer with the number only.")


# --- never pay twice --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_invalid_data_uploads_nothing(ft: AsyncFoundry, emulator: Emulator) -> None:
    rows = sft_rows(20, seed=5)
    rows[7] = {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "no answer"}]}
    before = emulator.stats()
    builder = ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(rows)).suffix("e2e-invalid")
    with pytest.raises(DatasetValidationError) as info:
        await builder.start()
    assert any(issue.line == 8 for issue in info.value.report.errors)
    after = emulator.stats()
    for key in ("files", "uploads", "jobs"):
        assert after[key] == before[key], key
    assert not await ft.jobs.list(suffix="e2e-invalid")


@pytest.mark.anyio
async def test_same_data_is_uploaded_once(ft: AsyncFoundry, emulator: Emulator, tmp_path: Path) -> None:
    path_a, path_b = tmp_path / "a.jsonl", tmp_path / "b-copy.jsonl"
    sft_data(25, seed=21).to_jsonl(path_a)
    sft_data(25, seed=21).to_jsonl(path_b)
    before = emulator.stats()
    # Uploads only: jobs of earlier tests that end meanwhile add result files ("fine-tune-results").
    uploads_before = len((await ft.openai.files.list(purpose="fine-tune")).data)
    base = ft.fine_tune("gpt-4.1-mini").training_type("GlobalStandard").method(Supervised(n_epochs=1))
    first = await base.train_on(path_a).suffix("once-a").start()
    second = await base.train_on(path_b).suffix("once-b").start()  # another job, the same bytes
    assert first.id != second.id
    assert first.training_file == second.training_file
    assert len((await ft.openai.files.list(purpose="fine-tune")).data) == uploads_before + 1
    plan = await base.train_on(path_b).suffix("once-c").plan()
    assert [f.action for f in plan.files] == ["reuse"] and plan.files[0].file_id == first.training_file
    for job in (first, second):
        await job.cancel()
    assert emulator.stats()["jobs"] == before["jobs"] + 2


@pytest.mark.anyio
async def test_start_twice_leaves_one_job(ft: AsyncFoundry, emulator: Emulator) -> None:
    def builder(conn: AsyncFoundry) -> AsyncFineTuneBuilder:
        return (conn.fine_tune("gpt-4.1-mini").train_on(sft_data(22, seed=31)).suffix("twice")
                .training_type("GlobalStandard"))

    before = emulator.stats()["jobs"]
    same = builder(ft)
    first = await same.start()
    second = await same.start()
    assert second.id == first.id and second.reused and not first.reused
    async with connect(emulator.info) as again:  # as a restarted script would, on its own connection
        third = await builder(again).start()
        assert third.id == first.id and third.reused
        assert [j.id for j in await again.jobs.find(first.fingerprint or "")] == [first.id]
    assert emulator.stats()["jobs"] == before + 1
    assert (await same.plan()).existing_job_id == first.id
    assert [j.id for j in await ft.jobs.find(first.fingerprint or "")] == [first.id]
    fresh = await same.start(force_new=True)
    assert fresh.id != first.id and emulator.stats()["jobs"] == before + 2
    for job in (first, fresh):
        await job.cancel()


@pytest.mark.anyio
async def test_dropped_connection_on_create_leaves_one_job(ft: AsyncFoundry, emulator: Emulator) -> None:
    transport = DropAfterCreate(httpx2.AsyncHTTPTransport())
    before = emulator.stats()["jobs"]
    async with flaky_connection(emulator.info, transport) as flaky:
        job = await (flaky.fine_tune("gpt-4.1-mini").train_on(sft_data(21, seed=41)).suffix("dropped")
                     .training_type("GlobalStandard").start())
        assert transport.dropped == 1 and job.fingerprint is not None
        assert emulator.stats()["jobs"] == before + 1  # the retry found the job, made no other
        assert [j.id for j in await ft.jobs.list(fingerprint=job.fingerprint, limit=10)] == [job.id]
        await finish(job)
        assert job.status is JobStatus.SUCCEEDED


@pytest.mark.anyio
async def test_dropped_create_on_a_service_without_metadata_leaves_one_job(emulator: Emulator) -> None:
    transport = MetadataDroppingService(httpx2.AsyncHTTPTransport())
    before = emulator.stats()["jobs"]
    async with flaky_connection(emulator.info, transport) as flaky:
        job = await (flaky.fine_tune("gpt-4.1-mini").train_on(sft_data(21, seed=43)).suffix("no-metadata")
                     .training_type("GlobalStandard").start())
        assert transport.dropped == 1 and job.fingerprint is None
        assert emulator.stats()["jobs"] == before + 1  # found by what it was made of
        assert job.suffix == "no-metadata"
        await job.cancel()


# --- failures are typed and explained ---------------------------------------------------------


@pytest.mark.anyio
async def test_failed_job_raises_with_the_services_reason(ft: AsyncFoundry, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    sft_data(20, seed=51).to_jsonl(path)
    with path.open("rb") as fh:
        uploaded = await ft.openai.files.create(file=("chat.jsonl", fh), purpose="fine-tune")
    # Chat data given to a DPO job by file id: the service processes the file, then fails the job.
    job = await (ft.fine_tune("gpt-4.1-mini").train_on(uploaded.id).method(DPO())
                 .training_type("Standard").start())
    with pytest.raises(JobFailedError) as info:
        await finish(job)
    err = info.value
    assert err.job_id == job.id
    assert job.error is not None and err.code == job.error[0] == "invalidTrainingFile"
    assert err.service_message and "invalid training file" in err.service_message
    assert err.hint and "foundry-tune validate" in err.hint
    assert err.service_message in str(err)


@pytest.mark.anyio
async def test_a_training_type_the_model_lacks_is_refused_with_the_services_reason(ft: AsyncFoundry) -> None:
    with pytest.raises(Exception) as info:
        await (ft.fine_tune("gpt-35-turbo").train_on(sft_data(20, seed=8))
               .training_type("GlobalStandard").start())
    assert "TrainingType" in str(info.value) or "training type" in str(info.value).lower()


@pytest.mark.anyio
async def test_create_without_training_type_gets_the_service_default(ft: AsyncFoundry) -> None:
    # Azure has a default training type (Standard); the emulator used to refuse the create.
    job = await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=111)).suffix("no-type").start()
    try:
        assert job.raw["trainingType"] == "standard" and job.status is JobStatus.PENDING
    finally:
        await job.cancel()


@pytest.mark.anyio
async def test_file_rejected_in_processing_raises_upload_error(ft: AsyncFoundry) -> None:
    rows = sft_rows(15, seed=61)
    rows[2] = {"messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(UploadError) as info:
        await upload_once(ft, Dataset.from_records(rows, name="bad.jsonl"), UploadOptions())
    assert info.value.file_id and info.value.details and "line 3" in info.value.details


@pytest.mark.anyio
async def test_large_files_go_through_the_uploads_api_intact(ft: AsyncFoundry, emulator: Emulator) -> None:
    data = sft_data(60, seed=71, name="big.jsonl")
    before = emulator.stats()
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(data).suffix("parts").training_type("GlobalStandard")
               .upload_options(single_request_limit=4096, part_size=5000, parallel_parts=3))
    assert data.size_bytes > 3 * 5000  # several parts, more than the parallel limit at once
    assert (await builder.plan()).files[0].via == "uploads"
    job = await builder.start()
    after = emulator.stats()
    assert after["uploads"] == before["uploads"] + 1 and after["files"] == before["files"] + 1
    content = (await ft.openai.files.content(job.training_file or "")).content
    assert hashlib.sha256(content).hexdigest() == data.content_hash()
    await job.cancel()


@pytest.mark.anyio
async def test_deployment_quota_error_is_typed(make_emulator: Callable[..., Emulator]) -> None:
    emulator = make_emulator()  # its own emulator: the limit counts every deployment on the resource
    async with connect(emulator.info) as ft:
        job = await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=81)).suffix("quota")
                     .training_type("GlobalStandard").start())
        await finish(job)
        created: list[AsyncDeployment] = []
        try:
            with pytest.raises(DeploymentQuotaError) as info:
                for i in range(10):
                    created.append(await job.deploy(f"quota-{i}", capacity=1, wait=False))
            assert info.value.code and info.value.status
            assert len(created) == emulator.stats()["deployments"] == 5  # the emulator's fine-tuned limit
        finally:
            for deployment in created:  # all deletes at once: ARM takes a while for each
                await deployment.delete(wait=False)
        for _ in range(200):
            if not emulator.stats()["deployments"]:
                break
            await sleep(0.05)
        assert emulator.stats()["deployments"] == 0


# --- control ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelling_a_stale_handle_of_a_job_that_has_since_ended_is_a_no_op(ft: AsyncFoundry) -> None:
    job = await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=103)).suffix("stale").start()
    stale = await ft.jobs.get(job.id)
    await finish(job)  # the job ends on the service; ``stale`` has not seen it
    assert not stale.status.is_terminal
    assert (await stale.cancel()).status is JobStatus.SUCCEEDED  # the service said 400; not an error


@pytest.mark.anyio
async def test_pause_resume_cancel(ft: AsyncFoundry) -> None:
    job = await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=101)).suffix("control")
                 .training_type("GlobalStandard").start())
    for _ in range(400):
        if (await job.refresh()).status is JobStatus.RUNNING:
            break
        await sleep(0.02)
    assert (await job.pause()).status is JobStatus.PAUSING  # as Azure answers, then `paused`
    assert (await job.pause()).status in {JobStatus.PAUSING, JobStatus.PAUSED}  # repeated: no error
    for _ in range(400):
        if (await job.refresh()).status is JobStatus.PAUSED:
            break
        await sleep(0.02)
    assert job.status is JobStatus.PAUSED
    with pytest.raises(WaitTimeoutError):  # a paused job is live: wait() keeps waiting
        await job.wait(timeout=0.3, progress=False)
    assert job.status is JobStatus.PAUSED
    assert (await job.resume()).status is JobStatus.RESUMING  # then `running`
    assert (await job.resume()).status in {JobStatus.RESUMING, JobStatus.RUNNING}  # repeated: no error
    cancelled = await job.cancel()
    assert job.status is cancelled.status is JobStatus.CANCELLED  # the job itself is updated
    assert (await job.cancel()).status is JobStatus.CANCELLED
    with pytest.raises(JobCancelledError):
        await finish(job)
    assert (await ft.jobs.get(job.id)).status is JobStatus.CANCELLED
