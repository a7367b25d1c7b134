"""Helpers of the end-to-end tests: connections, sample data of this flavour, finishing a job, and
transports that drop a job create's answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai

from foundry_tune._async._credentials import AsyncStaticTokenCredential
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune._demo_data import demo_records
from foundry_tune.client import RetryPolicy
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import EmulatorInfo

WAIT = 90.0
"""How long a test waits for a job at most (jobs take about a second on the test emulators)."""

FLAVOUR = AsyncFoundry.__name__
"""``AsyncFoundry`` here, ``Foundry`` in the generated twin: put in the sample data so that the two
flavours, run on one shared emulator, never reuse each other's files or jobs (the same bytes are
uploaded once and the same start is reused, by design)."""


def connect(info: EmulatorInfo) -> AsyncFoundry:
    """A connection to the emulator at ``info``, with its ARM settings (not entered yet)."""
    return AsyncFoundry(
        info.project_endpoint,
        AsyncStaticTokenCredential(info.token or "token-for-tests"),
        subscription_id=info.subscription_id,
        resource_group=info.resource_group,
        account_name=info.account_name,
        arm_endpoint=info.arm_endpoint,
        verify=info.ca_cert or True,
    )


def sft_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` valid chat examples, their system message marked with this flavour."""
    rows = list(demo_records(n, seed=seed))
    for row in rows:
        system = row["messages"][0]
        row["messages"][0] = {**system, "content": f"{system['content']} [{FLAVOUR}]"}
    return rows


def sft_data(n: int, seed: int, name: str = "support.jsonl") -> Dataset:
    """``n`` valid supervised examples of this flavour."""
    return Dataset.from_records(sft_rows(n, seed), name=name)


def dpo_rows(n: int) -> Iterator[dict[str, Any]]:
    """``n`` preference examples of this flavour."""
    for row in sft_rows(n, seed=3):
        system, user, assistant = row["messages"]
        yield {
            "input": {"messages": [system, user]},
            "preferred_output": [assistant],
            "non_preferred_output": [{"role": "assistant", "content": "Please check our website."}],
        }


def rft_rows(n: int, offset: int = 0) -> Iterator[dict[str, Any]]:
    """``n`` graded multiplication questions of this flavour."""
    for i in range(offset, offset + n):
        a, b = i % 17 + 2, i % 11 + 3
        question = f"What is {a} times {b}? Answer with the number only."
        yield {"messages": [{"role": "user", "content": question}], "answer": str(a * b), "flavour": FLAVOUR}


async def finish(job: AsyncJob) -> AsyncJob:
    """Wait for ``job`` to end (quietly, polling often)."""
    return await job.wait(timeout=WAIT, progress=False, poll=0.2)


def is_job_create(request: httpx2.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/fine_tuning/jobs")


class DropAfterCreate(httpx2.AsyncBaseTransport):
    """A transport that lets the first job create reach the service, then drops the answer: the
    create took effect but the client only sees a broken connection."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.dropped = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if is_job_create(request) and not self.dropped:
            await response.aread()
            await response.aclose()
            self.dropped += 1
            raise httpx2.RemoteProtocolError("Server disconnected without a response.", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class MetadataDroppingService(DropAfterCreate):
    """Also strips ``metadata`` from job creates, like a service that does not store it."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if is_job_create(request):
            body = json.loads(await request.aread())
            body.pop("metadata", None)
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx2.Request("POST", request.url, headers=headers, content=json.dumps(body).encode())
        return await super().handle_async_request(request)


def flaky_connection(info: EmulatorInfo, transport: DropAfterCreate) -> AsyncFoundry:
    """A connection whose openai client goes through ``transport`` (no SDK retries, short backoff)."""
    client = openai.AsyncOpenAI(base_url=info.openai_base_url, api_key="emulator-key", max_retries=0,
                                http_client=httpx2.AsyncClient(transport=transport))
    return AsyncFoundry.from_openai_client(client, retry=RetryPolicy(initial_backoff=0.05, max_backoff=0.2))
