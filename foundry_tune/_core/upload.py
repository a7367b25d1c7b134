"""Uploading once, without I/O: upload options, hash-bearing file names, which listed file is ours
and reusable, and how a large file is cut into parts.

A training file is uploaded under a name that carries its content hash
(``train.sha256-<32 hex>.jsonl``), so that a later run (or a later attempt of the same run, after a
lost response) finds it again with ``files.list`` instead of uploading it twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import os
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

from foundry_tune._core.paging import PageGuard
from foundry_tune.errors import DataChangedError, InvalidParameterError, UploadError

if TYPE_CHECKING:
    from openai.types import FileObject

__all__ = [
    "DEFAULT_PART_SIZE",
    "DEFAULT_SINGLE_REQUEST_LIMIT",
    "FILES_PAGE_SIZE",
    "MAX_PARALLEL_PARTS",
    "MAX_SINGLE_REQUEST_LIMIT",
    "PURPOSE",
    "CandidateScan",
    "CheckedStream",
    "Part",
    "UploadOptions",
    "UploadSource",
    "check_purpose",
    "clean_hash",
    "data_changed",
    "files_list_kwargs",
    "files_scan_guard",
    "is_processed",
    "older_twins",
    "oldest_first",
    "plan_parts",
    "upload_name",
    "upload_route",
    "with_upload_options",
]

MiB = 1024 * 1024

DEFAULT_SINGLE_REQUEST_LIMIT = 100 * MiB
"""Files up to this size go in one ``files.create`` request; larger ones use the Uploads API.

The Files API accepts up to 512 MB, but uploads above ~150 MB are reported to fail silently on
Azure, so the default keeps a wide margin below that."""

DEFAULT_PART_SIZE = 64 * MiB
"""The Uploads API's maximum part size."""

MAX_SINGLE_REQUEST_LIMIT = 512 * MiB
"""The largest ``single_request_limit``: the Files API takes no file above 512 MB."""

MAX_PARALLEL_PARTS = 32
"""The most parts uploaded at once (each holds up to ``part_size`` bytes in memory)."""

_MAX_WAIT_SECONDS = 7 * 24 * 3600.0

PURPOSE: Literal["fine-tune"] = "fine-tune"
"""The purpose every training file is uploaded with (and a given file id must have)."""

FILES_PAGE_SIZE = 100
"""Files asked for per page when scanning for an upload with the same content."""

_HASH_CHARS = 32
_GONE = frozenset({"error", "failed", "deleted", "deleting"})
_FAILED = frozenset({"error", "failed"})


class UploadSource(Protocol):
    """What an uploadable dataset provides ([`foundry_tune.Dataset`][Dataset] does). A source may also
    have ``validated_hash`` (the SHA-256 of the bytes its last validation read): an upload then
    refuses any other bytes."""

    @property
    def name(self) -> str: ...

    @property
    def size_bytes(self) -> int: ...

    def content_hash(self) -> str: ...

    def open_upload(self) -> IO[bytes]: ...


@dataclasses.dataclass(frozen=True)
class UploadOptions:
    """How files are uploaded. Memory use of a multipart upload is at most ``parallel_parts * part_size``.

    Every field is checked when the options are made: a wrong type or a value out of range raises
    [`InvalidParameterError`][InvalidParameterError] naming the field."""

    single_request_limit: int = DEFAULT_SINGLE_REQUEST_LIMIT
    part_size: int = DEFAULT_PART_SIZE
    parallel_parts: int = 4
    processing_timeout: float = 1800.0
    not_found_grace: float = 30.0
    """A file can 404 for a moment right after it was created; retry that long before giving up."""

    def __post_init__(self) -> None:
        _check_int("single_request_limit", self.single_request_limit, 1, MAX_SINGLE_REQUEST_LIMIT,
                   "the Files API takes files up to 512 MB; larger ones go through the Uploads API")
        _check_int("part_size", self.part_size, 1, DEFAULT_PART_SIZE,
                   "the Uploads API's parts are at most 64 MiB")
        _check_int("parallel_parts", self.parallel_parts, 1, MAX_PARALLEL_PARTS,
                   "each part in flight is held in memory")
        _check_seconds("processing_timeout", self.processing_timeout, minimum=0.0, inclusive=False)
        _check_seconds("not_found_grace", self.not_found_grace, minimum=0.0, inclusive=True)


def _check_int(name: str, value: object, low: int, high: int, why: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(f"upload option {name} must be an integer (bytes or a count), "
                                    f"got {type(value).__name__}")
    if not low <= value <= high:
        shown = f"{value:,}" if value.bit_length() <= 64 else f"a {len(str(abs(value)))}-digit number"
        raise InvalidParameterError(f"upload option {name} must be between {low:,} and {high:,} ({why}), "
                                    f"got {shown}")


def _check_seconds(name: str, value: object, *, minimum: float, inclusive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(f"upload option {name} must be a number of seconds, "
                                    f"got {type(value).__name__}")
    if isinstance(value, int) and value.bit_length() > 64:
        raise InvalidParameterError(f"upload option {name} must be at most {_MAX_WAIT_SECONDS:,.0f} seconds, "
                                    f"got a {len(str(abs(value)))}-digit number")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise InvalidParameterError(f"upload option {name} must be a finite number of seconds, got {value!r}")
    below = seconds < minimum if inclusive else seconds <= minimum
    if below or seconds > _MAX_WAIT_SECONDS:
        bound = ">=" if inclusive else ">"
        raise InvalidParameterError(f"upload option {name} must be {bound} {minimum:g} and at most "
                                    f"{_MAX_WAIT_SECONDS:,.0f} seconds (a week), got {value!r}")


def with_upload_options(current: UploadOptions, changes: Mapping[str, object]) -> UploadOptions:
    """``current`` with some fields changed (``upload_options(**changes)``); an unknown option name
    raises [`InvalidParameterError`][InvalidParameterError] naming it and the known ones."""
    known = [f.name for f in dataclasses.fields(UploadOptions)]
    unknown = [str(k) for k in changes if k not in known]
    if unknown:
        names = ", ".join(repr(u) for u in unknown)
        raise InvalidParameterError(f"unknown upload option{'s' if len(unknown) > 1 else ''} {names}: "
                                    f"the options are {', '.join(known)}")
    return dataclasses.replace(current, **changes)  # type: ignore[arg-type]


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


def _may_hold(f: FileObject, marker: str, size: int | None) -> bool:
    """Whether listed file ``f`` may hold our content: its name carries the hash, its size (when
    listed) matches, and it has not failed nor is being deleted."""
    if not (f.filename or "").endswith(marker):
        return False
    if size is not None and f.bytes not in (None, size):
        return False
    return (f.status or "").lower() not in _GONE


class CandidateScan:
    """Collects, page by page, the listed files that may hold our content (name carrying the
    content hash, same size, not failed nor being deleted, not in ``exclude``: files whose content
    was read back and found different), in the order the service lists them (newest first). The
    caller still checks a candidate's content before using it."""

    def __init__(self, content_hash: str, size: int | None, exclude: Collection[str] = ()) -> None:
        self._marker = _hash_marker(content_hash)
        self._size = size
        self._exclude = exclude
        self.listed: list[FileObject] = []
        """The candidates seen so far, in listing order."""

    def offer_page(self, page: Any, guard: PageGuard) -> str | None:
        """Consider one listed page (``data``, ``has_more``); the cursor of the next page to read,
        or None when the listing is over (or ``guard`` ended it)."""
        fresh, after = guard.take(page.data, page.has_more)
        self.listed.extend(f for f in fresh
                           if f.id not in self._exclude and _may_hold(f, self._marker, self._size))
        return after


def _age(f: FileObject, position: float) -> tuple[float, float]:
    created = f.created_at
    return (float(created) if isinstance(created, (int, float)) else math.inf, -position)


def oldest_first(listed: Sequence[FileObject]) -> list[FileObject]:
    """The files ``listed`` (newest first, as the service lists them), oldest first.

    The rule is the one of racing job starts ([`foundry_tune._core.scan.older_rivals()`][scan.older_rivals]):
    older
    means an earlier ``created_at``; within the same second (the service counts whole seconds),
    listed later. A file without ``created_at`` counts as the newest. Every client that sees the
    same files puts the same one first, and a file created after a listing can never come out
    older than the first of that listing: reusing the oldest file of a content and keeping the
    oldest of racing uploads ([`older_twins()`][older_twins]) pick the same file, the one that stays."""
    aged = sorted(((_age(f, i), f) for i, f in enumerate(listed)), key=lambda pair: pair[0])
    return [f for _, f in aged]


def older_twins(ours: FileObject, listed: Sequence[FileObject]) -> list[FileObject]:
    """Of the files ``listed`` (newest first, as the service lists them) that may hold our
    content, those older than ``ours`` (the file our upload just made), oldest first by the rule
    of [`oldest_first()`][oldest_first]: the one to keep instead of ours is the oldest of them whose content,
    read back, is ours.

    One difference from the job rule, on the safe side: if the listing does not show ``ours`` yet,
    no file of its second counts as older (two racers that each miss their own file may then both
    keep it, but never both delete theirs for each other's)."""
    at = {f.id: i for i, f in enumerate(listed)}
    ours_age = _age(ours, at.get(ours.id, math.inf))
    return [f for f in oldest_first(listed) if f.id != ours.id and _age(f, at[f.id]) < ours_age]


def is_processed(f: FileObject, label: str) -> bool:
    """True once ``f`` is processed; raises [`UploadError`][UploadError] (with the service's
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


def data_changed(label: str, why: str) -> DataChangedError:
    """The error for a data file whose bytes are no longer the validated ones (``why`` says how)."""
    return DataChangedError(
        f"{label} changed after it was validated: {why}. Nothing was uploaded under the validated "
        "hash. Save the file as it should be trained and run the start again: it validates the "
        "file as it is then and uploads exactly those bytes",
        source=label,
    )


class CheckedStream(io.IOBase):
    """A read-only stream over ``stream`` that hashes what is read and holds back its last bytes
    until all ``size`` bytes are read and have the SHA-256 ``expected``: a file that changed raises
    [`DataChangedError`][DataChangedError] (also kept in [`failure`][failure], as an HTTP client
    may wrap what a body stream raises) before the end of the body has been handed to the caller,
    so a server never receives a whole file under the wrong hash.

    It supports what an HTTP client needs to send it: ``seek(0)`` (starts over), the length probe
    ``seek(0, SEEK_END)`` / ``tell()`` (the expected size) and ``read``."""

    def __init__(self, stream: IO[bytes], *, size: int, expected: str, label: str) -> None:
        super().__init__()
        self._stream = stream
        self._size = size
        self._expected = clean_hash(expected)
        self._label = label
        self._digest = hashlib.sha256()
        self._pos = 0
        self._at_end = False
        self.verified = False
        """Whether every byte was read and matched."""
        self.failure: DataChangedError | None = None
        """The refusal, once the bytes read turned out to differ."""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._size if self._at_end else self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END and offset == 0:
            self._at_end = True
            return self._size
        if whence == os.SEEK_SET and offset == 0:
            self._stream.seek(0)
            self._digest = hashlib.sha256()
            self._pos, self._at_end, self.verified = 0, False, False
            return 0
        if whence == os.SEEK_SET and offset == self._pos:
            self._at_end = False
            return offset
        raise io.UnsupportedOperation("an upload stream only seeks to its start or its end")

    def read(self, size: int | None = -1) -> bytes:
        if self.failure is not None:
            raise self.failure
        if self._at_end or self.verified:
            return b""
        remaining = self._size - self._pos
        want = remaining if size is None or size < 0 else min(size, remaining)
        data = self._stream.read(want) if want > 0 else b""
        if want > 0 and not data:
            self._fail(f"it is now shorter than the {self._size:,} bytes validated "
                       f"(it ended at byte {self._pos:,})")
        self._digest.update(data)
        self._pos += len(data)
        if self._pos >= self._size:
            if self._stream.read(1):
                self._fail(f"it is now longer than the {self._size:,} bytes validated")
            actual = self._digest.hexdigest()
            if actual != self._expected:
                self._fail(f"the bytes read for the upload have another SHA-256 ({actual[:16]}... instead "
                           f"of {self._expected[:16]}...)")
            self.verified = True
        return data

    def finish(self) -> None:
        """Read (and check) whatever the caller left unread."""
        while self.read(1 << 20):
            pass

    def _fail(self, why: str) -> None:
        self.failure = data_changed(self._label, why)
        raise self.failure
