"""Shared helpers for the async API tests: connecting to the emulator, running a coroutine body on
one connection, emulator stats, sample data, and transports that drop a job create's answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import httpx2

from foundry_tune import AsyncFoundry
from foundry_tune._demo_data import demo_records
from foundry_tune.aio import AsyncStaticTokenCredential
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import EmulatorInfo

T = TypeVar("T")


def connect(info: EmulatorInfo) -> AsyncFoundry:
    """An AsyncFoundry on the emulator's project endpoint, with ARM settings."""
    return AsyncFoundry(
        info.project_endpoint,
        AsyncStaticTokenCredential("token-for-tests"),
        subscription_id=info.subscription_id,
        resource_group=info.resource_group,
        account_name=info.account_name,
        arm_endpoint=info.arm_endpoint,
    )


def run(info: EmulatorInfo, body: Callable[[AsyncFoundry], Awaitable[T]]) -> T:
    """Run ``body(ft)`` in a fresh event loop on a connection that is closed afterwards."""

    async def main() -> T:
        async with connect(info) as ft:
            return await body(ft)

    return asyncio.run(main())


def stats(info: EmulatorInfo) -> dict[str, Any]:
    """The emulator's counters (files, uploads, jobs, deployments, ...)."""
    result: dict[str, Any] = httpx.get(info.stats_url, timeout=10).json()
    return result


def sft_data(n: int, seed: int, name: str = "support.jsonl") -> Dataset:
    """``n`` valid supervised examples from the demo data."""
    return Dataset.from_records(demo_records(n, seed=seed), name=name)


def is_job_create(request: httpx2.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/fine_tuning/jobs")


class AsyncDropAfterCreate(httpx2.AsyncBaseTransport):
    """An async httpx2 transport that lets the first job create reach the service, then drops the
    answer: the create took effect but the client only sees a broken connection."""

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


class AsyncMetadataDroppingService(AsyncDropAfterCreate):
    """Also strips ``metadata`` from job creates, like a service that does not store it."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if is_job_create(request):
            body = json.loads(await request.aread())
            body.pop("metadata", None)
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx2.Request("POST", request.url, headers=headers, content=json.dumps(body).encode())
        return await super().handle_async_request(request)
