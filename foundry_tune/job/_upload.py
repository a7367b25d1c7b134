"""Uploading training files once: dedup by content hash, the Uploads API for large files, and a
processing wait that reports the service's reason when it rejects a file."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, Literal, Protocol

from openai.types import FileObject

from foundry_tune._paging import PageGuard
from foundry_tune.errors import NotFoundError, UploadError, WaitTimeoutError
from foundry_tune.job._calls import Connection, reconciled_create, safe_call

__all__ = [
    "DEFAULT_PART_SIZE",
    "DEFAULT_SINGLE_REQUEST_LIMIT",
    "UploadOptions",
    "UploadSource",
    "UploadedChooser",
    "find_uploaded",
    "is_processed",
    "upload_name",
    "upload_once",
    "wait_processed",
]

MiB = 1024 * 1024

DEFAULT_SINGLE_REQUEST_LIMIT = 100 * MiB
"""Files up to this size go in one ``files.create`` request; larger ones use the Uploads API.

The Files API accepts up to 512 MB, but uploads above ~150 MB are reported to fail silently on
Azure, so the default keeps a wide margin below that."""

DEFAULT_PART_SIZE = 64 * MiB
"""The Uploads API's maximum part size."""

_PURPOSE: Literal["fine-tune"] = "fine-tune"
_HASH_CHARS = 32
_GONE = frozenset({"error", "failed", "deleted", "deleting"})
_FAILED = frozenset({"error", "failed"})


class UploadSource(Protocol):
    """What an uploadable dataset provides (:class:`foundry_tune.Dataset` does)."""

    @property
    def name(self) -> str: ...

    @property
    def size_bytes(self) -> int: ...

    def content_hash(self) -> str: ...

    def open_upload(self) -> IO[bytes]: ...


@dataclasses.dataclass(frozen=True)
class UploadOptions:
    """How files are uploaded. Memory use of a multipart upload is at most ``parallel_parts * part_size``."""

    single_request_limit: int = DEFAULT_SINGLE_REQUEST_LIMIT
    part_size: int = DEFAULT_PART_SIZE
    parallel_parts: int = 4
    processing_timeout: float = 1800.0
    not_found_grace: float = 30.0
    """A file can 404 for a moment right after it was created; retry that long before giving up."""

    def __post_init__(self) -> None:
        from foundry_tune.errors import InvalidParameterError

        if self.single_request_limit < 1 or self.part_size < 1 or self.part_size > DEFAULT_PART_SIZE:
            raise InvalidParameterError("upload sizes must be positive and parts at most 64 MiB")
        if self.parallel_parts < 1:
            raise InvalidParameterError("parallel_parts must be at least 1")


def clean_hash(value: str) -> str:
    """The bare lowercase hex digest (drops a ``sha256:`` prefix)."""
    return value.split(":", 1)[-1].strip().lower()


def upload_name(source_name: str, content_hash: str) -> str:
    """The file name to upload with: the original stem plus the content hash, so that a later run
    can find the file again with ``files.list`` (``train.sha256-<32 hex>.jsonl``)."""
    stem = re.sub(r"\.jsonl?$", "", source_name.rsplit("/", 1)[-1], flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:60] or "data"
    return f"{stem}.sha256-{clean_hash(content_hash)[:_HASH_CHARS]}.jsonl"


def _hash_marker(content_hash: str) -> str:
    return f".sha256-{clean_hash(content_hash)[:_HASH_CHARS]}.jsonl"


def find_uploaded(conn: Connection, content_hash: str, size: int | None) -> FileObject | None:
    """A usable file already uploaded with this content (processed, or still processing), newest first."""
    return safe_call(conn, lambda: scan_uploaded(conn, content_hash, size), what="list uploaded files")


def scan_uploaded(
    conn: Connection, content_hash: str, size: int | None, *, guard: PageGuard | None = None
) -> FileObject | None:
    """:func:`find_uploaded` without the retry policy (for use inside a reconciling attempt).

    Pages are fetched one at a time under a :class:`~foundry_tune._paging.PageGuard` (by default
    :func:`files_scan_guard`): a page without ``has_more`` (Azure's ``GET /files``) ends the scan,
    and so do a cursor that does not advance, the page cap and the time bound."""
    chooser = UploadedChooser(content_hash, size)
    guard = guard or files_scan_guard()
    after: str | None = None
    while True:
        after = chooser.offer_page(conn.openai.files.list(**files_list_kwargs(after)), guard)
        if after is None:
            return chooser.best


FILES_PAGE_SIZE = 100
"""Files asked for per page when scanning for an upload with the same content."""


def files_scan_guard(clock: Callable[[], float] = time.monotonic) -> PageGuard:
    """The bounds of a scan of uploaded files: a page without ``has_more`` is the whole list."""
    return PageGuard("list uploaded files", missing_has_more="end", clock=clock)


def files_list_kwargs(after: str | None) -> dict[str, Any]:
    """Arguments of one ``files.list`` page request (shared by the sync and async scans)."""
    kwargs: dict[str, Any] = {"purpose": _PURPOSE, "limit": FILES_PAGE_SIZE}
    if after is not None:
        kwargs["after"] = after
    return kwargs


class UploadedChooser:
    """Picks, among listed files, the one with the wanted content: a processed one at once, else
    the first still processing. Shared by the sync and async uploads."""

    def __init__(self, content_hash: str, size: int | None) -> None:
        self._marker = _hash_marker(content_hash)
        self._size = size
        self.best: FileObject | None = None

    def offer_page(self, page: Any, guard: PageGuard) -> str | None:
        """Consider one listed page (``data``, ``has_more``); the cursor of the next page to read,
        or None when the scan is over (a processed match was found, or ``guard`` ended it)."""
        fresh, after = guard.take(page.data, page.has_more)
        if any(self.offer(f) for f in fresh):
            return None
        return after

    def offer(self, f: FileObject) -> bool:
        """Consider one listed file; True when it is processed (stop looking)."""
        if not (f.filename or "").endswith(self._marker):
            return False
        if self._size is not None and f.bytes not in (None, self._size):
            return False
        status = (f.status or "").lower()
        if status in _GONE:
            return False
        if status == "processed":
            self.best = f
            return True
        if self.best is None:
            self.best = f
        return False


def upload_once(
    conn: Connection,
    source: UploadSource,
    options: UploadOptions,
    *,
    on_progress: Callable[[str], None] | None = None,
) -> FileObject:
    """Upload ``source`` unless a file with the same content is already there; wait until processed."""
    digest = clean_hash(source.content_hash())
    size = source.size_bytes
    existing = find_uploaded(conn, digest, size)
    if existing is not None:
        if on_progress:
            on_progress(f"reusing {existing.id} ({existing.filename}): same content already uploaded")
        return wait_processed(conn, existing.id, options, display_name=source.name)
    name = upload_name(source.name, digest)
    if on_progress:
        via = "Uploads API" if size > options.single_request_limit else "Files API"
        on_progress(f"uploading {source.name} ({size:,} bytes) via the {via}")
    if size > options.single_request_limit:
        created = _upload_in_parts(conn, source, name, digest, size, options)
    else:
        created = _upload_single(conn, source, name, digest, size)
    return wait_processed(conn, created.id, options, display_name=source.name)


def _upload_single(conn: Connection, source: UploadSource, name: str, digest: str, size: int) -> FileObject:
    def create() -> FileObject:
        with source.open_upload() as stream:
            return conn.openai.files.create(file=(name, stream, "application/jsonl"), purpose=_PURPOSE)

    return reconciled_create(
        conn, create, lambda: scan_uploaded(conn, digest, size), what=f"upload {source.name}"
    )


def _read_full(stream: IO[bytes], n: int) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _upload_in_parts(
    conn: Connection, source: UploadSource, name: str, digest: str, size: int, options: UploadOptions
) -> FileObject:
    client = conn.openai
    # Creating an Upload only makes an empty, expiring container: repeating it leaves no file behind.
    upload = safe_call(
        conn,
        lambda: client.uploads.create(bytes=size, filename=name, mime_type="text/jsonl", purpose=_PURPOSE),
        what=f"start multipart upload of {source.name}",
    )
    md5 = hashlib.md5(usedforsecurity=False)
    slots = threading.BoundedSemaphore(options.parallel_parts)
    futures: list[Future[str]] = []

    def send(index: int, chunk: bytes) -> str:
        try:
            part = safe_call(
                conn,
                lambda: client.uploads.parts.create(upload.id, data=(f"part-{index}", chunk)),
                what=f"upload part {index + 1} of {source.name}",
            )
            return part.id
        finally:
            slots.release()

    try:
        with ThreadPoolExecutor(max_workers=options.parallel_parts, thread_name_prefix="ft-upload") as pool:
            with source.open_upload() as stream:
                index = 0
                while True:
                    slots.acquire()  # bounds memory: at most parallel_parts chunks exist at once
                    chunk = _read_full(stream, options.part_size)
                    if not chunk:
                        slots.release()
                        break
                    md5.update(chunk)
                    futures.append(pool.submit(send, index, chunk))
                    index += 1
            part_ids = [f.result() for f in futures]
    except BaseException as exc:
        _cancel_quietly(conn, upload.id)
        if isinstance(exc, Exception) and not isinstance(exc, UploadError):
            raise UploadError(f"uploading {source.name} in parts failed: {exc}") from exc
        raise

    def complete() -> FileObject:
        done = client.uploads.complete(upload.id, part_ids=part_ids, md5=md5.hexdigest())
        if done.file is None:
            raise UploadError(f"the service completed the upload of {source.name} without a file")
        return done.file

    return reconciled_create(
        conn, complete, lambda: scan_uploaded(conn, digest, size), what=f"complete upload of {source.name}"
    )


def _cancel_quietly(conn: Connection, upload_id: str) -> None:
    # Best effort: an abandoned upload expires after an hour anyway.
    with contextlib.suppress(Exception):
        conn.openai.uploads.cancel(upload_id)


def wait_processed(
    conn: Connection, file_id: str, options: UploadOptions, *, display_name: str | None = None
) -> FileObject:
    """Wait until the service has processed ``file_id``.

    Raises :class:`UploadError` with the service's ``status_details`` when processing fails (the
    openai SDK's ``wait_for_processing`` returns normally in that case), and
    :class:`WaitTimeoutError` after ``options.processing_timeout`` seconds.
    """
    label = display_name or file_id
    start = time.monotonic()
    delay = 0.2
    while True:
        try:
            f = safe_call(conn, lambda: conn.openai.files.retrieve(file_id), what=f"check file {file_id}")
        except NotFoundError:
            if time.monotonic() - start > options.not_found_grace:
                raise
            f = None
        if f is not None and is_processed(f, label):
            return f
        elapsed = time.monotonic() - start
        if elapsed > options.processing_timeout:
            raise WaitTimeoutError(
                f"{label} ({file_id}) was not processed within {options.processing_timeout:.0f} s; "
                "it may still finish: start() again reuses it"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 5.0)


def is_processed(f: FileObject, label: str) -> bool:
    """True once ``f`` is processed; raises :class:`UploadError` (with the service's
    ``status_details``) when processing failed or the file was deleted."""
    status = (f.status or "").lower()
    if status == "processed":
        return True
    if status in _FAILED:
        details = f.status_details or "no details given"
        raise UploadError(
            f"the service rejected {label} ({f.id}) while processing it: {details}",
            file_id=f.id,
            details=f.status_details,
        )
    if status in ("deleted", "deleting"):
        raise UploadError(f"{label} ({f.id}) was deleted before it was processed", file_id=f.id)
    return False
