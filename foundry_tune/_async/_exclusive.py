"""One start at a time per job, and one upload at a time per content, on this machine.

[`exclusive()`][exclusive] serialises every holder of the same key on the same endpoint: tasks and threads
of this process through a process-wide lock, other processes (notebook kernels, scripts) through a
lock file in foundry-tune's state folder ([`foundry_tune._core.local_state.state_dir()`][state_dir]). The
holder reads and writes a small ledger entry next to the lock: the job (or file) the previous holder
made, so that the next one returns it instead of making another, whatever the service's listing says.

A process that dies releases its lock file with it (an OS file lock), so no lock is ever stale.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import filelock

from foundry_tune._async import _flavour
from foundry_tune._async._calls import safe_call
from foundry_tune._async._job import AsyncJob
from foundry_tune._async._upload import wait_processed
from foundry_tune._core.local_state import (
    DIR_MODE,
    FILE_MODE,
    LEDGER_SUFFIX,
    LOCK_SUFFIX,
    ONCE_FOLDER,
    LedgerEntry,
    entry_name,
    ledger_entry,
    ledger_file_usable,
    ledger_job_usable,
    ledger_text,
    state_dir,
)
from foundry_tune.errors import ConfigurationError, LocalLockTimeoutError, NotFoundError

if TYPE_CHECKING:
    from openai.types import FileObject

    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._foundry import AsyncFoundry
    from foundry_tune._core.upload import UploadOptions

__all__ = ["Ledger", "exclusive", "once_folder", "recorded_file", "recorded_job"]

log = logging.getLogger("foundry_tune.job")

_LEDGER_MAX_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class Ledger:
    """The ledger entry of a key, for its holder in [`exclusive()`][exclusive] (``path`` is ``None`` when the
    state folder cannot be used: then it reads nothing and writes nothing)."""

    path: Path | None

    async def read(self) -> LedgerEntry | None:
        """The entry the last holder wrote, or ``None``."""
        if self.path is None:
            return None
        return await _flavour.run_blocking(_read_entry, self.path)

    async def write(self, object_id: str, *, size: int | None = None) -> None:
        """Record ``object_id`` (a job or file id; ``size`` for a file) for the next holder."""
        if self.path is not None:
            text = ledger_text(object_id, time.time(), size=size)
            await _flavour.run_blocking(_write_entry, self.path, text)

    async def forget(self) -> None:
        """Remove the entry (it named something that is gone)."""
        if self.path is not None:
            await _flavour.run_blocking(_remove_entry, self.path)


@contextlib.asynccontextmanager
async def exclusive(ft: AsyncFoundry, key: str, *, what: str) -> AsyncIterator[Ledger]:
    """Hold ``key`` on ``ft``'s endpoint alone on this machine (across tasks, threads and processes);
    yields the key's [`Ledger`][Ledger].

    Waits at most the connection's retry budget (``RetryPolicy.total_timeout``), then raises
    [`LocalLockTimeoutError`][LocalLockTimeoutError] naming ``what`` (e.g. "start of this job")
    and the lock file. When the state folder cannot be created or written, only this process is
    serialised (a warning says so).
    """
    budget = ft.retry.total_timeout
    clock = ft.retry.clock
    deadline = clock() + budget
    name = entry_name(ft.endpoint, key)
    folder = await _flavour.run_blocking(once_folder)
    lock_path = None if folder is None else folder / (name + LOCK_SUFFIX)
    local = _flavour.named_lock(name)
    if not await _flavour.acquire_within(local, deadline - clock()):
        raise _busy(what, budget, lock_path)
    try:
        file_lock = None if lock_path is None else await _lock_file(lock_path, deadline, clock, what, budget)
        try:
            yield Ledger(None if folder is None or file_lock is None else folder / (name + LEDGER_SUFFIX))
        finally:
            if file_lock is not None:
                file_lock.release()
    finally:
        local.release()


async def _lock_file(path: Path, deadline: float, clock: Callable[[], float], what: str,
                     budget: float) -> filelock.BaseFileLock | None:
    """The acquired lock file at ``path``, or ``None`` when it cannot be used (warned)."""
    # thread_local=False: in the async flavour the lock may be released by another thread than the
    # one that took it. A new object per holder: a FileLock object is re-entrant.
    lock = filelock.FileLock(str(path), mode=FILE_MODE, thread_local=False)
    pause = 0.01
    while True:
        try:
            # A non-blocking attempt (an open and a flock) returns at once, so it runs in place:
            # in a worker thread, a cancelled caller could leave the lock taken by nobody.
            lock.acquire(timeout=0)
            return lock
        except filelock.Timeout:
            pass
        except OSError as exc:
            log.warning("cannot use the lock file in %s (%s): starts in other processes on this machine "
                        "are not serialised; set FOUNDRY_TUNE_STATE_DIR to a writable folder",
                        path.parent, type(exc).__name__)
            return None
        remaining = deadline - clock()
        if remaining <= 0:
            raise _busy(what, budget, path)
        await _flavour.sleep(min(pause, remaining))
        pause = min(pause * 1.5, 0.25)


def _busy(what: str, budget: float, lock_path: Path | None) -> LocalLockTimeoutError:
    where = f"its lock file {lock_path}" if lock_path is not None else "its lock in this process"
    return LocalLockTimeoutError(
        f"another {what} on this machine is still running: waited {budget:g} s "
        f"(RetryPolicy.total_timeout) for {where}; run it again once the other one has finished "
        "(it then returns what the other one made)",
        lock_file=None if lock_path is None else str(lock_path),
    )


def once_folder() -> Path | None:
    """The folder of the lock files and ledger (created 0700), or ``None`` (warned) when it cannot
    be created."""
    home = os.path.expanduser("~")
    try:
        base = Path(state_dir(os.environ, home="" if home == "~" else home, os_name=os.name))
    except ConfigurationError as exc:
        log.warning("%s: starts in other processes on this machine are not serialised", exc)
        return None
    folder = base / ONCE_FOLDER
    try:
        for path in (base, folder):
            if not path.is_dir():
                path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask; never widened here
    except OSError as exc:
        log.warning("cannot create the state folder %s (%s): starts in other processes on this machine "
                    "are not serialised; set FOUNDRY_TUNE_STATE_DIR to a writable folder",
                    folder, type(exc).__name__)
        return None
    return folder


def _read_entry(path: Path) -> LedgerEntry | None:
    try:
        with path.open("rb") as stream:
            data = stream.read(_LEDGER_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.debug("cannot read the ledger entry %s (%s)", path.name, type(exc).__name__)
        return None
    if len(data) > _LEDGER_MAX_BYTES:
        return None
    return ledger_entry(data.decode("utf-8", "replace"))


def _write_entry(path: Path, text: str) -> None:
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as exc:  # the ledger is a shortcut: the service's listing still finds the job
        log.debug("cannot write the ledger entry %s (%s)", path.name, type(exc).__name__)
        with contextlib.suppress(OSError):
            temporary.unlink()


def _remove_entry(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


# --- what a ledger entry names, checked with the service ----------------------------------------


async def recorded_job(ft: AsyncFoundry, ledger: Ledger, fingerprint: str) -> AsyncJob | None:
    """The job the ledger names, retrieved once, when it is still live or succeeded (marked
    ``reused``); ``None`` when there is no entry or the job is gone, failed or cancelled."""
    entry = await ledger.read()
    if entry is None:
        return None
    job_id: str = entry["id"]
    jobs = ft.openai.fine_tuning.jobs
    try:
        raw = await safe_call(ft, lambda: jobs.retrieve(job_id), what=f"get job {job_id}")
    except NotFoundError:
        await ledger.forget()
        return None
    job = AsyncJob(ft, raw)
    if not ledger_job_usable(job.status, job.fingerprint, fingerprint):
        await ledger.forget()
        return None
    job.reused = True
    return job


async def recorded_file(
    ft: AsyncFoundry,
    ledger: Ledger,
    size: int,
    options: UploadOptions,
    *,
    label: str,
    on_progress: Callable[[str], MaybeAwaitable[None]],
) -> FileObject | None:
    """The file the ledger names for this content, retrieved once and reused when it is not failed
    or deleted, is for fine-tuning and has ``size`` bytes (then waited for until processed)."""
    entry = await ledger.read()
    if entry is None or entry.get("bytes") not in (None, size):
        return None
    file_id: str = entry["id"]
    try:
        remote = await safe_call(ft, lambda: ft.openai.files.retrieve(file_id), what=f"check file {file_id}")
    except NotFoundError:
        await ledger.forget()
        return None
    if not ledger_file_usable(remote.status, remote.purpose, remote.bytes, size):
        await ledger.forget()
        return None
    await _flavour.call(on_progress, f"reusing {file_id} ({remote.filename}): this machine uploaded the "
                                     "same content before")
    return await wait_processed(ft, file_id, options, display_name=label)
