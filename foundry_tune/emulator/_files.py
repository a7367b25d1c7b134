"""The Files API: multipart create, list, retrieve, delete, content; then background processing."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from foundry_tune.emulator._errors import ApiError, invalid, not_found
from foundry_tune.emulator._http import ctx_of, id_list, int_param, ok, page_after, public, spawn
from foundry_tune.emulator._multipart import read_form
from foundry_tune.emulator._state import Context, new_id
from foundry_tune.emulator._store import Doc
from foundry_tune.emulator._validation import check_file

MAX_FILE_BYTES = 512 * 1024 * 1024
PURPOSES = {"fine-tune", "assistants", "batch", "vision", "user_data", "evals"}
_PENDING_SHARE = 0.02  # a new file stays `pending` for 2% of a job's duration (1 s at most)
_MAX_PENDING = 1.0
_RECORDED_ORDER = ("status", "status_details", "bytes", "purpose", "filename", "id", "created_at", "object")


def waiting_status(ctx: Context) -> str:
    """A new file's status: ``pending`` on Azure (recordings/sft_create_cancel_events.json),
    ``uploaded`` on OpenAI."""
    return "uploaded" if ctx.config.flavor == "openai" else "pending"


def render_file(doc: Doc, ctx: Context) -> Doc:
    """The wire body of a stored file: Azure's recorded keys in their order (``status_details``
    only on a file that failed processing), or every public key for the OpenAI flavour."""
    body = public(doc)
    if ctx.config.flavor == "openai":
        return body
    return {key: body[key] for key in _RECORDED_ORDER if body.get(key) is not None}


def check_filename(name: str, param: str = "file") -> str:
    """A file name as the client gave it, refused when it names a path (``/``, ``\\``, ``..``)
    or holds control characters: names are labels, never places on disk."""
    if (
        not name
        or len(name) > 512
        or "/" in name
        or "\\" in name
        or name in {".", ".."}
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise invalid(
            f"Invalid file name {name[:100]!r}: use a plain name without path separators, '..' or "
            "control characters.",
            param=param,
        )
    return name


def add_file(
    ctx: Context, source: Path, filename: str, purpose: str, size: int, *, status: str | None = None
) -> Doc:
    """Move ``source`` into the blob folder and record a file for it (still to be processed
    unless ``status`` says otherwise)."""
    file_id = new_id("file-")
    blob = ctx.store.blob_path(file_id)
    shutil.move(source, blob)
    doc: Doc = {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": int(ctx.now()),
        "filename": filename,
        "purpose": purpose,
        "status": status or waiting_status(ctx),
        "_blob": blob.name,
    }
    return ctx.store.put("file", doc)


def get_file(ctx: Context, file_id: str) -> Doc:
    """The stored file (404 when unknown)."""
    doc = ctx.store.get("file", file_id)
    if doc is None:
        raise not_found("File", file_id)
    return doc


def file_path(ctx: Context, doc: Doc) -> Path:
    """Where a file's bytes are."""
    return ctx.store.blob_path(str(doc["_blob"]))


def process_file(ctx: Context, file_id: str) -> None:
    """Validate a ``fine-tune`` file with the Dataset rules: ``processed`` or ``error`` with details."""
    doc = ctx.store.get("file", file_id)
    if doc is None or doc["status"] not in {"uploaded", "pending"}:
        return
    if doc["purpose"] != "fine-tune":
        doc["status"] = "processed"
    else:
        check = check_file(file_path(ctx, doc))
        doc["status"] = "processed" if check.valid else "error"
        doc["_method"] = check.method.value if check.method else None
        doc["_examples"] = check.examples
        if check.details:
            doc["status_details"] = check.details
    if ctx.store.get("file", file_id) is not None:  # deleted while processing: leave it gone
        ctx.store.put("file", doc)


def schedule_processing(ctx: Context, file_id: str, created_at: float | None = None) -> None:
    """Process a file in a worker thread, off the event loop. On Azure a new file is answered
    ``pending`` at least once before it is ``processed`` (the recorded polls), so processing
    starts a short while after ``created_at``."""
    delay = 0.0
    if ctx.config.flavor != "openai":
        window = min(_MAX_PENDING, ctx.config.job_duration * _PENDING_SHARE)
        delay = max(0.0, (created_at if created_at is not None else ctx.now()) + window - ctx.now())

    async def later() -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        await asyncio.to_thread(process_file, ctx, file_id)

    spawn(later())


def resume_processing(ctx: Context) -> None:
    """After a restart, process the files that were still waiting."""
    for doc in ctx.store.all("file"):
        if doc["status"] in {"uploaded", "pending"}:
            schedule_processing(ctx, doc["id"], float(doc["created_at"]))


async def create_file(request: Request) -> Response:
    ctx = ctx_of(request)
    form = await read_form(
        request.headers.get("content-type", ""), request.stream(), ctx.store.blob_dir, MAX_FILE_BYTES
    )
    try:
        purpose = form.fields.get("purpose")
        if not purpose:
            raise invalid("'purpose' is a required form field.", param="purpose")
        if purpose not in PURPOSES:
            raise invalid(f"Invalid purpose '{purpose}'.", param="purpose")
        part = form.files.get("file")
        if part is None:
            raise invalid("'file' is a required form field.", param="file")
        if part.size == 0:
            raise invalid("The uploaded file is empty.", param="file")
        filename = check_filename(part.filename) if part.filename else "file.jsonl"
        doc = add_file(ctx, part.path, filename, purpose, part.size)
    finally:
        for leftover in form.files.values():
            leftover.path.unlink(missing_ok=True)
    schedule_processing(ctx, doc["id"])
    return ok(render_file(doc, ctx), status=201 if ctx.config.flavor != "openai" else 200)


async def list_files(request: Request) -> Response:
    ctx = ctx_of(request)
    purpose = request.query_params.get("purpose")
    order = request.query_params.get("order", "desc")
    if order not in {"asc", "desc"}:
        raise invalid("'order' must be 'asc' or 'desc'.", param="order")
    docs = ctx.store.all("file", newest_first=order == "desc")
    if purpose:
        docs = [d for d in docs if d["purpose"] == purpose]
    limit = int_param(request, "limit", 10_000)
    page, more = page_after(docs, request.query_params.get("after"), limit)
    return ok(id_list([render_file(d, ctx) for d in page], more))


async def retrieve_file(request: Request) -> Response:
    ctx = ctx_of(request)
    return ok(render_file(get_file(ctx, request.path_params["file_id"]), ctx))


async def delete_file(request: Request) -> Response:
    ctx = ctx_of(request)
    doc = get_file(ctx, request.path_params["file_id"])
    ctx.store.delete("file", doc["id"])
    file_path(ctx, doc).unlink(missing_ok=True)
    return ok({"id": doc["id"], "object": "file", "deleted": True})


async def file_content(request: Request) -> Response:
    ctx = ctx_of(request)
    doc = get_file(ctx, request.path_params["file_id"])
    path = file_path(ctx, doc)
    if not path.exists():
        raise ApiError(404, f"The content of file '{doc['id']}' is gone.", code="notFound")
    media = "text/csv" if doc["purpose"] == "fine-tune-results" else "application/octet-stream"
    return FileResponse(path, media_type=media)


routes = [
    Route("/files", create_file, methods=["POST"]),
    Route("/files", list_files, methods=["GET"]),
    Route("/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/files/{file_id}/content", file_content, methods=["GET"]),
]
