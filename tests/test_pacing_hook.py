"""The connection's response hook feeds its pacing with each answer's status and path: Retry-After
holds polling back only on a throttling answer, and inference answers (a deployment's own quota)
are not read. Through real ``httpx2`` clients (both flavours) on a mock transport."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai
import pytest

from foundry_tune._async._transport import pacing_hook as async_pacing_hook
from foundry_tune._core.pacing import MAX_PACING, Pacing
from foundry_tune._sync._transport import pacing_hook
from foundry_tune.client import Foundry

BASE = "https://acct.openai.azure.com/openai/v1"
HOLD = {"retry-after": "7", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "9s"}


def _answer(request: httpx2.Request) -> httpx2.Response:
    status = int(request.url.params.get("status", "200"))
    params = request.url.params
    headers = {"retry-after": params["retry_after"]} if "retry_after" in params else HOLD
    return httpx2.Response(status, json={}, headers=headers)


def _sync_delay(path: str) -> tuple[float, str]:
    pacing = Pacing()
    with httpx2.Client(transport=httpx2.MockTransport(_answer),
                       event_hooks={"response": [pacing_hook(pacing, lambda: 100.0)]}) as client:
        client.get(BASE + path)
    return pacing.delay(100.0), pacing.reason


def _async_delay(path: str) -> tuple[float, str]:
    pacing = Pacing()

    async def main() -> None:
        hooks = {"response": [async_pacing_hook(pacing, lambda: 100.0)]}
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(_answer), event_hooks=hooks) as client:
            await client.get(BASE + path)

    asyncio.run(main())
    return pacing.delay(100.0), pacing.reason


@pytest.fixture(params=["sync", "async"])
def delay(request: pytest.FixtureRequest) -> Any:
    return _sync_delay if request.param == "sync" else _async_delay


@pytest.mark.parametrize(("path", "expected"), [
    ("/fine_tuning/jobs/ftjob-1?retry_after=7", (0.0, "")),  # a 200's Retry-After is no request to hold
    ("/fine_tuning/jobs/ftjob-1?retry_after=7&status=202", (0.0, "")),  # nor a long-running operation's
    ("/fine_tuning/jobs/ftjob-1?retry_after=7&status=429", (7.0, "Retry-After")),
    ("/fine_tuning/jobs/ftjob-1?retry_after=7&status=503", (7.0, "Retry-After")),
    ("/fine_tuning/jobs/ftjob-1", (9.0, "x-ratelimit-remaining-requests")),  # few left: any answer
    ("/chat/completions", (0.0, "")),  # a deployment's quota, not the fine-tuning API's
    ("/chat/completions?status=429", (0.0, "")),
    ("/responses", (0.0, "")),
    ("/embeddings", (0.0, "")),
])
def test_the_hook_reads_status_and_path(delay: Any, path: str, expected: tuple[float, str]) -> None:
    seconds, reason = delay(path)
    assert (seconds, reason) == (pytest.approx(expected[0]), expected[1])


def test_a_connection_from_an_openai_client_does_not_hook_it() -> None:
    """The openai SDK offers no public way to reach the HTTP client it was given: the connection's
    pacing hears only its own (ARM) clients, as its docstring says."""
    http = httpx2.Client(transport=httpx2.MockTransport(
        lambda request: httpx2.Response(200, json={"object": "list", "data": [], "has_more": False},
                                        headers={**HOLD, "retry-after": str(MAX_PACING)})))
    ft = Foundry.from_openai_client(openai.OpenAI(base_url=BASE, api_key="k", http_client=http))
    ft.openai.fine_tuning.jobs.list()
    assert (ft.pacing.delay(ft.retry.clock()), ft.pacing.reason) == (0.0, "")
