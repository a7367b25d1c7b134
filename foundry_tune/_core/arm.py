"""Azure Resource Manager without I/O: the account's path, the paging of ARM lists, the reading
of an answer and of its long-running-operation header, and where a token may be sent."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from foundry_tune._core.paging import PageGuard

if TYPE_CHECKING:
    import httpx

    from foundry_tune._core.settings import ArmSettings

__all__ = [
    "ARM_LIST_MAX_PAGES",
    "ARM_LIST_MAX_SECONDS",
    "DEFAULT_ARM_API_VERSION",
    "ArmAnswer",
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
