"""A small Azure Resource Manager client over httpx: the Cognitive Services account's resources,
an azure-identity token for the management scope, every call under the retry policy."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from azure.core.credentials import TokenCredential

from foundry_tune._paging import PageGuard
from foundry_tune._version import __version__
from foundry_tune.client._retry import RetryPolicy
from foundry_tune.client._settings import ArmSettings, check_endpoint, ssl_verify
from foundry_tune.client._transport import ArmBudgetTransport

__all__ = [
    "ARM_LIST_MAX_PAGES",
    "ARM_LIST_MAX_SECONDS",
    "DEFAULT_ARM_API_VERSION",
    "ArmAnswer",
    "ArmClient",
    "account_path",
    "arm_page_guard",
    "item_id",
    "next_link_of",
    "operation_url",
    "page_items",
    "response_body",
    "same_host",
]

DEFAULT_ARM_API_VERSION = "2024-10-01"
_REFRESH_MARGIN = 300.0
ARM_LIST_MAX_PAGES = 100
"""An ARM list follows at most this many ``nextLink`` pages."""
ARM_LIST_MAX_SECONDS = 120.0
"""An ARM list stops following ``nextLink`` this many seconds after its first page."""


@dataclasses.dataclass(frozen=True)
class ArmAnswer:
    """The answer to an ARM write that may start a long-running operation."""

    body: dict[str, Any] | None
    """The JSON body (None for a 404 with ``ok_missing``; ``{}`` for an empty body)."""
    status: int | None
    """The HTTP status (201 created, 202 accepted, 204 already gone, ...); None for a 404 with
    ``ok_missing``."""
    operation: str | None
    """The ``Azure-AsyncOperation`` URL to follow, when the service sent one on the ARM endpoint's
    own origin (a token is never sent anywhere else)."""


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

    def begin(self, method: str, path: str, *, what: str, json: Any = None,
              ok_missing: bool = False) -> ArmAnswer:
        """Send a write that may start a long-running operation (PUT, DELETE) under the retry
        policy: its body, status and the ``Azure-AsyncOperation`` URL to follow, if any.

        With ``ok_missing`` a 404 answers an :class:`ArmAnswer` with no body instead of raising.
        """
        url = self.account_path + path
        params = {"api-version": self.api_version}

        def send() -> ArmAnswer:
            response = self._http.request(method, url, json=json, params=params)
            body = response_body(response, ok_missing=ok_missing)
            if body is None:
                return ArmAnswer(None, None, None)
            return ArmAnswer(body, response.status_code, operation_url(response.headers, self.endpoint))

        return self.retry.call(send, what=what)

    def operation(self, url: str, *, what: str) -> dict[str, Any] | None:
        """The status body of the long-running operation at ``url`` (from :meth:`begin`); None
        if the service no longer knows it (404) or ``url`` is not on the ARM endpoint."""
        if not same_host(url, self.endpoint):
            return None
        return self.retry.call(lambda: self._send("GET", url, ok_missing=True), what=what)

    def list(self, path: str, *, what: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged ARM list (``value`` + ``nextLink``), at most
        :data:`ARM_LIST_MAX_PAGES` pages and :data:`ARM_LIST_MAX_SECONDS` seconds; a page that
        repeats an earlier one ends the scan."""
        page = self.request("GET", path, what=what) or {}
        guard = arm_page_guard(what, self.retry.clock)
        while True:
            link = next_link_of(page, self.endpoint)
            fresh, more = guard.take(page_items(page), link is not None, id_of=item_id)
            yield from fresh
            if more is None or link is None:
                return
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
    """Whether a ``nextLink`` or operation URL points at the ARM endpoint, same scheme and host
    (never send the token elsewhere, nor over plain http when the endpoint is https)."""
    there, here = urlsplit(link), urlsplit(endpoint)
    return there.netloc == here.netloc and there.scheme.lower() == here.scheme.lower()


def operation_url(headers: Mapping[str, str] | httpx.Headers, endpoint: str) -> str | None:
    """The ``Azure-AsyncOperation`` URL of an ARM answer, if it is on the ARM endpoint."""
    url = headers.get("azure-asyncoperation")
    return str(url) if url and same_host(str(url), endpoint) else None


def arm_page_guard(what: str, clock: Callable[[], float]) -> PageGuard:
    """The bounds of one ARM list scan (shared by the sync and async clients)."""
    return PageGuard(what, max_pages=ARM_LIST_MAX_PAGES, max_seconds=ARM_LIST_MAX_SECONDS, clock=clock)


def page_items(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The resources on one ARM list page (its ``value``)."""
    value = page.get("value")
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def item_id(item: dict[str, Any]) -> str | None:
    """An ARM resource's ``id`` (or ``name``), to tell a repeated page."""
    ident = item.get("id") or item.get("name")
    return None if ident is None else str(ident)


def next_link_of(page: Mapping[str, Any], endpoint: str) -> str | None:
    """The page's ``nextLink`` if there is one to follow (on the ARM endpoint only)."""
    link = page.get("nextLink")
    return str(link) if link and same_host(str(link), endpoint) else None
