"""What a sweep decides without I/O: the grid, the pacing, the trial statuses and the ranking.

Both flavours of [`Sweep`][Sweep] (``foundry_tune/_async/_sweep.py`` and its
generated sync twin) ask these functions and do the talking themselves. Job statuses are
[`JobStatus`][JobStatus] values: a status the service adds later counts as
live (it holds a slot until the job ends) and, being of unknown kind, as holding a queue slot too.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from foundry_tune._core.status import JobStatus
from foundry_tune.errors import (
    ConfigurationError,
    DatasetError,
    FoundryTuneError,
    GraderError,
    InvalidParameterError,
    QuotaExceededError,
    RateLimitError,
)

if TYPE_CHECKING:
    from foundry_tune._core.metrics import Metrics
    from foundry_tune.methods import TuningMethod

__all__ = [
    "LIVE_SCAN_LIMIT",
    "NOT_STARTED",
    "QUEUED_LIMIT",
    "RUNNING_LIMIT",
    "START_FAILED",
    "SWEEP_KEY",
    "StartFailure",
    "after_start_error",
    "check_options",
    "count_text",
    "default_higher_is_better",
    "expand_grid",
    "final_value",
    "first_line",
    "free_slots",
    "holds_queue_slot",
    "label",
    "method_of",
    "normalized_grid",
    "rank_name",
    "ranked",
    "ranking_rows",
    "sweep_id",
    "trial_done",
    "trial_status",
    "with_params",
]

RUNNING_LIMIT = 1
"""Fine-tuning jobs Foundry runs at once per resource."""
QUEUED_LIMIT = 20
"""Fine-tuning jobs Foundry keeps queued per resource."""
SWEEP_KEY = "sweep"
"""Metadata key holding the sweep's id on each of its jobs."""
NOT_STARTED = "waiting"
"""Status of a trial the sweep has not submitted yet (held on the client side)."""
START_FAILED = "not started"
"""Status of a trial whose job could not be started."""
LIVE_SCAN_LIMIT = 1000
"""How many of the resource's newest jobs the sweep reads to count the live ones. The listing is
not filtered by status on the service: a status it does not know yet must still count."""

_QUEUED = frozenset({JobStatus.VALIDATING_FILES, JobStatus.PENDING, JobStatus.QUEUED})
_LOCAL_ERRORS = (DatasetError, InvalidParameterError, ConfigurationError, GraderError)
_FULL_VARIANTS = {
    "valid_loss": "full_valid_loss",
    "valid_mean_token_accuracy": "full_valid_mean_token_accuracy",
}

StartFailure = Literal["retry_later", "raise", "record"]
"""What to do when starting a trial's job failed (see [`after_start_error()`][after_start_error])."""


# -- the grid ---------------------------------------------------------------------------------------


def method_of(method: TuningMethod | None) -> TuningMethod:
    """The builder's method, ``Supervised()`` when it has none (as ``start()`` does)."""
    if method is None:
        from foundry_tune.methods import Supervised

        return Supervised()
    return method


def with_params(method: TuningMethod, params: Mapping[str, Any]) -> TuningMethod:
    """``method`` with the grid point's hyperparameters (``seed`` is the builder's, not the method's)."""
    values = {name: getattr(method, name) for name in type(method).model_fields}
    values.update({k: v for k, v in params.items() if k != "seed"})
    return type(method)(**values)


def normalized_grid(grid: Mapping[str, Iterable[Any]]) -> dict[str, list[Any]]:
    """Each axis as a list (a single string is one value, not its characters)."""
    return {name: [values] if isinstance(values, (str, bytes)) else list(values)
            for name, values in grid.items()}


def expand_grid(method: TuningMethod, grid: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, first axis slowest; every point is checked against
    the method's documented ranges before anything starts (InvalidParameterError)."""
    if not grid:
        raise InvalidParameterError("the sweep grid is empty: give hyperparameters and their values")
    allowed = [*method.hyperparameters(), "seed"]
    axes = normalized_grid(grid)
    for name, values in axes.items():
        if name not in allowed:
            raise InvalidParameterError(
                f"{type(method).__name__} has no hyperparameter {name!r}; "
                f"a sweep can vary: {', '.join(allowed)}")
        if not values:
            raise InvalidParameterError(f"the sweep grid gives no values for {name!r}")
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    for combo in combos:
        with_params(method, combo)
    return combos


def check_options(rank_by: object, *, has_validation: bool, max_active: int | None) -> None:
    """Fail before anything starts on options that cannot work."""
    if isinstance(rank_by, str) and rank_by.startswith("valid") and not has_validation:
        raise InvalidParameterError(
            f"the sweep ranks by {rank_by!r} but the builder has no validation data: add "
            ".validate_on(...) or rank by a training metric (rank_by='train_loss')")
    if max_active is not None and max_active < 1:
        raise InvalidParameterError("max_active must be at least 1")


def default_higher_is_better(rank_by: object) -> bool:
    """Losses rank lower-is-better; other named columns (accuracy, reward) and functions higher."""
    return isinstance(rank_by, str) and "loss" not in rank_by


def sweep_id(base: str, combos: Sequence[Mapping[str, Any]]) -> str:
    """A stable id for the builder (``base``: its fingerprint) and the grid: the same sweep run
    again gets the same id."""
    digest = hashlib.sha256(json.dumps([base, list(combos)], sort_keys=True, default=str).encode())
    return "sw-" + digest.hexdigest()[:16]


def label(params: Mapping[str, Any]) -> str:
    """``n_epochs=2, learning_rate_multiplier=0.5``."""
    return ", ".join(f"{k}={v}" for k, v in params.items())


# -- pacing -----------------------------------------------------------------------------------------


def holds_queue_slot(status: JobStatus) -> bool:
    """Whether a live job in this status waits in the service's queue (unknown statuses do: the
    sweep would rather hold a trial back than overflow the queue)."""
    return status in _QUEUED or not status.is_known


def free_slots(*, max_active: int, mine: Iterable[JobStatus], others: Iterable[JobStatus]) -> int:
    """How many more jobs the sweep may submit now.

    ``mine``: the statuses of the sweep's submitted jobs; ``others``: those of the resource's other
    jobs. Only live ones count (unknown statuses are live): at most ``max_active`` live jobs in all,
    and at most [`QUEUED_LIMIT`][QUEUED_LIMIT] waiting in the service's queue.
    """
    live_mine = [s for s in mine if s.is_live]
    live_others = [s for s in others if s.is_live]
    by_total = max_active - len(live_mine) - len(live_others)
    by_queue = QUEUED_LIMIT - sum(1 for s in [*live_mine, *live_others] if holds_queue_slot(s))
    return max(0, min(by_total, by_queue))


def after_start_error(exc: BaseException, *, any_started: bool) -> StartFailure:
    """What a failed ``start()`` of one trial means for the sweep.

    - ``"retry_later"``: the service's queue or rate limit is full after all; stop submitting for
      now and try again on the next poll.
    - ``"raise"``: bad data or settings (the same for every trial), or nothing has started yet (the
      cause, such as access, is shared): fail now, once.
    - ``"record"``: other trials run; mark this one "not started" with the reason and go on.
    """
    if isinstance(exc, (QuotaExceededError, RateLimitError)):
        return "retry_later"
    if isinstance(exc, _LOCAL_ERRORS) or not isinstance(exc, FoundryTuneError) or not any_started:
        return "raise"
    return "record"


# -- trial states -----------------------------------------------------------------------------------


def trial_status(job_status: JobStatus | None, start_error: str | None) -> str:
    """The job's status, ``"waiting"`` before it is submitted, ``"not started"`` if starting failed."""
    if job_status is not None:
        return str(job_status.value)
    return START_FAILED if start_error else NOT_STARTED


def trial_done(job_status: JobStatus | None, start_error: str | None) -> bool:
    """Nothing more will happen to the trial: its job ended, or it could not start."""
    return start_error is not None or (job_status is not None and job_status.is_terminal)


def count_text(statuses: Iterable[str]) -> str:
    """``"2 running, 7 waiting"`` (sorted by status)."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


# -- ranking ----------------------------------------------------------------------------------------


def final_value(metrics: Metrics, name: str) -> float | None:
    """The last reported value of a metrics column; for validation loss and accuracy the
    full-validation-set figure when the service reported one (it covers the whole file)."""
    for column in (_FULL_VARIANTS.get(name), name):
        if column is None:
            continue
        values = [v for v in metrics.column(column) if v is not None]
        if values:
            return float(values[-1])
    return None


def ranked(scores: Sequence[float | None], *, higher_is_better: bool) -> list[int]:
    """Positions of ``scores`` best first: scored ones by value (ties by position), then the
    unscored (``None`` or NaN) in their order."""

    def key(position: int) -> tuple[int, float, int]:
        value = scores[position]
        if value is None or math.isnan(value):
            return (1, 0.0, position)
        return (0, -value if higher_is_better else value, position)

    return sorted(range(len(scores)), key=key)


def rank_name(rank_by: str | Callable[..., Any]) -> str:
    """The ranking column's header: the metric's name, or the function's."""
    return rank_by if isinstance(rank_by, str) else getattr(rank_by, "__name__", "score")


def first_line(text: str, width: int = 80) -> str:
    """The first line of ``text``, cut to ``width`` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def ranking_rows(
    axes: Sequence[str],
    score_name: str,
    trials: Sequence[tuple[Mapping[str, Any], str, float | None, str]],
) -> list[list[str]]:
    """The ranking as text cells, header first. ``trials``, best first: (params, status, score,
    job id or start error)."""
    rows = [["rank", *axes, "status", score_name, "job"]]
    for rank, (params, status, score, job) in enumerate(trials, start=1):
        rows.append([str(rank) if score is not None else "-", *[str(params[k]) for k in axes], status,
                     "" if score is None else f"{score:.4f}", first_line(job)])
    return rows
