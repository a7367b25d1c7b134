"""Async transports that keep each attempt inside the retry budget (see
:mod:`foundry_tune.client._transport`, whose clamp they share)."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
from openai._constants import DEFAULT_CONNECTION_LIMITS

from foundry_tune.client._transport import clamp_timeouts

__all__ = ["AsyncArmBudgetTransport", "AsyncBudgetTransport", "async_budget_http_client"]


class AsyncBudgetTransport(httpx2.AsyncBaseTransport):
    """Wraps the openai SDK's async httpx2 transport and clamps its timeouts."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` with timeouts no longer than the remaining budget."""
        clamp_timeouts(request.extensions)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


class AsyncArmBudgetTransport(httpx.AsyncBaseTransport):
    """The same clamp for the plain-httpx async ARM client."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with timeouts no longer than the remaining budget."""
        clamp_timeouts(request.extensions)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


def async_budget_http_client(*, timeout: float, verify: Any) -> httpx2.AsyncClient:
    """An async httpx2 client for the openai SDK, with budget-clamped timeouts."""
    inner = httpx2.AsyncHTTPTransport(verify=verify, limits=DEFAULT_CONNECTION_LIMITS)
    return httpx2.AsyncClient(transport=AsyncBudgetTransport(inner), timeout=timeout, follow_redirects=True)
