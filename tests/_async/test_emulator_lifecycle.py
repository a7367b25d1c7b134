"""The service's time-based lifecycle seen through the library, on the emulator's controllable
clock: a Developer-tier deployment is gone from ``ft.deployments.list()`` a day later while a
Standard one stays, and ``job.wait()`` carries on through a Developer-tier pre-emption (paused,
then resumed by the service) to the job's success."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._flavour import run_blocking, sleep
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.emulator import Emulator
from foundry_tune.emulator._lifecycle import PREEMPTED_MESSAGE, RESUMED_MESSAGE
from foundry_tune.job import JobEvent, JobStatus

from ._helpers import WAIT, finish, sft_data

# An emulator of this module's own: its clock is moved by a day, which would expire the Developer
# deployments of every other test on a shared one.
pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=1.0, deployment_provision_delay=0.1, deployment_ready_delay=0.1),
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]


@pytest.fixture(autouse=True)
def _switches_off(emulator: Emulator) -> Iterator[None]:
    yield
    emulator.switches(preempt=None)


@pytest.mark.anyio
async def test_a_developer_deployment_is_gone_a_day_later_a_standard_one_stays(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    job = await finish(await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=41))
                       .suffix("clock-dev").training_type("GlobalStandard").start())
    developer = await job.deploy("clock-lib-dev", sku="Developer", capacity=1)
    standard = await job.deploy("clock-lib-std", capacity=1)
    try:
        await run_blocking(emulator.advance, hours=23)
        assert {"clock-lib-dev", "clock-lib-std"} <= {d.name for d in await ft.deployments.list()}
        await run_blocking(emulator.advance, hours=2)
        names = {d.name for d in await ft.deployments.list()}
        assert "clock-lib-dev" not in names and "clock-lib-std" in names
    finally:
        await standard.delete()
        await developer.delete()  # already gone: a no-op


@pytest.mark.anyio
async def test_wait_carries_on_through_a_developer_tier_preemption(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    await run_blocking(emulator.switches, preempt=True)
    seen: list[str] = []

    def on_event(event: JobEvent) -> None:
        seen.append(event.message)
        if event.message == PREEMPTED_MESSAGE:  # the service resumes it 10 clock minutes later
            emulator.advance(minutes=10)

    job = await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=43))
                 .suffix("clock-preempt").training_type("Developer").start())
    await job.wait(timeout=WAIT, progress=False, poll=0.2, on_event=on_event)
    assert job.status is JobStatus.SUCCEEDED
    assert seen.index(PREEMPTED_MESSAGE) < seen.index(RESUMED_MESSAGE)


@pytest.mark.anyio
async def test_a_paused_job_does_not_hold_up_the_queue(ft: AsyncFoundry) -> None:
    first = await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=45))
                   .suffix("clock-paused").training_type("GlobalStandard").start())
    for _ in range(400):
        if (await first.refresh()).status is JobStatus.RUNNING:
            break
        await sleep(0.02)
    await first.pause()
    try:
        second = await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=46))
                        .suffix("clock-after-paused").training_type("GlobalStandard").start())
        assert (await finish(second)).status is JobStatus.SUCCEEDED
        assert (await first.refresh()).status is JobStatus.PAUSED
    finally:
        await first.cancel()
