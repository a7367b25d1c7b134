"""Hyperparameter sweeps: one job per grid point, paced to the service's per-resource limits.

>>> sweep = ft.sweep(builder, grid={"n_epochs": [1, 2, 3], "learning_rate_multiplier": [0.5, 1, 2]})
>>> sweep.wait()                      # one live table for every job
>>> sweep.best.deploy("support-best") # ranked by validation loss unless rank_by says otherwise

Foundry runs one fine-tuning job at a time per resource and queues up to 20 more; the sweep
submits at most that many (counting the resource's other live jobs) and holds the rest on the
client side until slots free up. Every job is started with ``builder.start()``, so each grid
point is idempotent: running the same sweep again re-attaches to its jobs instead of paying twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune._notebook import live_html
from foundry_tune._table import html_table, text_table
from foundry_tune.errors import (
    ConfigurationError,
    DatasetError,
    FoundryTuneError,
    GraderError,
    InvalidParameterError,
    QuotaExceededError,
    RateLimitError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune.deployment import Deployment
    from foundry_tune.job import FineTuneBuilder, Job
    from foundry_tune.methods import TuningMethod

__all__ = ["QUEUED_LIMIT", "RUNNING_LIMIT", "Sweep", "Trial", "sweep"]

RUNNING_LIMIT = 1
"""Fine-tuning jobs Foundry runs at once per resource."""
QUEUED_LIMIT = 20
"""Fine-tuning jobs Foundry keeps queued per resource."""

SWEEP_KEY = "sweep"
"""Metadata key holding the sweep's id on each of its jobs."""

_LIVE = ("validating_files", "pending", "queued", "running", "pausing", "paused", "resuming", "cancelling")
_WAITING = frozenset({"validating_files", "pending", "queued"})
_NOT_STARTED = "waiting"
"""Status of a trial the sweep has not submitted yet (held on the client side)."""
_START_FAILED = "not started"
_LOCAL_ERRORS = (DatasetError, InvalidParameterError, ConfigurationError, GraderError)
_FULL_VARIANTS = {
    "valid_loss": "full_valid_loss",
    "valid_mean_token_accuracy": "full_valid_mean_token_accuracy",
}


def _method_of(builder: FineTuneBuilder) -> TuningMethod:
    method = builder.tuning_method
    if method is None:
        from foundry_tune.methods import Supervised

        return Supervised()
    return method


def _with_params(method: TuningMethod, params: Mapping[str, Any]) -> TuningMethod:
    values = {name: getattr(method, name) for name in type(method).model_fields}
    values.update({k: v for k, v in params.items() if k != "seed"})
    return type(method)(**values)


def _expand(builder: FineTuneBuilder, grid: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    if not grid:
        raise InvalidParameterError("the sweep grid is empty: give hyperparameters and their values")
    method = _method_of(builder)
    allowed = [*method.hyperparameters(), "seed"]
    axes: list[tuple[str, list[Any]]] = []
    for name, values in grid.items():
        if name not in allowed:
            raise InvalidParameterError(
                f"{type(method).__name__} has no hyperparameter {name!r}; "
                f"a sweep can vary: {', '.join(allowed)}")
        listed = [values] if isinstance(values, (str, bytes)) else list(values)
        if not listed:
            raise InvalidParameterError(f"the sweep grid gives no values for {name!r}")
        axes.append((name, listed))
    combos = [dict(zip([a[0] for a in axes], values, strict=True))
              for values in itertools.product(*(a[1] for a in axes))]
    for combo in combos:
        _with_params(method, combo)  # every grid point is checked before anything starts
    return combos


def _label(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


@dataclasses.dataclass
class Trial:
    """One grid point: its hyperparameters, its builder and (once submitted) its job."""

    index: int
    params: dict[str, Any]
    builder: FineTuneBuilder = dataclasses.field(repr=False)
    job: Job | None = None
    start_error: str | None = None
    _score: float | None = dataclasses.field(default=None, repr=False)
    _scored: bool = dataclasses.field(default=False, repr=False)

    @property
    def status(self) -> str:
        """The job's status, ``"waiting"`` before it is submitted, ``"not started"`` if starting failed."""
        if self.job is not None:
            return str(self.job.status.value)
        return _START_FAILED if self.start_error else _NOT_STARTED

    @property
    def done(self) -> bool:
        """Nothing more will happen to this trial."""
        return self.start_error is not None or (self.job is not None and self.job.status.is_terminal)

    @property
    def succeeded(self) -> bool:
        """The job finished and has a fine-tuned model."""
        return self.job is not None and self.job.status.value == "succeeded"

    def deploy(self, name: str | None = None, **options: Any) -> Deployment:
        """Deploy this trial's fine-tuned model (see :meth:`foundry_tune.job.Job.deploy`)."""
        if self.job is None or not self.succeeded:
            raise InvalidParameterError(
                f"trial {_label(self.params)} has no fine-tuned model ({self.status})")
        return self.job.deploy(name, **options)


class Sweep:
    """Jobs for every point of a hyperparameter grid; see the module docstring."""

    def __init__(
        self,
        builder: FineTuneBuilder,
        grid: Mapping[str, Iterable[Any]],
        *,
        rank_by: str | Callable[[Trial], float | None] = "valid_loss",
        higher_is_better: bool | None = None,
        max_active: int | None = None,
        start: bool = True,
    ) -> None:
        combos = _expand(builder, grid)
        if isinstance(rank_by, str) and rank_by.startswith("valid") and builder.validation is None:
            raise InvalidParameterError(
                f"the sweep ranks by {rank_by!r} but the builder has no validation data: add "
                ".validate_on(...) or rank by a training metric (rank_by='train_loss')")
        if max_active is not None and max_active < 1:
            raise InvalidParameterError("max_active must be at least 1")
        self.builder = builder
        self.grid = {k: list(v) if not isinstance(v, (str, bytes)) else [v] for k, v in grid.items()}
        self.rank_by = rank_by
        if higher_is_better is None:
            higher_is_better = isinstance(rank_by, str) and "loss" not in rank_by
        self.higher_is_better = higher_is_better
        self.max_active = max_active if max_active is not None else RUNNING_LIMIT + QUEUED_LIMIT
        self.id = self._sweep_id(combos)
        method = _method_of(builder)
        self.trials: list[Trial] = []
        for index, combo in enumerate(combos):
            trial_builder = builder.method(_with_params(method, combo)).metadata({SWEEP_KEY: self.id})
            if "seed" in combo:
                trial_builder = trial_builder.seed(int(combo["seed"]))
            self.trials.append(Trial(index, combo, trial_builder))
        self._reported: dict[int, str] = {}
        self._live_cell = False
        if start:
            self.submit()

    def _sweep_id(self, combos: Sequence[Mapping[str, Any]]) -> str:
        try:
            base = self.builder.fingerprint()
        except FoundryTuneError:
            base = repr(self.builder)
        digest = hashlib.sha256(json.dumps([base, list(combos)], sort_keys=True, default=str).encode())
        return "sw-" + digest.hexdigest()[:16]

    # -- submitting -----------------------------------------------------------------------------

    def _free_slots(self) -> int:
        mine = {t.job.id for t in self.trials if t.job is not None and not t.job.status.is_terminal}
        live_on_resource = self.builder.ft.jobs.list(limit=self.max_active + 100, status=_LIVE)  # type: ignore[attr-defined]
        others = sum(1 for job in live_on_resource if job.id not in mine)
        waiting_mine = sum(1 for t in self.trials if t.job is not None and t.job.status.value in _WAITING)
        by_total = self.max_active - len(mine) - others
        by_queue = QUEUED_LIMIT - waiting_mine - sum(1 for j in live_on_resource
                                                     if j.id not in mine and j.status.value in _WAITING)
        return max(0, min(by_total, by_queue))

    def submit(self) -> int:
        """Start as many waiting trials as the limits allow; returns how many were started.

        A trial whose job already exists (same fingerprint) is attached, not started again.
        """
        pending = [t for t in self.trials if t.job is None and t.start_error is None]
        if not pending:
            return 0
        started = 0
        for trial in pending[: self._free_slots()]:
            try:
                trial.job = trial.builder.start(on_progress=lambda _: None)
            except (QuotaExceededError, RateLimitError):
                break  # the service's queue is full after all: try again on the next poll
            except _LOCAL_ERRORS:
                raise  # bad data or settings are the same for every trial: fail now, once
            except FoundryTuneError as exc:
                if not any(t.job is not None for t in self.trials):
                    raise  # nothing started: the cause (data, settings, access) is shared, say it once
                trial.start_error = str(exc)
                continue
            started += 1
        return started

    # -- watching -------------------------------------------------------------------------------

    def refresh(self) -> Sweep:
        """Fetch every live job's state and submit waiting trials if slots freed up."""
        # Newest first: the service starts queued jobs in creation order, so a job that finishes
        # between two reads is read after its successor started, and one poll never shows two
        # jobs running when the service never ran two.
        for trial in reversed(self.trials):
            if trial.job is not None and not trial.job.status.is_terminal:
                trial.job.refresh()
        self.submit()
        return self

    @property
    def done(self) -> bool:
        """Every trial finished (succeeded, failed, cancelled, or could not start)."""
        return all(t.done for t in self.trials)

    def wait(
        self,
        timeout: float | None = None,
        *,
        poll: float | None = None,
        progress: bool | Callable[[Sweep], None] | None = None,
        stream: TextIO | None = None,
    ) -> Sweep:
        """Wait for every job, submitting held trials as slots free up, and show them all.

        ``progress``: ``None`` prints a line per status change (a live table in a notebook),
        ``False`` is quiet, a callable is called with the sweep after every poll. Failed jobs do
        not raise: they are ranked last. Ctrl-C stops watching only; the jobs keep running and
        running the same sweep again re-attaches to them.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll or 1.0
        out = stream or sys.stderr
        show = self._display(progress, out)
        try:
            while True:
                changed = self._poll_changes()
                show(self)
                if self.done:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise WaitTimeoutError(f"sweep {self.id}: {self._counts()} after {timeout:g} s; "
                                           "the jobs keep running: call wait() again")
                if poll is None:
                    interval = 1.0 if changed else min(15.0, interval * 1.5)
                if deadline is not None:
                    interval = max(0.0, min(interval, deadline - time.monotonic()))
                time.sleep(interval)
        except KeyboardInterrupt:
            out.write(
                f"\nStopped watching sweep {self.id}; its jobs keep running. Run the same sweep again to "
                "re-attach (every job is found by its fingerprint), then call wait().\n")
            raise
        if progress is None and not self._live_cell:
            out.write(f"\n{self}\n")
            out.flush()
        return self

    def _poll_changes(self) -> bool:
        before = [t.status for t in self.trials]
        self.refresh()
        return before != [t.status for t in self.trials]

    def _counts(self) -> str:
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.status] = counts.get(trial.status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))

    def _display(
        self, progress: bool | Callable[[Sweep], None] | None, stream: TextIO
    ) -> Callable[[Sweep], None]:
        if callable(progress):
            return progress
        if progress is False:
            return lambda _: None
        cell = live_html(self._repr_html_())
        self._live_cell = cell is not None
        if cell is not None:
            return lambda s: cell.update(s._repr_html_())

        def lines(s: Sweep) -> None:
            for trial in s.trials:
                if s._reported.get(trial.index) != trial.status:
                    s._reported[trial.index] = trial.status
                    job = f" {trial.job.id}" if trial.job is not None else ""
                    stream.write(f"sweep [{trial.index + 1}/{len(s.trials)}] {_label(trial.params)}:{job} "
                                 f"{trial.status}\n")
            stream.flush()

        return lines

    # -- results --------------------------------------------------------------------------------

    def score(self, trial: Trial) -> float | None:
        """The value ``rank_by`` gives this trial (``None`` until its job has succeeded)."""
        if not trial.succeeded:
            return None
        if trial._scored:
            return trial._score
        if callable(self.rank_by):
            value = self.rank_by(trial)
        else:
            assert trial.job is not None
            value = _final_value(trial.job, self.rank_by)
        trial._score, trial._scored = value, True
        return value

    def results(self) -> list[Trial]:
        """Trials best first: succeeded ones by ``rank_by``, then the rest."""
        def key(trial: Trial) -> tuple[int, float, int]:
            value = self.score(trial)
            if value is None or math.isnan(value):
                return (1, 0.0, trial.index)
            return (0, -value if self.higher_is_better else value, trial.index)

        return sorted(self.trials, key=key)

    @property
    def best(self) -> Trial:
        """The best succeeded trial (raises when none has succeeded and been scored)."""
        ranked = self.results()
        if not ranked or self.score(ranked[0]) is None:
            raise InvalidParameterError(
                f"no trial of sweep {self.id} has a {self._rank_name()} yet ({self._counts()})")
        return ranked[0]

    def deploy_best(self, name: str | None = None, **options: Any) -> Deployment:
        """Deploy the best trial's model in one call."""
        return self.best.deploy(name, **options)

    def _rank_name(self) -> str:
        return self.rank_by if isinstance(self.rank_by, str) else getattr(self.rank_by, "__name__", "score")

    def rows(self) -> list[list[str]]:
        """The ranking as text cells, header first."""
        header = ["rank", *self.grid, "status", self._rank_name(), "job"]
        rows = [header]
        for rank, trial in enumerate(self.results(), start=1):
            value = self.score(trial)
            rows.append([str(rank) if value is not None else "-", *[str(trial.params[k]) for k in self.grid],
                         trial.status, "" if value is None else f"{value:.4f}",
                         trial.job.id if trial.job is not None else _first_line(trial.start_error or "")])
        return rows

    def __str__(self) -> str:
        return text_table(self.rows())

    def __repr__(self) -> str:
        return f"Sweep(id={self.id!r}, trials={len(self.trials)}, {self._counts()})"

    def _repr_html_(self) -> str:
        return html_table(self.rows())

    def to_pandas(self) -> Any:
        """One row per trial: hyperparameters, status, score, job id (needs the ``pandas`` extra)."""
        import pandas as pd

        return pd.DataFrame.from_records([
            {**t.params, "status": t.status, self._rank_name(): self.score(t),
             "job": t.job.id if t.job is not None else None}
            for t in self.results()
        ])

    def cancel(self) -> None:
        """Cancel every live job and drop the trials not yet submitted."""
        for trial in self.trials:
            if trial.job is None and trial.start_error is None:
                trial.start_error = "cancelled before it started"
            elif trial.job is not None and not trial.job.status.is_terminal:
                trial.job.cancel()


def _first_line(text: str, width: int = 80) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def _final_value(job: Job, name: str) -> float | None:
    """The last reported value of a metric; for validation loss/accuracy, the full-validation-set
    figure when the service reported one (it covers the whole validation file)."""
    metrics = job.metrics()
    for column in (_FULL_VARIANTS.get(name), name):
        if column is None:
            continue
        values = [v for v in metrics.column(column) if v is not None]
        if values:
            return float(values[-1])
    return None


def sweep(
    builder: FineTuneBuilder,
    grid: Mapping[str, Iterable[Any]],
    *,
    rank_by: str | Callable[[Trial], float | None] = "valid_loss",
    higher_is_better: bool | None = None,
    max_active: int | None = None,
    start: bool = True,
) -> Sweep:
    """One job per combination of ``grid`` values over the builder's method hyperparameters
    (``"seed"`` varies the builder's seed). ``rank_by`` is a metrics column (default validation
    loss, lower is better; accuracy and reward columns rank higher-is-better) or a function of a
    :class:`Trial`. ``max_active`` caps the sweep's live jobs (default: 1 running + 20 queued)."""
    return Sweep(builder, grid, rank_by=rank_by, higher_is_better=higher_is_better,
                 max_active=max_active, start=start)
