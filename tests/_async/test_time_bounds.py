"""Every time bound holds against a service that misbehaves (issue 12), in both flavours and on both
HTTP stacks (the openai SDK's ``httpx2``, ARM's ``httpx``): a call with ``total_timeout=2`` ends
near 2 s when the service trickles its body one byte at a time, stalls before its headers or hangs
after them; ``job.wait(timeout=3)`` ends near 3 s; and a port where nothing listens fails within
seconds with an error that says so. The servers are in ``tests/_slow_servers.py``."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from foundry_tune._async._credentials import AsyncStaticTokenCredential
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune.client import RetryPolicy
from foundry_tune.errors import (
    InvalidParameterError,
    RetryBudgetExceededError,
    ServiceUnreachableError,
    WaitTimeoutError,
)
from tests._slow_servers import Mode, SlowServer, closed_port

TOKEN = "canary-token-5f0e1d"
SLACK_CALL = 1.5
"""How far past its bound a call may end (2 shared cores, a loaded machine)."""
SLACK_WAIT = 2.0


def connect(server: SlowServer | None, **options: Any) -> AsyncFoundry:
    """A connection to ``server`` (ARM included), or to a closed port when it is None."""
    base = server.endpoint.split("/api/")[0] if server else f"http://127.0.0.1:{closed_port()}"
    return AsyncFoundry(f"{base}/api/projects/slow", AsyncStaticTokenCredential(TOKEN),
                        subscription_id="sub", resource_group="rg", account_name="acct",
                        arm_endpoint=base, **options)


@pytest.fixture
def serve() -> Iterator[Callable[..., SlowServer]]:
    """Start a :class:`SlowServer` (``serve(mode, **options)``), stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda mode, **options: stack.enter_context(SlowServer(mode, **options))


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["trickle", "stall", "hang"])
async def test_a_call_keeps_its_total_timeout(serve: Callable[..., SlowServer], mode: Mode) -> None:
    async with connect(serve(mode), retry=RetryPolicy(total_timeout=2)) as ft:
        start = time.monotonic()
        with pytest.raises(RetryBudgetExceededError) as info:
            await AsyncJob.attach(ft, "ftjob-slow")
        took = time.monotonic() - start
    assert 1.5 <= took <= 2 + SLACK_CALL, f"{mode}: {took:.1f}s"
    assert info.value.code == "timeout" and not isinstance(info.value, ServiceUnreachableError)
    assert "2s" in str(info.value)


@pytest.mark.anyio
async def test_an_arm_call_keeps_its_total_timeout(serve: Callable[..., SlowServer]) -> None:
    server = serve("trickle", body={"value": [], "padding": "x" * 200})
    async with connect(server, retry=RetryPolicy(total_timeout=2)) as ft:
        start = time.monotonic()
        with pytest.raises(RetryBudgetExceededError):
            await ft.deployments.list()
        took = time.monotonic() - start
    assert server.requests >= 1  # the ARM client did reach it
    assert 1.5 <= took <= 2 + SLACK_CALL, f"{took:.1f}s"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["trickle", "stall", "hang"])
async def test_wait_keeps_its_timeout_with_the_default_policy(serve: Callable[..., SlowServer],
                                                             mode: Mode) -> None:
    # The first answer is the job (to attach); every later one trickles or stalls.
    async with connect(serve(mode, served=1)) as ft:
        job = await AsyncJob.attach(ft, "ftjob-slow")
        start = time.monotonic()
        with pytest.raises(WaitTimeoutError) as info:
            await job.wait(timeout=3, progress=False)
        took = time.monotonic() - start
    assert 2.5 <= took <= 3 + SLACK_WAIT, f"{mode}: {took:.1f}s"
    assert "ftjob-slow" in str(info.value)


@pytest.mark.anyio
async def test_connection_refused_fails_fast_with_a_clear_message() -> None:
    async with connect(None) as ft:
        port = ft.endpoint.split(":")[2].split("/")[0]
        start = time.monotonic()
        with pytest.raises(ServiceUnreachableError) as info:
            await AsyncJob.attach(ft, "ftjob-x")
        took = time.monotonic() - start
    assert took <= 3 + SLACK_WAIT, f"{took:.1f}s"  # was 78 s of retries with the default policy
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "nothing is listening" in message
    assert "emulator" in message and "endpoint" in message
    assert info.value.target == f"127.0.0.1:{port}" and info.value.code == "connection_refused"
    assert isinstance(info.value, RetryBudgetExceededError)  # a wait keeps waiting through it
    assert TOKEN not in message and TOKEN not in repr(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, True, "3", 10**400])
async def test_bad_timeouts_and_poll_intervals_name_the_parameter(bad: Any) -> None:
    with pytest.raises(InvalidParameterError, match="timeout"):
        connect(None, timeout=bad)
    with pytest.raises(InvalidParameterError, match="total_timeout"):
        RetryPolicy(total_timeout=bad)
    async with connect(None) as ft:
        job = AsyncJob(ft, {"id": "ftjob-x", "status": "running"})
        with pytest.raises(InvalidParameterError, match="timeout"):
            await job.wait(timeout=bad, progress=False)
        with pytest.raises(InvalidParameterError, match="poll"):
            await job.wait(timeout=1, poll=bad, progress=False)
