"""A job create still in flight when the client gives up is not made twice: a gateway that holds
the create past the client's timeout and forwards it anyway (the delaying proxy of
``tests/_delaying_proxy.py`` in front of the emulator) leaves one job per start, because after a
create that got no answer the start keeps looking the job up, without creating, for the retry
policy's ``create_settle`` window."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._credentials import AsyncStaticTokenCredential
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.client import RetryPolicy
from foundry_tune.emulator import Emulator, EmulatorInfo
from tests._delaying_proxy import DelayingProxy

from ._helpers import sft_data

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

CLIENT_TIMEOUT = 2.0
"""Seconds the client waits for any answer (``Foundry(..., timeout=)``)."""
CREATE_DELAY = 4.0
"""Seconds the gateway holds each job create before it forwards it."""
ROUNDS = 3


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def through(proxy: DelayingProxy, info: EmulatorInfo, retry: RetryPolicy) -> AsyncFoundry:
    """A connection to the emulator through ``proxy``, with a short client timeout."""
    endpoint = proxy.url + info.project_endpoint.removeprefix(_origin(info.project_endpoint))
    return AsyncFoundry(endpoint, AsyncStaticTokenCredential(info.token or "token-for-tests"),
                        subscription_id=info.subscription_id, resource_group=info.resource_group,
                        account_name=info.account_name, arm_endpoint=info.arm_endpoint,
                        timeout=CLIENT_TIMEOUT, retry=retry)


@pytest.fixture
def proxy(emulator: Emulator) -> Iterator[DelayingProxy]:
    """A gateway in front of the emulator that holds each job create for :data:`CREATE_DELAY`."""
    with DelayingProxy(_origin(emulator.info.project_endpoint), delay=CREATE_DELAY) as started:
        yield started


@pytest.mark.anyio
async def test_a_create_forwarded_after_the_client_timed_out_makes_one_job_per_start(
    emulator: Emulator, proxy: DelayingProxy
) -> None:
    retry = RetryPolicy(initial_backoff=0.1, max_backoff=0.5, total_timeout=60.0)  # the default create_settle
    assert retry.create_settle > CREATE_DELAY
    data = sft_data(20, seed=97, name="late.jsonl")
    async with through(proxy, emulator.info, retry) as ft:
        for i in range(ROUNDS):
            before = emulator.stats()["jobs"]
            job = await ft.fine_tune("gpt-4.1-mini").train_on(data).suffix(f"late-{i}").start()
            proxy.settle()  # every held create has reached the service by now
            assert emulator.stats()["jobs"] == before + 1, f"round {i}"
            assert job.suffix == f"late-{i}" and not job.reused
            await job.cancel()
    # The hazard was real: each create was held past the client's timeout, forwarded after the
    # client had given up on it, and never sent a second time.
    assert proxy.held_count == ROUNDS and proxy.forwarded_late == ROUNDS
