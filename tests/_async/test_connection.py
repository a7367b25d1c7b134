"""The connection itself, in both flavours: constructors, the retry policy it shares with the
other flavour, and closing it."""

from __future__ import annotations

import httpx
import openai
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune._async._credentials import AsyncStaticTokenCredential
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.client import RetryPolicy
from foundry_tune.emulator import EmulatorInfo
from foundry_tune.errors import ConfigurationError

from ._helpers import connect

pytestmark = [pytest.mark.emulator]


@pytest.mark.anyio
async def test_constructors(emulator_info: EmulatorInfo) -> None:
    with pytest.raises(ConfigurationError) as missing:
        AsyncFoundry.from_env({})
    assert "AZURE_AI_PROJECT_ENDPOINT" in str(missing.value)
    with pytest.raises(ConfigurationError):
        # plain http to a remote host would send the token unencrypted
        AsyncFoundry("http://example.com/api/projects/p", AsyncStaticTokenCredential("t"))

    info = emulator_info
    client = openai.AsyncOpenAI(base_url=info.openai_base_url, api_key="key")
    ft = AsyncFoundry.from_openai_client(client, credential=AsyncStaticTokenCredential("t"),
                                         subscription_id=info.subscription_id,
                                         resource_group=info.resource_group,
                                         account_name=info.account_name,
                                         arm_endpoint=info.arm_endpoint)
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


@pytest.mark.anyio
async def test_retry_policy_is_the_shared_configuration(emulator_info: EmulatorInfo) -> None:
    policy = RetryPolicy(max_attempts=2, total_timeout=5.0, initial_backoff=0.05)
    credential = AsyncStaticTokenCredential("t")
    async with AsyncFoundry(emulator_info.project_endpoint, credential, retry=policy) as ft:
        assert ft.retry.policy is policy  # unasync: remove
        calls = 0

        async def flaky() -> str:
            nonlocal calls
            calls += 1
            raise httpx.ConnectError("dropped")

        with pytest.raises(Exception) as info:
            await ft.retry.call(flaky, what="flaky read")
        assert calls == 2 and "flaky read" in str(info.value)  # max_attempts=2: the policy given is used
        assert "token" not in repr(ft).lower()


@pytest.mark.anyio
async def test_close_closes_the_connection(emulator_info: EmulatorInfo) -> None:
    ft = connect(emulator_info)
    assert isinstance(await ft.jobs.list(limit=1), list)
    await ft.close()
    assert ft.openai.is_closed()
    # unasync: remove-begin
    ft = connect(emulator_info)  # aclose(), the async name, keeps working
    assert isinstance(await ft.jobs.list(limit=1), list)
    await ft.aclose()
    assert ft.openai.is_closed()
    # unasync: remove-end
