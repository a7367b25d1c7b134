"""Uploading training files once: dedup by content hash, the Uploads API for large files, and a
processing wait that reports the service's reason when it rejects a file.

The bytes sent are the bytes validated: every upload hashes what it sends and refuses
([`DataChangedError`][DataChangedError]) before the service holds a whole file under the
validated hash; a file already uploaded under our hash-bearing name is reused only after its
content, read back from the service, has that hash.

Across machines, where no local lock serialises identical uploads, an upload that finds, right
after its create, an older file of the same name, size and content (another machine's upload of
the same bytes at the same moment) deletes its own file and uses the older one: every racer
agrees on the oldest, so one file of the content remains.

The decisions (file naming, which listed file is reusable, part planning) are in
[`foundry_tune._core.upload`][_core.upload]; this module does the calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import IO, TYPE_CHECKING, Protocol, TypeVar, cast

import openai
from openai.types import FileObject

from foundry_tune._async import _flavour
from foundry_tune._async._calls import reconciled_create, safe_call
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.polling import Deadline, file_schedule
from foundry_tune._core.retry import time_bound
from foundry_tune._core.translate import translate
from foundry_tune._core.upload import (
    PURPOSE,
    CandidateScan,
    CheckedStream,
    Part,
    UploadOptions,
    UploadSource,
    check_purpose,
    clean_hash,
    data_changed,
    files_list_kwargs,
    files_scan_guard,
    is_processed,
    older_twins,
    oldest_first,
    plan_parts,
    upload_name,
    upload_route,
)
from foundry_tune.errors import (
    DataChangedError,
    FoundryTuneError,
    NotFoundError,
    RetryBudgetExceededError,
    UploadError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = [
    "checked_digest",
    "find_uploaded",
    "given_file",
    "keep_oldest_twin",
    "list_candidates",
    "read_back_hash",
    "scan_uploaded",
    "source_label",
    "upload_once",
    "wait_processed",
]

T = TypeVar("T")

log = logging.getLogger("foundry_tune.job")


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


MAX_IMPOSTORS = 5
"""Files under our hash-bearing name with other content read back before giving up on reuse (the
bytes are then uploaded anew)."""

_READ_BACK_CHUNK = 1 << 20


async def list_candidates(
    ft: AsyncFoundry, content_hash: str, size: int | None, *, guard: PageGuard | None = None,
    exclude: frozenset[str] = frozenset(),
) -> list[FileObject]:
    """The listed files that may hold this content (name carries the hash, size matches, not
    failed nor being deleted, not in ``exclude``), in listing order (newest first), from one
    listing, without reading their content back and without the retry policy.

    Pages are fetched one at a time under a [`PageGuard`][PageGuard] (by default
    [`files_scan_guard()`][files_scan_guard]): a page without ``has_more`` (Azure's
    ``GET /files``: the whole list in one answer) ends the scan, and so do a cursor that does not
    advance, the page cap and the time bound."""
    scan = CandidateScan(content_hash, size, exclude)
    guard = guard or files_scan_guard(ft.retry.clock)
    after: str | None = None
    while True:
        after = scan.offer_page(await ft.openai.files.list(**files_list_kwargs(after)), guard)
        if after is None:
            return scan.listed


async def scan_uploaded(
    ft: AsyncFoundry, content_hash: str, size: int | None, *, guard: PageGuard | None = None,
    exclude: frozenset[str] = frozenset(),
) -> FileObject | None:
    """The listed candidate for reuse: the oldest file that may hold this content
    ([`list_candidates()`][list_candidates], ordered by [`oldest_first()`][oldest_first]), without
    reading its content back and without the retry policy. The oldest, because it is the one that
    stays when several clients upload the same bytes at once ([`keep_oldest_twin()`][keep_oldest_twin])."""
    listed = await list_candidates(ft, content_hash, size, guard=guard, exclude=exclude)
    return next(iter(oldest_first(listed)), None)


async def read_back_hash(ft: AsyncFoundry, file_id: str) -> str:
    """SHA-256 (hex) of the content the service holds for ``file_id`` (``GET /files/{id}/content``),
    streamed: memory stays at one chunk whatever the file's size. No retry policy."""
    digest = hashlib.sha256()
    async with ft.openai.files.with_streaming_response.content(file_id) as response:
        async for chunk in response.iter_bytes(_READ_BACK_CHUNK):
            await _flavour.run_blocking(digest.update, chunk)
    return digest.hexdigest()


async def _find_same(
    ft: AsyncFoundry, digest: str, size: int | None, *, retrying: bool,
    on_progress: Callable[[str], MaybeAwaitable[None]] | None = None, passed_over: set[str] | None = None,
) -> FileObject | None:
    """The oldest usable file whose content, read back, has ``digest``: candidates by name and
    size from one listing, then their content, oldest first. A candidate with other content
    (another client's file under our name) or whose content the service does not serve is passed
    over, and so said to ``on_progress`` (and its id added to ``passed_over``). With ``retrying``,
    each call goes through the retry policy (not inside a reconciling attempt)."""

    async def run(fn: Callable[[], Awaitable[T]], what: str) -> T:
        if retrying:
            return await safe_call(ft, fn, what=what)
        try:
            return await fn()
        except openai.APIStatusError as exc:  # a refusal is an answer; the rest is for the caller's retry
            if exc.status_code >= 500 or exc.status_code in (408, 429):
                raise
            raise translate(exc, what=what) from exc

    listed = await run(functools.partial(list_candidates, ft, digest, size), "list uploaded files")
    for found in oldest_first(listed)[:MAX_IMPOSTORS]:
        actual: str | None = None
        try:
            actual = await run(functools.partial(read_back_hash, ft, found.id), f"read back {found.id}")
        except FoundryTuneError as exc:  # not served (or not now): not reused, the bytes go up again
            why = f"its content could not be read back to check it ({getattr(exc, 'status', None) or exc})"
        else:
            why = "its content is not ours (another SHA-256)"
        if actual == digest:
            return found
        if passed_over is not None:
            passed_over.add(found.id)
        if on_progress:
            await _flavour.call(on_progress, f"not reusing {found.id} ({found.filename}): {why}")
    return None


async def find_uploaded(
    ft: AsyncFoundry, content_hash: str, size: int | None, *,
    on_progress: Callable[[str], MaybeAwaitable[None]] | None = None,
) -> FileObject | None:
    """A usable file already uploaded with this content (processed, or still processing), the
    oldest one: its name carries the hash, its size matches, and its content, read back from the
    service, has the hash. Read-only."""
    return await _find_same(ft, clean_hash(content_hash), size, retrying=True, on_progress=on_progress)


def source_label(source: UploadSource) -> str:
    """How errors name ``source``: its file path when it has one, else its name."""
    path = getattr(source, "path", None)
    return str(path) if path is not None else source.name


async def checked_digest(source: UploadSource) -> str:
    """The content hash of ``source`` (bare hex), refused with
    [`DataChangedError`][DataChangedError] when the source knows the hash of its last
    validation pass (``validated_hash``) and the bytes now have another."""
    digest = clean_hash(await _flavour.run_blocking(source.content_hash))
    validated = getattr(source, "validated_hash", None)
    if isinstance(validated, str) and clean_hash(validated) != digest:
        raise data_changed(source_label(source), f"its SHA-256 is now another ({digest[:16]}... instead "
                                                 f"of {clean_hash(validated)[:16]}...)")
    return digest


async def upload_once(
    ft: AsyncFoundry,
    source: UploadSource,
    options: UploadOptions,
    *,
    on_progress: Callable[[str], MaybeAwaitable[None]] | None = None,
) -> FileObject:
    """Upload ``source`` unless a file with the same content is already there; wait until processed.

    The bytes must be those validated: when ``source`` knows the hash of its last validation pass
    (``validated_hash``), another hash now, or bytes read for the upload with another hash, raise
    [`DataChangedError`][DataChangedError] and leave no file under the validated hash.

    Right after the upload, one listing looks for an older file of the same name, size and content
    uploaded at the same moment elsewhere (another machine: no local lock sees it): if there is
    one, the file just made is deleted and the older one used, as every racing upload decides."""
    digest = await checked_digest(source)
    size = source.size_bytes
    passed_over: set[str] = set()
    existing = await _find_same(ft, digest, size, retrying=True, on_progress=on_progress,
                                passed_over=passed_over)
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
        created, ours = await _upload_in_parts(ft, source, name, digest, size, options)
    else:
        created, ours = await _upload_single(ft, source, name, digest, size)
    if ours:  # a file found by a lookup after a lost create may be another machine's: left alone
        created = await keep_oldest_twin(ft, created, digest, size, on_progress=on_progress,
                                         passed_over=frozenset(passed_over))
    return await wait_processed(ft, created.id, options, display_name=source.name)


async def keep_oldest_twin(
    ft: AsyncFoundry, ours: FileObject, content_hash: str, size: int | None, *,
    on_progress: Callable[[str], MaybeAwaitable[None]] | None = None,
    passed_over: frozenset[str] = frozenset(),
) -> FileObject:
    """The file to use instead of ``ours`` (the file our create just made, before it is processed):
    the oldest file of the same name, size and content when there is an older one, else ``ours``.

    Same name and size come from one listing ([`list_candidates()`][list_candidates], as
    [`find_uploaded()`][find_uploaded]),
    older from [`older_twins()`][older_twins], and same content from reading the
    older candidates back, oldest first: one with other bytes is passed over (never the keeper, for
    any racer); one whose content cannot be read ends the search and ours is kept, so that no racer
    drops its file for one another racer may not have chosen. When an older twin is kept, ours is
    deleted (only ours: the id our create returned) and ``on_progress`` says so; a failed delete is
    logged and the older file still used. A failed listing keeps ours (logged). Files in
    ``passed_over`` (those the lookup before the upload read back and passed over) are not read
    again: they are not the keeper."""
    digest = clean_hash(content_hash)

    try:
        scan = functools.partial(list_candidates, ft, digest, size, exclude=passed_over)
        listed = await safe_call(ft, scan, what="look for the same file uploaded elsewhere")
    except FoundryTuneError as exc:  # the file is made: a failed check must not lose it
        log.warning("could not check for the same file uploaded elsewhere at the same time (%s): keeping "
                    "file %s", exc, ours.id)
        return ours
    keeper: FileObject | None = None
    for candidate in older_twins(ours, listed)[:MAX_IMPOSTORS]:
        try:
            actual = await safe_call(ft, functools.partial(read_back_hash, ft, candidate.id),
                                     what=f"read back {candidate.id}")
        except NotFoundError:  # deleted since it was listed
            continue
        except FoundryTuneError as exc:
            log.warning("could not read back file %s, older than file %s under the same name, to compare "
                        "their content (%s): keeping file %s", candidate.id, ours.id, exc, ours.id)
            return ours
        if actual == digest:
            keeper = candidate
            break
    if keeper is None:
        return ours
    note = f"deleted our upload {ours.id}"
    try:
        await safe_call(ft, lambda: ft.openai.files.delete(ours.id), what=f"delete file {ours.id}")
    except NotFoundError:  # a retried delete whose first answer was lost
        pass
    except FoundryTuneError as exc:
        log.warning("file %s has the same content and is older (uploaded elsewhere at the same time); "
                    "could not delete file %s, our duplicate of it (%s): it stays; using %s",
                    keeper.id, ours.id, exc, keeper.id)
        note = f"our upload {ours.id} could not be deleted and stays"
    if on_progress:
        await _flavour.call(on_progress,
                            f"reusing {keeper.id} ({keeper.filename}): the same content was uploaded "
                            f"elsewhere just before ours; {note}")
    return keeper


async def given_file(ft: AsyncFoundry, file_id: str, options: UploadOptions) -> FileObject:
    """A file id the caller gave: wait until it is processed and refuse one uploaded for another
    purpose than fine-tuning ([`UploadError`][UploadError])."""
    # The caller says the file exists: a 404 is an answer, not a moment of delay.
    remote = await wait_processed(ft, file_id, dataclasses.replace(options, not_found_grace=0.0))
    check_purpose(remote, file_id)
    return remote


async def _upload_single(ft: AsyncFoundry, source: UploadSource, name: str, digest: str,
                         size: int) -> tuple[FileObject, bool]:
    """The file made (or found after a lost create) and whether our create's answer named it."""
    # The body is read through a CheckedStream: it holds back the last bytes of the file until all
    # of them hashed to ``digest``, so a changed file aborts the request before the service has a
    # whole file (no memory beyond the HTTP client's chunk, no second read of the file).
    made: list[str] = []

    async def create() -> FileObject:
        with source.open_upload() as raw:
            stream = CheckedStream(raw, size=size, expected=digest, label=source_label(source))
            try:
                created = await ft.openai.files.create(
                    file=(name, cast("IO[bytes]", stream), "application/jsonl"), purpose=PURPOSE)
            except Exception:
                if stream.failure is not None:  # the HTTP client may wrap what the body raised
                    raise stream.failure from None
                raise
            if not stream.verified:  # a client that did not read the whole body through us
                try:
                    await _flavour.run_blocking(stream.finish)
                except DataChangedError:
                    with contextlib.suppress(Exception):
                        await ft.openai.files.delete(created.id)
                    raise
            made.append(created.id)
            return created

    created = await reconciled_create(ft, create, lambda: _find_same(ft, digest, size, retrying=False),
                                      what=f"upload {source.name}")
    return created, created.id in made


def _read_part(stream: IO[bytes], part: Part, source_name: str, *hashes: _Hash) -> bytes:
    chunks: list[bytes] = []
    remaining = part.length
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            at = part.offset + part.length - remaining
            raise data_changed(source_name, f"it ended early, at byte {at:,}, while it was being uploaded")
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    for h in hashes:
        h.update(data)
    return data


def _check_sent(stream: IO[bytes], sha: _Hash, digest: str, source_name: str, size: int) -> None:
    if stream.read(1):
        raise data_changed(source_name, f"it is now longer than the {size:,} bytes validated")
    actual = sha.hexdigest()
    if actual != digest:
        raise data_changed(source_name, f"the bytes read for the upload have another SHA-256 "
                                        f"({actual[:16]}... instead of {digest[:16]}...)")


async def _upload_in_parts(
    ft: AsyncFoundry, source: UploadSource, name: str, digest: str, size: int, options: UploadOptions
) -> tuple[FileObject, bool]:
    """The file made (or found after a lost completion) and whether our completion's answer named it."""
    client = ft.openai
    # Creating an Upload only makes an empty, expiring container: repeating it leaves no file behind.
    upload = await safe_call(
        ft,
        lambda: client.uploads.create(bytes=size, filename=name, mime_type="text/jsonl", purpose=PURPOSE),
        what=f"start multipart upload of {source.name}",
    )
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    label = source_label(source)
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
                    chunk = await _flavour.run_blocking(_read_part, stream, part, label, md5, sha)
                    batch.append((part, chunk))
                part_ids.extend(await _flavour.bounded_map(send, batch, options.parallel_parts))
            # Before ``complete``, which is what makes a file: changed bytes cancel the Upload instead.
            await _flavour.run_blocking(_check_sent, stream, sha, digest, label, size)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # best effort: an abandoned upload expires in an hour
            await client.uploads.cancel(upload.id)
        if isinstance(exc, Exception) and not isinstance(exc, UploadError):
            raise UploadError(f"uploading {source.name} in parts failed: {exc}") from exc
        raise

    made: list[str] = []

    async def complete() -> FileObject:
        done = await client.uploads.complete(upload.id, part_ids=part_ids, md5=md5.hexdigest())
        if done.file is None:
            raise UploadError(f"the service completed the upload of {source.name} without a file")
        made.append(done.file.id)
        return done.file

    created = await reconciled_create(ft, complete, lambda: _find_same(ft, digest, size, retrying=False),
                                      what=f"complete upload of {source.name}")
    return created, created.id in made


async def wait_processed(
    ft: AsyncFoundry, file_id: str, options: UploadOptions, *, display_name: str | None = None
) -> FileObject:
    """Wait until the service has processed ``file_id``.

    Raises [`UploadError`][UploadError] with the service's ``status_details`` when
    processing fails (the openai SDK's ``wait_for_processing`` returns normally in that case), and
    [`WaitTimeoutError`][WaitTimeoutError] after ``options.processing_timeout`` seconds.
    """
    label = display_name or file_id
    clock = ft.retry.clock
    start = clock()
    deadline = Deadline.after(options.processing_timeout, start)
    schedule = file_schedule()
    while True:
        try:
            with time_bound(deadline.at, clock):  # a look that hangs or trickles ends with the wait
                f: FileObject | None = await safe_call(ft, lambda: ft.openai.files.retrieve(file_id),
                                                       what=f"check file {file_id}")
        except NotFoundError:
            if clock() - start > options.not_found_grace:
                raise
            f = None
        except RetryBudgetExceededError:
            if not deadline.passed(clock()):
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
