"""The async ARM client: httpx.AsyncClient, an ``azure.identity.aio`` token for the management
scope, every call under the async retry policy. Paths, bodies and errors as in the sync client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Generator
from typing import Any

import httpx
from azure.core.credentials_async import AsyncTokenCredential

from foundry_tune._version import __version__
from foundry_tune.aio._retry import AsyncRetryPolicy
from foundry_tune.aio._transport import AsyncArmBudgetTransport
from foundry_tune.client._arm import (
    DEFAULT_ARM_API_VERSION,
    ArmAnswer,
    account_path,
    arm_page_guard,
    item_id,
    next_link_of,
    operation_url,
    page_items,
    response_body,
    same_host,
)
from foundry_tune.client._settings import ArmSettings, check_endpoint, ssl_verify

__all__ = ["AsyncArmClient"]

_REFRESH_MARGIN = 300.0


class _AsyncBearerAuth(httpx.Auth):
    """Adds a management-scope bearer token, refreshed five minutes before it expires."""

    def __init__(self, credential: AsyncTokenCredential, scope: str) -> None:
        self._credential = credential
        self._scope = scope
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    async def _current(self) -> str:
        async with self._lock:
            if self._token is None or time.time() > self._expires_on - _REFRESH_MARGIN:
                access = await self._credential.get_token(self._scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("the async ARM client's auth cannot be used by a sync client")

    async def async_auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {await self._current()}"
        yield request

    def __repr__(self) -> str:
        return f"_AsyncBearerAuth(scope={self._scope!r})"


class AsyncArmClient:
    """Calls ARM for one Cognitive Services (Foundry) account, asynchronously."""

    def __init__(
        self,
        settings: ArmSettings,
        credential: AsyncTokenCredential,
        *,
        retry: AsyncRetryPolicy,
        api_version: str = DEFAULT_ARM_API_VERSION,
        timeout: float = 60.0,
        verify: bool | str = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        settings.require()
        self.settings = settings
        self.endpoint = check_endpoint(settings.endpoint, what="ARM endpoint")
        self.api_version = api_version
        self.retry = retry
        inner = transport or httpx.AsyncHTTPTransport(verify=ssl_verify(verify))
        self._http = httpx.AsyncClient(
            base_url=self.endpoint,
            auth=_AsyncBearerAuth(credential, f"{self.endpoint}/.default"),
            headers={"User-Agent": f"foundry-tune/{__version__}"},
            timeout=timeout,
            transport=AsyncArmBudgetTransport(inner),
        )

    async def _send(self, method: str, url: str, *, json: Any = None, params: dict[str, str] | None = None,
                    ok_missing: bool = False) -> dict[str, Any] | None:
        response = await self._http.request(method, url, json=json, params=params)
        return response_body(response, ok_missing=ok_missing)

    async def request(self, method: str, path: str, *, what: str, json: Any = None,
                      ok_missing: bool = False) -> dict[str, Any] | None:
        """Send a safe (idempotent) request under the retry policy and return its JSON body."""
        url = account_path(self.settings) + path
        params = {"api-version": self.api_version}

        async def send() -> dict[str, Any] | None:
            return await self._send(method, url, json=json, params=params, ok_missing=ok_missing)

        return await self.retry.call(send, what=what)

    async def begin(self, method: str, path: str, *, what: str, json: Any = None,
                    ok_missing: bool = False) -> ArmAnswer:
        """Send a write that may start a long-running operation (PUT, DELETE): its body, status
        and the ``Azure-AsyncOperation`` URL to follow, as the sync client's ``begin``."""
        url = account_path(self.settings) + path
        params = {"api-version": self.api_version}

        async def send() -> ArmAnswer:
            response = await self._http.request(method, url, json=json, params=params)
            body = response_body(response, ok_missing=ok_missing)
            if body is None:
                return ArmAnswer(None, None, None)
            return ArmAnswer(body, response.status_code, operation_url(response.headers, self.endpoint))

        return await self.retry.call(send, what=what)

    async def operation(self, url: str, *, what: str) -> dict[str, Any] | None:
        """The status body of the long-running operation at ``url``; None if the service no
        longer knows it (404) or ``url`` is not on the ARM endpoint."""
        if not same_host(url, self.endpoint):
            return None

        async def get() -> dict[str, Any] | None:
            return await self._send("GET", url, ok_missing=True)

        return await self.retry.call(get, what=what)

    async def list(self, path: str, *, what: str) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged ARM list (``value`` + ``nextLink``), under the same page cap,
        time bound and repeat check as the sync client."""
        page = await self.request("GET", path, what=what) or {}
        guard = arm_page_guard(what, self.retry.clock)
        while True:
            link = next_link_of(page, self.endpoint)
            fresh, more = guard.take(page_items(page), link is not None, id_of=item_id)
            for item in fresh:
                yield item
            if more is None or link is None:
                return

            async def next_page(link: str = link) -> dict[str, Any]:
                return await self._send("GET", link) or {}

            page = await self.retry.call(next_page, what=what)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"AsyncArmClient(endpoint={self.endpoint!r}, account={self.settings.account_name!r})"
