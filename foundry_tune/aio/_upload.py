"""Uploading training files once, asynchronously: the same dedup by content hash, file naming,
Uploads API for large files and processing checks as :mod:`foundry_tune.job._upload`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from openai.types import FileObject

from foundry_tune._paging import PageGuard
from foundry_tune.aio._calls import reconciled_create, safe_call
from foundry_tune.errors import NotFoundError, UploadError, WaitTimeoutError
from foundry_tune.job._upload import (
    _PURPOSE,
    UploadedChooser,
    UploadOptions,
    UploadSource,
    _read_full,
    clean_hash,
    files_list_kwargs,
    files_scan_guard,
    is_processed,
    upload_name,
)

if TYPE_CHECKING:
    from foundry_tune.aio._foundry import AsyncFoundry

__all__ = ["find_uploaded", "upload_once", "wait_processed"]


async def scan_uploaded(
    ft: AsyncFoundry, content_hash: str, size: int | None, *, guard: PageGuard | None = None
) -> FileObject | None:
    """A usable file already uploaded with this content, without the retry policy; one page at a
    time under the same bounds as :func:`foundry_tune.job._upload.scan_uploaded`."""
    chooser = UploadedChooser(content_hash, size)
    guard = guard or files_scan_guard(ft.retry.clock)
    after: str | None = None
    while True:
        after = chooser.offer_page(await ft.openai.files.list(**files_list_kwargs(after)), guard)
        if after is None:
            return chooser.best


async def find_uploaded(ft: AsyncFoundry, content_hash: str, size: int | None) -> FileObject | None:
    """A usable file already uploaded with this content (processed, or still processing)."""
    return await safe_call(ft, lambda: scan_uploaded(ft, content_hash, size), what="list uploaded files")


async def upload_once(
    ft: AsyncFoundry,
    source: UploadSource,
    options: UploadOptions,
    *,
    on_progress: Callable[[str], None] | None = None,
) -> FileObject:
    """Upload ``source`` unless a file with the same content is already there; wait until processed."""
    digest = clean_hash(await asyncio.to_thread(source.content_hash))
    size = source.size_bytes
    existing = await find_uploaded(ft, digest, size)
    if existing is not None:
        if on_progress:
            on_progress(f"reusing {existing.id} ({existing.filename}): same content already uploaded")
        return await wait_processed(ft, existing.id, options, display_name=source.name)
    name = upload_name(source.name, digest)
    if on_progress:
        via = "Uploads API" if size > options.single_request_limit else "Files API"
        on_progress(f"uploading {source.name} ({size:,} bytes) via the {via}")
    if size > options.single_request_limit:
        created = await _upload_in_parts(ft, source, name, digest, size, options)
    else:
        created = await _upload_single(ft, source, name, digest, size)
    return await wait_processed(ft, created.id, options, display_name=source.name)


async def _upload_single(ft: AsyncFoundry, source: UploadSource, name: str, digest: str,
                         size: int) -> FileObject:
    async def create() -> FileObject:
        with source.open_upload() as stream:
            return await ft.openai.files.create(file=(name, stream, "application/jsonl"), purpose=_PURPOSE)

    return await reconciled_create(ft, create, lambda: scan_uploaded(ft, digest, size),
                                   what=f"upload {source.name}")


async def _upload_in_parts(
    ft: AsyncFoundry, source: UploadSource, name: str, digest: str, size: int, options: UploadOptions
) -> FileObject:
    client = ft.openai
    upload = await safe_call(
        ft,
        lambda: client.uploads.create(bytes=size, filename=name, mime_type="text/jsonl", purpose=_PURPOSE),
        what=f"start multipart upload of {source.name}",
    )
    md5 = hashlib.md5(usedforsecurity=False)
    slots = asyncio.Semaphore(options.parallel_parts)  # bounds memory to parallel_parts chunks

    async def send(index: int, chunk: bytes) -> str:
        try:
            part = await safe_call(
                ft,
                lambda: client.uploads.parts.create(upload.id, data=(f"part-{index}", chunk)),
                what=f"upload part {index + 1} of {source.name}",
            )
            return part.id
        finally:
            slots.release()

    tasks: list[asyncio.Task[str]] = []
    try:
        with source.open_upload() as stream:
            index = 0
            while True:
                await slots.acquire()
                chunk = await asyncio.to_thread(_read_full, stream, options.part_size)
                if not chunk:
                    slots.release()
                    break
                md5.update(chunk)
                tasks.append(asyncio.create_task(send(index, chunk)))
                index += 1
        part_ids = list(await asyncio.gather(*tasks))
    except BaseException as exc:
        for task in tasks:
            task.cancel()
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
    """Wait until the service has processed ``file_id`` (UploadError with the service's details
    when it rejects the file, WaitTimeoutError after ``options.processing_timeout``)."""
    label = display_name or file_id
    clock = ft.retry.clock
    start = clock()
    delay = 0.2
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
        if clock() - start > options.processing_timeout:
            raise WaitTimeoutError(
                f"{label} ({file_id}) was not processed within {options.processing_timeout:.0f} s; "
                "it may still finish: start() again reuses it"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 5.0)
