"""Waits that end when their reason to wait is gone: a deployment deleted while ``wait()`` waits for
it to answer raises ``DeploymentNotFoundError`` (the data plane answers a deleted deployment and one
still warming up with the same 404; only ARM tells them apart), and a checkpoint comparison stopped
while its deploys wait leaves no worker behind (in the blocking flavour, a thread the interpreter
would wait for at exit)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import anyio  # unasync: remove
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune._async import _deployment, _flavour
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.deployment_state import ARM_RECHECK_EVERY, arm_recheck_due, deleted_while_waiting
from foundry_tune.emulator import Emulator
from foundry_tune.errors import DeploymentNotFoundError
from tests._threads import new_pool_workers, thread_ids

from .test_checkpoint_tournament import comparison_names, gone, trained

# Deployments provision at once and then answer 404 for ten minutes, as a slow data plane does:
# every readiness wait here is still waiting when the test deletes or interrupts.
pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=1.0, deployment_ready_delay=600.0, deployment_provision_delay=0.1),
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]


def test_arm_is_read_again_at_the_first_not_ready_answer_and_every_few_after() -> None:
    due = [n for n in range(1, 3 * ARM_RECHECK_EVERY + 2) if arm_recheck_due(n)]
    assert due == [1, 1 + ARM_RECHECK_EVERY, 1 + 2 * ARM_RECHECK_EVERY, 1 + 3 * ARM_RECHECK_EVERY]


def test_what_arm_says_about_a_deployment_waited_for() -> None:
    deleted_while_waiting(DeploymentInfo.from_arm({"properties": {"provisioningState": "Succeeded"}}), "d")
    with pytest.raises(DeploymentNotFoundError, match="'d' was deleted while waiting"):
        deleted_while_waiting(None, "d")
    with pytest.raises(DeploymentNotFoundError, match="'d' is being deleted while waiting"):
        deleted_while_waiting(DeploymentInfo.from_arm({"properties": {"provisioningState": "Deleting"}}), "d")


@pytest.mark.anyio
async def test_a_deployment_deleted_while_waiting_for_it_raises_not_found(
        ft: AsyncFoundry, emulator: Emulator) -> None:
    job, _ = await trained(ft)
    before = emulator.stats()["deployments"]
    deployment = await job.deploy("deleted-while-waiting", capacity=1, wait=False)
    real_probe = deployment._probe
    probes: list[int] = []

    async def probe() -> Any:
        probes.append(1)
        if len(probes) == 2:  # after ARM was read once and found it: deleted in the middle
            await ft.deployments.delete(deployment.name)
        return await real_probe()

    deployment._probe = probe  # type: ignore[method-assign]
    # Without the ARM re-read the wait would poll the deleted deployment's 404 until its timeout.
    with pytest.raises(DeploymentNotFoundError, match="deleted while waiting"):
        await deployment.wait(timeout=20)
    assert len(probes) == 1 + ARM_RECHECK_EVERY  # noticed at the next re-read of ARM
    await gone(ft, emulator, before)


def _ctrl_c() -> None:
    raise KeyboardInterrupt


@pytest.mark.anyio
async def test_a_comparison_stopped_while_its_deploys_wait_leaves_no_worker_running(
        ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (here: one deploy raising it, as the blocking flavour's pool sees it; in the async
    flavour the cancellation of a cancel scope) while the other checkpoints' deployments wait to
    answer: the clean-up deletes them and the deploy workers end within a second or two, instead
    of polling the deleted deployments until the comparison's timeout."""
    job, held_out = await trained(ft)
    before = emulator.stats()["deployments"]
    threads_before = thread_ids()
    stop: Callable[[], None] = _ctrl_c
    scope: AbstractContextManager[Any] = contextlib.nullcontext()
    # unasync: remove-begin
    cancel_scope = anyio.CancelScope()
    scope, stop = cancel_scope, cancel_scope.cancel
    # unasync: remove-end
    api = ft.deployments
    real_create = api.create
    called: list[str] = []

    async def create(model: str, name: str, **kwargs: Any) -> Any:
        called.append(name)
        if called[0] == name:  # the others are created and wait for an answer meanwhile
            await _flavour.sleep(1.5)
            stop()
        return await real_create(model, name, **kwargs)

    monkeypatch.setattr(api, "create", create)
    # ARM is not read again during these waits: they end because the comparison stops them, not
    # because they notice the clean-up's deletions (which a long poll interval would delay).
    monkeypatch.setattr(_deployment, "arm_recheck_due", lambda not_ready: False)
    with scope, pytest.raises(_flavour.INTERRUPTS):
        await job.compare_checkpoints(held_out, ["rouge_l"], checkpoints=[30, 60, 90], timeout=300)
    for _ in range(40):  # each worker notices the stop within STOP_CHECK seconds of its sleep
        if not new_pool_workers(threads_before):
            break
        await _flavour.sleep(0.1)
    assert new_pool_workers(threads_before) == []
    monkeypatch.undo()
    assert comparison_names([d.name for d in await ft.deployments.list()]) == []
    await gone(ft, emulator, before)
