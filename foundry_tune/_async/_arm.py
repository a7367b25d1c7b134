"""A small Azure Resource Manager client over httpx: the Cognitive Services account's resources,
an azure-identity token for the management scope, every call under the retry policy."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
from azure.core.credentials_async import AsyncTokenCredential

from foundry_tune._async._flavour import AsyncRetryPolicy, Lock
from foundry_tune._async._transport import arm_transport
from foundry_tune._core.arm import (
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
from foundry_tune._core.settings import ArmSettings, check_endpoint
from foundry_tune._core.trust import Trust
from foundry_tune._version import __version__

__all__ = ["AsyncArmClient"]

_REFRESH_MARGIN = 300.0


class _BearerAuth(httpx.Auth):
    """Adds a management-scope bearer token, refreshed five minutes before it expires."""

    def __init__(self, credential: AsyncTokenCredential, scope: str) -> None:
        self._credential = credential
        self._scope = scope
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = Lock()

    async def _current(self) -> str:
        async with self._lock:
            if self._token is None or time.time() > self._expires_on - _REFRESH_MARGIN:
                access = await self._credential.get_token(self._scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send ``request`` with a current bearer token."""
        request.headers["Authorization"] = f"Bearer {await self._current()}"
        yield request

    def __repr__(self) -> str:
        return f"_BearerAuth(scope={self._scope!r})"


class AsyncArmClient:
    """Calls ARM for one Cognitive Services (Foundry) account.

    Paths given to [`request()`][request] are relative to the account, e.g. ``/deployments/x``. Errors
    come out translated (`foundry_tune._core.translate`); transient ones are retried.
    ``verify`` (a CA bundle path, or ``SSL_CERT_FILE`` and the like with ``True``) and the proxy
    from ``HTTPS_PROXY`` / ``NO_PROXY`` are trusted as by the connection's OpenAI client;
    ``transport`` replaces the HTTP transport (tests, custom proxies).
    """

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
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.endpoint,
            auth=_BearerAuth(credential, f"{self.endpoint}/.default"),
            headers={"User-Agent": f"foundry-tune/{__version__}"},
            timeout=timeout,
            transport=arm_transport(endpoint=self.endpoint, trust=Trust(verify), inner=transport),
        )

    @property
    def account_path(self) -> str:
        """``/subscriptions/.../accounts/<account>``."""
        return account_path(self.settings)

    async def _send(self, method: str, url: str, *, json: Any = None, params: dict[str, str] | None = None,
                    ok_missing: bool = False) -> dict[str, Any] | None:
        response = await self._http.request(method, url, json=json, params=params)
        return response_body(response, ok_missing=ok_missing)

    async def request(self, method: str, path: str, *, what: str, json: Any = None,
                      ok_missing: bool = False) -> dict[str, Any] | None:
        """Send a safe (idempotent) request under the retry policy and return its JSON body.

        With ``ok_missing`` a 404 returns None instead of raising.
        """
        url = self.account_path + path
        params = {"api-version": self.api_version}

        async def send() -> dict[str, Any] | None:
            return await self._send(method, url, json=json, params=params, ok_missing=ok_missing)

        return await self.retry.call(send, what=what)

    async def begin(self, method: str, path: str, *, what: str, json: Any = None,
                    ok_missing: bool = False) -> ArmAnswer:
        """Send a write that may start a long-running operation (PUT, DELETE) under the retry
        policy: its body, status and the ``Azure-AsyncOperation`` URL to follow, if any.

        With ``ok_missing`` a 404 answers an `ArmAnswer` with no body instead of raising.
        """
        url = self.account_path + path
        params = {"api-version": self.api_version}

        async def send() -> ArmAnswer:
            response = await self._http.request(method, url, json=json, params=params)
            body = response_body(response, ok_missing=ok_missing)
            if body is None:
                return ArmAnswer(None, None, None)
            return ArmAnswer(body, response.status_code, operation_url(response.headers, self.endpoint))

        return await self.retry.call(send, what=what)

    async def operation(self, url: str, *, what: str) -> dict[str, Any] | None:
        """The status body of the long-running operation at ``url`` (from [`begin()`][begin]); None
        if the service no longer knows it (404) or ``url`` is not on the ARM endpoint."""
        if not same_host(url, self.endpoint):
            return None

        async def send() -> dict[str, Any] | None:
            return await self._send("GET", url, ok_missing=True)

        return await self.retry.call(send, what=what)

    async def list(self, path: str, *, what: str) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged ARM list (``value`` + ``nextLink``), at most
        `ARM_LIST_MAX_PAGES` pages and
        `ARM_LIST_MAX_SECONDS` seconds; a page that repeats an
        earlier one ends the scan."""
        page = await self.request("GET", path, what=what) or {}
        guard = arm_page_guard(what, self.retry.clock)
        while True:
            link = next_link_of(page, self.endpoint)
            fresh, more = guard.take(page_items(page), link is not None, id_of=item_id)
            for item in fresh:
                yield item
            if more is None or link is None:
                return
            page = await self._next_page(link, what=what)

    async def _next_page(self, link: str, *, what: str) -> dict[str, Any]:
        async def send() -> dict[str, Any]:
            return await self._send("GET", link) or {}

        return await self.retry.call(send, what=what)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    # unasync: remove-begin
    async def aclose(self) -> None:
        """The same as [`close()`][close] (the spelling of httpx and other async clients)."""
        await self.close()

    # unasync: remove-end
    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, account={self.settings.account_name!r})"
