"""``ft.spend()``: what is billing now and what it has cost so far; and the reinforcement spend watch
``wait()`` runs (pause the job at the user's cap, say so when the service paused it at its own).
The arithmetic and the report are pure, in ``foundry_tune._core.spend``."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundry_tune._async import _flavour
from foundry_tune._async._calls import safe_call
from foundry_tune._async._listings import event_fetcher, list_all_events
from foundry_tune._core import spend as core
from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.events import JobEvent
from foundry_tune._core.job_state import JobState
from foundry_tune._core.local_state import DIR_MODE, FILE_MODE, LEDGER_SUFFIX, entry_name, state_dir
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.progress import ProgressState
from foundry_tune._core.scan import JobScan
from foundry_tune._core.spend import SpendMeter, SpendReport
from foundry_tune._core.status import JobStatus
from foundry_tune._method_kind import MethodKind
from foundry_tune.errors import (
    ConfigurationError,
    FoundryTuneError,
    SpendLimitReachedError,
)

if TYPE_CHECKING:
    from foundry_tune._async._foundry import AsyncFoundry
    from foundry_tune._async._job import AsyncJob
    from foundry_tune._core.progress import Reporter

__all__ = [
    "NOTES_FOLDER",
    "SPEND_JOB_SCAN",
    "SPEND_MAX_PAGES",
    "SPEND_MAX_SECONDS",
    "SpendWatch",
    "read_job_note",
    "recorded_max_cost",
    "spend",
    "write_job_note",
]

log = logging.getLogger("foundry_tune.job")

SPEND_JOB_SCAN = 300
"""``spend()`` reads at most this many jobs, newest first, looking for live ones."""
SPEND_MAX_PAGES = 10
"""... in at most this many pages ..."""
SPEND_MAX_SECONDS = 60.0
"""... within this many seconds."""

NOTES_FOLDER = "jobs"
"""The sub-folder of the state folder (``FOUNDRY_TUNE_STATE_DIR``) with the jobs' local notes:
the spend cap and estimate ``start()`` recorded, for services that do not echo job metadata."""

_WITH_TRAINING_TIME = frozenset({JobStatus.RUNNING, JobStatus.PAUSING, JobStatus.PAUSED, JobStatus.RESUMING})


async def spend(ft: AsyncFoundry, *, now: dt.datetime | float | None = None) -> SpendReport:
    """The [`SpendReport`][SpendReport] of the connected project at ``now`` (a datetime or Unix
    seconds; default: the current time)."""
    at = time.time() if now is None else core.check_now(now)  # a bad ``now`` fails before any request
    incomplete: list[str] = []
    infos: list[DeploymentInfo] = []
    try:
        infos = [d.info for d in await ft.deployments.list()]
    except ConfigurationError as exc:
        incomplete.append(f"deployments not listed (ARM settings missing): {exc}")
    except FoundryTuneError as exc:
        incomplete.append(f"deployments not listed: {exc}")
    raws, cut = await _live_jobs(ft)
    if cut:
        incomplete.append(f"live jobs: {cut}")
    jobs: list[tuple[JobState, list[JobEvent] | None]] = []
    for raw in raws:
        job = _Listed(raw)
        if not _is_reinforcement(job) and core.ESTIMATE_KEY not in job.metadata and job.id:
            # A service that does not echo metadata: the estimate start() noted on this machine.
            note = await _flavour.run_blocking(read_job_note, ft.endpoint, job.id)
            if "estimate_usd" in note:
                job = _Listed({**raw, "metadata": {**job.metadata,
                                                   core.ESTIMATE_KEY: repr(note["estimate_usd"])}})
        events: list[JobEvent] | None = None
        if _is_reinforcement(job) and job.status in _WITH_TRAINING_TIME:
            try:
                events = await list_all_events(event_fetcher(ft, job.id), job_id=job.id, clock=ft.retry.clock)
            except FoundryTuneError as exc:
                incomplete.append(f"events of job {job.id} not read: {exc}")
        jobs.append((job, events))
    return core.build_report(at, infos, jobs, incomplete=incomplete)


async def _live_jobs(ft: AsyncFoundry) -> tuple[list[dict[str, Any]], str | None]:
    """Live jobs, newest first, and why the scan was cut short (None when it read them all)."""

    async def scan() -> tuple[list[dict[str, Any]], str | None]:
        found = JobScan({}, keep=_live, limit=SPEND_JOB_SCAN)
        guard = PageGuard("list fine-tuning jobs (spend)", max_pages=SPEND_MAX_PAGES,
                          max_seconds=SPEND_MAX_SECONDS, clock=ft.retry.clock)
        jobs = ft.openai.fine_tuning.jobs
        after: str | None = None
        while True:
            after = found.offer_page(await jobs.list(**found.list_kwargs(after)), guard)
            if after is None:
                break
        cut = None
        if not guard.complete:
            cut = f"stopped after {guard.pages} page(s): {guard.reason}"
        elif found.scanned >= SPEND_JOB_SCAN:
            cut = f"only the newest {SPEND_JOB_SCAN} jobs were read"
        return found.found(), cut

    return await safe_call(ft, scan, what="list live fine-tuning jobs")


def _live(raw: dict[str, Any]) -> bool:
    return JobStatus(str(raw.get("status") or "unknown")).is_live


class _Listed(JobState):
    """A listed job's fields (no calls)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw


def _is_reinforcement(job: JobState) -> bool:
    method = job.method
    return method is not None and method.kind is MethodKind.REINFORCEMENT


# --- the local notes: what start() recorded about a job, on this machine -----------------------


def _note_path(endpoint: str, job_id: str, *, create: bool) -> Path | None:
    home = os.path.expanduser("~")
    try:
        base = Path(state_dir(os.environ, home="" if home == "~" else home, os_name=os.name))
    except ConfigurationError:
        return None
    folder = base / NOTES_FOLDER
    if create:
        for path in (base, folder):
            if not path.is_dir():
                path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask; never widened here
    return folder / (entry_name(endpoint, "job-note:" + job_id) + LEDGER_SUFFIX)


def read_job_note(endpoint: str | None, job_id: str) -> dict[str, float]:
    """The spend cap and estimate ``start()`` noted for ``job_id`` on ``endpoint`` on this machine
    (``max_cost_usd``, ``estimate_usd``); empty when there is none or it cannot be read."""
    if not endpoint or not job_id:
        return {}
    try:
        path = _note_path(endpoint, job_id, create=False)
        if path is None:
            return {}
        with path.open("rb") as stream:
            data = stream.read(core.NOTE_MAX_BYTES + 1)
    except OSError:  # none (FileNotFoundError), or unreadable: nothing noted
        return {}
    if len(data) > core.NOTE_MAX_BYTES:
        return {}
    return core.job_note(data.decode("utf-8", "replace"))


def write_job_note(endpoint: str | None, job_id: str, *, max_cost: float | None = None,
                   estimate: float | None = None) -> None:
    """Note ``job_id``'s spend cap and/or estimate on this machine (merged with what was noted);
    a state folder that cannot be written is warned about, never raised."""
    if not endpoint or not job_id or (max_cost is None and estimate is None):
        return
    text = core.with_note(read_job_note(endpoint, job_id), max_cost=max_cost, estimate=estimate)
    temporary: Path | None = None
    try:
        path = _note_path(endpoint, job_id, create=True)
        if path is None:
            raise OSError("no state folder")
        temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("could not note job %s's spend cap/estimate in the state folder (%s): a later handle "
                    "of the job finds them only where the service keeps job metadata; set "
                    "FOUNDRY_TUNE_STATE_DIR to a writable folder", job_id, type(exc).__name__)
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink()


def recorded_max_cost(endpoint: str | None, raw: dict[str, Any]) -> float | None:
    """The spend cap ``start(max_cost=...)`` recorded for the reinforcement job ``raw``: from its
    metadata, else from this machine's note (a service that does not echo metadata); ``None`` for
    any other job or none recorded."""
    job = _Listed(raw)
    if not _is_reinforcement(job):
        return None
    cap = core.recorded_usd(job.metadata.get(core.CAP_KEY))
    if cap is not None:
        return cap
    return read_job_note(endpoint, job.id).get("max_cost_usd") if job.id else None


class SpendWatch:
    """The reinforcement spend watch of one ``wait()``: after each poll, [`check()`][check] meters
    the training time, pauses the job once the accrued cost reaches ``cap`` and raises
    [`SpendLimitReachedError`][SpendLimitReachedError]; it also raises it when the service paused the
    job at its own $5,000 cap (instead of waiting on a paused job forever)."""

    def __init__(self, job: AsyncJob, cap: float | None) -> None:
        self.job = job
        self.cap = cap
        self.meter = SpendMeter(core.training_rate(job.model, job.training_type))
        self._events: list[JobEvent] | None = None
        self._warned = False

    @classmethod
    def for_job(cls, job: AsyncJob, max_cost: float | None) -> SpendWatch | None:
        """A watch for ``job`` (``max_cost``, else the job's ``max_cost``: the one ``start()`` set
        or recorded), or None for a job that is not a reinforcement job (those bill per token:
        their cap is checked at ``start()``)."""
        cap = core.check_max_cost(max_cost if max_cost is not None else job.max_cost)
        if not _is_reinforcement(job):
            return None
        return cls(job, cap)

    async def check(self, new: list[JobEvent], reporter: Reporter, state: ProgressState) -> None:
        """Account for one poll (``new``: the events it brought); raises
        [`SpendLimitReachedError`][SpendLimitReachedError] once the job is paused at a cap."""
        job = self.job
        if self._events is None:
            if job.status not in _WITH_TRAINING_TIME:
                self.meter.observe(job.status, new, self._wall())
                return
            try:  # once: the training so far, from the job's whole history
                self._events = await job.events()
            except FoundryTuneError:
                self._events = list(new)
        else:
            self._events.extend(new)
        self.meter.observe(job.status, self._events, self._wall())
        if job.status in (JobStatus.PAUSED, JobStatus.PAUSING):
            # The service's pause when its own event says so (and no resume came after it), or a
            # job past $5,000 never resumed: a pause past $5,000 after a resume is the user's.
            if core.paused_by_service(self._events, self.meter.accrued):
                raise self._service_paused(core.service_cap_event(self._events), reporter, state)
            if self.meter.reached(self.cap):  # paused at this cap before: waiting would never end
                raise self._at_cap(reporter, state, paused=True, problem="")
            return
        if job.status is not JobStatus.RUNNING or self.cap is None:
            return
        if self.meter.per_hour is None:
            if not self._warned:
                self._warned = True
                reporter.note(f"{job.id}: max_cost={self.cap:g} cannot be watched: no hourly training price "
                              f"is known for {job.model} (set one with foundry_tune.set_price())")
            return
        if self.meter.reached(self.cap):
            raise await self._pause_at_cap(reporter, state)

    def _wall(self) -> float:
        return time.time()

    def _hint(self, *, service: bool, paused: bool = True) -> str:
        if not paused:
            return core.cap_hint("", "", service=service, pause=_flavour.awaited_chain("job.pause()"),
                                 cancel=_flavour.awaited_chain("job.cancel()"))
        resume = _flavour.awaited_chain("job.resume()")
        # Checkpoints are sorted by step: the last is the latest.
        latest = _flavour.awaited_chain("job.checkpoints()")
        latest = f"({latest})[-1]" if " " in latest else f"{latest}[-1]"  # the async form needs parentheses
        deploy = _flavour.awaited_chain(f"job.deploy(checkpoint={latest})")
        return core.cap_hint(resume, deploy, service=service)

    def _service_paused(self, said: JobEvent | None, reporter: Reporter,
                        state: ProgressState) -> SpendLimitReachedError:
        job = self.job
        message = core.service_cap_message(job.id, accrued=self.meter.accrued,
                                           said=said.message if said is not None else None)
        reporter.note(message)
        reporter.close(state)
        return SpendLimitReachedError(message, job_id=job.id, by="service", cap=core.SERVICE_CAP_USD,
                                      accrued=self.meter.accrued, hint=self._hint(service=True))

    async def _pause_at_cap(self, reporter: Reporter, state: ProgressState) -> SpendLimitReachedError:
        # A pause that fails leaves the job as it is (cancelling would throw away its training):
        # the error says loudly that it is still training, and how to pause or cancel it.
        try:
            await self.job.pause()
        except FoundryTuneError as exc:
            return self._at_cap(reporter, state, paused=False, problem=f" (pause failed: {exc})")
        return self._at_cap(reporter, state, paused=True, problem="")

    def _at_cap(self, reporter: Reporter, state: ProgressState, *, paused: bool,
                problem: str) -> SpendLimitReachedError:
        job = self.job
        cap = self.cap or 0.0
        accrued = self.meter.accrued or 0.0
        message = core.user_cap_message(job.id, accrued=accrued, cap=cap, hours=self.meter.hours,
                                        per_hour=self.meter.per_hour or 0.0, paused=paused) + problem
        reporter.note(message)
        reporter.close(state)
        return SpendLimitReachedError(message, job_id=job.id, by="user", cap=cap, accrued=accrued,
                                      hint=self._hint(service=False, paused=paused))
