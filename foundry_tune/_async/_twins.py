"""Jobs that are the same as the one a start describes, where no fingerprint can tell: on a
service that does not echo job metadata (no Azure recording shows it), a job is recognised by what
it was made of; and right after a create, a twin started elsewhere at the same moment (another
machine, or a create of this start whose answer was lost) is resolved by keeping the oldest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from foundry_tune._async import _flavour
from foundry_tune._async._calls import safe_call
from foundry_tune._async._job import AsyncJob
from foundry_tune._async._jobs import scan_jobs
from foundry_tune._async._upload import read_back_hash
from foundry_tune._core.file_import import FileURL
from foundry_tune._core.fingerprint import ATTEMPT_KEY, FINGERPRINT_KEY
from foundry_tune._core.scan import live_or_succeeded, older_rivals, oldest_live, same_inputs
from foundry_tune._core.spec import JobSpec, _RemoteFile
from foundry_tune._core.status import JobStatus
from foundry_tune._core.upload import clean_hash, upload_name
from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["find_same_inputs", "keep_oldest", "note_metadata_echo"]

log = logging.getLogger("foundry_tune.job")


_ECHOES_METADATA: set[str] = set()
"""Endpoints whose answer to a job create carried the job's metadata (in this process): there the
fingerprint lookup is exact, and the lookup of a job by its inputs is skipped."""


def note_metadata_echo(endpoint: str | None, *, echoed: bool) -> None:
    """Remember whether a create on ``endpoint`` came back with the job's metadata."""
    if endpoint is None:
        return
    if echoed:
        _ECHOES_METADATA.add(endpoint)
    else:
        _ECHOES_METADATA.discard(endpoint)


async def keep_oldest(ft: AsyncFoundry, spec: JobSpec, ours: AsyncJob, kwargs: Mapping[str, Any], *,
                      lost_since: float | None = None) -> AsyncJob:
    """Right after a create: if an older live or succeeded job has our fingerprint (or, where
    the service drops metadata, our inputs and files holding our data), another machine started
    the same job at the same time. The oldest one is kept: ours is cancelled while still pending
    and the older one returned (``reused``). Every racing start agrees on the oldest.

    Our own late duplicates are cancelled too: jobs with our attempt id, or, where metadata is
    dropped and a create's answer was lost (``lost_since``: when the first create was sent),
    the younger jobs of our inputs made since then, which a lookup cannot tell from ours (those
    of other machines would cancel themselves anyway, seeing the older one)."""
    meta = kwargs["metadata"]
    fp, attempt = meta[FINGERPRINT_KEY], meta[ATTEMPT_KEY]
    exact = ours.fingerprint == fp  # the service keeps metadata: the fingerprint lookup is exact

    async def scan() -> list[dict[str, Any]]:
        if exact:
            return await scan_jobs(ft, {FINGERPRINT_KEY: fp}, keep=live_or_succeeded)
        return await scan_jobs(ft, {}, keep=same_inputs(kwargs, files=False), limit=100)

    try:
        listed = await safe_call(ft, scan, what="look for the same job started elsewhere")
        known = {} if exact else await _our_files(spec, kwargs)
        found = [raw for raw in listed
                 if exact or raw.get("id") == ours.id or await _made_of_our_data(ft, spec, raw, known)]
    except FoundryTuneError as exc:  # the job is made: a failed check must not lose it
        log.warning("could not check for the same job started elsewhere at the same time (%s): keeping "
                    "job %s", exc, ours.id)
        return ours
    if live_or_succeeded(ours.raw):
        older = older_rivals(ours.raw, found)
        keeper = AsyncJob(ft, older[0]) if older else ours
    else:
        # The job a lookup found for our create was cancelled already (it was the younger of twins
        # elsewhere): keep what every racing start keeps, the oldest live one, never cancel it.
        oldest = oldest_live(found)
        if oldest is None:
            return ours
        keeper = AsyncJob(ft, oldest)

    def own_duplicate(raw: Mapping[str, Any]) -> bool:
        live = live_or_succeeded(raw) and raw.get("status") != JobStatus.SUCCEEDED.value
        if not live or raw.get("id") in (ours.id, keeper.id):
            return False
        if exact:
            return bool((raw.get("metadata") or {}).get(ATTEMPT_KEY) == attempt)
        # Jobs of our inputs made since our first create (minus clock skew, as in the lookup).
        return lost_since is not None and (raw.get("created_at") or 0) >= lost_since - 300

    for raw in filter(own_duplicate, found):
        try:
            await AsyncJob(ft, raw).cancel()
        except FoundryTuneError as exc:
            log.warning("could not cancel job %s, a duplicate of job %s: %s", raw.get("id"), keeper.id,
                        exc)
        else:
            log.warning("cancelled job %s, a duplicate of job %s made by a create whose answer was lost",
                        raw.get("id"), keeper.id)
    if keeper is ours:
        return ours
    if not live_or_succeeded(ours.raw):
        keeper.reused = True
        return keeper
    try:
        await ours.cancel()
    except FoundryTuneError as exc:
        log.warning("job %s was started elsewhere at the same time as job %s, and cancelling %s failed "
                    "(%s): both may train", keeper.id, ours.id, ours.id, exc)
        return ours
    log.warning("job %s has the same data and settings and is older (started elsewhere at the same time, "
                "or by a create of this start whose answer was lost): cancelled job %s (still pending) "
                "and returning %s", keeper.id, ours.id, keeper.id)
    keeper.reused = True
    return keeper


async def find_same_inputs(ft: AsyncFoundry, spec: JobSpec, fp: str,
                           files: Sequence[str | None] | None) -> list[dict[str, Any]]:
    """Live or succeeded jobs made of the same inputs (at most one), from one listing of the
    newest jobs: those that match everything but the files, then whose files hold our data
    (checked only for them: a fresh start with no such job pays no file lookup). ``files``: the
    ids of the uploaded training (and validation) files, when already looked up."""
    if getattr(ft, "endpoint", None) in _ECHOES_METADATA:
        return []  # jobs there carry their fingerprint: the fingerprint lookup was the exact one
    ids = list(files or ["", ""])
    validation_file = (ids[1] if len(ids) > 1 else "") if spec.validation is not None else None
    kwargs = spec.create_kwargs(spec.method_or_default(), fp, "", str(ids[0]), validation_file)
    keep = same_inputs(kwargs, files=False)
    candidates = await safe_call(ft, lambda: scan_jobs(ft, {}, keep=keep, limit=100),
                                 what="look up jobs by their inputs")
    known = await _our_files(spec, kwargs) if files is not None else {}
    for raw in candidates:
        if await _made_of_our_data(ft, spec, raw, known):
            return [raw]
    return []

async def _our_files(spec: JobSpec, kwargs: Mapping[str, Any]) -> dict[tuple[str, str], bool]:
    """What is known of file contents: the files of ``kwargs`` (uploaded, or found with their
    content read back) hold our training (and validation) data."""
    known: dict[tuple[str, str], bool] = {}
    for source, key in ((spec.training, "training_file"), (spec.validation, "validation_file")):
        file_id = kwargs.get(key)
        if source is not None and not isinstance(source, (_RemoteFile, FileURL)) and file_id:
            known[(str(file_id), clean_hash(await _flavour.run_blocking(source.content_hash)))] = True
    return known

async def _made_of_our_data(ft: AsyncFoundry, spec: JobSpec, raw: Mapping[str, Any],
                            known: dict[tuple[str, str], bool]) -> bool:
    """Whether the listed job's training (and validation) file holds our data: the file id we
    were given, or a file whose name carries our content hash and whose content, read back, has
    it (another machine may have uploaded the same data as another file). ``known`` caches it."""
    pairs = [(spec.training, raw.get("training_file"))]
    if spec.validation is not None:
        pairs.append((spec.validation, raw.get("validation_file")))
    for source, file_id in pairs:
        if source is None or not isinstance(file_id, str) or not file_id:
            return False
        if isinstance(source, _RemoteFile):
            if file_id != source.file_id:
                return False
            continue
        if isinstance(source, FileURL):  # an import: the file bears the import's name
            if not await _imported_from(ft, file_id, source):
                return False
            continue
        digest = clean_hash(await _flavour.run_blocking(source.content_hash))
        if (file_id, digest) not in known:
            known[(file_id, digest)] = await _holds(ft, file_id, digest)
        if not known[(file_id, digest)]:
            return False
    return True

async def _imported_from(ft: AsyncFoundry, file_id: str, source: FileURL) -> bool:
    """Whether the file ``file_id`` is the service's import of ``source`` (by its name)."""
    try:
        remote = await safe_call(ft, lambda: ft.openai.files.retrieve(file_id), what=f"get file {file_id}")
    except FoundryTuneError:  # gone: not provably ours
        return False
    return remote.filename == source.service_name

async def _holds(ft: AsyncFoundry, file_id: str, digest: str) -> bool:
    """Whether the uploaded file ``file_id`` holds the content with SHA-256 ``digest``."""
    files = ft.openai.files
    try:
        remote = await safe_call(ft, lambda: files.retrieve(file_id), what=f"get file {file_id}")
        if not (remote.filename or "").endswith(upload_name("x", digest).removeprefix("x")):
            return False
        actual = await safe_call(ft, lambda: read_back_hash(ft, file_id),
                                 what=f"read back {file_id}")
    except FoundryTuneError:  # gone, or not served: not provably ours
        return False
    return actual == digest
