"""Importing a training file from a URL (an Azure Blob SAS URL, or any URL the service can GET)
through the service's file import, once, then waiting until the service has processed it.

An import is found again by its name, which carries a hash of the URL without its query and of
the file name ([`foundry_tune._core.file_import`][foundry_tune._core.file_import]): a retried
``start()``, or one after a lost answer, reuses the file the first attempt imported instead of
making the service fetch (and store) it twice. The SAS token never leaves the request body:
progress lines, errors and the ledger name the URL with its query hidden.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openai.types import FileObject

from foundry_tune._async import _flavour
from foundry_tune._async._calls import reconciled_create, safe_call
from foundry_tune._async._exclusive import exclusive
from foundry_tune._async._upload import wait_processed
from foundry_tune._core.file_import import IMPORT_PATH, FileURL, import_body
from foundry_tune._core.local_state import ledger_file_usable
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.upload import FILES_PAGE_SIZE, PURPOSE, UploadOptions, files_scan_guard, oldest_first
from foundry_tune.errors import (
    FoundryTuneError,
    InvalidParameterError,
    NotFoundError,
    ServiceError,
    UploadError,
)

if TYPE_CHECKING:
    from foundry_tune._async._exclusive import Ledger
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["IMPORT_PURPOSES", "as_file_url", "check_import_purpose", "find_imported", "import_once"]

log = logging.getLogger("foundry_tune.job")

_GONE = frozenset({"error", "failed", "deleted", "deleting"})


IMPORT_PURPOSES = frozenset({PURPOSE})
"""The purposes an imported file may have: fine-tuning data is ``"fine-tune"`` (training and
validation files alike: "Use "fine-tune" for fine-tuning. This allows us to validate the format of
the uploaded file", https://learn.microsoft.com/en-us/rest/api/azureopenai/files/upload). The
service takes other purposes (batch, assistants, ...), but a job cannot train on such a file."""


def check_import_purpose(purpose: object) -> str:
    """``purpose`` if a fine-tuning job can use a file of it (``"fine-tune"``), else
    [`InvalidParameterError`][InvalidParameterError]; checked before any request."""
    if not isinstance(purpose, str) or purpose not in IMPORT_PURPOSES:
        shown = repr(purpose)[:60] if isinstance(purpose, str) else type(purpose).__name__
        raise InvalidParameterError(
            f"purpose must be {' or '.join(repr(p) for p in sorted(IMPORT_PURPOSES))} (a file for "
            f"fine-tuning), got {shown}")
    return purpose


def as_file_url(url: str | FileURL, filename: str | None = None) -> FileURL:
    """``url`` as a [`FileURL`][FileURL] (checked: https://, or http:// on localhost), with
    ``filename`` when given."""
    if isinstance(url, FileURL):
        return url if filename is None else FileURL(url.url, filename=filename)
    return FileURL(url, filename=filename)


async def find_imported(ft: AsyncFoundry, source: FileURL, purpose: str = PURPOSE, *,
                        guard: PageGuard | None = None) -> FileObject | None:
    """The oldest file already imported from ``source`` (its name is ``source.service_name``), not
    failed nor being deleted, from one bounded listing; no retry policy (the caller's)."""
    guard = guard or files_scan_guard(ft.retry.clock)
    wanted = source.service_name
    found: list[FileObject] = []
    after: str | None = None
    while True:
        kwargs: dict[str, Any] = {"purpose": purpose, "limit": FILES_PAGE_SIZE}
        if after is not None:
            kwargs["after"] = after
        page = await ft.openai.files.list(**kwargs)
        fresh, after = guard.take(page.data, page.has_more)
        found.extend(f for f in fresh
                     if f.filename == wanted and (getattr(f, "status", "") or "").lower() not in _GONE)
        if after is None:
            return next(iter(oldest_first(found)), None)


async def import_once(
    ft: AsyncFoundry,
    source: FileURL,
    options: UploadOptions,
    *,
    purpose: str = PURPOSE,
    on_progress: Callable[[str], MaybeAwaitable[None]] | None = None,
) -> FileObject:
    """Have the service import ``source`` unless it imported it before (same URL without its
    query, same name); wait until the file is processed, within ``options.processing_timeout``.

    Identical imports on this machine take turns (as uploads of the same content do); the file
    made is recorded for the next one. A file the service could not fetch or rejected raises
    [`UploadError`][UploadError] naming the URL with its query hidden; that file (status ``error``,
    no job can use it) is deleted, so it does not count against the resource's file limit, and the
    next call imports again."""
    purpose = check_import_purpose(purpose)
    say = on_progress or log.info
    label = source.shown
    try:
        async with exclusive(ft, "import:" + source.key, what=f"import of {label}") as ledger:
            remote = await _recorded(ft, ledger, purpose, source)
            if remote is not None:
                await _flavour.call(say, f"reusing {remote.id} ({remote.filename}): this machine imported "
                                         f"{label} before")
            else:
                remote = await safe_call(ft, lambda: find_imported(ft, source, purpose),
                                         what="look for an earlier import")
                if remote is not None:
                    await _flavour.call(say, f"reusing {remote.id} ({remote.filename}): {label} was "
                                             "imported before")
                else:
                    await _flavour.call(say, f"importing {source.name} from {label} through the service's "
                                             "file import (the service fetches it; not validated locally)")
                    remote = await _create(ft, source, purpose)
                await ledger.write(remote.id)
        try:
            return await wait_processed(ft, remote.id, options, display_name=label)
        except UploadError as exc:
            if exc.file_id != remote.id:
                raise
            raise await _discard_failed(ft, remote.id, exc, label) from None
    except (UploadError, ServiceError) as exc:
        clean = _scrubbed(exc, source)
        if clean is exc:
            raise
        raise clean from None  # the original (and what it chains) may quote the token


async def _discard_failed(ft: AsyncFoundry, file_id: str, exc: UploadError, label: str) -> UploadError:
    """Delete ``file_id``, an import the service failed, and return ``exc`` with a note that the
    file was deleted (the ledger entry naming it is dropped by the next import, which finds it
    gone). A delete that fails is logged and ``exc`` returned as it is: the import's error is the
    one to raise (``ft.files.cleanup()`` deletes the file later)."""
    try:
        with contextlib.suppress(NotFoundError):  # already gone (a lost answer of a retried delete)
            await safe_call(ft, lambda: ft.openai.files.delete(file_id), what=f"delete file {file_id}")
    except FoundryTuneError as failed:
        log.warning("could not delete the failed import %s of %s (%s: %s); ft.files.cleanup() deletes it",
                    file_id, label, type(failed).__name__, failed)
        return exc
    return UploadError(f"{exc} (the failed file {file_id} was deleted)", file_id=file_id, details=exc.details)


async def _recorded(ft: AsyncFoundry, ledger: Ledger, purpose: str, source: FileURL) -> FileObject | None:
    """The file the ledger names for this import, when it is still usable."""
    entry = await ledger.read()
    if entry is None:
        return None
    file_id: str = entry["id"]
    try:
        remote = await safe_call(ft, lambda: ft.openai.files.retrieve(file_id), what=f"check file {file_id}")
    except NotFoundError:
        await ledger.forget()
        return None
    if remote.filename != source.service_name or not ledger_file_usable(
            remote.status, remote.purpose, None, 0, wanted_purpose=purpose):
        await ledger.forget()
        return None
    return remote


async def _create(ft: AsyncFoundry, source: FileURL, purpose: str) -> FileObject:
    body = import_body(source, purpose)

    async def create() -> FileObject:
        return await ft.openai.post(IMPORT_PATH, body=body, cast_to=FileObject)

    return await reconciled_create(ft, create, lambda: find_imported(ft, source, purpose),
                                   what=f"import {source.shown}")


def _scrubbed(exc: FoundryTuneError, source: FileURL) -> FoundryTuneError:
    """``exc`` with the URL's query masked in its message (the service may quote the URL)."""
    text = str(exc)
    clean = source.scrub(text)
    details = getattr(exc, "details", None)
    if clean == text and (not isinstance(details, str) or source.scrub(details) == details):
        return exc
    if isinstance(exc, UploadError):
        return UploadError(clean, file_id=exc.file_id,
                           details=None if details is None else source.scrub(str(details)))
    assert isinstance(exc, ServiceError)
    try:
        return type(exc)(source.scrub(exc.message), status=exc.status, code=exc.code, param=exc.param,
                         request_id=exc.request_id)
    except TypeError:
        return ServiceError(source.scrub(exc.message), status=exc.status, code=exc.code, param=exc.param,
                            request_id=exc.request_id)
