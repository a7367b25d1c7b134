"""The Uploads API: create, add parts (64 MB each, streamed to disk), complete (parts joined in a
worker thread), cancel, expiry."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundry_tune.emulator._errors import invalid, not_found
from foundry_tune.emulator._files import (
    PURPOSES,
    add_file,
    check_filename,
    render_file,
    schedule_processing,
)
from foundry_tune.emulator._http import ctx_of, json_body, ok, public
from foundry_tune.emulator._multipart import read_form
from foundry_tune.emulator._state import Context, new_id
from foundry_tune.emulator._store import Doc

MAX_PART_BYTES = 64 * 1024 * 1024
MAX_UPLOAD_BYTES = 8 * 1024 * 1024 * 1024
UPLOAD_LIFETIME = 3600
_COPY_CHUNK = 1024 * 1024


def _get_upload(ctx: Context, upload_id: str) -> Doc:
    doc = ctx.store.get("upload", upload_id)
    if doc is None:
        raise not_found("Upload", upload_id)
    if doc["status"] == "pending" and ctx.now() > doc["expires_at"]:
        doc["status"] = "expired"
        _drop_parts(ctx, upload_id)
        ctx.store.put("upload", doc)
    return doc


def _require_pending(doc: Doc) -> None:
    if doc["status"] != "pending":
        raise invalid(f"Upload '{doc['id']}' is {doc['status']}; only a pending upload accepts this.")


def _drop_parts(ctx: Context, upload_id: str) -> None:
    for part in ctx.store.all("upload_part", upload_id):
        ctx.store.blob_path(part["_blob"]).unlink(missing_ok=True)
    ctx.store.delete_children("upload_part", upload_id)


async def create_upload(request: Request) -> Response:
    ctx = ctx_of(request)
    body = await json_body(request)
    for key in ("filename", "purpose", "bytes", "mime_type"):
        if key not in body:
            raise invalid(f"'{key}' is a required property.", param=key)
    size = body["bytes"]
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise invalid("'bytes' must be a positive integer.", param="bytes")
    if size > MAX_UPLOAD_BYTES:
        raise invalid(f"'bytes' exceeds the upload limit of {MAX_UPLOAD_BYTES} bytes (8 GB).", param="bytes")
    if not isinstance(body["purpose"], str) or body["purpose"] not in PURPOSES:
        raise invalid(f"Invalid purpose '{body['purpose']}'.", param="purpose")
    check_filename(str(body["filename"]), param="filename")
    now = int(ctx.now())
    doc: Doc = {
        "id": new_id("upload_"),
        "object": "upload",
        "bytes": size,
        "created_at": now,
        "expires_at": now + UPLOAD_LIFETIME,
        "filename": str(body["filename"]),
        "purpose": body["purpose"],
        "status": "pending",
        "_mime_type": str(body["mime_type"]),
    }
    return ok(public(ctx.store.put("upload", doc)))


async def add_part(request: Request) -> Response:
    ctx = ctx_of(request)
    upload = _get_upload(ctx, request.path_params["upload_id"])
    _require_pending(upload)
    form = await read_form(
        request.headers.get("content-type", ""), request.stream(), ctx.store.blob_dir, MAX_PART_BYTES
    )
    data = form.files.pop("data", None)
    for leftover in form.files.values():
        leftover.path.unlink(missing_ok=True)
    if data is None:
        raise invalid("'data' is a required form field.", param="data")
    upload = _get_upload(ctx, upload["id"])  # it may have been cancelled while the part streamed in
    received = sum(p["_bytes"] for p in ctx.store.all("upload_part", upload["id"]))
    # Only the parts listed at completion must add up to the declared size (checked there): a part
    # re-sent after a dropped answer leaves an unused one behind, as on the real service.
    if upload["status"] != "pending" or received + data.size > MAX_UPLOAD_BYTES:
        data.path.unlink(missing_ok=True)
        _require_pending(upload)
        raise invalid(
            f"The parts now hold {received + data.size} bytes, more than the upload limit of "
            f"{MAX_UPLOAD_BYTES} bytes (8 GB).",
            param="data",
        )
    part_id = new_id("part_")
    blob = ctx.store.blob_path(f"{upload['id']}.{part_id}")
    data.path.replace(blob)
    part: Doc = {
        "id": part_id,
        "object": "upload.part",
        "created_at": int(ctx.now()),
        "upload_id": upload["id"],
        "_bytes": data.size,
        "_blob": blob.name,
    }
    ctx.store.put("upload_part", part, parent=upload["id"])
    return ok(public(part))


def _part_blobs(ctx: Context, upload: Doc, part_ids: list[str]) -> list[Path]:
    """The blobs of ``part_ids`` in that order, once they are known to be parts of ``upload``,
    each listed once, adding up to its declared size."""
    parts = {p["id"]: p for p in ctx.store.all("upload_part", upload["id"])}
    unknown = [p for p in part_ids if p not in parts]
    if unknown:
        raise invalid(f"Part '{unknown[0]}' does not belong to upload '{upload['id']}'.", param="part_ids")
    if len(set(part_ids)) != len(part_ids):
        raise invalid("'part_ids' lists a part more than once.", param="part_ids")
    total = sum(parts[p]["_bytes"] for p in part_ids)
    if total != upload["bytes"]:
        raise invalid(
            f"The parts hold {total} bytes but the upload was created for {upload['bytes']} bytes.",
            param="part_ids",
        )
    return [ctx.store.blob_path(parts[p]["_blob"]) for p in part_ids]


def _assemble(ctx: Context, upload_id: str, blobs: list[Path], md5: str | None) -> Path:
    """Join ``blobs``, in that order, into one new blob, checking ``md5`` on the way.

    Runs in a worker thread (see `complete_upload`): the copy and hash of gigabytes take seconds.
    Each attempt writes a blob of its own, so two completions of one upload never share a file.
    """
    target = ctx.store.blob_path(f"{upload_id}.{secrets.token_hex(4)}.assembled")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with target.open("wb") as out:
            for blob in blobs:
                with blob.open("rb") as src:
                    while chunk := src.read(_COPY_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if md5 and digest.hexdigest() != md5.lower():
        target.unlink()
        raise invalid("The md5 of the assembled parts does not match 'md5'.", param="md5")
    return target


async def complete_upload(request: Request) -> Response:
    ctx = ctx_of(request)
    upload = _get_upload(ctx, request.path_params["upload_id"])
    _require_pending(upload)
    body = await json_body(request)
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list) or not part_ids or not all(isinstance(p, str) for p in part_ids):
        raise invalid("'part_ids' must be a non-empty list of part ids.", param="part_ids")
    md5 = body.get("md5")
    # Off the event loop: every other request is answered while the parts are joined and hashed.
    blobs = _part_blobs(ctx, upload, part_ids)
    try:
        assembled = await asyncio.to_thread(
            _assemble, ctx, upload["id"], blobs, md5 if isinstance(md5, str) else None
        )
    except OSError:
        _require_pending(_get_upload(ctx, upload["id"]))  # cancelled meanwhile: its parts are gone
        raise
    # Back on the loop, where no other request runs until this one answers: the upload may have been
    # cancelled, or completed by a second call, while its parts were joined.
    upload = _get_upload(ctx, upload["id"])
    if upload["status"] != "pending":
        assembled.unlink(missing_ok=True)
        _require_pending(upload)
    file_doc = add_file(ctx, assembled, upload["filename"], upload["purpose"], upload["bytes"])
    _drop_parts(ctx, upload["id"])
    upload["status"] = "completed"
    upload["file"] = render_file(file_doc, ctx)
    upload["_file_id"] = file_doc["id"]
    ctx.store.put("upload", upload)
    schedule_processing(ctx, file_doc["id"])
    return ok(public(upload))


async def cancel_upload(request: Request) -> Response:
    ctx = ctx_of(request)
    upload = _get_upload(ctx, request.path_params["upload_id"])
    _require_pending(upload)
    _drop_parts(ctx, upload["id"])
    upload["status"] = "cancelled"
    ctx.store.put("upload", upload)
    return ok(public(upload))


routes = [
    Route("/uploads", create_upload, methods=["POST"]),
    Route("/uploads/{upload_id}/parts", add_part, methods=["POST"]),
    Route("/uploads/{upload_id}/complete", complete_upload, methods=["POST"]),
    Route("/uploads/{upload_id}/cancel", cancel_upload, methods=["POST"]),
]
