"""``ft.fine_tune(model)``: the immutable builder that validates, uploads once and starts once."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import TrainingType, lookup_model, parse_training_type
from foundry_tune.errors import (
    DatasetError,
    DatasetValidationError,
    InvalidParameterError,
    ServiceError,
    UploadError,
)
from foundry_tune.job._calls import Connection, reconciled_create, safe_call
from foundry_tune.job._fingerprint import ATTEMPT_KEY, FINGERPRINT_KEY, RESERVED_PREFIX, fingerprint
from foundry_tune.job._grader_check import WHAT as GRADER_CHECK
from foundry_tune.job._grader_check import grader_to_check, handle_failure
from foundry_tune.job._hints import failure_hint
from foundry_tune.job._job import Job
from foundry_tune.job._jobs_api import created_by_request, scan_jobs
from foundry_tune.job._plan import Plan, PlannedFile
from foundry_tune.job._status import JobStatus
from foundry_tune.job._upload import (
    UploadOptions,
    clean_hash,
    find_uploaded,
    upload_name,
    upload_once,
    wait_processed,
)

if TYPE_CHECKING:
    from foundry_tune.dataset import CostEstimate, Dataset, ValidationReport
    from foundry_tune.methods import TuningMethod

__all__ = ["TRAINING_TYPES", "FineTuneBuilder"]

log = logging.getLogger("foundry_tune.job")

TRAINING_TYPES = tuple(t.value for t in TrainingType)
"""The documented training type names (see :class:`~foundry_tune.TrainingType` for the spellings
accepted and sent)."""
MAX_METADATA_PAIRS = 16
_RESERVED_PAIRS = 2  # fingerprint + attempt id
_FILE_ID = re.compile(r"^file[-_][A-Za-z0-9_-]+$")
MAX_UPLOAD_BYTES = 8 * 1024**3
"""The largest training file the service accepts (through the Uploads API)."""
_SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclasses.dataclass(frozen=True)
class _RemoteFile:
    file_id: str




def _as_source(data: object, role: str) -> Dataset | _RemoteFile:
    from foundry_tune.dataset import Dataset

    if isinstance(data, Dataset):
        return data
    if isinstance(data, str) and _FILE_ID.match(data) and not os.path.exists(data):
        return _RemoteFile(data)
    if isinstance(data, (str, os.PathLike)):
        return Dataset.from_jsonl(Path(data))
    file_id = getattr(data, "id", None)
    if getattr(data, "object", None) == "file" and isinstance(file_id, str):
        return _RemoteFile(file_id)
    raise InvalidParameterError(
        f"{role} data must be a Dataset, a path to a JSONL file or an uploaded file id ('file-...'), "
        f"got {type(data).__name__}"
    )


@dataclasses.dataclass(frozen=True)
class FineTuneBuilder:
    """Describes a fine-tuning job. Every method returns a new builder; nothing touches the
    service until :meth:`start` (or the read-only lookups of :meth:`plan`).

    >>> job = (ft.fine_tune("gpt-4.1-mini").train_on("train.jsonl").validate_on("val.jsonl")
    ...          .method(Supervised(n_epochs=3)).suffix("support").training_type("GlobalStandard")
    ...          .start())
    """

    ft: Connection = dataclasses.field(repr=False, compare=False)
    model: str
    training: Dataset | _RemoteFile | None = None
    validation: Dataset | _RemoteFile | None = None
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
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidParameterError("model must be a non-empty base model name, e.g. 'gpt-4.1-mini'")

    # --- describing the job ------------------------------------------------------------------

    def train_on(self, data: Dataset | str | os.PathLike[str] | Any) -> FineTuneBuilder:
        """Training data: a :class:`~foundry_tune.Dataset`, a JSONL path, or an uploaded file id."""
        return dataclasses.replace(self, training=_as_source(data, "training"))

    def validate_on(self, data: Dataset | str | os.PathLike[str] | Any) -> FineTuneBuilder:
        """Validation data (required for Reinforcement): Dataset, JSONL path or uploaded file id."""
        return dataclasses.replace(self, validation=_as_source(data, "validation"))

    def method(self, method: TuningMethod | str) -> FineTuneBuilder:
        """The training method: ``Supervised(...)`` (the default), ``DPO(...)`` or ``Reinforcement(...)``;
        ``"sft"`` / ``"dpo"`` mean that method with "auto" hyperparameters."""
        from foundry_tune.methods import DPO, Supervised, TuningMethod

        if isinstance(method, TuningMethod):
            return dataclasses.replace(self, tuning_method=method)
        kind = MethodKind(method) if isinstance(method, MethodKind) else None
        if kind is None and isinstance(method, str):
            from foundry_tune._method_kind import parse_method_kind

            kind = parse_method_kind(method)
        if kind == MethodKind.SUPERVISED:
            return dataclasses.replace(self, tuning_method=Supervised())
        if kind == MethodKind.DPO:
            return dataclasses.replace(self, tuning_method=DPO())
        raise InvalidParameterError(
            "Reinforcement needs a grader: pass Reinforcement(grader=...) instead of a method name"
        )

    def suffix(self, suffix: str) -> FineTuneBuilder:
        """A suffix for the tuned model's name: 1-64 letters, digits, ``-`` or ``_`` (no dots)."""
        if not isinstance(suffix, str) or not 1 <= len(suffix) <= 64:
            raise InvalidParameterError(f"suffix must be 1-64 characters, got {suffix!r}")
        if "." in suffix:
            raise InvalidParameterError(f"suffix must not contain dots, got {suffix!r}")
        if not _SUFFIX.match(suffix):
            raise InvalidParameterError(f"suffix may hold only letters, digits, '-' and '_': {suffix!r}")
        return dataclasses.replace(self, suffix_value=suffix)

    def seed(self, seed: int) -> FineTuneBuilder:
        """A seed for reproducible training."""
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
            raise InvalidParameterError(f"seed must be an integer between 0 and 2147483647, got {seed!r}")
        return dataclasses.replace(self, seed_value=seed)

    def metadata(self, pairs: Mapping[str, str] | None = None, /, **more: str) -> FineTuneBuilder:
        """Key/value tags for the job (merged with earlier ones). Keys up to 64 characters, values up
        to 512; at most 14 pairs (two of the service's 16 hold foundry-tune's fingerprint)."""
        if pairs is not None and not isinstance(pairs, Mapping):
            raise InvalidParameterError(
                f"metadata must be a mapping of str to str, got {type(pairs).__name__}")
        merged = dict(self.metadata_items)
        for key, value in {**dict(pairs or {}), **more}.items():
            if not isinstance(key, str) or not 1 <= len(key) <= 64:
                raise InvalidParameterError(f"metadata key must be 1-64 characters, got {key!r}")
            if key.startswith(RESERVED_PREFIX):
                raise InvalidParameterError(f"metadata key {key!r} is reserved: keys starting with "
                                            f"{RESERVED_PREFIX!r} belong to foundry-tune")
            if not isinstance(value, str) or len(value) > 512:
                raise InvalidParameterError(f"metadata value for {key!r} must be a string (<= 512 chars)")
            merged[key] = value
        limit = MAX_METADATA_PAIRS - _RESERVED_PAIRS
        if len(merged) > limit:
            raise InvalidParameterError(f"at most {limit} metadata pairs are allowed, got {len(merged)}")
        return dataclasses.replace(self, metadata_items=tuple(sorted(merged.items())))

    def training_type(self, training_type: str | TrainingType | None) -> FineTuneBuilder:
        """Azure's training tier, in any casing: ``"Standard"``, ``"GlobalStandard"`` (``"Global"``),
        ``"DataZone"`` (``"DataZoneStandard"``) or ``"Developer"`` (``"developerTier"``), or a
        :class:`~foundry_tune.TrainingType`. ``None`` (the default) sends no training type: the
        service then picks its default for the model. A type the catalog knows the model cannot
        be trained with is refused when the job is checked (``plan()``, ``start()``)."""
        if training_type is None:
            return dataclasses.replace(self, training_type_value=None)
        return dataclasses.replace(self, training_type_value=parse_training_type(training_type))

    def integrations(self, integrations: Sequence[Mapping[str, Any]]) -> FineTuneBuilder:
        """Integrations to pass through (e.g. Weights & Biases), at most 5."""
        items = tuple(dict(i) for i in integrations)
        if len(items) > 5:
            raise InvalidParameterError("at most 5 integrations are allowed")
        return dataclasses.replace(self, integrations_value=items)

    def upload_options(self, **options: Any) -> FineTuneBuilder:
        """Change how files are uploaded (see :class:`UploadOptions`): ``single_request_limit``,
        ``part_size``, ``parallel_parts``, ``processing_timeout``."""
        return dataclasses.replace(self, upload=dataclasses.replace(self.upload, **options))

    def strict_validation(self, strict: bool = True) -> FineTuneBuilder:
        """Treat validation warnings as errors before anything is uploaded."""
        return dataclasses.replace(self, strict=strict)

    def check_grader(self, check: bool = True) -> FineTuneBuilder:
        """Whether :meth:`start` asks the service's grader ``validate`` endpoint about a
        Reinforcement grader before anything is uploaded (on by default)."""
        return dataclasses.replace(self, grader_check=check)

    # --- local checks ------------------------------------------------------------------------

    def _method_or_default(self) -> TuningMethod:
        if self.tuning_method is not None:
            return self.tuning_method
        from foundry_tune.methods import Supervised

        return Supervised()

    def _check_static(self, method: TuningMethod) -> None:
        if self.training is None:
            raise InvalidParameterError("no training data: call .train_on(dataset_or_path_or_file_id) first")
        for source in (self.training, self.validation):
            # Checked from the size alone, before validation would read (and hash) the whole file.
            size = getattr(source, "size_bytes", 0)
            if size > MAX_UPLOAD_BYTES:
                name = getattr(source, "name", "the file")
                raise DatasetError(f"{name} is {size:,} bytes: the service accepts training files up to "
                                   f"8 GB ({MAX_UPLOAD_BYTES:,} bytes); split it")
        method.check_model(self.model)
        self._check_training_type()
        if method.kind == MethodKind.REINFORCEMENT and self.validation is None:
            raise InvalidParameterError("Reinforcement fine-tuning needs validation data: add .validate_on()")

    def _check_training_type(self) -> None:
        wanted = self.training_type_value
        info = lookup_model(self.model)
        if info is None:
            return
        able = [t.value for t in TrainingType if info.supports_training_type(t)]
        default_fits = info.supports_training_type(TrainingType.STANDARD)
        if wanted is None:
            # Without a trainingType the service applies its default, Standard (docs/jobs.md): a
            # model that does not train with it would be refused after the upload.
            if default_fits or not able:
                return
            raise InvalidParameterError(
                f"{self.model} needs a training type: without one the service applies Standard, and Foundry "
                f"trains {info.name} with {', '.join(able)} only; use .training_type({able[0]!r})"
            )
        if info.supports_training_type(wanted):
            return
        if able:
            advice = f"use .training_type({able[0]!r})"
            if default_fits:
                advice += " or leave it unset for the service's default (Standard)"
        else:
            advice = "leave it unset for the service's default"
        raise InvalidParameterError(
            f"{self.model} cannot be trained with training type {wanted.value}: Foundry trains "
            f"{info.name} with {', '.join(able) or '(none listed)'}; {advice}"
        )

    def _validate_local(self, method: TuningMethod) -> list[ValidationReport]:
        from foundry_tune.dataset import Dataset

        grader = getattr(method, "grader", None)
        reports: list[ValidationReport] = []
        validation = self.validation if isinstance(self.validation, Dataset) else None
        if isinstance(self.training, Dataset):
            reports.append(self.training.validate(method, model=self.model, grader=grader, strict=self.strict,
                                                  validation=validation))
        if validation is not None:
            reports.append(validation.validate(method, model=self.model, grader=grader, strict=self.strict))
        return reports

    def _fingerprint(self, method: TuningMethod) -> str:
        return fingerprint(
            model=self.model,
            training=_data_key(self.training),
            validation=None if self.validation is None else _data_key(self.validation),
            method=method.to_wire(),
            suffix=self.suffix_value,
            seed=self.seed_value,
            training_type=None if self.training_type_value is None else self.training_type_value.value,
        )

    def fingerprint(self) -> str:
        """The fingerprint :meth:`start` tags the job with (hashes the data; no network)."""
        method = self._method_or_default()
        self._check_static(method)
        return self._fingerprint(method)

    def estimate(self) -> CostEstimate:
        """Training tokens and cost of the job, computed locally from the training data (no network)."""
        from foundry_tune.dataset import Dataset

        method = self._method_or_default()
        self._check_static(method)
        if not isinstance(self.training, Dataset):
            raise InvalidParameterError("estimate() needs local training data, not an uploaded file id")
        report = self.training.validate(method, model=self.model)
        if report.estimate is None:
            raise InvalidParameterError(f"no estimate for {self.model}: {report.summary()}")
        return report.estimate

    # --- plan and start ----------------------------------------------------------------------

    def plan(self, *, check_service: bool = True) -> Plan:
        """What :meth:`start` would do, without doing it: validation results, which files it would
        upload or reuse (and how), and whether it would create a job or return an existing one.
        With ``check_service`` it looks (read-only) for reusable files and jobs."""
        from foundry_tune.dataset import Dataset

        method = self._method_or_default()
        self._check_static(method)
        reports = self._validate_local(method)
        fp = self._fingerprint(method)
        files: list[PlannedFile] = []
        for role, source in (("training", self.training), ("validation", self.validation)):
            if source is None:
                continue
            if isinstance(source, _RemoteFile):
                files.append(PlannedFile(role, source.file_id, None, None, "use", source.file_id, None))
                continue
            assert isinstance(source, Dataset)
            digest = clean_hash(source.content_hash())
            size = source.size_bytes
            existing = find_uploaded(self.ft, digest, size) if check_service else None
            large = size > self.upload.single_request_limit
            via: Literal["files", "uploads"] = "uploads" if large else "files"
            if existing is not None:
                files.append(PlannedFile(role, source.name, size, digest, "reuse", existing.id, None))
            else:
                name = upload_name(source.name, digest)
                files.append(PlannedFile(role, name, size, digest, "upload", None, via))
        existing_job = self._find_reusable(fp) if check_service else None
        estimate = None
        if isinstance(self.training, Dataset):
            try:
                estimate = self.estimate()
            except Exception as exc:  # an estimate is a courtesy; the plan stands without it
                log.debug("no estimate: %s", exc)
        return Plan(
            model=self.model,
            method=method.to_wire(),
            training_type=self.training_type_value,
            suffix=self.suffix_value,
            seed=self.seed_value,
            metadata=dict(self.metadata_items),
            fingerprint=fp,
            files=files,
            existing_job_id=existing_job.id if existing_job else None,
            reports=reports,
            estimate=estimate,
            checks_grader=self.grader_check and grader_to_check(method) is not None,
        )

    def _find_reusable(self, fp: str) -> Job | None:
        def live_or_succeeded(raw: dict[str, Any]) -> bool:
            status = JobStatus(str(raw.get("status") or "unknown"))
            return status.is_live or status == JobStatus.SUCCEEDED

        found = safe_call(
            self.ft,
            lambda: scan_jobs(self.ft, {FINGERPRINT_KEY: fp}, keep=live_or_succeeded, want=1),
            what="look up jobs by fingerprint",
        )
        if not found:
            return None
        job = Job(self.ft, found[0])
        job.reused = True
        return job

    def start(self, force_new: bool = False, *, on_progress: Callable[[str], None] | None = None) -> Job:
        """Validate locally, upload each file once, and create the job once.

        1. The data is validated first: invalid data raises
           :class:`~foundry_tune.errors.DatasetValidationError` and nothing is uploaded.
        2. Unless ``force_new``, a live or succeeded job with the same fingerprint (model, data
           hashes, method, suffix, seed, training type) is returned instead of a new one.
        3. Files already uploaded with the same content are reused; large ones go through the
           Uploads API. A file the service rejects raises :class:`~foundry_tune.errors.UploadError`.
        4. For Reinforcement, the service's grader ``validate`` endpoint is asked first: a rejection
           raises :class:`~foundry_tune.errors.GraderError` before any upload
           (``.check_grader(False)`` skips it).
        5. The create call is never repeated blindly: after an ambiguous failure the job is looked
           up by fingerprint first.

        ``on_progress`` receives one line per step (defaults to the ``foundry_tune.job`` logger).
        """
        say = on_progress or log.info
        method = self._method_or_default()
        self._check_static(method)
        for report in self._validate_local(method):
            if not report.valid:
                raise DatasetValidationError(report)
        fp = self._fingerprint(method)
        if not force_new:
            existing = self._find_reusable(fp)
            if existing is not None:
                say(f"job {existing.id} ({existing.status}) already has this fingerprint: returning it "
                    "(start(force_new=True) starts another)")
                return existing
        self._check_grader_with_service(method, say)
        assert self.training is not None
        training_file = self._provide(self.training, say)
        validation_file = None if self.validation is None else self._provide(self.validation, say)
        job = self._create(method, fp, training_file, validation_file)
        say(f"started job {job.id} on {self.model}")
        return job

    def _check_grader_with_service(self, method: TuningMethod, say: Callable[[str], None]) -> None:
        grader = grader_to_check(method) if self.grader_check else None
        if grader is None:
            return
        validate = self.ft.openai.fine_tuning.alpha.graders.validate
        try:
            safe_call(self.ft, lambda: validate(grader=cast(Any, grader)), what=GRADER_CHECK)
        except ServiceError as exc:
            handle_failure(exc, say)
            return
        say("the service accepted the grader")

    def _provide(self, source: Dataset | _RemoteFile, say: Callable[[str], None]) -> str:
        if isinstance(source, _RemoteFile):
            options = dataclasses.replace(self.upload, not_found_grace=0.0)
            remote = wait_processed(self.ft, source.file_id, options)
            if remote.purpose != "fine-tune":
                raise UploadError(f"file {source.file_id} was uploaded with purpose {remote.purpose!r}; "
                                  "fine-tuning needs purpose 'fine-tune': upload it again "
                                  "(train_on(path) does)", file_id=source.file_id)
            return remote.id
        return upload_once(self.ft, source, self.upload, on_progress=say).id

    def _create(self, method: TuningMethod, fp: str, training_file: str, validation_file: str | None) -> Job:
        attempt_id = uuid.uuid4().hex
        kwargs = self.create_kwargs(method, fp, attempt_id, training_file, validation_file)
        jobs = self.ft.openai.fine_tuning.jobs
        since = time.time()

        def lookup() -> Any:
            found = scan_jobs(self.ft, {FINGERPRINT_KEY: fp, ATTEMPT_KEY: attempt_id}, want=1)
            if not found:  # a service that drops job metadata: recognise the job by what it was made of
                found = scan_jobs(self.ft, {}, keep=created_by_request(kwargs, since), want=1, limit=100)
            return found[0] if found else None

        try:
            raw = reconciled_create(self.ft, lambda: jobs.create(**kwargs), lookup,
                                    what=f"create fine-tuning job on {self.model}")
        except ServiceError as exc:
            raise with_hint(exc) from exc
        job = Job(self.ft, raw)
        if job.fingerprint is None:
            log.warning("the service did not keep the metadata of job %s: start() will not find it again by "
                        "fingerprint (it may start a new job for the same data)", job.id)
        return job

    def create_kwargs(self, method: TuningMethod, fp: str, attempt_id: str, training_file: str,
                      validation_file: str | None) -> dict[str, Any]:
        """The ``fine_tuning.jobs.create`` arguments (shared by the sync and async start)."""
        metadata = {**dict(self.metadata_items), FINGERPRINT_KEY: fp, ATTEMPT_KEY: attempt_id}
        kwargs: dict[str, Any] = {
            "model": self.model,
            "training_file": training_file,
            "method": method.to_wire(),
            "metadata": metadata,
        }
        if validation_file is not None:
            kwargs["validation_file"] = validation_file
        if self.suffix_value is not None:
            kwargs["suffix"] = self.suffix_value
        if self.seed_value is not None:
            kwargs["seed"] = self.seed_value
        if self.integrations_value:
            kwargs["integrations"] = [dict(i) for i in self.integrations_value]
        if self.training_type_value is not None:  # unset: no trainingType, the service's default
            kwargs["extra_body"] = {"trainingType": self.training_type_value.wire}
        return kwargs


def _data_key(source: Dataset | _RemoteFile | None) -> str:
    if isinstance(source, _RemoteFile):
        return f"file:{source.file_id}"
    assert source is not None
    return "sha256:" + clean_hash(source.content_hash())


def with_hint(exc: ServiceError) -> ServiceError:
    hint = failure_hint(exc.code, exc.message)
    if hint is None:
        return exc
    try:
        return type(exc)(f"{exc.message}\nhint: {hint}", status=exc.status, code=exc.code, param=exc.param,
                         request_id=exc.request_id)
    except TypeError:
        return exc
