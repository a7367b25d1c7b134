"""``ft.fine_tune(model)``: the immutable builder that validates, uploads once and starts once.

The builder is a connection plus a [`JobSpec`][JobSpec] (the job description,
its checks, validation, fingerprint and create arguments, all without I/O); this module adds the
network steps of [`plan()`][AsyncFineTuneBuilder.plan] and [`start()`][AsyncFineTuneBuilder.start].
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from foundry_tune._async import _flavour
from foundry_tune._async._calls import reconciled_create, safe_call
from foundry_tune._async._exclusive import exclusive, recorded_file, recorded_job
from foundry_tune._async._file_import import find_imported, import_once
from foundry_tune._async._job import AsyncJob
from foundry_tune._async._jobs import scan_jobs
from foundry_tune._async._spend import write_job_note
from foundry_tune._async._twins import find_same_inputs, keep_oldest, note_metadata_echo
from foundry_tune._async._upload import checked_digest, find_uploaded, given_file, upload_once
from foundry_tune._core.file_import import FileURL
from foundry_tune._core.fingerprint import ATTEMPT_KEY, FINGERPRINT_KEY
from foundry_tune._core.grader_check import WHAT as GRADER_CHECK
from foundry_tune._core.grader_check import handle_failure
from foundry_tune._core.plan import Plan
from foundry_tune._core.scan import created_by_request, live_or_succeeded
from foundry_tune._core.spec import MAX_METADATA_PAIRS, JobSpec, _RemoteFile, with_hint
from foundry_tune._core.spend import CAP_KEY, ESTIMATE_KEY
from foundry_tune._core.start_checks import (
    check_cost_cap,
    check_max_cost,
    checked_with_estimate,
    estimate_usd,
    job_estimate,
    priced_for_job,
    warn_if_retiring,
)
from foundry_tune._core.upload import UploadOptions
from foundry_tune._method_kind import MethodKind
from foundry_tune.errors import ServiceError

if TYPE_CHECKING:
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._foundry import AsyncFoundry
    from foundry_tune.catalog import TrainingType
    from foundry_tune.dataset import CostEstimate, Dataset
    from foundry_tune.methods import TuningMethod

__all__ = ["AsyncFineTuneBuilder"]

log = logging.getLogger("foundry_tune.job")


@dataclasses.dataclass(frozen=True)
class AsyncFineTuneBuilder:
    """Describes a fine-tuning job. Every method returns a new builder; nothing touches the
    service until [`start()`][start] (or the read-only lookups of [`plan()`][plan]).

    ```pycon
    >>> job = (ft.fine_tune("gpt-4.1-mini").train_on("train.jsonl").validate_on("val.jsonl")
    ...          .method(Supervised(n_epochs=3)).suffix("support").training_type("GlobalStandard")
    ...          .start())
    ```
    """

    ft: AsyncFoundry = dataclasses.field(repr=False, compare=False)
    model: str
    training: Dataset | _RemoteFile | FileURL | None = None
    validation: Dataset | _RemoteFile | FileURL | None = None
    tuning_method: TuningMethod | None = None
    suffix_value: str | None = None
    seed_value: int | None = None
    metadata_items: tuple[tuple[str, str], ...] = ()
    training_type_value: TrainingType | None = None
    integrations_value: tuple[dict[str, Any], ...] = ()
    upload: UploadOptions = dataclasses.field(default_factory=UploadOptions)
    strict: bool = False
    grader_check: bool = True

    def __post_init__(self) -> None:
        self.spec  # noqa: B018 - checks the model name now, not at the first call

    def __repr__(self) -> str:
        # Written by hand, not by the dataclass: the method's grader and the integrations may hold
        # keys (an endpoint grader's headers and ``?code=``), which are masked here.
        from foundry_tune._core.redact import redact_json, redact_text

        parts = []
        for field in dataclasses.fields(self):
            if field.repr:
                value = getattr(self, field.name)
                shown = redact_json(value) if isinstance(value, (dict, tuple, list)) else value
                parts.append(f"{field.name}={shown!r}")
        return redact_text(f"{type(self).__name__}({', '.join(parts)})")

    @classmethod
    def create(cls, ft: AsyncFoundry, model: str) -> AsyncFineTuneBuilder:
        """A builder for base model ``model`` on connection ``ft`` (what ``ft.fine_tune(model)`` returns)."""
        return cls(ft, model)

    @property
    def spec(self) -> JobSpec:
        """The job description without the connection (what the builder holds besides ``ft``)."""
        return JobSpec(**{f.name: getattr(self, f.name) for f in dataclasses.fields(JobSpec)})

    def _with(self, spec: JobSpec) -> AsyncFineTuneBuilder:
        return dataclasses.replace(self, **spec.fields())

    # --- describing the job ------------------------------------------------------------------

    def train_on(self, data: Dataset | str | os.PathLike[str] | Any) -> AsyncFineTuneBuilder:
        """Training data: a [`Dataset`][Dataset], a JSONL path, an uploaded file id, or a URL the
        service imports itself instead of an upload (``"https://..."``, e.g. a Blob SAS URL, or a
        [`FileURL`][FileURL]; not validated locally, its query never shown)."""
        return self._with(self.spec.train_on(data))

    def validate_on(self, data: Dataset | str | os.PathLike[str] | Any) -> AsyncFineTuneBuilder:
        """Validation data (required for Reinforcement): Dataset, JSONL path, uploaded file id or
        a URL the service imports (see [`train_on()`][train_on])."""
        return self._with(self.spec.validate_on(data))

    def method(self, method: TuningMethod | str) -> AsyncFineTuneBuilder:
        """The training method: ``Supervised(...)`` (the default), ``DPO(...)`` or ``Reinforcement(...)``;
        ``"sft"`` / ``"dpo"`` mean that method with "auto" hyperparameters."""
        return self._with(self.spec.method(method))

    def suffix(self, suffix: str) -> AsyncFineTuneBuilder:
        """A suffix for the tuned model's name: 1-64 letters, digits, ``-`` or ``_`` (no dots)."""
        return self._with(self.spec.suffix(suffix))

    def seed(self, seed: int) -> AsyncFineTuneBuilder:
        """A seed for reproducible training."""
        return self._with(self.spec.seed(seed))

    def metadata(self, pairs: Mapping[str, str] | None = None, /, **more: str) -> AsyncFineTuneBuilder:
        """Key/value tags for the job (merged with earlier ones). Keys up to 64 characters, values up
        to 512; at most 14 pairs (two of the service's 16 hold foundry-tune's fingerprint)."""
        return self._with(self.spec.metadata(pairs, **more))

    def training_type(self, training_type: str | TrainingType | None) -> AsyncFineTuneBuilder:
        """Azure's training tier, in any casing: ``"Standard"``, ``"GlobalStandard"`` (``"Global"``),
        ``"DataZone"`` (``"DataZoneStandard"``) or ``"Developer"`` (``"developerTier"``), or a
        [`TrainingType`][TrainingType]. ``None`` (the default) sends no training type: the
        service then picks its default for the model. A type the catalog knows the model cannot
        be trained with is refused when the job is checked (``plan()``, ``start()``)."""
        return self._with(self.spec.training_type(training_type))

    def integrations(self, integrations: Sequence[Mapping[str, Any]]) -> AsyncFineTuneBuilder:
        """Integrations to pass through (e.g. Weights & Biases), at most 5."""
        return self._with(self.spec.integrations(integrations))

    def upload_options(self, **options: Any) -> AsyncFineTuneBuilder:
        """Change how files are uploaded (see [`UploadOptions`][UploadOptions]):
        ``single_request_limit``, ``part_size``, ``parallel_parts``, ``processing_timeout``."""
        return self._with(self.spec.upload_options(**options))

    def strict_validation(self, strict: bool = True) -> AsyncFineTuneBuilder:
        """Treat validation warnings as errors before anything is uploaded."""
        return self._with(self.spec.strict_validation(strict))

    def check_grader(self, check: bool = True) -> AsyncFineTuneBuilder:
        """Whether [`start()`][start] asks the service's grader ``validate`` endpoint about a
        Reinforcement grader before anything is uploaded (on by default)."""
        return self._with(self.spec.check_grader(check))

    # --- local answers -----------------------------------------------------------------------

    def fingerprint(self) -> str:
        """The fingerprint [`start()`][start] tags the job with (hashes the data; no network)."""
        return self.spec.fingerprint()

    def estimate(self) -> CostEstimate:
        """Training tokens and cost of the job, computed locally from the training data (no network),
        priced for the job's training type (the service's default, Standard, when none is set):
        what [`start(max_cost=...)`][start] checks."""
        return job_estimate(self.spec)

    def create_kwargs(self, method: TuningMethod, fp: str, attempt_id: str, training_file: str,
                      validation_file: str | None) -> dict[str, Any]:
        """The ``fine_tuning.jobs.create`` arguments for this job."""
        return self.spec.create_kwargs(method, fp, attempt_id, training_file, validation_file)

    # --- plan and start ----------------------------------------------------------------------

    async def plan(self, *, check_service: bool = True) -> Plan:
        """What [`start()`][start] would do, without doing it: validation results, which files it would
        upload or reuse (and how), and whether it would create a job or return an existing one.
        With ``check_service`` it looks (read-only) for reusable files and jobs."""
        plan = await _flavour.run_blocking(self.spec.offline_plan)
        if plan.estimate is not None:  # priced for the training type start() sends (or the default)
            plan = dataclasses.replace(plan, estimate=priced_for_job(plan.estimate, plan.training_type))
        if not check_service:
            return plan
        files = []
        for planned in plan.files:
            existing = None
            if planned.action == "upload" and planned.content_hash is not None:
                existing = await find_uploaded(self.ft, planned.content_hash, planned.size_bytes)
            source = self.training if planned.role == "training" else self.validation
            if planned.action == "import" and isinstance(source, FileURL):
                imported = await safe_call(self.ft, functools.partial(find_imported, self.ft, source),
                                           what="look for an earlier import")
                if imported is not None:  # reused by start(): the plan names it
                    files.append(dataclasses.replace(planned, file_id=imported.id))
                    continue
            files.append(planned if existing is None else self.spec.reusing(planned, existing.id))
        # The file lookups just made tell the metadata-free job lookup which ids a job would carry.
        ids = [f.file_id for f in files]
        existing_job = await self._find_reusable(plan.fingerprint, files=None if None in ids else ids)
        return dataclasses.replace(plan, files=files,
                                   existing_job_id=existing_job.id if existing_job else None)

    async def _find_reusable(self, fp: str, *, files: Sequence[str | None] | None = None) -> AsyncJob | None:
        """A live or succeeded job with fingerprint ``fp``; where the service does not echo job
        metadata, one made of the same inputs ([`same_inputs()`][_core.scan.same_inputs]).
        ``files``: the ids of the uploaded training (and validation) files when already looked up."""
        found = await safe_call(
            self.ft,
            lambda: scan_jobs(self.ft, {FINGERPRINT_KEY: fp}, keep=live_or_succeeded, want=1),
            what="look up jobs by fingerprint",
        )
        if not found:  # a service that drops job metadata: recognise the job by what it was made of
            found = await find_same_inputs(self.ft, self.spec, fp, files)
        if not found:
            return None
        job = AsyncJob(self.ft, found[0])
        job.reused = True
        return job

    async def start(self, force_new: bool = False, *,
                    on_progress: Callable[[str], MaybeAwaitable[None]] | None = None,
                    max_cost: float | None = None) -> AsyncJob:
        """Validate locally, upload each file once, and create the job once.

        1. The data is validated first: invalid data raises
           [`DatasetValidationError`][DatasetValidationError] and nothing is uploaded.
        2. Unless ``force_new``, a live or succeeded job with the same fingerprint (model, data
           hashes, method, suffix, seed, training type) is returned instead of a new one.
        3. Files already uploaded with the same content are reused; large ones go through the
           Uploads API. A file the service rejects raises [`UploadError`][UploadError],
           and so does a given file id uploaded for another purpose than fine-tuning.
        4. For Reinforcement, the service's grader ``validate`` endpoint is asked first: a rejection
           raises [`GraderError`][GraderError] before any upload
           (``.check_grader(False)`` skips it).
        5. The create call is never repeated blindly: after an ambiguous failure the job is looked
           up by fingerprint first.
        6. Identical starts on this machine (threads, tasks, processes, notebook kernels) take
           turns: the first makes the job, the others return it (``reused``). Each waits at most
           ``RetryPolicy.total_timeout`` for its turn, then raises
           [`LocalLockTimeoutError`][LocalLockTimeoutError]. The lock files and the small
           ledger of what was made live in ``$FOUNDRY_TUNE_STATE_DIR`` (default
           ``~/.cache/foundry-tune``).

        7. ``max_cost`` (USD) caps the training cost: when the estimate (tokens x epochs x the
           price for the job's training type, see [`estimate()`][estimate]) is over it, or cannot
           be computed (no known price: [`set_price()`][set_price] adds one), start raises
           [`CostLimitError`][CostLimitError] before any upload or request. Reinforcement is
           billed per hour and has no total to check: the cap is set on the job
           (``job.max_cost``) for [`wait()`][AsyncJob.wait] to watch, and is refused the same way
           when no hourly rate is known to watch it with. Every job returned carries it, and it is
           recorded (in the job's metadata where there is room, and in the state folder) so that a
           later handle (``ft.jobs.get()``, ``Job.attach()``, ``foundry-tune jobs watch``) watches
           it too. The cap is watched only while something waits on the job.
        8. The training estimate of a supervised or DPO job is recorded the same way, for
           ``ft.spend()`` to show while the job runs. Neither record changes the fingerprint.
        9. When the base model's fine-tuning retirement is within 60 days (or past), a
           [`RetirementWarning`][RetirementWarning] names the date and its source.

        ``on_progress`` receives one line per step (defaults to the ``foundry_tune.job`` logger); in
        the async API it may be a coroutine function.
        """
        say = on_progress or log.info
        spec = self.spec
        cap = check_max_cost(max_cost)
        method, fp, unpriced = await _flavour.run_blocking(checked_with_estimate, spec)
        warn_if_retiring(self.model)
        estimate = None
        if cap is not None:  # before any request: the existing-job lookup and the grader check are requests
            estimate = await _flavour.run_blocking(check_cost_cap, spec, method, cap, unpriced)
        elif unpriced is not None and method.kind is not MethodKind.REINFORCEMENT:
            estimate = priced_for_job(unpriced, spec.training_type_value)
        # What a later handle of the job needs: the cap wait() watches (reinforcement), the
        # estimate spend() shows (token-billed).
        rft = method.kind is MethodKind.REINFORCEMENT
        noted_cap = cap if rft else None
        noted_estimate = None if rft else estimate_usd(estimate)
        # One start of this job at a time on this machine (threads, tasks, processes): the next one
        # finds what the previous one made in the ledger (or the service's listing) and returns it.
        async with exclusive(self.ft, "job:" + fp, what="start of the same job") as ledger:
            if not force_new:
                existing = await recorded_job(self.ft, ledger, fp) or await self._find_reusable(fp)
                if existing is not None:
                    if cap is not None:
                        existing.max_cost = cap
                    await _flavour.run_blocking(functools.partial(
                        write_job_note, getattr(self.ft, "endpoint", None), existing.id, max_cost=noted_cap,
                        estimate=noted_estimate))
                    await ledger.write(existing.id)
                    await _flavour.call(say, f"job {existing.id} ({existing.status}) already has this "
                                        "fingerprint: returning it (start(force_new=True) starts another)")
                    return existing
            await self._check_grader_with_service(spec, method, say)
            assert spec.training is not None
            training_file = await self._provide(spec.training, say)
            validation_file = None if spec.validation is None else await self._provide(spec.validation, say)
            records = ((CAP_KEY, noted_cap), (ESTIMATE_KEY, noted_estimate))
            extra = {key: repr(value) for key, value in records if value is not None}
            job = await self._create(spec, method, fp, training_file, validation_file, force_new=force_new,
                                     extra_metadata=extra)
            if cap is not None:
                job.max_cost = cap
            await _flavour.run_blocking(functools.partial(
                write_job_note, getattr(self.ft, "endpoint", None), job.id, max_cost=noted_cap,
                estimate=noted_estimate))
            await ledger.write(job.id)
        await _flavour.call(say, f"started job {job.id} on {self.model}")
        return job

    async def _check_grader_with_service(self, spec: JobSpec, method: TuningMethod,
                                         say: Callable[[str], MaybeAwaitable[None]]) -> None:
        grader = spec.grader_to_check(method)
        if grader is None:
            return
        graders = self.ft.openai.fine_tuning.alpha.graders

        async def validate() -> Any:
            return await graders.validate(grader=cast(Any, grader))

        try:
            await safe_call(self.ft, validate, what=GRADER_CHECK)
        except ServiceError as exc:
            await _flavour.call(say, handle_failure(exc))
            return
        await _flavour.call(say, "the service accepted the grader")

    async def _provide(self, source: Dataset | _RemoteFile | FileURL,
                       say: Callable[[str], MaybeAwaitable[None]]) -> str:
        if isinstance(source, _RemoteFile):
            return (await given_file(self.ft, source.file_id, self.upload)).id
        if isinstance(source, FileURL):  # the service fetches it: imported once, then processed
            return (await import_once(self.ft, source, self.upload, on_progress=say)).id
        digest = await checked_digest(source)  # the bytes validated, or DataChangedError
        size = source.size_bytes
        # One upload of this content at a time on this machine; the ledger names the file it made.
        what = f"upload of the same data as {source.name}"
        async with exclusive(self.ft, "file:" + digest, what=what) as ledger:
            recorded = await recorded_file(self.ft, ledger, size, self.upload, label=source.name,
                                           on_progress=say)
            if recorded is not None:
                return recorded.id
            uploaded = await upload_once(self.ft, source, self.upload, on_progress=say)
            await ledger.write(uploaded.id, size=size)
            return uploaded.id

    async def _create(self, spec: JobSpec, method: TuningMethod, fp: str, training_file: str,
                      validation_file: str | None, *, force_new: bool = False,
                      extra_metadata: Mapping[str, str] | None = None) -> AsyncJob:
        attempt_id = uuid.uuid4().hex
        kwargs = spec.create_kwargs(method, fp, attempt_id, training_file, validation_file)
        metadata = kwargs["metadata"]
        # The cap and estimate records go where there is room (16 pairs at most; the user may use
        # 14): the state folder holds them anyway. The fingerprint is computed without them.
        for key, value in (extra_metadata or {}).items():
            if len(metadata) < MAX_METADATA_PAIRS:
                metadata[key] = value
        jobs = self.ft.openai.fine_tuning.jobs
        since = time.time()
        sent: list[bool] = []  # one entry per create sent: whether it was answered

        async def create() -> Any:
            sent.append(False)
            made = await jobs.create(**kwargs)
            sent[-1] = True
            return made

        async def lookup() -> Any:
            found = await scan_jobs(self.ft, {FINGERPRINT_KEY: fp, ATTEMPT_KEY: attempt_id}, want=1)
            if not found:  # a service that drops job metadata: recognise the job by what it was made of
                keep = created_by_request(kwargs, since)
                found = await scan_jobs(self.ft, {}, keep=keep, want=1, limit=100)
            return found[0] if found else None

        try:
            raw = await reconciled_create(self.ft, create, lookup,
                                          what=f"create fine-tuning job on {self.model}")
        except ServiceError as exc:
            raise with_hint(exc) from exc
        job = AsyncJob(self.ft, raw)
        note_metadata_echo(getattr(self.ft, "endpoint", None), echoed=job.fingerprint == fp)
        if job.fingerprint is None:
            log.warning("the service did not keep the metadata of job %s: start() will look it up by what it "
                        "was made of instead of by fingerprint", job.id)
        if force_new:
            return job
        # Unless the one create sent was answered, where the service drops metadata the job found
        # may be another machine's, and ours another one made since: see keep_oldest.
        return await keep_oldest(self.ft, spec, job, kwargs, lost_since=None if sent == [True] else since)
