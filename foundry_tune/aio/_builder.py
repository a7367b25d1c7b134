"""``AsyncFineTuneBuilder``: the async twin of :class:`foundry_tune.job.FineTuneBuilder`.

Describing the job (data, method, suffix, seed, metadata, training type), validation, the
fingerprint and the create arguments are the sync builder's; only the network steps of
:meth:`plan` and :meth:`start` are async. Local validation and hashing run in a worker thread so
the event loop stays responsive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from foundry_tune.aio._calls import reconciled_create, safe_call
from foundry_tune.aio._job import AsyncJob, scan_jobs
from foundry_tune.aio._upload import find_uploaded, upload_once, wait_processed
from foundry_tune.errors import DatasetValidationError, ServiceError
from foundry_tune.job._builder import FineTuneBuilder, _RemoteFile, with_hint
from foundry_tune.job._fingerprint import ATTEMPT_KEY, FINGERPRINT_KEY
from foundry_tune.job._grader_check import WHAT as GRADER_CHECK
from foundry_tune.job._grader_check import grader_to_check, handle_failure
from foundry_tune.job._jobs_api import created_by_request
from foundry_tune.job._plan import Plan
from foundry_tune.job._status import JobStatus

if TYPE_CHECKING:
    from foundry_tune.aio._foundry import AsyncFoundry
    from foundry_tune.catalog import TrainingType
    from foundry_tune.dataset import CostEstimate, Dataset
    from foundry_tune.methods import TuningMethod

__all__ = ["AsyncFineTuneBuilder"]

log = logging.getLogger("foundry_tune.job")


@dataclasses.dataclass(frozen=True)
class AsyncFineTuneBuilder:
    """Describes a fine-tuning job; every method returns a new builder. ``await builder.start()``
    validates, uploads each file once and creates the job once, exactly as the sync builder."""

    ft: AsyncFoundry = dataclasses.field(repr=False, compare=False)
    spec: FineTuneBuilder

    @classmethod
    def create(cls, ft: AsyncFoundry, model: str) -> AsyncFineTuneBuilder:
        """A builder for base model ``model`` on connection ``ft``."""
        # The sync spec never touches its connection here: the async builder does the network part.
        return cls(ft, FineTuneBuilder(cast(Any, None), model))

    def _with(self, spec: FineTuneBuilder) -> AsyncFineTuneBuilder:
        return dataclasses.replace(self, spec=spec)

    @property
    def model(self) -> str:
        """The base model."""
        return self.spec.model

    # --- describing the job (see FineTuneBuilder) ---------------------------------------------

    def train_on(self, data: Dataset | str | os.PathLike[str] | Any) -> AsyncFineTuneBuilder:
        """Training data: a Dataset, a JSONL path, or an uploaded file id."""
        return self._with(self.spec.train_on(data))

    def validate_on(self, data: Dataset | str | os.PathLike[str] | Any) -> AsyncFineTuneBuilder:
        """Validation data (required for Reinforcement)."""
        return self._with(self.spec.validate_on(data))

    def method(self, method: TuningMethod | str) -> AsyncFineTuneBuilder:
        """The training method: ``Supervised(...)`` (default), ``DPO(...)`` or ``Reinforcement(...)``."""
        return self._with(self.spec.method(method))

    def suffix(self, suffix: str) -> AsyncFineTuneBuilder:
        """A suffix for the tuned model's name: 1-64 characters, no dots."""
        return self._with(self.spec.suffix(suffix))

    def seed(self, seed: int) -> AsyncFineTuneBuilder:
        """A seed for reproducible training."""
        return self._with(self.spec.seed(seed))

    def metadata(self, pairs: Mapping[str, str] | None = None, /, **more: str) -> AsyncFineTuneBuilder:
        """Key/value tags for the job (merged with earlier ones)."""
        return self._with(self.spec.metadata(pairs, **more))

    def training_type(self, training_type: str | TrainingType | None) -> AsyncFineTuneBuilder:
        """Azure's training tier in any casing (``"Standard"``, ``"GlobalStandard"``, ``"DataZone"``,
        ``"Developer"`` / ``"developerTier"``) or ``None`` for the service's default (see
        :meth:`FineTuneBuilder.training_type <foundry_tune.job.FineTuneBuilder.training_type>`)."""
        return self._with(self.spec.training_type(training_type))

    def integrations(self, integrations: Sequence[Mapping[str, Any]]) -> AsyncFineTuneBuilder:
        """Integrations to pass through (e.g. Weights & Biases), at most 5."""
        return self._with(self.spec.integrations(integrations))

    def upload_options(self, **options: Any) -> AsyncFineTuneBuilder:
        """Change how files are uploaded (see :class:`~foundry_tune.job.UploadOptions`)."""
        return self._with(self.spec.upload_options(**options))

    def strict_validation(self, strict: bool = True) -> AsyncFineTuneBuilder:
        """Treat validation warnings as errors before anything is uploaded."""
        return self._with(self.spec.strict_validation(strict))

    def check_grader(self, check: bool = True) -> AsyncFineTuneBuilder:
        """Whether :meth:`start` asks the service's grader ``validate`` endpoint first (default on)."""
        return self._with(self.spec.check_grader(check))

    def fingerprint(self) -> str:
        """The fingerprint :meth:`start` tags the job with (no network)."""
        return self.spec.fingerprint()

    def estimate(self) -> CostEstimate:
        """Training tokens and cost, computed locally (no network)."""
        return self.spec.estimate()

    # --- plan and start ----------------------------------------------------------------------

    async def plan(self, *, check_service: bool = True) -> Plan:
        """What :meth:`start` would do, without doing it (read-only lookups with ``check_service``)."""
        plan = await asyncio.to_thread(self.spec.plan, check_service=False)
        if not check_service:
            return plan
        files = []
        for planned in plan.files:
            if planned.action == "upload" and planned.content_hash is not None:
                existing = await find_uploaded(self.ft, planned.content_hash, planned.size_bytes)
                if existing is not None:
                    files.append(dataclasses.replace(planned, action="reuse", file_id=existing.id, via=None))
                    continue
            files.append(planned)
        existing_job = await self._find_reusable(plan.fingerprint)
        return dataclasses.replace(plan, files=files,
                                   existing_job_id=existing_job.id if existing_job else None)

    async def _find_reusable(self, fp: str) -> AsyncJob | None:
        def live_or_succeeded(raw: dict[str, Any]) -> bool:
            status = JobStatus(str(raw.get("status") or "unknown"))
            return status.is_live or status == JobStatus.SUCCEEDED

        found = await safe_call(
            self.ft,
            lambda: scan_jobs(self.ft, {FINGERPRINT_KEY: fp}, keep=live_or_succeeded, want=1),
            what="look up jobs by fingerprint",
        )
        if not found:
            return None
        job = AsyncJob(self.ft, found[0])
        job.reused = True
        return job

    def _checked(self) -> tuple[TuningMethod, str]:
        """Local validation and the fingerprint (CPU work: run in a thread)."""
        spec = self.spec
        method = spec._method_or_default()
        spec._check_static(method)
        for report in spec._validate_local(method):
            if not report.valid:
                raise DatasetValidationError(report)
        return method, spec._fingerprint(method)

    async def start(self, force_new: bool = False, *,
                    on_progress: Callable[[str], None] | None = None) -> AsyncJob:
        """Validate locally, upload each file once, and create the job once (see
        :meth:`FineTuneBuilder.start <foundry_tune.job.FineTuneBuilder.start>`)."""
        say = on_progress or log.info
        method, fp = await asyncio.to_thread(self._checked)
        if not force_new:
            existing = await self._find_reusable(fp)
            if existing is not None:
                say(f"job {existing.id} ({existing.status}) already has this fingerprint: returning it "
                    "(start(force_new=True) starts another)")
                return existing
        await self._check_grader_with_service(method, say)
        assert self.spec.training is not None
        training_file = await self._provide(self.spec.training, say)
        validation = self.spec.validation
        validation_file = None if validation is None else await self._provide(validation, say)
        job = await self._create(method, fp, training_file, validation_file)
        say(f"started job {job.id} on {self.spec.model}")
        return job

    async def _check_grader_with_service(self, method: TuningMethod, say: Callable[[str], None]) -> None:
        grader = grader_to_check(method) if self.spec.grader_check else None
        if grader is None:
            return
        graders = self.ft.openai.fine_tuning.alpha.graders

        async def validate() -> Any:
            return await graders.validate(grader=cast(Any, grader))

        try:
            await safe_call(self.ft, validate, what=GRADER_CHECK)
        except ServiceError as exc:
            handle_failure(exc, say)
            return
        say("the service accepted the grader")

    async def _provide(self, source: Dataset | _RemoteFile, say: Callable[[str], None]) -> str:
        if isinstance(source, _RemoteFile):
            options = dataclasses.replace(self.spec.upload, not_found_grace=0.0)
            return (await wait_processed(self.ft, source.file_id, options)).id
        return (await upload_once(self.ft, source, self.spec.upload, on_progress=say)).id

    async def _create(self, method: TuningMethod, fp: str, training_file: str,
                      validation_file: str | None) -> AsyncJob:
        attempt_id = uuid.uuid4().hex
        kwargs = self.spec.create_kwargs(method, fp, attempt_id, training_file, validation_file)
        jobs = self.ft.openai.fine_tuning.jobs

        since = time.time()

        async def lookup() -> Any:
            found = await scan_jobs(self.ft, {FINGERPRINT_KEY: fp, ATTEMPT_KEY: attempt_id}, want=1)
            if not found:  # a service that drops job metadata: recognise the job by what it was made of
                keep = created_by_request(kwargs, since)
                found = await scan_jobs(self.ft, {}, keep=keep, want=1, limit=100)
            return found[0] if found else None

        async def create() -> Any:
            return await jobs.create(**kwargs)

        try:
            raw = await reconciled_create(self.ft, create, lookup,
                                          what=f"create fine-tuning job on {self.model}")
        except ServiceError as exc:
            raise with_hint(exc) from exc
        job = AsyncJob(self.ft, raw)
        if job.fingerprint is None:
            log.warning("the service did not keep the metadata of job %s: start() will not find it again by "
                        "fingerprint (it may start a new job for the same data)", job.id)
        return job
