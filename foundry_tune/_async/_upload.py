"""Uploading training files once: dedup by content hash, the Uploads API for large files, and a
processing wait that reports the service's reason when it rejects a file.

The decisions (file naming, which listed file is reusable, part planning) are in
:mod:`foundry_tune._core.upload`; this module does the calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from openai.types import FileObject

from foundry_tune._async import _flavour
from foundry_tune._async._calls import reconciled_create, safe_call
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.polling import Deadline, file_schedule
from foundry_tune._core.upload import (
    PURPOSE,
    Part,
    UploadedChooser,
    UploadOptions,
    UploadSource,
    check_purpose,
    clean_hash,
    files_list_kwargs,
    files_scan_guard,
    is_processed,
    plan_parts,
    upload_name,
    upload_route,
)
from foundry_tune.errors import NotFoundError, UploadError, WaitTimeoutError

if TYPE_CHECKING:
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = [
    "find_uploaded",
    "given_file",
    "scan_uploaded",
    "upload_once",
    "wait_processed",
]


async def scan_uploaded(
    ft: AsyncFoundry, content_hash: str, size: int | None, *, guard: PageGuard | None = None
) -> FileObject | None:
    """:func:`find_uploaded` without the retry policy (for use inside a reconciling attempt).

    Pages are fetched one at a time under a :class:`~foundry_tune._core.paging.PageGuard` (by default
    :func:`~foundry_tune._core.upload.files_scan_guard`): a page without ``has_more`` (Azure's
    ``GET /files``) ends the scan, and so do a cursor that does not advance, the page cap and the
    time bound."""
    chooser = UploadedChooser(content_hash, size)
    guard = guard or files_scan_guard(ft.retry.clock)
    after: str | None = None
    while True:
        after = chooser.offer_page(await ft.openai.files.list(**files_list_kwargs(after)), guard)
        if after is None:
            return chooser.best


async def find_uploaded(ft: AsyncFoundry, content_hash: str, size: int | None) -> FileObject | None:
    """A usable file already uploaded with this content (processed, or still processing), newest first."""
    return await safe_call(ft, lambda: scan_uploaded(ft, content_hash, size), what="list uploaded files")


async def upload_once(
    ft: AsyncFoundry,
    source: UploadSource,
    options: UploadOptions,
    *,
    on_progress: Callable[[str], MaybeAwaitable[None]] | None = None,
) -> FileObject:
    """Upload ``source`` unless a file with the same content is already there; wait until processed."""
    digest = clean_hash(await _flavour.run_blocking(source.content_hash))
    size = source.size_bytes
    existing = await find_uploaded(ft, digest, size)
    if existing is not None:
        if on_progress:
            await _flavour.call(on_progress,
                                f"reusing {existing.id} ({existing.filename}): same content already uploaded")
        return await wait_processed(ft, existing.id, options, display_name=source.name)
    name = upload_name(source.name, digest)
    route = upload_route(size, options)
    if on_progress:
        via = "Uploads API" if route == "uploads" else "Files API"
        await _flavour.call(on_progress, f"uploading {source.name} ({size:,} bytes) via the {via}")
    if route == "uploads":
        created = await _upload_in_parts(ft, source, name, digest, size, options)
    else:
        created = await _upload_single(ft, source, name, digest, size)
    return await wait_processed(ft, created.id, options, display_name=source.name)


async def given_file(ft: AsyncFoundry, file_id: str, options: UploadOptions) -> FileObject:
    """A file id the caller gave: wait until it is processed and refuse one uploaded for another
    purpose than fine-tuning (:class:`~foundry_tune.errors.UploadError`)."""
    # The caller says the file exists: a 404 is an answer, not a moment of delay.
    remote = await wait_processed(ft, file_id, dataclasses.replace(options, not_found_grace=0.0))
    check_purpose(remote, file_id)
    return remote


async def _upload_single(ft: AsyncFoundry, source: UploadSource, name: str, digest: str,
                         size: int) -> FileObject:
    async def create() -> FileObject:
        with source.open_upload() as stream:
            return await ft.openai.files.create(file=(name, stream, "application/jsonl"), purpose=PURPOSE)

    return await reconciled_create(ft, create, lambda: scan_uploaded(ft, digest, size),
                                   what=f"upload {source.name}")


def _read_part(stream: IO[bytes], part: Part, source_name: str) -> bytes:
    chunks: list[bytes] = []
    remaining = part.length
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            raise UploadError(f"{source_name} changed while it was being uploaded: it ended early at "
                              f"byte {part.offset + part.length - remaining:,}")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


async def _upload_in_parts(
    ft: AsyncFoundry, source: UploadSource, name: str, digest: str, size: int, options: UploadOptions
) -> FileObject:
    client = ft.openai
    # Creating an Upload only makes an empty, expiring container: repeating it leaves no file behind.
    upload = await safe_call(
        ft,
        lambda: client.uploads.create(bytes=size, filename=name, mime_type="text/jsonl", purpose=PURPOSE),
        what=f"start multipart upload of {source.name}",
    )
    md5 = hashlib.md5(usedforsecurity=False)
    parts = plan_parts(size, options.part_size)

    async def send(item: tuple[Part, bytes]) -> str:
        part, chunk = item
        sent = await safe_call(
            ft,
            lambda: client.uploads.parts.create(upload.id, data=(f"part-{part.index}", chunk)),
            what=f"upload part {part.index + 1} of {source.name}",
        )
        return sent.id

    part_ids: list[str] = []
    try:
        with source.open_upload() as stream:
            # Read and send parallel_parts parts at a time: at most that many chunks are in memory.
            for start in range(0, len(parts), options.parallel_parts):
                batch: list[tuple[Part, bytes]] = []
                for part in parts[start:start + options.parallel_parts]:
                    chunk = await _flavour.run_blocking(_read_part, stream, part, source.name)
                    md5.update(chunk)
                    batch.append((part, chunk))
                part_ids.extend(await _flavour.bounded_map(send, batch, options.parallel_parts))
    except BaseException as exc:
        with contextlib.suppress(Exception):  # best effort: an abandoned upload expires in an hour
            await client.uploads.cancel(upload.id)
        if isinstance(exc, Exception) and not isinstance(exc, UploadError):
            raise UploadError(f"uploading {source.name} in parts failed: {exc}") from exc
        raise

    async def complete() -> FileObject:
        done = await client.uploads.complete(upload.id, part_ids=part_ids, md5=md5.hexdigest())
        if done.file is None:
            raise UploadError(f"the service completed the upload of {source.name} without a file")
        return done.file

    return await reconciled_create(ft, complete, lambda: scan_uploaded(ft, digest, size),
                                   what=f"complete upload of {source.name}")


async def wait_processed(
    ft: AsyncFoundry, file_id: str, options: UploadOptions, *, display_name: str | None = None
) -> FileObject:
    """Wait until the service has processed ``file_id``.

    Raises :class:`~foundry_tune.errors.UploadError` with the service's ``status_details`` when
    processing fails (the openai SDK's ``wait_for_processing`` returns normally in that case), and
    :class:`~foundry_tune.errors.WaitTimeoutError` after ``options.processing_timeout`` seconds.
    """
    label = display_name or file_id
    clock = ft.retry.clock
    start = clock()
    deadline = Deadline.after(options.processing_timeout, start)
    schedule = file_schedule()
    while True:
        try:
            f: FileObject | None = await safe_call(ft, lambda: ft.openai.files.retrieve(file_id),
                                                   what=f"check file {file_id}")
        except NotFoundError:
            if clock() - start > options.not_found_grace:
                raise
            f = None
        if f is not None and is_processed(f, label):
            return f
        if deadline.passed(clock()):
            raise WaitTimeoutError(
                f"{label} ({file_id}) was not processed within {options.processing_timeout:.0f} s; "
                "it may still finish: start() again reuses it"
            )
        await _flavour.sleep(schedule.next(remaining=deadline.remaining(clock())))
