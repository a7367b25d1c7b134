"""HTTP transports that keep each attempt inside the retry budget.

Inside :meth:`RetryPolicy.call` every request's connect/read/write/pool timeouts are capped at the
seconds left in the budget, so a slow answer cannot carry a call past its total time bound.
"""

from __future__ import annotations

from typing import Any

import httpx
import httpx2

from foundry_tune.client._retry import remaining_budget

__all__ = ["ArmBudgetTransport", "BudgetTransport", "budget_http_client", "clamp_timeouts"]

_MIN_TIMEOUT = 0.001
# The openai SDK's own pool limits (it keeps them in a private module).
_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


def clamp_timeouts(extensions: dict[str, Any]) -> None:
    """Cap the ``timeout`` extension of a request at the remaining retry budget, if one is running."""
    budget = remaining_budget()
    if budget is None:
        return
    budget = max(budget, _MIN_TIMEOUT)
    current = dict(extensions.get("timeout") or {})
    for key in ("connect", "read", "write", "pool"):
        value = current.get(key)
        current[key] = budget if value is None else min(float(value), budget)
    extensions["timeout"] = current


class BudgetTransport(httpx2.BaseTransport):
    """Wraps an httpx2 transport (the one the openai SDK uses) and clamps its timeouts."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` with timeouts no longer than the remaining budget."""
        clamp_timeouts(request.extensions)
        return self._inner.handle_request(request)

    def close(self) -> None:
        """Close the wrapped transport."""
        self._inner.close()


class ArmBudgetTransport(httpx.BaseTransport):
    """The same clamp for the plain-httpx ARM client."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with timeouts no longer than the remaining budget."""
        clamp_timeouts(request.extensions)
        return self._inner.handle_request(request)

    def close(self) -> None:
        """Close the wrapped transport."""
        self._inner.close()


def budget_http_client(*, timeout: float, verify: Any) -> httpx2.Client:
    """An httpx2 client for the openai SDK, with the SDK's defaults and budget-clamped timeouts."""
    inner = httpx2.HTTPTransport(verify=verify, limits=_LIMITS)
    return httpx2.Client(transport=BudgetTransport(inner), timeout=timeout, follow_redirects=True)
