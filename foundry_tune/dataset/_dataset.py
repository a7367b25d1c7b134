"""``Dataset``: a JSONL training file, read lazily and streamed, never held in memory."""

from __future__ import annotations

import dataclasses
import os
import shutil
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from foundry_tune._method_kind import parse_method_kind
from foundry_tune._redact import mask_url
from foundry_tune.dataset import _parallel as parallel
from foundry_tune.dataset._grader_refs import grader_needs, is_json_response_format
from foundry_tune.dataset._hashing import Stamp, open_hashing, stamp_of
from foundry_tune.dataset._parallel import (
    Parallel,
    Workers,
    plan_ranges,
    resolve_workers,
    stable_key,
    worker_context,
)
from foundry_tune.dataset._spool import is_missing, plain, remove_quietly, spool_records
from foundry_tune.dataset._validator import Check, example_key, iter_records, line_keys, run_validation
from foundry_tune.errors import DatasetError, DatasetValidationError, InvalidParameterError

if TYPE_CHECKING:
    from azure.core.credentials import AzureKeyCredential, TokenCredential

    from foundry_tune.dataset._cost import CostEstimate
    from foundry_tune.dataset._report import ValidationReport
    from foundry_tune.dataset._safety_check import SafetyCheckReport

# `Dataset.split()` and `Dataset.safety_check()` import their modules when called: validating needs
# neither (the safety check's module alone is ~10 ms of imports).
_DEFAULT_SAFETY_THRESHOLD = 2
"""``DEFAULT_THRESHOLD`` of ``foundry_tune.dataset._safety_check`` (a test checks they agree)."""

__all__ = ["Dataset", "validate_file"]

_HASH_BLOCK = 1 << 20
PathLike = str | os.PathLike[str]


class Dataset:
    """A fine-tuning data file. Build one with [`from_jsonl()`][from_jsonl], [`from_records()`][from_records],
    [`from_pandas()`][from_pandas] or [`from_hf()`][from_hf]; nothing is loaded into memory.

    A dataset read from a file uploads that file's bytes unchanged; one built from records is
    written once, as canonical JSONL, to a private temporary file that goes away with the object.
    """

    def __init__(self, file: Path, *, name: str, owned: bool) -> None:
        """Prefer the ``from_*`` constructors. ``owned`` files are deleted with the object."""
        self._file = file
        self._name = name
        self._owned = owned
        self._hash: tuple[Stamp, str] | None = None
        self._validated_hash: str | None = None
        self._too_few_advice: str | None = None  # set on a part of split(): the fraction that gives enough
        if owned:
            weakref.finalize(self, remove_quietly, file)

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def from_jsonl(cls, path: PathLike, *, name: str | None = None) -> Dataset:
        """A dataset backed by a JSONL file on disk (uploaded as it is, byte for byte)."""
        if not isinstance(path, (str, os.PathLike)):
            raise DatasetError(f"from_jsonl needs a file path (str or Path), got {type(path).__name__}")
        file = Path(path)
        try:
            exists, is_file = file.exists(), file.is_file()
        except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte or a name too long
            raise DatasetError(f"cannot use {mask_url(str(path))!r} as a file path: {exc}") from None
        if not exists:  # the name as given: a URL mistaken for a path may carry a SAS key
            raise DatasetError(f"no such file: {mask_url(str(path))}")
        if not is_file:
            raise DatasetError(f"not a file: {mask_url(str(path))}")
        return cls(file, name=name or file.name, owned=False)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], *, name: str = "dataset.jsonl") -> Dataset:
        """A dataset from dicts (one per example), streamed to canonical JSONL as they come."""
        return cls(spool_records(records, name), name=name, owned=True)

    @classmethod
    def from_pandas(cls, df: Any, *, name: str = "dataset.jsonl") -> Dataset:
        """A dataset from a pandas DataFrame: one example per row, one key per column.
        Empty cells (None, NaN, NA) are left out of their row; numpy values become plain JSON."""
        if not hasattr(df, "itertuples") or not hasattr(df, "columns"):
            raise DatasetError(f"from_pandas needs a pandas DataFrame, got {type(df).__name__}")
        columns = [str(c) for c in df.columns]

        def rows() -> Iterator[dict[str, Any]]:
            for values in df.itertuples(index=False, name=None):
                yield {col: plain(v) for col, v in zip(columns, values, strict=True) if not is_missing(v)}

        return cls(spool_records(rows(), name), name=name, owned=True)

    @classmethod
    def from_hf(cls, ds: Any, *, name: str = "dataset.jsonl") -> Dataset:
        """A dataset from a Hugging Face ``datasets.Dataset`` (pick a split of a ``DatasetDict``).
        Keys that Arrow filled with None (struct fields a row does not have) are left out."""
        if isinstance(ds, Mapping):
            splits = ", ".join(repr(k) for k in ds)
            raise DatasetError(
                f"from_hf needs one split, not a DatasetDict: use ds[...] with one of {splits}"
            )
        if not isinstance(ds, Iterable):
            raise DatasetError(f"from_hf needs a datasets.Dataset, got {type(ds).__name__}")
        return cls(spool_records((plain(row, drop_none=True) for row in ds), name), name=name, owned=True)

    # -- the bytes -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The file name to upload with."""
        return self._name

    @property
    def path(self) -> Path | None:
        """The file this dataset reads, or None when it was built from records."""
        return None if self._owned else self._file

    @property
    def size_bytes(self) -> int:
        """The size of the upload, in bytes."""
        return self._stat().st_size

    def open_upload(self) -> IO[bytes]:
        """A binary stream of exactly the bytes to upload."""
        try:
            return open(self._file, "rb")
        except OSError as exc:
            raise DatasetError(f"cannot read {self._file}: {exc.strerror or exc}") from None

    def content_hash(self) -> str:
        """SHA-256 (hex) of exactly the upload bytes: equal hashes, equal files.

        A validation pass hashes the bytes it checks, so after [`validate()`][validate] this reads nothing
        unless the file changed on disk since (its size, modification or change time, or inode)."""
        stamp = stamp_of(self._stat())
        cached = self._hash
        if cached is not None and cached[0] == stamp:
            return cached[1]
        found: list[str] = []
        with self._open_hashing(validated=False, found=found) as stream:
            while stream.read(_HASH_BLOCK):
                pass
        return found[0]

    @property
    def validated_hash(self) -> str | None:
        """SHA-256 (hex) of the bytes the last complete [`validate()`][validate] pass read (None before
        one): an upload refuses bytes with another hash
        ([`DataChangedError`][DataChangedError])."""
        return self._validated_hash

    def _open_hashing(self, *, validated: bool, found: list[str] | None = None) -> IO[bytes]:
        """The upload bytes, hashed as they are read: a read to the end records the hash (for
        [`content_hash()`][content_hash] while the file is unchanged, and as
        [`validated_hash`][validated_hash] when
        ``validated``)."""

        def done(digest: str, stamp: Stamp | None) -> None:
            if stamp is not None:
                self._hash = (stamp, digest)
            if validated:
                self._validated_hash = digest
            if found is not None:
                found.append(digest)

        try:
            return open_hashing(self._file, done)
        except OSError as exc:
            raise DatasetError(f"cannot read {self._file}: {exc.strerror or exc}") from None

    def to_jsonl(self, path: PathLike) -> Path:
        """Write the upload bytes to ``path``; return it."""
        target = Path(path)
        if target.exists() and target.resolve() == self._file.resolve():
            return target
        with self.open_upload() as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, _HASH_BLOCK)
        return target

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every example, parsed, one at a time. Blank lines are skipped; a line that is not a
        JSON object raises [`DatasetError`][DatasetError] naming it."""
        for number, record, problem in iter_records(self.open_upload):
            if record is None:
                raise DatasetError(f"{self._name}, line {number}: {problem}")
            yield record

    # -- checks ----------------------------------------------------------------------------

    def validate(
        self,
        method: object = None,
        *,
        model: str | None = None,
        grader: object = None,
        strict: bool = False,
        validation: Dataset | PathLike | None = None,
        response_format: object = None,
        workers: Workers = "auto",
    ) -> ValidationReport:
        """Check every example against the rules of ``method`` (``"sft"``, ``"dpo"``, ``"rft"``,
        a [`MethodKind`][MethodKind] or a method object; None detects it from the first example).

        ``model`` sets the token limit, tokenizer and prices; ``grader`` (a grader, a dict or a
        JSON file path) and ``response_format`` are checked against RFT rows (a
        ``Reinforcement`` method brings its own); ``strict`` turns over-long examples into errors;
        ``validation`` (another dataset or path) is checked for examples shared with this one.

        ``workers``: how many processes share the work, each reading its own part of the file (cut
        on line boundaries); the report is the same as from one process, every finding with its
        line. ``"auto"`` (the default) runs one per usable core for files of 16 MB per core or
        more (64 MB when this process has threads, as in a notebook: it then starts its workers as
        new interpreters, which take longer to start than forked ones), and validates smaller files
        in this process; ``1`` always validates in this process; a number, that many processes.
        """
        workers = resolve_workers(workers)
        if model is not None and (not isinstance(model, str) or not model.strip() or model != model.strip()
                                  or not model.isprintable()):
            raise InvalidParameterError(f"model must be a base model name such as 'gpt-4.1-mini' (no "
                                        f"whitespace around it, no control character), got {model!r:.80}")
        kind = None if method is None else parse_method_kind(method)
        grader = grader if grader is not None else getattr(method, "grader", None)
        if response_format is None:
            response_format = getattr(method, "response_format", None)
        n_epochs = getattr(method, "n_epochs", "auto")
        context = worker_context() if workers != 1 else None
        ranges = []
        if context is not None:
            forks = context.get_start_method() == "fork"
            ranges = plan_ranges(self._file, workers,
                                 min_bytes=None if forks else parallel.MIN_BYTES_PER_NEW_INTERPRETER)
        several = len(ranges) > 1
        # Forked workers share this process's hash() key; a fork server's do not.
        stable = several and context is not None and context.get_start_method() != "fork"
        overlap = None
        if validation is not None:
            other = validation if isinstance(validation, Dataset) else Dataset.from_jsonl(validation)
            overlap = line_keys(other.open_upload, stable_key if stable else example_key)
        check = Check(
            method=kind,
            model=model,
            grader=grader_needs(grader) if grader is not None else None,
            json_response=is_json_response_format(response_format),
            strict=strict,
            overlap=overlap,
            n_epochs=n_epochs if isinstance(n_epochs, int) and not isinstance(n_epochs, bool) else "auto",
            too_few_advice=self._too_few_advice,
            stable_keys=stable,
        )
        label = str(self.path) if self.path else self._name
        if several:
            # The file is hashed apart from the workers' reads: the hash is that of the bytes checked
            # when nothing wrote to the file meanwhile (every write moves its change time).
            before = stamp_of(self._stat())
            report = run_validation(self.open_upload, label, check,
                                    Parallel(self._file, ranges, context, on_hash=self._hashed))
            if stamp_of(self._stat()) == before:
                return report
            # Changed while it was read: validate it again in one read, as one process does.
            self._hash = self._validated_hash = None
            check = dataclasses.replace(check, stable_keys=False, overlap=None if overlap is None else
                                        line_keys(other.open_upload, example_key))
        # The pass hashes what it reads: the hash of the upload is that of the bytes checked.
        return run_validation(lambda: self._open_hashing(validated=True), label, check)

    def _hashed(self, digest: str, stamp: Stamp | None) -> None:
        """Record the hash of a pass in several processes (the file is hashed apart from the
        workers' reads): `validated_hash`, and the content hash while the file is unchanged."""
        if stamp is not None:
            self._hash = (stamp, digest)
        self._validated_hash = digest

    def estimate(
        self, method: object, model: str, n_epochs: int | Literal["auto"] = "auto", *, grader: object = None
    ) -> CostEstimate:
        """What training ``model`` on this data with ``method`` will bill (validates first: raises
        [`DatasetValidationError`][DatasetValidationError] when the data would not train)."""
        report = self.validate(method, model=model, grader=grader).raise_for_errors()
        if report.tokens is None:
            raise DatasetValidationError(report)
        from foundry_tune.dataset._cost import estimate_cost

        return estimate_cost(report.tokens, model, report.method, n_epochs)

    def split(self, validation: float = 0.1, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Split into (train, validation) datasets: deterministic for a seed, streaming, and an
        example (even one repeated) is never in both parts. The order of lines is kept.

        The service takes no file with fewer than 10 examples: when a part has fewer, the split
        warns (`UserWarning`) with the sizes and the fraction that gives enough (e.g. 86 rows at
        `validation=0.1`: "the validation part has 9 examples; ... use validation=0.12 or more"),
        and validating that part (or `plan()` / `start()` of a job using it) says the same."""
        stem = Path(self._name).stem
        train_name, valid_name = f"{stem}-train.jsonl", f"{stem}-validation.jsonl"
        from foundry_tune.dataset._split import split_file

        result = split_file(self.open_upload, self._name, validation, seed)
        train = Dataset(result.train, name=train_name, owned=True)
        valid = Dataset(result.validation, name=valid_name, owned=True)
        shortfall = result.shortfall(self._name, validation, seed)
        if shortfall is not None:
            train._too_few_advice = result.part_advice("training", self._name, validation, seed)
            valid._too_few_advice = result.part_advice("validation", self._name, validation, seed)
            warnings.warn(shortfall, UserWarning, stacklevel=2)
        return train, valid

    def safety_check(
        self,
        endpoint: str | None = None,
        credential: str | AzureKeyCredential | TokenCredential | None = None,
        *,
        threshold: int | Mapping[str, int] = _DEFAULT_SAFETY_THRESHOLD,
        categories: Iterable[str] | None = None,
        out_dir: PathLike | None = None,
        concurrency: int = 4,
        timeout: float = 120.0,
    ) -> SafetyCheckReport:
        """Screen every row with your Azure AI Content Safety resource before training, and write
        the rows kept and dropped (needs the ``safety`` extra: ``pip install 'foundry-tune[safety]'``).

        The text of each row (every message; a DPO pair's prompt and both answers; a reinforcement
        prompt and its grader fields) is analyzed for Hate, SelfHarm, Sexual and Violence, in parts
        of at most 10,000 characters (the service's limit; a row keeps its worst part). A row with
        a severity at or over the threshold of a category is dropped. ``out_dir`` gets
        ``kept.jsonl`` (kept rows, each line byte for byte as here), ``dropped.jsonl`` (dropped
        rows, likewise) and ``safety_check.json`` (the report: the line and the categories and
        severities of every dropped row). The report's `kept` is the
        kept rows as a new `Dataset`.

        ```python
        report = Dataset.from_jsonl("train.jsonl").safety_check(
            "https://my-safety.cognitiveservices.azure.com", os.environ["AZURE_CONTENT_SAFETY_KEY"])
        print(report)             # counts per category, the dropped lines, the files
        job = ft.fine_tune("gpt-4.1-mini").train_on(report.kept).training_type("GlobalStandard").start()
        ```

        Every line must be a JSON object: a line that is not raises
        [`DatasetError`][DatasetError] before anything is sent. Throttling (429), server errors
        (5xx) and lost connections are retried, honouring ``Retry-After``, for at most ``timeout``
        seconds per request; then [`RateLimitError`][RateLimitError] or
        [`RetryBudgetExceededError`][RetryBudgetExceededError] is raised and no output file is left
        half written. The key never appears in a message, log line or report.

        :param endpoint: the resource's endpoint, ``https://<resource>.cognitiveservices.azure.com``
            (plain ``http://`` only to localhost); None reads ``AZURE_CONTENT_SAFETY_ENDPOINT``.
        :param credential: the resource's key (a string or an ``AzureKeyCredential``) or a
            ``TokenCredential`` (e.g. ``DefaultAzureCredential()``, with the "Cognitive Services
            User" role); None reads the key from ``AZURE_CONTENT_SAFETY_KEY``.
        :param threshold: the severity (1 to 7; 2 Low, 4 Medium, 6 High) at which a row is dropped,
            or a mapping of category to severity (categories it leaves out keep 2).
        :param categories: the categories to screen (default all four).
        :param out_dir: where to write the three files (created if needed); None makes a new
            temporary directory (the report names it).
        :param concurrency: how many requests are in flight at once (1 to 32).
        :param timeout: how long one request may be retried, in seconds.
        """
        from foundry_tune.dataset._safety_check import parse_settings, run_safety_check

        settings = parse_settings(endpoint, credential, threshold=threshold, categories=categories,
                                  out_dir=out_dir, concurrency=concurrency, timeout=timeout)
        stem, suffix = Path(self._name).stem, Path(self._name).suffix or ".jsonl"
        return run_safety_check(
            self.open_upload,
            str(self.path) if self.path else self._name,
            settings,
            lambda path: Dataset.from_jsonl(path, name=f"{stem}-kept{suffix}"),
        )

    # -- helpers ---------------------------------------------------------------------------

    def _stat(self) -> os.stat_result:
        try:
            return self._file.stat()
        except OSError as exc:
            raise DatasetError(f"cannot read {self._file}: {exc.strerror or exc}") from None

    def __repr__(self) -> str:
        source = str(self._file) if not self._owned else "records"
        return f"Dataset(name={self._name!r}, source={source!r})"


def validate_file(
    path: PathLike,
    method: object = None,
    *,
    model: str | None = None,
    grader: object = None,
    strict: bool = False,
    validation: Dataset | PathLike | None = None,
    response_format: object = None,
    workers: Workers = "auto",
) -> ValidationReport:
    """Validate a JSONL file: [`Dataset.validate()`][Dataset.validate] on
    [`Dataset.from_jsonl()`][Dataset.from_jsonl]."""
    return Dataset.from_jsonl(path).validate(
        method,
        model=model,
        grader=grader,
        strict=strict,
        validation=validation,
        response_format=response_format,
        workers=workers,
    )
