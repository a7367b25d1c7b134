"""The async API end to end on the emulator over real HTTP (real ``openai.AsyncOpenAI`` from
``azure.ai.projects.aio``, real ``httpx.AsyncClient`` for ARM): the same workflow and promises as
the sync API, and many jobs watched concurrently in one event loop."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from _aio_helpers import run, sft_data, stats

from foundry_tune import AsyncFoundry, RetryPolicy
from foundry_tune._demo_data import demo_records
from foundry_tune.aio import AsyncJob, AsyncStaticTokenCredential
from foundry_tune.aio import evaluate as aevaluate
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import EmulatorInfo
from foundry_tune.errors import DatasetValidationError, JobFailedError
from foundry_tune.evaluation import Target
from foundry_tune.graders import StringCheck
from foundry_tune.job import JobStatus
from foundry_tune.methods import DPO, Reinforcement, Supervised

# An emulator of this module's own: twenty jobs at once fill the resource's queue (20), and short
# jobs keep that test quick.
pytestmark = [
    pytest.mark.own_emulator(job_duration=0.6),
    pytest.mark.emulator,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]

WAIT = 120.0


def test_async_sft_end_to_end(emulator_info: EmulatorInfo) -> None:
    train, validation = sft_data(60, seed=41).split(validation=0.2, seed=1)
    before = stats(emulator_info)

    async def body(ft: AsyncFoundry) -> None:
        builder = (
            ft.fine_tune("gpt-4.1-mini")
            .train_on(train)
            .validate_on(validation)
            .method(Supervised(n_epochs=2))
            .suffix("async-sft")
            .training_type("GlobalStandard")
        )
        plan = await builder.plan()
        assert plan.creates_job and [f.action for f in plan.files] == ["upload", "upload"]
        job = await builder.start()
        assert isinstance(job, AsyncJob) and not job.reused
        again = await builder.start()  # a re-run never starts a second paid job
        assert again.id == job.id and again.reused

        seen: list[str] = []
        done = await job.wait(timeout=WAIT, progress=False, on_event=lambda e: seen.append(e.id))
        assert done is job and job.status is JobStatus.SUCCEEDED
        assert job.fine_tuned_model and job.fine_tuned_model.endswith("async-sft")
        events = await job.events()
        assert len(seen) == len(set(seen)) == len(events)

        metrics = await job.metrics()
        assert metrics.source == "results" and len(metrics) > 5
        assert metrics.last is not None and metrics.last.train_loss is not None
        assert metrics[0].train_loss is not None and metrics.last.train_loss < metrics[0].train_loss
        # Azure's step events come at step 1 and every 10th step; each agrees with the results file
        by_step = {r.step: r.train_loss for r in metrics}
        from_events = await job.metrics(source="events")
        assert from_events and [r.step for r in from_events][:2] == [1, 10]
        assert all(by_step[r.step] == r.train_loss for r in from_events)
        checkpoints = await job.checkpoints()
        assert checkpoints and checkpoints[-1].model.startswith(job.fine_tuned_model)

        attached = await ft.jobs.get(job.id)
        assert attached.id == job.id and attached.status is JobStatus.SUCCEEDED
        assert [j.id for j in await ft.jobs.find(job.fingerprint or "")] == [job.id]

        trained = {row["messages"][-1]["content"] for row in train.iter_records()}
        question = next(iter(train.iter_records()))["messages"][1]["content"]
        async with await job.deploy(capacity=1) as deployment:
            assert deployment.model == job.fine_tuned_model and deployment.job_id == job.id
            assert stats(emulator_info)["deployments"] == before["deployments"] + 1
            assert [d.name for d in await ft.deployments.list(created_by_foundry_tune=True)] == [
                deployment.name
            ]
            assert await deployment.chat(question) in trained  # the tuned model answers from its data
            planned = await ft.deployments.cleanup(job_id=job.id)  # a dry run: lists, deletes nothing
            assert [d.name for d in planned] == [deployment.name]
            assert [d.name for d in await ft.deployments.cleanup(job_id="ftjob-other")] == []
            assert stats(emulator_info)["deployments"] == before["deployments"] + 1
            report = await aevaluate(
                {"base": Target("gpt-4.1-mini"), "tuned": deployment},
                validation,
                ["exact_match", "rouge_l"],
                foundry=ft,
                concurrency=4,
            )
        assert stats(emulator_info)["deployments"] == before["deployments"]
        assert report.examples == 12 and report["tuned"].answered == report["base"].answered == 12
        assert report["tuned"].scores["rouge_l"].mean > report["base"].scores["rouge_l"].mean

    run(emulator_info, body)
    after = stats(emulator_info)
    # two uploads (training, validation) and the job's result file; one job
    assert after["files"] == before["files"] + 3 and after["jobs"] == before["jobs"] + 1


def test_async_dpo_and_rft(emulator_info: EmulatorInfo) -> None:
    dpo_rows = []
    for row in demo_records(30, seed=3):
        system, user, assistant = row["messages"]
        dpo_rows.append(
            {
                "input": {"messages": [system, user]},
                "preferred_output": [assistant],
                "non_preferred_output": [{"role": "assistant", "content": "Check our website."}],
            }
        )
    rft_rows = [
        {
            "messages": [{"role": "user", "content": f"What is {i} plus {i}? Number only."}],
            "answer": str(2 * i),
        }
        for i in range(30)
    ]
    grader = StringCheck(
        name="exact", input="{{sample.output_text}}", reference="{{item.answer}}", operation="eq"
    )

    async def body(ft: AsyncFoundry) -> None:
        dpo = await (
            ft.fine_tune("gpt-4.1-mini")
            .train_on(Dataset.from_records(dpo_rows[:20], name="d.jsonl"))
            .validate_on(Dataset.from_records(dpo_rows[20:], name="dv.jsonl"))
            .method(DPO(beta=0.2, n_epochs=1))
            .training_type("Standard")
            .start()
        )
        rft = await (
            ft.fine_tune("o4-mini")
            .train_on(Dataset.from_records(rft_rows[:20], name="r.jsonl"))
            .validate_on(Dataset.from_records(rft_rows[20:], name="rv.jsonl"))
            .method(Reinforcement(grader=grader, reasoning_effort="low", n_epochs=1))
            .training_type("GlobalStandard")
            .start()
        )
        await asyncio.gather(dpo.wait(timeout=WAIT, progress=False), rft.wait(timeout=WAIT, progress=False))
        assert isinstance(dpo.method, DPO) and dpo.method.beta == 0.2
        assert isinstance(rft.method, Reinforcement)
        assert len(await dpo.metrics()) > 0 and len(await rft.metrics(source="events")) > 0

    run(emulator_info, body)


def test_async_invalid_data_uploads_nothing(emulator_info: EmulatorInfo) -> None:
    rows = list(demo_records(20, seed=5))
    rows[7] = {"messages": [{"role": "user", "content": "no answer"}]}
    before = stats(emulator_info)

    async def body(ft: AsyncFoundry) -> None:
        with pytest.raises(DatasetValidationError) as info:
            await ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(rows)).start()
        assert any(issue.line == 8 for issue in info.value.report.errors)

    run(emulator_info, body)
    after = stats(emulator_info)
    assert (after["files"], after["jobs"]) == (before["files"], before["jobs"])


def test_async_failed_job_raises_with_the_service_reason(emulator_info: EmulatorInfo) -> None:
    async def body(ft: AsyncFoundry) -> None:
        # A training type the model does not train with is refused by the service: typed, with
        # the service's reason (a missing training type is the service's default, Standard).
        with pytest.raises(Exception) as info:
            await (ft.fine_tune("gpt-35-turbo").train_on(sft_data(20, seed=8))
                   .training_type("GlobalStandard").start())
        assert "TrainingType" in str(info.value) or "training type" in str(info.value).lower()

    run(emulator_info, body)
    assert JobFailedError  # the wait() path raises it; covered by raise_for_status shared with Job


def test_async_retry_policy_shares_the_sync_configuration(emulator_info: EmulatorInfo) -> None:
    policy = RetryPolicy(max_attempts=2, total_timeout=5.0)

    async def body() -> None:
        async with AsyncFoundry(
            emulator_info.project_endpoint, AsyncStaticTokenCredential("t"), retry=policy
        ) as ft:
            assert ft.retry.policy is policy
            calls = 0

            async def flaky() -> str:
                nonlocal calls
                calls += 1
                raise httpx.ConnectError("dropped")

            with pytest.raises(Exception) as info:
                await ft.retry.call(flaky, what="flaky read")
            assert calls == 2 and "flaky read" in str(info.value)
            assert "token" not in repr(ft).lower()

    asyncio.run(body())


def test_watch_twenty_jobs_concurrently_in_one_loop(emulator_info: EmulatorInfo) -> None:
    data = sft_data(20, seed=77, name="many.jsonl")
    before = stats(emulator_info)
    threads: set[int] = set()
    seen: dict[str, list[str]] = {}
    statuses: list[list[JobStatus]] = []

    async def body(ft: AsyncFoundry) -> list[tuple[AsyncJob, float]]:
        builder = (
            ft.fine_tune("gpt-4.1-mini")
            .train_on(data)
            .method(Supervised(n_epochs=1))
            .training_type("GlobalStandard")
        )
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
        return returned

    returned = run(emulator_info, body)
    assert len(returned) == 20 and all(job.status is JobStatus.SUCCEEDED for job, _ in returned)
    assert len({job.fine_tuned_model for job, _ in returned}) == 20
    assert threads == {threading.main_thread().ident}  # one loop, no thread per job
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
    after = stats(emulator_info)
    # one upload shared by all twenty, plus one result file per job
    assert after["files"] == before["files"] + 1 + 20 and after["jobs"] == before["jobs"] + 20


def test_async_constructors_match_the_sync_ones(emulator_info: EmulatorInfo) -> None:
    import openai

    from foundry_tune.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as missing:
        AsyncFoundry.from_env({})
    assert "AZURE_AI_PROJECT_ENDPOINT" in str(missing.value)
    with pytest.raises(ConfigurationError):
        # plain http to a remote host would send the token unencrypted
        AsyncFoundry("http://example.com/api/projects/p", AsyncStaticTokenCredential("t"))

    async def body() -> None:
        client = openai.AsyncOpenAI(base_url=emulator_info.openai_base_url, api_key="key")
        ft = AsyncFoundry.from_openai_client(client, credential=AsyncStaticTokenCredential("t"),
                                             subscription_id=emulator_info.subscription_id,
                                             resource_group=emulator_info.resource_group,
                                             account_name=emulator_info.account_name,
                                             arm_endpoint=emulator_info.arm_endpoint)
        async with ft:
            assert ft.openai.max_retries == 0 and client.max_retries == 2  # the caller's client is untouched
            assert isinstance(await ft.jobs.list(limit=5), list)
            assert isinstance(await ft.deployments.list(), list)

        async with AsyncFoundry.emulator(job_duration=0.5) as own:
            assert own.is_emulator and own.emulator_instance is not None
            stats_url = own.emulator_instance.info.stats_url
            assert (await own.jobs.list()) == []
        with pytest.raises(httpx.ConnectError):
            httpx.get(stats_url, timeout=2)  # closing the connection stopped its emulator

    asyncio.run(body())
