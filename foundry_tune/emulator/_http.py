"""Small helpers shared by the route modules: context access, JSON bodies, public views, paging."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Coroutine, Iterable
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


MAX_JSON_DEPTH = 64
"""Deepest nesting of objects and arrays accepted in a JSON body (400 deeper): the default
``MaxDepth`` of the .NET JSON readers behind Azure's APIs."""

INT64_RANGE = (-(2**63), 2**63 - 1)
"""Integers a JSON body may hold anywhere (400 outside): a 64-bit integer, the widest the service
reads."""


def _no_constant(name: str) -> float:
    raise invalid(f"The request body is not valid JSON: {name} is not a JSON number.")


_INLINE_PARSE_BYTES = 64 * 1024
_Where = tuple["_Where | None", object]  # (parent, key) links, made a path only for an error


def _path(where: _Where | None, limit: int = 200) -> str:
    keys: list[object] = []
    while where is not None:
        parent, key = where
        keys.append(key)
        where = parent
    text = ""
    for key in reversed(keys):
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else str(key)
        if len(text) > limit:
            return text[: limit - 3] + "..."
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _bad_text(where: _Where | None, what: str = "") -> ApiError:
    path = _path(where)
    place = f"'{path}'" if path else "the body"
    message = f"{what}{place} holds a lone UTF-16 surrogate: not valid Unicode text."
    return invalid(message, param=path or None)


def check_json_value(value: object, limit: int = MAX_JSON_DEPTH, *, surrogates: bool = True) -> None:
    """Refuse (400, naming the place) a parsed JSON value nested deeper than ``limit``, or holding
    an integer outside [`INT64_RANGE`][INT64_RANGE], a number that is not finite (``1e999`` parses as
    infinity) or, when ``surrogates``, a string with a lone surrogate (``"\\ud800"`` parses, but
    cannot be stored or answered as UTF-8).

    Iterative, so it cannot itself run out of stack, and it allocates only for containers: a
    16 MB array of numbers is checked in about a second."""
    low, high = INT64_RANGE
    stack: list[tuple[object, _Where | None, int]] = [(value, None, 0)]
    while stack:
        item, where, depth = stack.pop()
        if type(item) is dict:
            if surrogates and any(_SURROGATE.search(key) for key in item):
                raise _bad_text(where, "A key of ")
            pairs: Iterable[tuple[object, object]] = item.items()
        elif type(item) is list:
            pairs = enumerate(item)
        else:
            pairs = ((None, item),)  # a bare scalar: checked below as its own child
        for key, child in pairs:
            if type(child) is dict or type(child) is list:
                if depth + 1 >= limit:
                    path = _path((where, key))
                    raise invalid(
                        f"The request body is nested more than {limit} levels deep (at '{path}').",
                        param=path or None,
                    )
                stack.append((child, (where, key), depth + 1))
            elif type(child) is str:
                if surrogates and _SURROGATE.search(child):
                    raise _bad_text(_at(where, key))
            elif type(child) is int:
                if not low <= child <= high:
                    path = _path(_at(where, key))
                    raise invalid(
                        f"'{path}' is out of range: numbers must fit in a 64-bit integer.", param=path
                    )
            elif type(child) is float and not math.isfinite(child):
                path = _path(_at(where, key))
                raise invalid(f"'{path}' must be a finite number.", param=path)


def _at(where: _Where | None, key: object) -> _Where | None:
    return where if key is None else (where, key)


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}", parse_constant=_no_constant)
    except RecursionError:  # the parser's own stack ran out long before the memory cap
        raise invalid(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.") from None
    except ValueError as exc:
        raise invalid(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    check_json_value(body, surrogates=_SURROGATE_ESCAPE.search(raw) is not None)
    return body


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body (400 in the official shape otherwise; 413 above
    [`MAX_JSON_BYTES`][MAX_JSON_BYTES]).

    Client mistakes that would otherwise surface later as a 500 are refused here, once for every
    route: nesting deeper than [`MAX_JSON_DEPTH`][MAX_JSON_DEPTH], integers outside
    [`INT64_RANGE`][INT64_RANGE],
    ``NaN`` / ``Infinity`` and numbers too large for a float."""
    raw = await _capped_body(request, MAX_JSON_BYTES)
    if len(raw) < _INLINE_PARSE_BYTES:
        return _parse(raw)
    return await asyncio.to_thread(_parse, raw)  # megabytes take a while: keep the loop answering


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
