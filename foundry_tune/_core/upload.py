"""Uploading once, without I/O: upload options, hash-bearing file names, which listed file is ours
and reusable, and how a large file is cut into parts.

A training file is uploaded under a name that carries its content hash
(``train.sha256-<32 hex>.jsonl``), so that a later run (or a later attempt of the same run, after a
lost response) finds it again with ``files.list`` instead of uploading it twice.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

from foundry_tune._core.paging import PageGuard
from foundry_tune.errors import InvalidParameterError, UploadError

if TYPE_CHECKING:
    from openai.types import FileObject

__all__ = [
    "DEFAULT_PART_SIZE",
    "DEFAULT_SINGLE_REQUEST_LIMIT",
    "FILES_PAGE_SIZE",
    "PURPOSE",
    "Part",
    "UploadOptions",
    "UploadSource",
    "UploadedChooser",
    "check_purpose",
    "clean_hash",
    "files_list_kwargs",
    "files_scan_guard",
    "is_processed",
    "plan_parts",
    "upload_name",
    "upload_route",
]

MiB = 1024 * 1024

DEFAULT_SINGLE_REQUEST_LIMIT = 100 * MiB
"""Files up to this size go in one ``files.create`` request; larger ones use the Uploads API.

The Files API accepts up to 512 MB, but uploads above ~150 MB are reported to fail silently on
Azure, so the default keeps a wide margin below that."""

DEFAULT_PART_SIZE = 64 * MiB
"""The Uploads API's maximum part size."""

PURPOSE: Literal["fine-tune"] = "fine-tune"
"""The purpose every training file is uploaded with (and a given file id must have)."""

FILES_PAGE_SIZE = 100
"""Files asked for per page when scanning for an upload with the same content."""

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


def upload_route(size: int, options: UploadOptions) -> Literal["files", "uploads"]:
    """``"files"`` (one ``files.create`` request) or ``"uploads"`` (the multipart Uploads API)."""
    return "uploads" if size > options.single_request_limit else "files"


@dataclasses.dataclass(frozen=True)
class Part:
    """One part of a multipart upload: its index, where it starts in the file and its length."""

    index: int
    offset: int
    length: int


def plan_parts(size: int, part_size: int) -> list[Part]:
    """The parts of a ``size``-byte file cut into ``part_size`` pieces (the last one shorter)."""
    if part_size < 1:
        raise InvalidParameterError("part_size must be positive")
    starts = range(0, size, part_size)
    return [Part(i, offset, min(part_size, size - offset)) for i, offset in enumerate(starts)]


def files_scan_guard(clock: Callable[[], float] = time.monotonic) -> PageGuard:
    """The bounds of a scan of uploaded files: a page without ``has_more`` is the whole list."""
    return PageGuard("list uploaded files", missing_has_more="end", clock=clock)


def files_list_kwargs(after: str | None) -> dict[str, Any]:
    """Arguments of one ``files.list`` page request."""
    kwargs: dict[str, Any] = {"purpose": PURPOSE, "limit": FILES_PAGE_SIZE}
    if after is not None:
        kwargs["after"] = after
    return kwargs


class UploadedChooser:
    """Picks, among listed files, the one with the wanted content: a processed one at once, else
    the first still processing. A file is ours when its name carries the content hash and its size
    (when listed) matches; it is reusable unless it failed or is being deleted."""

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


def check_purpose(f: FileObject, file_id: str) -> None:
    """Refuse a given file id that was uploaded for another purpose than fine-tuning."""
    if f.purpose != PURPOSE:
        raise UploadError(f"file {file_id} was uploaded with purpose {f.purpose!r}; "
                          "fine-tuning needs purpose 'fine-tune': upload it again "
                          "(train_on(path) does)", file_id=file_id)
