"""A small Azure Resource Manager client over httpx: the Cognitive Services account's resources,
an azure-identity token for the management scope, every call under the retry policy."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from azure.core.credentials import TokenCredential

from foundry_tune._version import __version__
from foundry_tune.client._retry import RetryPolicy
from foundry_tune.client._settings import ArmSettings, check_endpoint, ssl_verify
from foundry_tune.client._transport import ArmBudgetTransport

__all__ = ["DEFAULT_ARM_API_VERSION", "ArmClient", "account_path", "response_body", "same_host"]

DEFAULT_ARM_API_VERSION = "2024-10-01"
_REFRESH_MARGIN = 300.0


class _BearerAuth(httpx.Auth):
    """Adds a management-scope bearer token, refreshed five minutes before it expires."""

    def __init__(self, credential: TokenCredential, scope: str) -> None:
        self._credential = credential
        self._scope = scope
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def _current(self) -> str:
        with self._lock:
            if self._token is None or time.time() > self._expires_on - _REFRESH_MARGIN:
                access = self._credential.get_token(self._scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._current()}"
        yield request

    def __repr__(self) -> str:
        return f"_BearerAuth(scope={self._scope!r})"


class ArmClient:
    """Calls ARM for one Cognitive Services (Foundry) account.

    Paths given to :meth:`request` are relative to the account, e.g. ``/deployments/x``. Errors
    come out translated (:mod:`foundry_tune.client._errors`); transient ones are retried.
    """

    def __init__(
        self,
        settings: ArmSettings,
        credential: TokenCredential,
        *,
        retry: RetryPolicy,
        api_version: str = DEFAULT_ARM_API_VERSION,
        timeout: float = 60.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings.require()
        self.settings = settings
        self.endpoint = check_endpoint(settings.endpoint, what="ARM endpoint")
        self.api_version = api_version
        self.retry = retry
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=self.endpoint,
            auth=_BearerAuth(credential, f"{self.endpoint}/.default"),
            headers={"User-Agent": f"foundry-tune/{__version__}"},
            timeout=timeout,
            transport=ArmBudgetTransport(transport or httpx.HTTPTransport(verify=ssl_verify(verify))),
        )

    @property
    def account_path(self) -> str:
        """``/subscriptions/.../accounts/<account>``."""
        return account_path(self.settings)

    def _send(self, method: str, url: str, *, json: Any = None, params: dict[str, str] | None = None,
              ok_missing: bool = False) -> dict[str, Any] | None:
        return response_body(self._http.request(method, url, json=json, params=params), ok_missing=ok_missing)

    def request(self, method: str, path: str, *, what: str, json: Any = None,
                ok_missing: bool = False) -> dict[str, Any] | None:
        """Send a safe (idempotent) request under the retry policy and return its JSON body.

        With ``ok_missing`` a 404 returns None instead of raising.
        """
        url = self.account_path + path
        params = {"api-version": self.api_version}
        def send() -> dict[str, Any] | None:
            return self._send(method, url, json=json, params=params, ok_missing=ok_missing)

        return self.retry.call(send, what=what)

    def list(self, path: str, *, what: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged ARM list (``value`` + ``nextLink``)."""
        page = self.request("GET", path, what=what) or {}
        while True:
            for item in page.get("value", []):
                if isinstance(item, dict):
                    yield item
            next_link = page.get("nextLink")
            if not next_link:
                return
            link = str(next_link)
            if not same_host(link, self.endpoint):
                return  # never send our token to a host other than the ARM endpoint
            page = self._next_page(link, what=what)

    def _next_page(self, link: str, *, what: str) -> dict[str, Any]:
        return self.retry.call(lambda: self._send("GET", link) or {}, what=what)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __repr__(self) -> str:
        return f"ArmClient(endpoint={self.endpoint!r}, account={self.settings.account_name!r})"


def account_path(settings: ArmSettings) -> str:
    """``/subscriptions/.../accounts/<account>`` for the account in ``settings``."""
    return (
        f"/subscriptions/{quote(settings.subscription_id or '', safe='')}"
        f"/resourceGroups/{quote(settings.resource_group or '', safe='')}"
        f"/providers/Microsoft.CognitiveServices/accounts/{quote(settings.account_name or '', safe='')}"
    )


def response_body(response: httpx.Response, *, ok_missing: bool = False) -> dict[str, Any] | None:
    """The JSON body of a read ARM response (sync or async client); raises on an error status;
    None for a 404 when ``ok_missing``."""
    if ok_missing and response.status_code == 404:
        return None
    if response.status_code >= 400:
        response.raise_for_status()
    if not response.content:
        return {}
    body = response.json()
    return body if isinstance(body, dict) else {"value": body}


def same_host(link: str, endpoint: str) -> bool:
    """Whether a ``nextLink`` points at the ARM endpoint (never send the token elsewhere)."""
    return urlsplit(link).netloc == urlsplit(endpoint).netloc
