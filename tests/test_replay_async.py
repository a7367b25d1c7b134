"""The async API (``AsyncFoundry``) against the replay server (real Azure bodies, see
``tests/_replay.py``): the same promises as the sync workflow in ``test_replay_workflow.py``."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

pytest.importorskip("aiohttp")

from _emulator_helpers import SAMPLES, first_rows, needs_samples, write_jsonl
from _replay import ReplayServer, Scenario, fixture, needs_recordings, recorded_exchange, recorded_losses

from foundry_tune.aio import AsyncFoundry, AsyncJob
from foundry_tune.errors import JobCancelledError
from foundry_tune.job import JobStatus
from foundry_tune.methods import Supervised

pytestmark = [
    needs_recordings,
    needs_samples,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]

T = TypeVar("T")
POLL = 0.02


def run(server: ReplayServer, body: Callable[[AsyncFoundry], Awaitable[T]]) -> T:
    async def main() -> T:
        async with server.async_foundry() as ft:
            return await body(ft)

    return asyncio.run(main())


@pytest.fixture
def train(tmp_path: Path) -> Path:
    rows = first_rows(SAMPLES / "sample-sft-text-gsm8k" / "chat_train.jsonl", 16)
    return write_jsonl(tmp_path / "train.jsonl", rows)


async def start(ft: AsyncFoundry, train: Path, model: str = "gpt-4.1-mini",
                training_type: str = "GlobalStandard") -> AsyncJob:
    return await (ft.fine_tune(model).train_on(train).method(Supervised())
                  .training_type(training_type).start())


def test_async_start_wait_metrics_deploy_delete(train: Path) -> None:
    chat_text = fixture("spec-examples/chat_completions.json")["body"]["choices"][0]["message"]["content"]
    answer = recorded_exchange("recordings/deploy_and_infer_oai_sft.json", "POST",
                               r"/responses$")["response"]["output"][0]["content"][0]["text"]
    losses = recorded_losses()

    async def body(ft: AsyncFoundry) -> None:
        job = await start(ft, train)
        assert job.status == JobStatus.PENDING and job.model == "gpt-4.1-mini-2025-04-14"
        log = io.StringIO()
        await job.wait(poll=POLL, progress="plain", stream=log)
        assert job.status == JobStatus.SUCCEEDED
        steps = [int(m[1]) for m in re.finditer(r"\bstep (\d+)\b[^\n]*\btrain_loss", log.getvalue())]
        assert len(set(steps)) >= 3 and steps[-1] == 8250 and all(s in losses for s in steps)

        metrics = await job.metrics(source="events")
        assert len(metrics) == 826 and metrics.last is not None and metrics.last.step == 8250
        checkpoints = await job.checkpoints()
        assert [c.step for c in checkpoints] == [1, 80, 90, 100]
        assert checkpoints[-1].model == job.fine_tuned_model

        deployment = await job.deploy(capacity=50)
        put = server.requests_to("PUT", r"/deployments/")[0].json
        assert put["sku"] == {"name": "GlobalStandard", "capacity": 50}
        assert put["properties"]["model"]["format"] == "OpenAI"
        assert put["properties"]["model"]["name"] == job.fine_tuned_model
        assert deployment.provisioning_state == "Succeeded"
        assert [r.status for r in server.requests_to("POST", r"/chat/completions$")] == [404, 200]
        assert await deployment.chat("hello") == chat_text
        assert await deployment.responses("Who invented the telephone?") == answer
        await deployment.delete()
        assert await ft.deployments.find_info(deployment.name) is None

    with ReplayServer() as server:
        run(server, body)


def test_async_pause_resume_cancel(train: Path) -> None:
    async def body(ft: AsyncFoundry) -> None:
        job = await start(ft, train)
        assert (await job.refresh()).status == JobStatus.RUNNING
        assert (await job.pause()).status == "pausing"
        assert (await job.refresh()).status == JobStatus.PAUSED
        assert (await job.resume()).status == "resuming"
        assert (await job.refresh()).status == JobStatus.RUNNING
        assert (await job.cancel()).status == JobStatus.CANCELLED
        with pytest.raises(JobCancelledError):
            await job.wait(poll=POLL, progress=False)

    with ReplayServer(Scenario(running_polls=100)) as server:
        run(server, body)


def test_async_ministral_deploys_with_the_mistral_format(train: Path) -> None:
    async def body(ft: AsyncFoundry) -> None:
        job = await start(ft, train, model="Ministral-3B")
        await job.wait(poll=POLL, progress=False)
        deployment = await job.deploy()
        put = server.requests_to("PUT", r"/deployments/")[0].json
        assert put["properties"]["model"]["format"] == "Mistral AI"
        await deployment.delete()

    with ReplayServer(Scenario(running_polls=1)) as server:
        run(server, body)


def test_async_jobs_list_follows_the_recorded_has_more() -> None:
    async def body(ft: AsyncFoundry) -> list[str]:
        return [job.id for job in await ft.jobs.list(limit=100)]

    with ReplayServer() as server:
        ids = run(server, body)
        first = ids.index(server.recorded_list_ids[0])
        assert ids[first:first + 3] == server.recorded_list_ids
        spec = server.job_ids["spec-examples/get_finetuning_job.json"]
        assert set(server.job_ids.values()) - {spec} <= set(ids)
        pages = server.requests_to("GET", r"/fine_tuning/jobs$")
        assert len(pages) == 2 and pages[1].query["after"]
