"""Small helpers shared by the route modules: context access, JSON bodies, public views, paging."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from foundry_tune.emulator._errors import ApiError, invalid
from foundry_tune.emulator._state import Context
from foundry_tune.emulator._store import Doc

_background: set[asyncio.Task[Any]] = set()


def ctx_of(request: Request) -> Context:
    """The emulator context of the running app."""
    ctx: Context = request.app.state.ctx
    return ctx


def public(doc: Doc) -> Doc:
    """The wire view of a stored document: private ``_``-prefixed keys removed."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def ok(body: object, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON answer."""
    return JSONResponse(body, status_code=status, headers=headers)


MAX_JSON_BYTES = 16 * 1024 * 1024
"""Largest JSON request body accepted (413 above): a client cannot make the emulator buffer more."""


async def _capped_body(request: Request, limit: int) -> bytes:
    too_large = ApiError(
        413, f"The request body exceeds the limit of {limit} bytes.", code="request_too_large"
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body (400 in the official shape otherwise; 413 above
    :data:`MAX_JSON_BYTES`)."""
    raw = await _capped_body(request, MAX_JSON_BYTES)
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise invalid(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def int_param(request: Request, name: str, default: int, *, low: int = 1, high: int = 10_000) -> int:
    """An integer query parameter within ``[low, high]``."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"'{name}' must be an integer.", param=name) from None
    if not low <= value <= high:
        raise invalid(f"'{name}' must be between {low} and {high}.", param=name)
    return value


def page_after(docs: list[Doc], after: str | None, limit: int) -> tuple[list[Doc], bool]:
    """The ``limit`` documents that follow the one with id ``after``, and whether more remain."""
    if after:
        ids = [d["id"] for d in docs]
        if after not in ids:
            raise ApiError(400, f"Unknown pagination cursor '{after}'.", code="invalidPayload", param="after")
        docs = docs[ids.index(after) + 1 :]
    return docs[:limit], len(docs) > limit


def id_list(data: list[Doc], has_more: bool) -> Doc:
    """A list page with ``first_id`` / ``last_id`` (null on an empty page, as OpenAI answers)."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def spawn(coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` in the background, keeping a reference so it is not garbage collected."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
