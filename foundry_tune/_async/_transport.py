"""The HTTP clients of a connection: one design for the OpenAI data plane (``httpx2``, which the
openai SDK requires) and ARM (``httpx``), built from one :class:`~foundry_tune._core.trust.Trust`.

Inside a retry policy's call every request's connect/read/write/pool timeouts are capped at the
seconds left in the budget, so a slow answer cannot carry a call past its total time bound.
"""

from __future__ import annotations

from typing import Any

import httpx
import httpx2

from foundry_tune._core.retry import clamp_timeouts
from foundry_tune._core.trust import MAX_CONNECTIONS, MAX_KEEPALIVE_CONNECTIONS, Trust

__all__ = ["AsyncBudgetTransport", "arm_transport", "openai_http_client"]


class AsyncBudgetTransport(httpx.AsyncBaseTransport, httpx2.AsyncBaseTransport):
    """Wraps an ``httpx`` or ``httpx2`` transport and caps each request's timeouts at the budget."""

    def __init__(self, inner: httpx.AsyncBaseTransport | httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: Any) -> Any:
        """Send ``request`` with timeouts no longer than the remaining budget."""
        clamp_timeouts(request.extensions)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


def openai_http_client(*, endpoint: str, timeout: float, trust: Trust) -> httpx2.AsyncClient:
    """The ``httpx2`` client the openai SDK runs on: the connection's trust, our pool limits."""
    inner = httpx2.AsyncHTTPTransport(
        verify=trust.ssl_context(),
        proxy=trust.proxy_for(endpoint),
        limits=httpx2.Limits(max_connections=MAX_CONNECTIONS,
                             max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS),
    )
    return httpx2.AsyncClient(transport=AsyncBudgetTransport(inner), timeout=timeout, follow_redirects=True)


def arm_transport(
    *, endpoint: str, trust: Trust, inner: httpx.AsyncBaseTransport | None = None
) -> AsyncBudgetTransport:
    """The ARM client's transport: ``inner`` (tests, custom proxies) or one built from the trust."""
    if inner is None:
        inner = httpx.AsyncHTTPTransport(
            verify=trust.ssl_context(),
            proxy=trust.proxy_for(endpoint),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS,
                                max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS),
        )
    return AsyncBudgetTransport(inner)
