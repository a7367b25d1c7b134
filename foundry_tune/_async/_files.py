"""``ft.files``: the training files on the resource, which of them foundry-tune uploaded and which
jobs use them, and a cleanup that never deletes a file a live job uses.

Every listing is read page by page under a [`PageGuard`][PageGuard] (page cap and time bound) and
says when it was cut short. The decisions are in
[`foundry_tune._core.audit`][foundry_tune._core.audit] and
[`foundry_tune._core.lifecycle`][foundry_tune._core.lifecycle].
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundry_tune._async import _flavour
from foundry_tune._async._calls import safe_call
from foundry_tune._async._exclusive import once_folder
from foundry_tune._core.audit import (
    FileCleanupReport,
    FileDecision,
    UploadedFile,
    cleanup_decision,
    uploaded_file,
)
from foundry_tune._core.lifecycle import MIN_FILE_AGE, file_users, moment, parse_time
from foundry_tune._core.local_state import LEDGER_SUFFIX, ledger_entry
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.retry import check_seconds
from foundry_tune._core.upload import FILES_PAGE_SIZE, PURPOSE
from foundry_tune.errors import FileInUseError, FoundryTuneError, InvalidParameterError, NotFoundError

if TYPE_CHECKING:
    from openai.types import FileObject

    from foundry_tune._async._foundry import AsyncFoundry
    from foundry_tune._core.file_import import FileURL

__all__ = ["JOBS_MAX_PAGES", "AsyncFilesAPI", "Listing", "forget_in_ledger", "list_files", "list_jobs"]

log = logging.getLogger("foundry_tune.files")

JOBS_MAX_PAGES = 10
"""Pages of 100 jobs a lifecycle listing reads at most (1,000 jobs)."""
FILES_MAX_PAGES = 100
"""Pages of 100 files a file listing reads at most (10,000 files)."""
LISTING_SECONDS = 60.0
"""The time bound of one lifecycle listing (monotonic seconds)."""
_SKEW = dt.timedelta(minutes=10)
"""A job that uses a file is created after it; this margin covers clocks that disagree."""
_LEDGER_MAX_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class Listing:
    """The items of one bounded listing (raw bodies, in listing order) and whether it was read to
    its end (``incomplete``: why not)."""

    items: list[dict[str, Any]]
    incomplete: str | None = None

    @property
    def oldest(self) -> dt.datetime | None:
        """The earliest ``created_at`` listed."""
        times = [t for t in (parse_time(i.get("created_at")) for i in self.items) if t is not None]
        return min(times) if times else None


def _dump(item: Any) -> dict[str, Any]:
    return dict(item) if isinstance(item, dict) else dict(item.model_dump(warnings=False))


async def list_files(ft: AsyncFoundry, *, every_purpose: bool = False) -> Listing:
    """The files on the resource (those uploaded for fine-tuning unless ``every_purpose``), newest
    first as the service lists them, under the retry policy; at most [`FILES_MAX_PAGES`][FILES_MAX_PAGES]
    pages and [`LISTING_SECONDS`][LISTING_SECONDS]."""

    async def fetch() -> Listing:
        guard = PageGuard("list files", missing_has_more="end", max_pages=FILES_MAX_PAGES,
                          max_seconds=LISTING_SECONDS, clock=ft.retry.clock)
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": FILES_PAGE_SIZE}
            if not every_purpose:
                kwargs["purpose"] = PURPOSE
            if after is not None:
                kwargs["after"] = after
            page = await ft.openai.files.list(**kwargs)
            fresh, after = guard.take(page.data, getattr(page, "has_more", None))
            found.extend(_dump(f) for f in fresh)
            if after is None:
                return Listing(found, None if guard.complete else f"files: {guard.reason}")

    return await safe_call(ft, fetch, what="list files")


async def list_jobs(ft: AsyncFoundry, *, since: dt.datetime | None = None) -> Listing:
    """Fine-tuning jobs, newest first, under the retry policy; with ``since``, the listing stops at the
    first page that reaches jobs created before it (what a file created then can be used by). At most
    [`JOBS_MAX_PAGES`][JOBS_MAX_PAGES] pages and [`LISTING_SECONDS`][LISTING_SECONDS]."""

    async def fetch() -> Listing:
        guard = PageGuard("list fine-tuning jobs", missing_has_more="more", max_pages=JOBS_MAX_PAGES,
                          max_seconds=LISTING_SECONDS, clock=ft.retry.clock)
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 100}
            if after is not None:
                kwargs["after"] = after
            page = await ft.openai.fine_tuning.jobs.list(**kwargs)
            fresh, after = guard.take(page.data, getattr(page, "has_more", None))
            found.extend(_dump(j) for j in fresh)
            if after is not None and since is not None:
                oldest = Listing(found).oldest
                if oldest is not None and oldest < since:
                    return Listing(found)
            if after is None:
                return Listing(found, None if guard.complete else f"jobs: {guard.reason}")

    return await safe_call(ft, fetch, what="list fine-tuning jobs")


def forget_in_ledger(folder: Path | None, file_ids: set[str]) -> int:
    """Remove the local ledger entries (see ``foundry_tune._async._exclusive``) that name one of
    ``file_ids``, so that a later ``start()`` does not look for a deleted file there; how many were
    removed. Unreadable entries are left alone."""
    if folder is None or not file_ids:
        return 0
    removed = 0
    try:
        paths = sorted(folder.glob("*" + LEDGER_SUFFIX))
    except OSError:
        return 0
    for path in paths:
        try:
            with path.open("rb") as stream:
                data = stream.read(_LEDGER_MAX_BYTES + 1)
        except OSError:
            continue
        entry = None if len(data) > _LEDGER_MAX_BYTES else ledger_entry(data.decode("utf-8", "replace"))
        if entry is not None and entry["id"] in file_ids:
            try:
                path.unlink()
            except OSError:
                continue
            removed += 1
    return removed


def _check_flag(value: object, name: str) -> bool:
    """``value`` if it is a bool: a string such as ``"no"`` is truthy, so it is refused rather than
    read as ``True`` (which, for ``dry_run``, would mean deleting)."""
    if not isinstance(value, bool):
        raise InvalidParameterError(f"{name} must be True or False, got {repr(value)[:60]}")
    return value


class AsyncFilesAPI:
    """Files on the connected resource (``ft.files``): list them with the jobs that use them, delete
    one, and clean up foundry-tune's uploads without touching a file a live job uses."""

    def __init__(self, ft: AsyncFoundry) -> None:
        self._ft = ft

    async def _listed(self, *, all: bool) -> tuple[list[UploadedFile], list[str], Listing]:
        files = await list_files(self._ft, every_purpose=all)
        jobs = await list_jobs(self._ft)
        users = file_users(jobs.items)
        listed = [uploaded_file(raw, users.get(str(raw.get("id")), ())) for raw in files.items]
        if not all:
            listed = [f for f in listed if f.ours]
        notes = [n for n in (files.incomplete, jobs.incomplete) if n]
        for note in notes:
            log.warning("listing cut short (%s): the answer may be incomplete", note)
        return listed, notes, jobs

    async def list(self, *, all: bool = False) -> builtins.list[UploadedFile]:
        """The files foundry-tune uploaded or imported (their names carry the content hash,
        ``<name>.sha256-<32 hex>.jsonl``, or the import key, ``<name>.import-<32 hex>.jsonl``),
        newest first, each with its id, name, size, creation time, purpose, status and the jobs that
        use it (``used_by``; ``live_jobs`` those not ended). With
        ``all=True``, every file on the resource, whatever its purpose or name.

        The listings are bounded (page cap and time bound); a listing cut short is logged as a
        warning on the ``foundry_tune.files`` logger (``ft.audit()`` reports it too). ``all`` must be
        a bool ([`InvalidParameterError`][InvalidParameterError] otherwise, before any request)."""
        listed, _, _ = await self._listed(all=_check_flag(all, "all"))
        return listed

    async def _live_users(self, file_id: str, created_at: dt.datetime | None = None) -> builtins.list[str]:
        """The jobs that use ``file_id`` and have not ended (validating, queued, running, paused, and
        statuses foundry-tune does not know), from a fresh job listing. With ``created_at`` (the
        file's creation time) only jobs created since are read. When the listing was cut short
        before it found a live user, it cannot tell: [`FileInUseError`][FileInUseError] says so."""
        since = None if created_at is None else created_at - _SKEW
        jobs = await list_jobs(self._ft, since=since)
        users = [job for job, live in file_users(jobs.items).get(file_id, []) if live]
        if jobs.incomplete and not users:
            raise FileInUseError(f"file {file_id} was not deleted: the job listing was cut short "
                                 f"({jobs.incomplete}), so a live job that uses it may have been missed",
                                 file_id=file_id)
        return users

    async def delete(self, file_id: str) -> None:
        """Delete file ``file_id`` unless a job that has not ended uses it
        ([`FileInUseError`][FileInUseError] naming the jobs); already gone is fine. The local
        record of the upload is forgotten too, so a later ``start()`` uploads the data again."""
        if not isinstance(file_id, str) or not file_id.strip():
            raise InvalidParameterError(f"file_id must be a file id such as 'file-...', got {file_id!r}")
        created: dt.datetime | None = None
        try:
            remote = await safe_call(self._ft, lambda: self._ft.openai.files.retrieve(file_id),
                                     what=f"check file {file_id}")
            created = parse_time(getattr(remote, "created_at", None))
        except NotFoundError:
            await self._forget({file_id})
            return
        live = await self._live_users(file_id, created)
        if live:
            raise FileInUseError(f"file {file_id} was not deleted: live job {', '.join(live)} uses it",
                                 file_id=file_id, job_ids=live)
        await self._delete(file_id)

    async def _delete(self, file_id: str) -> None:
        files = self._ft.openai.files
        # NotFound: a retried delete whose first answer was lost, or deleted meanwhile.
        with contextlib.suppress(NotFoundError):
            await safe_call(self._ft, lambda: files.delete(file_id), what=f"delete file {file_id}")
        await self._forget({file_id})

    async def _forget(self, file_ids: set[str]) -> None:
        folder = await _flavour.run_blocking(once_folder)
        removed = await _flavour.run_blocking(forget_in_ledger, folder, file_ids)
        if removed:
            log.info("forgot %d local upload record(s) of deleted file(s)", removed)

    async def cleanup(
        self,
        *,
        older_than: dt.timedelta | float = MIN_FILE_AGE,
        dry_run: bool = True,
        now: dt.datetime | float | None = None,
    ) -> FileCleanupReport:
        """Find (and, with ``dry_run=False``, delete) the files foundry-tune uploaded that no live job
        uses, so that the resource's file limit is not reached.

        Only foundry-tune's files are considered (uploads, named ``<name>.sha256-<32 hex>.jsonl``, and
        URL imports, named ``<name>.import-<32 hex>.jsonl``), only those created more than
        ``older_than`` ago (a timedelta or seconds; default 1 hour: a younger file may belong to a
        ``start()`` that has not created its job yet), and never a file a job that has not ended
        uses (validating, queued, running, paused, ...). A file the service could not process
        (status ``error`` or ``failed``, such as a failed import) is deleted whatever its age: no
        job can use it. The job listing is
        read first (bounded); right before each delete it is read again for that file, and a file a
        live job now uses is kept. A file a job that ended used is deleted (the job keeps its
        results). Deleted files are forgotten in the local upload records, so a later ``start()``
        of the same data uploads it again instead of naming a deleted file.

        **A dry run by default** (as ``ft.deployments.cleanup()``): it returns what it would delete
        and deletes nothing; look, then pass ``dry_run=False``. ``now`` (a datetime or Unix seconds
        such as ``Emulator.now()``; default the current time) is what ages are measured from.
        ``dry_run`` must be a bool and ``older_than`` a timedelta or finite seconds ``>= 0``
        ([`InvalidParameterError`][InvalidParameterError] otherwise, before any request)."""
        dry_run = _check_flag(dry_run, "dry_run")
        if isinstance(older_than, (int, float)) and not isinstance(older_than, bool):
            older_than = dt.timedelta(seconds=check_seconds(older_than, "older_than", zero=True))
        if not isinstance(older_than, dt.timedelta) or older_than < dt.timedelta(0):
            raise InvalidParameterError(f"older_than must be a timedelta or seconds >= 0, got {older_than!r}")
        at = moment(now)
        listed, notes, jobs = await self._listed(all=False)
        decisions: list[FileDecision] = []
        for f in listed:
            decision = cleanup_decision(f, now=at, older_than=older_than, jobs_seen_since=jobs.oldest,
                                        jobs_complete=jobs.incomplete is None)
            if decision.action == "delete" and not dry_run:
                decision = await self._delete_checked(decision)
            decisions.append(decision)
        return FileCleanupReport(dry_run=dry_run, decisions=tuple(decisions), complete=not notes,
                                 incomplete=tuple(notes))

    async def _delete_checked(self, decision: FileDecision) -> FileDecision:
        f = decision.file
        try:
            live = await self._live_users(f.id, f.created_at)
        except FileInUseError as exc:
            return FileDecision(f, "kept", str(exc))
        except FoundryTuneError as exc:
            return FileDecision(f, "failed", f"could not check its jobs again: {exc}")
        if live:
            return FileDecision(dataclasses.replace(f, live_jobs=tuple(live)), "kept",
                                f"used by live job {', '.join(live)} (found right before the delete)")
        try:
            await self._delete(f.id)
        except FoundryTuneError as exc:
            return FileDecision(f, "failed", f"delete failed: {exc}")
        return FileDecision(f, "deleted", decision.reason)

    async def import_url(self, url: str | FileURL, *, filename: str | None = None, purpose: str = PURPOSE,
                         processing_timeout: float = 1800.0) -> FileObject:
        """Have the service fetch a file from ``url`` (an Azure Blob SAS URL, or any ``https://``
        URL it can GET) through its file import instead of an upload, and wait until it is
        processed; returns the processed file. For large files that are in Blob storage already.

        Imported once: the file is named after the URL without its query and ``filename``
        (``train.import-<32 hex>.jsonl``), and a later call with the same URL and name, whatever
        its SAS token, returns that file (a failed one is imported again). The URL's query (the
        token) is never logged nor put in errors. The library does not read the data: the service
        validates it when it processes the file ([`UploadError`][UploadError] with its reason).

        :param url: where the service reads the JSONL file, or a [`FileURL`][FileURL].
        :param filename: the file's name on the service before the import key (default: the
            last segment of the URL's path).
        :param purpose: the file's purpose: ``"fine-tune"``, the one a fine-tuning job takes
            (anything else raises [`InvalidParameterError`][InvalidParameterError] before any request).
        :param processing_timeout: seconds to wait for the service to process the file
            ([`WaitTimeoutError`][WaitTimeoutError] after them).
        """
        from foundry_tune._async._file_import import as_file_url, check_import_purpose, import_once
        from foundry_tune._core.upload import UploadOptions

        # Every argument is checked before the first request.
        purpose = check_import_purpose(purpose)
        source = as_file_url(url, filename)
        options = UploadOptions(processing_timeout=processing_timeout)
        return await import_once(self._ft, source, options, purpose=purpose)

    def __repr__(self) -> str:
        return "AsyncFilesAPI()"
