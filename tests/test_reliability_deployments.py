"""Billable deployments are not left behind: the context manager deletes its deployment when the
block raises, and ``ft.deployments.cleanup()`` finds (and removes) the ones foundry-tune created
and left, by their tag, without touching deployments made by anything else."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune.client import Foundry
from foundry_tune.deployment import Deployment

# An emulator of this module's own: the cleanup test asserts every deployment on the resource.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(deployment_ready_delay=0.1),
              pytest.mark.filterwarnings("ignore::foundry_tune._core.billing.BillingWarning")]


def live(ft: Foundry) -> set[str]:
    return {d.name for d in ft.deployments.list()}


def test_context_manager_deletes_the_deployment_when_the_block_raises(ft: Foundry) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), ft.deployments.create("gpt-4.1-mini", "cm-raises", capacity=1) as dep:
        assert isinstance(dep, Deployment) and "cm-raises" in live(ft)
        raise Boom("the user's code failed")
    assert "cm-raises" not in live(ft)


def test_context_manager_keeps_the_blocks_error_when_delete_fails_too(
    ft: Foundry, caplog: pytest.LogCaptureFixture
) -> None:
    dep = ft.deployments.create("gpt-4.1-mini", "cm-delete-fails", capacity=1)
    original = dep.delete

    def broken_delete(**kwargs: object) -> None:
        raise RuntimeError("ARM is down")

    dep.delete = broken_delete  # type: ignore[method-assign]
    with pytest.raises(KeyError), dep:
        raise KeyError("the user's error wins")
    assert "cleanup" in caplog.text  # the log says how to remove the leftover
    original()
    assert "cm-delete-fails" not in live(ft)


def test_cleanup_finds_and_removes_only_what_foundry_tune_left(ft: Foundry) -> None:
    info = ft.emulator_instance.info if ft.emulator_instance else None
    assert info is not None
    ours = [ft.deployments.create("gpt-4.1-mini", f"left-{i}", capacity=1, wait=False) for i in range(2)]
    path = (f"/subscriptions/{info.subscription_id}/resourceGroups/{info.resource_group}/providers/"
            f"Microsoft.CognitiveServices/accounts/{info.account_name}/deployments/someone-elses")
    body = {"sku": {"name": "GlobalStandard", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": "gpt-4.1-mini", "version": "1"}}}
    made = httpx.put(info.arm_endpoint + path, params={"api-version": "2024-10-01"}, json=body,
                     headers={"Authorization": "Bearer other-tool"}, timeout=30)
    assert made.status_code == 201

    tagged = {d.name for d in ft.deployments.list(created_by_foundry_tune=True)}
    assert {d.name for d in ours} <= tagged and "someone-elses" not in tagged

    planned = ft.deployments.cleanup()  # dry run by default: nothing is deleted
    assert {d.name for d in planned} == tagged
    assert {"left-0", "left-1", "someone-elses"} <= live(ft)

    assert ft.deployments.cleanup(older_than=3600) == []  # created just now
    removed = ft.deployments.cleanup(dry_run=False)
    assert {d.name for d in removed} == tagged
    assert live(ft) == {"someone-elses"}
    ft.deployments.delete("someone-elses")
