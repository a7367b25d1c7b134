"""The outermost ASGI layer: counts requests, checks credentials, and injects faults.

``/_emulator/*`` (stats, health) is never authenticated, counted as traffic or faulted. Errors on
Azure Resource Manager paths (``/subscriptions/...``) use ARM's envelope and codes.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from foundry_tune.emulator._errors import ApiError, arm_error, as_arm, is_arm_path
from foundry_tune.emulator._faults import RETRY_AFTER_SECONDS, FaultPlan
from foundry_tune.emulator._state import Context

Scope = dict[str, Any]
_FAULTS = {
    "rate_limit": ApiError(
        429,
        "Requests to this resource have exceeded the rate limit. Retry after "
        f"{RETRY_AFTER_SECONDS} second(s).",
        code="429",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "retry-after-ms": str(RETRY_AFTER_SECONDS * 1000)},
    ),
    "server_error": ApiError(
        500, "The server had an error while processing your request.", code="internal_error"
    ),
    "unavailable": ApiError(503, "The service is temporarily unavailable.", code="service_unavailable"),
}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class Gate:
    """Wraps the app: stats counting, auth and faults."""

    def __init__(self, app: Any, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx
        self.faults = FaultPlan(ctx.config.fault_rate, ctx.config.fault_seed)
        self._number = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        counters = self.ctx.counters
        counters.requests += 1

        async def counting_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                key = str(message["status"])
                counters.by_status[key] = counters.by_status.get(key, 0) + 1
            await send(message)

        arm = is_arm_path(scope["path"])
        denied = self._auth_error(scope, arm=arm)
        if denied is not None:
            await self._answer(denied, counting_send)
            return
        self._number += 1
        fault = self.faults.decide(self._number)
        if fault is not None:
            counters.faults += 1
            counters.by_fault[fault] = counters.by_fault.get(fault, 0) + 1
        if fault in _FAULTS:
            await self._answer(as_arm(_FAULTS[fault]) if arm else _FAULTS[fault], counting_send)
            return
        if fault == "slow":
            await asyncio.sleep(self.ctx.config.slow_seconds)
        if fault == "drop":
            await self._drop_after_effect(scope, receive, send)
            return
        await self.app(scope, receive, counting_send)

    def _auth_error(self, scope: Scope, *, arm: bool = False) -> ApiError | None:
        auth = _header(scope, b"authorization")
        token = auth[7:].strip() if auth and auth[:7].lower() == "bearer " else None
        key = _header(scope, b"api-key")
        offered = token or key
        if not offered:
            if arm:
                message = "Authentication failed. The 'Authorization' header is missing."
                return arm_error(401, "AuthenticationFailed", message)
            return ApiError(
                401,
                "Access denied due to missing credentials: send an 'api-key' header or an "
                "'Authorization: Bearer' token.",
                code="401",
                type_="invalid_request_error",
            )
        expected = self.ctx.config.token
        if expected is not None and not hmac.compare_digest(offered.encode(), expected.encode()):
            if arm:
                return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
            return ApiError(
                401,
                "Access denied due to an invalid API key or token.",
                code="401",
                type_="invalid_request_error",
            )
        return None

    async def _answer(self, error: ApiError, send: Any) -> None:
        body = json.dumps(error.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _drop_after_effect(self, scope: Scope, receive: Any, send: Any) -> None:
        async def swallow(message: dict[str, Any]) -> None:
            return None

        await self.app(scope, receive, swallow)  # the request takes full effect...
        # ...then the socket closes with no answer. uvicorn's send is bound to its request cycle, which
        # owns the transport; marking the cycle disconnected stops uvicorn from writing a 500.
        cycle: Any = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if cycle is None or transport is None or not hasattr(cycle, "disconnected"):
            raise ConnectionAbortedError("fault injection: connection dropped after the request took effect")
        cycle.disconnected = True
        transport.close()
