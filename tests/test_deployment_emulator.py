"""Deployments end to end against the local emulator over real HTTP (real openai SDK, real ARM calls)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("starlette")

from foundry_tune import Foundry, RetryPolicy
from foundry_tune.client import StaticTokenCredential
from foundry_tune.errors import (
    AuthenticationError,
    DeploymentError,
    DeploymentQuotaError,
    NameInUseError,
)

FAST = {"job_duration": 1.0, "deployment_ready_delay": 0.5, "deployment_provision_delay": 0.4}


def _tuned_model(ft: Foundry) -> tuple[str, str]:
    rows = [{"messages": [{"role": "user", "content": f"question {i}"},
                          {"role": "assistant", "content": f"answer {i}"}]} for i in range(10)]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    file = ft.openai.files.create(file=("train.jsonl", io.BytesIO(data)), purpose="fine-tune")
    job = ft.openai.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=file.id,
                                            extra_body={"trainingType": "GlobalStandard"})
    deadline = time.monotonic() + 60
    while job.status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, "emulator job did not finish"
        time.sleep(0.2)
        job = ft.openai.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded" and job.fine_tuned_model
    return job.fine_tuned_model, job.id


TOKEN = "right-token-123"

# An emulator of this module's own: it needs a token, its tests list every deployment on the
# resource, and their clean-up removes every one.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(token=TOKEN, **FAST)]


@pytest.fixture(scope="module")
def tuned(ft: Foundry) -> tuple[str, str]:
    return _tuned_model(ft)


@pytest.fixture(autouse=True)
def no_leftovers(ft: Foundry) -> Iterator[None]:
    yield
    ft.deployments.cleanup(dry_run=False)
    for dep in ft.deployments.list():
        dep.delete()


def test_deploy_chat_responses_delete(ft, tuned):
    model, job_id = tuned
    dep = ft.deployments.create(model, job_id=job_id)
    assert dep.provisioning_state == "Succeeded"
    assert dep.model == model and dep.job_id == job_id and dep.created_by_foundry_tune
    # ready means ready: the first call after create() answers (no DeploymentNotReady)
    assert dep.chat("question 3")
    assert dep.responses("question 3")
    assert [d.name for d in ft.deployments.list()] == [dep.name]
    dep.delete()
    assert ft.deployments.list() == []
    assert ft.emulator_instance is not None
    assert ft.emulator_instance.stats()["deployments"] == 0


def test_repeated_create_reuses_the_deployment(ft, tuned):
    model, _ = tuned
    first = ft.deployments.create(model, "same-name")
    second = ft.deployments.create(model, "same-name")
    assert first.name == second.name
    assert len(ft.deployments.list()) == 1


def test_name_in_use_by_another_model(ft, tuned):
    model, _ = tuned
    ft.deployments.create(model, "shared", ready_check=False)
    with pytest.raises(NameInUseError) as info:
        ft.deployments.create("gpt-4.1-mini", "shared")
    assert model in str(info.value)


def test_unsupported_model_is_a_deployment_error_with_azures_code(ft):
    with pytest.raises(DeploymentError) as info:
        ft.deployments.create("gpt-4.1-mini-2025-04-14.ft-doesnotexist", "ghost")
    assert info.value.code == "DeploymentModelNotSupported"
    assert ft.deployments.list() == []


def test_quota_of_fine_tuned_deployments_is_typed(ft, tuned):
    model, _ = tuned
    for i in range(5):
        ft.deployments.create(model, f"quota-{i}", wait=False)
    with pytest.raises(DeploymentQuotaError) as info:
        ft.deployments.create(model, "quota-5", wait=False)
    assert info.value.code == "InsufficientQuota" and info.value.status == 400
    assert len(ft.deployments.list()) == 5
    removed = ft.deployments.cleanup(dry_run=False)
    assert len(removed) == 5 and ft.deployments.list() == []


def test_context_manager_deletes_when_the_block_raises(ft, tuned):
    model, _ = tuned
    with pytest.raises(ZeroDivisionError), ft.deployments.create(model, "ctx") as dep:
        assert dep.chat("hi")
        _ = 1 / 0
    assert ft.deployments.list() == []


def test_wrong_token_is_an_authentication_error(ft):
    s = ft.arm_settings
    with Foundry(ft.endpoint, StaticTokenCredential("wrong-token-456"), subscription_id=s.subscription_id,
                 resource_group=s.resource_group, account_name=s.account_name,
                 arm_endpoint=ft.arm.endpoint) as wrong:
        with pytest.raises(AuthenticationError) as info:
            wrong.deployments.list()
        assert "wrong-token-456" not in str(info.value) and TOKEN not in str(info.value)
        with pytest.raises(AuthenticationError):
            wrong.retry.call(wrong.openai.models.list, what="list models")


def test_deployments_survive_injected_faults_without_duplicates_over_tls():
    retry = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, total_timeout=60)
    with Foundry.emulator(fault_rate=0.3, fault_seed=7, slow_seconds=0.2, tls=True, retry=retry,
                          **FAST) as ft:
        assert ft.endpoint.startswith("https://")
        emulator = ft.emulator_instance
        assert emulator is not None and emulator.info.ca_cert
        for i in range(3):
            with ft.deployments.create("gpt-4.1-mini", f"faulty-{i}") as dep:
                assert dep.chat("hello")
                assert len(ft.deployments.list()) == 1
        assert ft.deployments.list() == []
        stats = ft.emulator_instance.stats() if ft.emulator_instance else {}
        assert stats["faults"] > 0
        assert stats["deployments"] == 0
    # closing the Foundry stopped the emulator it owned
    with pytest.raises(httpx.HTTPError):
        httpx.get(emulator.info.stats_url, verify=False, timeout=2)


def test_a_failed_provisioning_raises_the_operations_error_and_delete_waits_until_gone(ft):
    with pytest.raises(DeploymentError) as info:
        ft.deployments.create("gpt-4.1-mini", "fails", tags={"foundry-tune-emulator": "fail-provisioning"})
    # the reason is only on the ARM operation: the resource itself just reads Failed
    assert info.value.code == "InternalServerError" and "failed to provision" in str(info.value)
    assert ft.deployments.get("fails").provisioning_state == "Failed"
    ft.deployments.delete("fails")
    assert ft.deployments.find_info("fails") is None
    assert ft.emulator_instance is not None and ft.emulator_instance.stats()["deployments"] == 0


def test_an_open_model_deploys_with_its_families_format(ft):
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(10)]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    file = ft.openai.files.create(file=("oss.jsonl", io.BytesIO(data)), purpose="fine-tune")
    job = ft.openai.fine_tuning.jobs.create(model="Ministral-3B", training_file=file.id,
                                            extra_body={"trainingType": "globalstandard"})
    deadline = time.monotonic() + 60
    while job.status != "succeeded":
        assert job.status not in ("failed", "cancelled") and time.monotonic() < deadline
        time.sleep(0.2)
        job = ft.openai.fine_tuning.jobs.retrieve(job.id)
    assert job.fine_tuned_model
    dep = ft.deployments.create(job.fine_tuned_model)
    assert dep.provisioning_state == "Succeeded" and dep.info.model_format == "Mistral AI"
    assert dep.chat("q1")
    with pytest.raises(DeploymentError) as info:  # the emulator refuses a wrong format, as Azure does
        ft.deployments.create(job.fine_tuned_model, "oss-as-openai", model_format="OpenAI")
    assert info.value.code == "DeploymentModelNotSupported"


@pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning")
def test_async_create_follows_the_operation_and_delete_waits_until_gone(ft, tuned):
    from foundry_tune import AsyncFoundry
    from foundry_tune.aio import AsyncStaticTokenCredential

    emulator = ft.emulator_instance
    assert emulator is not None
    info = emulator.info
    model, _ = tuned

    async def main() -> None:
        async with AsyncFoundry(info.project_endpoint, AsyncStaticTokenCredential(TOKEN),
                                subscription_id=info.subscription_id, resource_group=info.resource_group,
                                account_name=info.account_name, arm_endpoint=info.arm_endpoint) as aft:
            dep = await aft.deployments.create(model, "async-lro")
            assert dep.provisioning_state == "Succeeded"
            assert await dep.chat("question 1")
            await dep.delete()
            assert await aft.deployments.find_info("async-lro") is None
            with pytest.raises(DeploymentError) as failed:
                await aft.deployments.create("gpt-4.1-mini", "async-fails",
                                             tags={"foundry-tune-emulator": "fail-provisioning"})
            assert failed.value.code == "InternalServerError"
            await aft.deployments.delete("async-fails")
            assert await aft.deployments.list() == []

    asyncio.run(main())
