"""The job description a builder holds without a connection: [`JobSpec`][JobSpec].

Everything ``ft.fine_tune(model)...`` knows before it talks to the service lives here: the model,
the data sources, the method, suffix, seed, metadata, training type, integrations, upload options
and checks; the argument checks, the local validation, the fingerprint, the cost estimate, the
offline plan and the ``fine_tuning.jobs.create`` arguments. The builders (sync and async, one
source) wrap a connection around it and add the network steps.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundry_tune._core.file_import import FileURL, looks_like_url
from foundry_tune._core.fingerprint import ATTEMPT_KEY, FINGERPRINT_KEY, RESERVED_PREFIX, fingerprint
from foundry_tune._core.grader_check import grader_to_check
from foundry_tune._core.hints import failure_hint
from foundry_tune._core.plan import Plan, PlannedFile
from foundry_tune._core.upload import (
    UploadOptions,
    clean_hash,
    upload_name,
    upload_route,
    with_upload_options,
)
from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import TrainingType, lookup_model, parse_training_type
from foundry_tune.errors import DatasetError, DatasetValidationError, InvalidParameterError, ServiceError
from foundry_tune.methods import show_value

if TYPE_CHECKING:
    from foundry_tune.dataset import CostEstimate, Dataset, ValidationReport
    from foundry_tune.methods import TuningMethod

__all__ = [
    "MAX_METADATA_PAIRS",
    "MAX_UPLOAD_BYTES",
    "TRAINING_TYPES",
    "JobSpec",
    "as_source",
    "is_file_id",
    "looks_like_file_id",
    "with_hint",
]

log = logging.getLogger("foundry_tune.job")

TRAINING_TYPES = tuple(t.value for t in TrainingType)
"""The documented training type names (see [`TrainingType`][TrainingType] for the spellings
accepted and sent)."""
MAX_METADATA_PAIRS = 16
_RESERVED_PAIRS = 2  # fingerprint + attempt id
_FILE_ID = re.compile(r"file[-_][A-Za-z0-9_-]+")  # always fullmatch: "$" also matches before a final "\n"
MAX_UPLOAD_BYTES = 8 * 1024**3
"""The largest training file the service accepts (through the Uploads API)."""
_SUFFIX = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_INTEGRATIONS = 5
_WANDB_TEXT_FIELDS = ("project", "name", "entity")


@dataclasses.dataclass(frozen=True)
class _RemoteFile:
    """A file already uploaded, given by its id."""

    file_id: str



def looks_like_file_id(text: str) -> bool:
    """Whether ``text`` has the shape of an uploaded file's id (``file-...``, the whole of it)."""
    return _FILE_ID.fullmatch(text) is not None


def is_file_id(text: str) -> bool:
    """Whether ``text`` names an uploaded file rather than a local path: it looks like a file id and
    no such local file exists."""
    return looks_like_file_id(text) and not os.path.exists(text)


def as_source(data: object, role: str) -> Dataset | _RemoteFile | FileURL:
    """What ``train_on`` / ``validate_on`` accept, as a Dataset, a remote file id or a URL for the
    service's file import ([`FileURL`][FileURL]; a string starting with ``https://`` is one)."""
    from foundry_tune.dataset import Dataset

    if isinstance(data, (Dataset, FileURL)):
        return data
    if isinstance(data, str) and looks_like_url(data):
        return FileURL(data)
    if isinstance(data, str) and is_file_id(data):
        return _RemoteFile(data)
    if isinstance(data, str) and looks_like_file_id(data.strip()) and not os.path.exists(data):
        raise InvalidParameterError(
            f"{role} file id {show_value(data)} has surrounding whitespace (a trailing newline?): "
            f"use {data.strip()!r}"
        )
    if isinstance(data, (str, os.PathLike)):
        return Dataset.from_jsonl(Path(data))
    file_id = getattr(data, "id", None)
    if getattr(data, "object", None) == "file" and isinstance(file_id, str):
        return _RemoteFile(file_id)
    raise InvalidParameterError(
        f"{role} data must be a Dataset, a path to a JSONL file, an uploaded file id ('file-...') or an "
        f"https:// URL for the service's file import, got {type(data).__name__}"
    )


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """An immutable description of one fine-tuning job; every ``with``-style method returns a new one.

    The methods named like the builder's (``train_on``, ``suffix``, ...) check their arguments the
    same way and return a new spec; nothing here does network I/O (local files are read to
    validate and hash them).
    """

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
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidParameterError("model must be a non-empty base model name, e.g. 'gpt-4.1-mini'")
        if self.model != self.model.strip() or not self.model.isprintable():
            raise InvalidParameterError(
                f"model {show_value(self.model)} has whitespace around it or a control character "
                f"(a trailing newline?): use {self.model.strip()!r}"
            )

    def fields(self) -> dict[str, Any]:
        """The spec's fields by name (what a builder holds beside its connection)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    # --- describing the job ------------------------------------------------------------------

    def train_on(self, data: Dataset | str | os.PathLike[str] | Any) -> JobSpec:
        """Training data: a Dataset, a JSONL path, an uploaded file id, or a URL the service imports
        (``"https://..."`` or a [`FileURL`][FileURL])."""
        return dataclasses.replace(self, training=as_source(data, "training"))

    def validate_on(self, data: Dataset | str | os.PathLike[str] | Any) -> JobSpec:
        """Validation data: a Dataset, a JSONL path, an uploaded file id, or a URL the service imports."""
        return dataclasses.replace(self, validation=as_source(data, "validation"))

    def method(self, method: TuningMethod | str) -> JobSpec:
        """The training method (a TuningMethod, or ``"sft"`` / ``"dpo"`` with "auto" hyperparameters)."""
        from foundry_tune._method_kind import parse_method_kind
        from foundry_tune.methods import DPO, Supervised, TuningMethod

        if isinstance(method, TuningMethod):
            return dataclasses.replace(self, tuning_method=method)
        kind = MethodKind(method) if isinstance(method, MethodKind) else None
        if kind is None and isinstance(method, str):
            kind = parse_method_kind(method)
        if kind == MethodKind.SUPERVISED:
            return dataclasses.replace(self, tuning_method=Supervised())
        if kind == MethodKind.DPO:
            return dataclasses.replace(self, tuning_method=DPO())
        raise InvalidParameterError(
            "Reinforcement needs a grader: pass Reinforcement(grader=...) instead of a method name"
        )

    def suffix(self, suffix: str) -> JobSpec:
        """A suffix for the tuned model's name: 1-64 letters, digits, ``-`` or ``_`` (no dots)."""
        if not isinstance(suffix, str) or not 1 <= len(suffix) <= 64:
            raise InvalidParameterError(f"suffix must be 1-64 characters, got {show_value(suffix)}")
        if "." in suffix:
            raise InvalidParameterError(f"suffix must not contain dots, got {suffix!r}")
        if not _SUFFIX.fullmatch(suffix):
            raise InvalidParameterError(
                f"suffix may hold only letters, digits, '-' and '_' (no spaces or newlines): {suffix!r}"
            )
        return dataclasses.replace(self, suffix_value=suffix)

    def seed(self, seed: int) -> JobSpec:
        """A seed for reproducible training (0 to 2**31 - 1)."""
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
            raise InvalidParameterError(
                f"seed must be an integer between 0 and 2147483647, got {show_value(seed)}"
            )
        return dataclasses.replace(self, seed_value=seed)

    def metadata(self, pairs: Mapping[str, str] | None = None, /, **more: str) -> JobSpec:
        """Key/value tags merged with earlier ones (keys 1-64 characters, values up to 512, at
        most 14 pairs; keys starting with ``foundry_tune_`` are reserved)."""
        if pairs is not None and not isinstance(pairs, Mapping):
            raise InvalidParameterError(
                f"metadata must be a mapping of str to str, got {type(pairs).__name__}")
        merged = dict(self.metadata_items)
        for key, value in {**dict(pairs or {}), **more}.items():
            if not isinstance(key, str) or not 1 <= len(key) <= 64:
                raise InvalidParameterError(f"metadata key must be 1-64 characters, got {show_value(key)}")
            if key != key.strip() or not key.isprintable():
                raise InvalidParameterError(
                    f"metadata key {key!r} has whitespace around it or a control character "
                    "(a trailing newline?)"
                )
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

    def training_type(self, training_type: str | TrainingType | None) -> JobSpec:
        """Azure's training tier in any casing, a TrainingType, or None for the service's default."""
        if training_type is None:
            return dataclasses.replace(self, training_type_value=None)
        return dataclasses.replace(self, training_type_value=parse_training_type(training_type))

    def integrations(self, integrations: Sequence[Mapping[str, Any]]) -> JobSpec:
        """Integrations to pass through, at most 5; the service knows one type, Weights & Biases:
        ``{"type": "wandb", "wandb": {"project": str, "name"?: str, "entity"?: str, "tags"?: [str]}}``."""
        if isinstance(integrations, (str, bytes, Mapping)) or not isinstance(integrations, Sequence):
            raise InvalidParameterError(
                f"integrations must be a list of integration objects, got {type(integrations).__name__}"
            )
        if len(integrations) > _MAX_INTEGRATIONS:
            raise InvalidParameterError(
                f"at most {_MAX_INTEGRATIONS} integrations are allowed, got {len(integrations)}"
            )
        items = tuple(_check_integration(index, item) for index, item in enumerate(integrations))
        return dataclasses.replace(self, integrations_value=items)

    def upload_options(self, **options: Any) -> JobSpec:
        """Change how files are uploaded (the fields of [`UploadOptions`][UploadOptions])."""
        return dataclasses.replace(self, upload=with_upload_options(self.upload, options))

    def strict_validation(self, strict: bool = True) -> JobSpec:
        """Treat validation warnings as errors before anything is uploaded."""
        if not isinstance(strict, bool):
            raise InvalidParameterError(f"strict must be True or False, got {show_value(strict)}")
        return dataclasses.replace(self, strict=strict)

    def check_grader(self, check: bool = True) -> JobSpec:
        """Whether the service's grader ``validate`` endpoint is asked before any upload."""
        if not isinstance(check, bool):
            raise InvalidParameterError(f"check must be True or False, got {show_value(check)}")
        return dataclasses.replace(self, grader_check=check)

    # --- local checks ------------------------------------------------------------------------

    def method_or_default(self) -> TuningMethod:
        """The method asked for, or ``Supervised()``."""
        if self.tuning_method is not None:
            return self.tuning_method
        from foundry_tune.methods import Supervised

        return Supervised()

    def check_static(self, method: TuningMethod) -> None:
        """The checks that read no data: training data given, file sizes, model, method, training type."""
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

    def validate_local(self, method: TuningMethod) -> list[ValidationReport]:
        """Validation reports of the local data (a remote file id is checked by the service)."""
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

    def fingerprint_for(self, method: TuningMethod) -> str:
        """The fingerprint of this job with ``method`` (hashes the local data)."""
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
        """The fingerprint ``start()`` tags the job with (hashes the data; no network)."""
        method = self.method_or_default()
        self.check_static(method)
        return self.fingerprint_for(method)

    def checked(self) -> tuple[TuningMethod, str]:
        """What ``start()`` does before any network call: the static checks, local validation
        (invalid data raises [`DatasetValidationError`][DatasetValidationError]) and the
        fingerprint. Returns the method and the fingerprint."""
        method = self.method_or_default()
        self.check_static(method)
        for report in self.validate_local(method):
            if not report.valid:
                raise DatasetValidationError(report)
        return method, self.fingerprint_for(method)

    def estimate(self) -> CostEstimate:
        """Training tokens and cost of the job, computed locally from the training data (no network)."""
        from foundry_tune.dataset import Dataset

        method = self.method_or_default()
        self.check_static(method)
        if not isinstance(self.training, Dataset):
            raise InvalidParameterError(
                "estimate() needs local training data, not an uploaded file id or a URL")
        report = self.training.validate(method, model=self.model)
        if report.estimate is None:
            raise InvalidParameterError(f"no estimate for {self.model}: {report.summary()}")
        return report.estimate

    def offline_plan(self) -> Plan:
        """The plan without asking the service: every local file would be uploaded and a job
        created (the builder's ``plan()`` then looks for reusable files and jobs)."""
        from foundry_tune.dataset import Dataset

        method = self.method_or_default()
        self.check_static(method)
        reports = self.validate_local(method)
        fp = self.fingerprint_for(method)
        files: list[PlannedFile] = []
        for role, source in (("training", self.training), ("validation", self.validation)):
            if source is None:
                continue
            if isinstance(source, _RemoteFile):
                files.append(PlannedFile(role, source.file_id, None, None, "use", source.file_id, None))
                continue
            if isinstance(source, FileURL):  # fetched by the service: not validated here
                files.append(PlannedFile(role, source.shown, None, None, "import", None, None))
                continue
            digest = clean_hash(source.content_hash())
            files.append(PlannedFile(role, upload_name(source.name, digest), source.size_bytes, digest,
                                     "upload", None, upload_route(source.size_bytes, self.upload)))
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
            existing_job_id=None,
            reports=reports,
            estimate=estimate,
            checks_grader=self.grader_to_check(method) is not None,
        )

    def reusing(self, planned: PlannedFile, file_id: str) -> PlannedFile:
        """``planned`` (an upload) as the reuse of ``file_id``, a file already uploaded with the
        same content (listed under its source's name, as ``start()`` reports it)."""
        source = self.training if planned.role == "training" else self.validation
        return dataclasses.replace(planned, name=getattr(source, "name", planned.name), action="reuse",
                                   file_id=file_id, via=None)

    def grader_to_check(self, method: TuningMethod) -> dict[str, Any] | None:
        """The wire grader to ask the service about before any upload (None: no check)."""
        return grader_to_check(method) if self.grader_check else None

    def create_kwargs(self, method: TuningMethod, fp: str, attempt_id: str, training_file: str,
                      validation_file: str | None) -> dict[str, Any]:
        """The ``fine_tuning.jobs.create`` arguments."""
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


def _check_integration(index: int, item: object) -> dict[str, Any]:
    """One integration, checked as the service's schema describes it (every problem names its field)."""
    where = f"integrations[{index}]"
    shape = '{"type": "wandb", "wandb": {"project": "..."}}'
    if not isinstance(item, Mapping):
        raise InvalidParameterError(f"{where} must be an object such as {shape}, got {type(item).__name__}")
    if item.get("type") != "wandb":
        raise InvalidParameterError(
            f"{where}.type must be 'wandb' (the only integration the service knows), "
            f"got {show_value(item.get('type'))}"
        )
    unknown = sorted(key if isinstance(key, str) else show_value(key)
                     for key in item if key not in ("type", "wandb"))
    if unknown:
        raise InvalidParameterError(f"{where} has unknown key(s) {', '.join(unknown)}: use {shape}")
    wandb = item.get("wandb")
    if not isinstance(wandb, Mapping):
        raise InvalidParameterError(f"{where}.wandb must be an object with a 'project', got "
                                    f"{type(wandb).__name__}")
    project = wandb.get("project")
    if not isinstance(project, str) or not project.strip():
        raise InvalidParameterError(f"{where}.wandb.project must be a non-empty string, got "
                                    f"{show_value(project)}")
    for key, value in wandb.items():
        field = f"{where}.wandb.{key}"
        if key in _WANDB_TEXT_FIELDS:
            if value is not None and not isinstance(value, str):
                raise InvalidParameterError(f"{field} must be a string, got {type(value).__name__}")
        elif key == "tags":
            if not isinstance(value, (list, tuple)) or not all(isinstance(tag, str) for tag in value):
                raise InvalidParameterError(f"{field} must be a list of strings")
        else:
            raise InvalidParameterError(
                f"{where}.wandb has an unknown key {show_value(key)}: it takes project, name, entity, tags"
            )
    checked = {**dict(wandb), **({"tags": list(wandb["tags"])} if "tags" in wandb else {})}
    return {"type": "wandb", "wandb": checked}


def _data_key(source: Dataset | _RemoteFile | FileURL | None) -> str:
    if isinstance(source, _RemoteFile):
        return f"file:{source.file_id}"
    if isinstance(source, FileURL):  # the URL without its query, and the name: see FileURL.key
        return f"import:{source.key}"
    assert source is not None
    return "sha256:" + clean_hash(source.content_hash())


def with_hint(exc: ServiceError) -> ServiceError:
    """``exc`` with a hint for a known failure appended to its message (the same error type)."""
    hint = failure_hint(exc.code, exc.message)
    if hint is None:
        return exc
    try:
        return type(exc)(f"{exc.message}\nhint: {hint}", status=exc.status, code=exc.code, param=exc.param,
                         request_id=exc.request_id)
    except TypeError:
        return exc
