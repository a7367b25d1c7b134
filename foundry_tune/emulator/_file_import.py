"""The file import: ``POST /files/import`` with ``{"purpose", "filename", "content_url"}``.

As Azure's "Files - Import" (https://learn.microsoft.com/en-us/rest/api/azureopenai/files/import):
the answer is 201 with the new file ``pending`` and a ``Location`` header; the service then
fetches ``content_url`` itself (a GET), stores the bytes as an upload would and processes them
like any other file. A URL that cannot be fetched makes the file ``error`` with a
``status_details`` that says why without quoting the URL (its query is a SAS token); the wording
is inferred, the service's is not documented.

The fetch runs in a worker thread (off the event loop), bounded in time and size. An import
interrupted by a restart of the emulator ends as an empty file, which processing rejects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundry_tune.emulator._errors import invalid
from foundry_tune.emulator._files import PURPOSES, check_filename, process_file, render_file, waiting_status
from foundry_tune.emulator._http import ctx_of, json_body, ok, spawn
from foundry_tune.emulator._state import Context, new_id
from foundry_tune.emulator._store import Doc

MAX_IMPORT_BYTES = 8 * 1024 * 1024 * 1024
"""The largest file an import fetches (the service's 8 GB training file limit)."""
FETCH_TIMEOUT = 30.0
"""Seconds a fetch may wait for the remote server to answer (per read)."""
FETCH_DEADLINE = 600.0
"""Seconds a whole fetch may take."""
_CHUNK = 1024 * 1024


class _FetchFailed(Exception):
    """Why a content URL could not be fetched (said in ``status_details``, without the URL)."""


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fetch(url: str, target: Path, *, limit: int = MAX_IMPORT_BYTES, timeout: float = FETCH_TIMEOUT,
          deadline: float = FETCH_DEADLINE) -> int:
    """GET ``url`` into ``target``; the number of bytes. Raises ``_FetchFailed`` with a reason
    that never quotes the URL."""
    started = time.monotonic()
    host = urlsplit(url).hostname or ""
    # A local test server is reached directly, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({})) if _loopback(host) else (
        urllib.request.build_opener())
    total = 0
    try:
        request = urllib.request.Request(url, method="GET")  # noqa: S310 - http(s) only, checked on arrival
        with opener.open(request, timeout=timeout) as answer, target.open("wb") as out:
            while chunk := answer.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise _FetchFailed(f"the content is larger than {limit:,} bytes")
                if time.monotonic() - started > deadline:
                    raise _FetchFailed(f"the download took longer than {deadline:.0f} seconds")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise _FetchFailed(f"the content URL answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _FetchFailed(f"the content URL could not be reached ({type(exc.reason).__name__})") from None
    except (TimeoutError, OSError) as exc:
        raise _FetchFailed(f"the download failed ({type(exc).__name__})") from None
    if total == 0:
        raise _FetchFailed("the content URL answered with an empty body")
    return total


def _fail(ctx: Context, file_id: str, why: str) -> None:
    doc = ctx.store.get("file", file_id)
    if doc is None:  # deleted meanwhile
        return
    doc["status"] = "error"
    doc["status_details"] = f"The file could not be imported from the content URL: {why}."
    ctx.store.put("file", doc)


def _run_import(ctx: Context, file_id: str, url: str) -> None:
    doc = ctx.store.get("file", file_id)
    if doc is None:
        return
    final = ctx.store.blob_path(str(doc["_blob"]))
    partial = ctx.store.blob_path(f"{file_id}.tmp")
    try:
        size = fetch(url, partial)
    except _FetchFailed as exc:
        partial.unlink(missing_ok=True)
        _fail(ctx, file_id, str(exc))
        return
    partial.replace(final)
    doc = ctx.store.get("file", file_id)
    if doc is None:
        final.unlink(missing_ok=True)
        return
    doc["bytes"] = size
    ctx.store.put("file", doc)
    process_file(ctx, file_id)


async def import_file(request: Request) -> Response:
    ctx = ctx_of(request)
    body = await json_body(request)
    for key in ("purpose", "filename", "content_url"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise invalid(f"'{key}' is a required property.", param=key)
    purpose, filename, url = str(body["purpose"]), str(body["filename"]), str(body["content_url"])
    if purpose not in PURPOSES:
        raise invalid(f"Invalid purpose '{purpose}'.", param="purpose")
    check_filename(filename, param="filename")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        raise invalid("'content_url' must be an http(s) URL the service can fetch.", param="content_url")
    file_id = new_id("file-")
    blob = ctx.store.blob_path(file_id)
    blob.touch()  # an import a restart interrupts is an empty file, which processing rejects
    doc: Doc = {
        "id": file_id,
        "object": "file",
        "created_at": int(ctx.now()),
        "filename": filename,
        "purpose": purpose,
        "status": waiting_status(ctx),
        "_blob": blob.name,
        "_imported": True,
    }
    ctx.store.put("file", doc)
    # The URL (and its token) is held only by this task, never stored.
    spawn(asyncio.to_thread(_run_import, ctx, file_id, url))
    location = str(request.url).split("?", 1)[0].rsplit("/import", 1)[0] + f"/{file_id}"
    return ok(render_file(doc, ctx), status=201, headers={"Location": location})


routes = [Route("/files/import", import_file, methods=["POST"])]
