"""Where foundry-tune keeps its small local state (lock files and the start ledger), without I/O.

Starts of the same job on one machine (threads, processes, notebook kernels) are serialised by a
lock file per (endpoint, key), and the job or file one of them made is written to a ledger entry
next to it, so that the others return it instead of making another. Nothing in a file's name or
content names the endpoint, the key or a secret: names are a SHA-256 of both.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from foundry_tune._core.status import JobStatus
from foundry_tune.errors import ConfigurationError

__all__ = [
    "APP_FOLDER",
    "DIR_MODE",
    "FILE_MODE",
    "LEDGER_SUFFIX",
    "LOCK_SUFFIX",
    "ONCE_FOLDER",
    "STATE_DIR_ENV",
    "LedgerEntry",
    "entry_name",
    "ledger_entry",
    "ledger_file_usable",
    "ledger_job_usable",
    "ledger_text",
    "state_dir",
]

STATE_DIR_ENV = "FOUNDRY_TUNE_STATE_DIR"
"""The environment variable that names the state folder (it wins over the defaults)."""

APP_FOLDER = "foundry-tune"
ONCE_FOLDER = "once"
"""The sub-folder of the state folder with the lock files and the ledger."""

LOCK_SUFFIX = ".lock"
LEDGER_SUFFIX = ".json"
DIR_MODE = 0o700
FILE_MODE = 0o600

LedgerEntry = dict[str, Any]
"""One ledger entry: ``{"id": ..., "created_at": ...}`` (and ``"bytes"`` for a file)."""


def state_dir(env: Mapping[str, str], *, home: str, os_name: str) -> PurePath:
    """The folder of foundry-tune's local state: ``$FOUNDRY_TUNE_STATE_DIR`` when set, else
    ``%LOCALAPPDATA%\\foundry-tune`` on Windows (``os_name == "nt"``), else
    ``$XDG_CACHE_HOME/foundry-tune`` or ``<home>/.cache/foundry-tune``.

    Empty or relative ``XDG_CACHE_HOME`` values are ignored, as the XDG specification says.
    """
    windows = os_name == "nt"
    path: type[PurePath] = PureWindowsPath if windows else PurePosixPath
    given = env.get(STATE_DIR_ENV, "").strip()
    if given:
        return path(given)
    if windows:
        local = env.get("LOCALAPPDATA", "").strip()
        base = path(local) if local else path(home) / "AppData" / "Local"
        return base / APP_FOLDER
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    if xdg and path(xdg).is_absolute():
        return path(xdg) / APP_FOLDER
    if not home:
        raise ConfigurationError(
            f"no folder for foundry-tune's local state: set {STATE_DIR_ENV} (or HOME / XDG_CACHE_HOME)")
    return path(home) / ".cache" / APP_FOLDER


def entry_name(endpoint: str, key: str) -> str:
    """The base name of the lock file and ledger entry of ``key`` on ``endpoint``: a SHA-256 hex of
    both, so that neither (nor a secret in the endpoint's query) appears in the file system."""
    digest = hashlib.sha256()
    for part in (endpoint, key):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))  # length-prefixed: ("ab", "c") != ("a", "bc")
        digest.update(data)
    return digest.hexdigest()


def ledger_text(object_id: str, created_at: float, *, size: int | None = None) -> str:
    """The content of a ledger entry for ``object_id`` (a job or file id), made at ``created_at``
    (Unix time); ``size`` is a file's size in bytes."""
    entry: LedgerEntry = {"id": object_id, "created_at": created_at}
    if size is not None:
        entry["bytes"] = size
    return json.dumps(entry, sort_keys=True)


def ledger_entry(text: str) -> LedgerEntry | None:
    """A ledger entry read back, or ``None`` when it is not one (empty, torn, edited by hand)."""
    try:
        entry = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict):
        return None
    object_id, created_at = entry.get("id"), entry.get("created_at")
    if not isinstance(object_id, str) or not object_id or not object_id.isprintable() or len(object_id) > 256:
        return None
    if isinstance(created_at, bool) or not isinstance(created_at, (int, float)):
        return None
    if not math.isfinite(created_at):
        return None
    size = entry.get("bytes")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        return None
    return entry


_FILE_GONE = frozenset({"error", "failed", "deleted", "deleting"})


def ledger_job_usable(status: str | None, job_fingerprint: str | None, fingerprint: str) -> bool:
    """Whether the job a ledger entry names, retrieved again, is the one to return: live or
    succeeded, and not tagged with another fingerprint (a service may drop the tag: no tag is fine)."""
    job_status = JobStatus(status or "unknown")
    if not (job_status.is_live or job_status == JobStatus.SUCCEEDED):
        return False
    return job_fingerprint in (None, fingerprint)


def ledger_file_usable(status: str | None, purpose: str | None, listed_bytes: int | None, size: int,
                       *, wanted_purpose: str = "fine-tune") -> bool:
    """Whether the file a ledger entry names, retrieved again, can be reused for ``size`` bytes of
    the same content: not failed or deleted, uploaded for fine-tuning, and of the same size."""
    if (status or "").lower() in _FILE_GONE or purpose != wanted_purpose:
        return False
    return listed_bytes is None or listed_bytes == size
