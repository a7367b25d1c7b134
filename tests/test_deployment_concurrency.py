"""Several deploys of one model under one name at the same time (threads on a ``Foundry``, tasks on
an ``AsyncFoundry``) send one PUT and all get that one deployment: a second PUT would start a second
provisioning operation (which Azure refuses while one runs) and a second billing reminder."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from _client_fakes import FakeArm

from foundry_tune import AsyncFoundry, Foundry, RetryPolicy
from foundry_tune._core import billing
from foundry_tune.aio import AsyncStaticTokenCredential
from foundry_tune.client import StaticTokenCredential
from foundry_tune.deployment import BillingWarning

MODEL = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef"
ENDPOINT = "https://acct.services.ai.azure.com/api/projects/p"
ARM_SETTINGS = {"subscription_id": "sub", "resource_group": "rg", "account_name": "acct"}
CALLERS = 8
LATENCY = 0.02  # every ARM answer takes this long, so the callers' look-ups overlap


@pytest.fixture(autouse=True)
def billing_reminders() -> Iterator[list[warnings.WarningMessage]]:
    billing._reset_for_tests()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BillingWarning)
        yield caught
    billing._reset_for_tests()


@pytest.fixture
def arm() -> FakeArm:
    return FakeArm(states=("Succeeded",))


def reminders(caught: list[warnings.WarningMessage]) -> int:
    return sum(issubclass(w.category, BillingWarning) for w in caught)


def test_concurrent_creates_of_one_name_make_one_deployment(arm, billing_reminders):
    served = threading.Lock()

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(LATENCY)
        with served:
            return arm.handler(request)

    with Foundry(ENDPOINT, StaticTokenCredential("t"), retry=RetryPolicy(), **ARM_SETTINGS,
                 arm_transport=httpx.MockTransport(slow)) as ft, \
            ThreadPoolExecutor(CALLERS) as pool:
        deployments = list(pool.map(
            lambda i: ft.deployments.create(MODEL, "shared", ready_check=False, job_id="ftjob-1"),
            range(CALLERS)))
        other = ft.deployments.create(MODEL, "other", ready_check=False)
    assert len(arm.puts()) == 1 + 1  # "shared" once, "other" once
    assert {d.name for d in deployments} == {"shared"} and other.name == "other"
    assert all(d.provisioning_state == "Succeeded" and d.job_id == "ftjob-1" for d in deployments)
    assert sorted(arm.deployments) == ["other", "shared"]
    assert reminders(billing_reminders) == 1


def test_concurrent_async_creates_of_one_name_make_one_deployment(arm, billing_reminders):
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(LATENCY)
        return arm.handler(request)

    async def main() -> None:
        async with AsyncFoundry(ENDPOINT, AsyncStaticTokenCredential("t"), retry=RetryPolicy(),
                                **ARM_SETTINGS, arm_transport=httpx.MockTransport(slow)) as ft:
            shared = await asyncio.gather(*(
                ft.deployments.create(MODEL, "shared", ready_check=False, job_id="ftjob-1")
                for _ in range(CALLERS)))
            apart = await asyncio.gather(*(ft.deployments.create(MODEL, f"apart-{i}", ready_check=False)
                                           for i in range(2)))
        assert {d.name for d in shared} == {"shared"}
        assert all(d.provisioning_state == "Succeeded" and d.job_id == "ftjob-1" for d in shared)
        assert sorted(d.name for d in apart) == ["apart-0", "apart-1"]

    asyncio.run(main())
    assert len(arm.puts()) == 1 + 2
    assert sorted(arm.deployments) == ["apart-0", "apart-1", "shared"]
    assert reminders(billing_reminders) == 1
