"""Checkpoints a job saved along the way (each one deployable): their metrics as a table, the pick
of the best one by a validation metric, the names and the verdict of a checkpoint comparison, and
the bounds of listing them.

The metric names are the service's (OpenAI's checkpoint object, which Azure answers with:
``train_loss``, ``train_mean_token_accuracy``, ``valid_loss``, ``valid_mean_token_accuracy``,
``full_valid_loss``, ``full_valid_mean_token_accuracy``; Azure's checkpoints carry the
validation ones only when the job had a validation file, recordings/list_checkpoints.json).
``valid_*`` is measured on a sample batch of the validation file at that step, ``full_valid_*``
on the whole file at the end of an epoch, the figure OpenAI's guide says to trust
(https://platform.openai.com/docs/guides/fine-tuning, "Analyzing your fine-tuned model").
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from foundry_tune._core.paging import PageGuard
from foundry_tune._table import html_table, text_table
from foundry_tune.errors import CheckpointMetricError, ConfigurationError, InvalidParameterError

if TYPE_CHECKING:
    import pandas as pd

    from foundry_tune.evaluation import EvaluationReport

__all__ = [
    "CHECKPOINTS_PAGE_SIZE",
    "COMPARISON_TAG",
    "FULL_VALIDATION",
    "Checkpoint",
    "CheckpointComparison",
    "Checkpoints",
    "best_checkpoint",
    "checkpoints_guard",
    "checkpoints_list_kwargs",
    "comparison_name",
    "in_step_order",
    "metric_mode",
    "resolve_metric",
    "step_label",
    "winner_of",
]

FULL_VALIDATION: Mapping[str, str] = {
    "valid_loss": "full_valid_loss",
    "valid_mean_token_accuracy": "full_valid_mean_token_accuracy",
}
"""A validation metric and its whole-validation-file twin, preferred when a checkpoint has it."""

_ALIASES = {"loss": "valid_loss", "accuracy": "valid_mean_token_accuracy"}
_COLUMNS = (
    ("train_loss", "train loss"),
    ("train_mean_token_accuracy", "train acc"),
    ("valid_loss", "valid loss"),
    ("valid_mean_token_accuracy", "valid acc"),
    ("full_valid_loss", "full valid loss"),
    ("full_valid_mean_token_accuracy", "full valid acc"),
)
_CKPT = re.compile(r":ckpt-step-(\d+)$")

Mode = Literal["min", "max"]


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A model checkpoint: ``model`` is the id to deploy (``fine_tuned_model_checkpoint``);
    ``metrics`` what the service measured at ``step`` (see the module docstring for the names)."""

    id: str
    step: int
    model: str
    metrics: dict[str, float]
    created_at: int
    job_id: str

    @classmethod
    def from_wire(cls, obj: Any) -> Checkpoint:
        """Build from an openai ``FineTuningJobCheckpoint`` or a dict, tolerating missing keys."""
        raw: dict[str, Any] = obj if isinstance(obj, dict) else obj.model_dump()
        metrics = raw.get("metrics") or {}
        return cls(
            id=str(raw.get("id", "")),
            step=int(raw.get("step_number") or 0),
            model=str(raw.get("fine_tuned_model_checkpoint") or ""),
            metrics={k: float(v) for k, v in metrics.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool)},
            created_at=int(raw.get("created_at") or 0),
            job_id=str(raw.get("fine_tuning_job_id") or ""),
        )

    @property
    def final(self) -> bool:
        """Whether this is the job's final model: on Azure the last checkpoint's model is the
        tuned model itself, without a ``:ckpt-step-N`` suffix (recordings/list_checkpoints.json)."""
        return _CKPT.search(self.model) is None

    def metric(self, name: str) -> float | None:
        """The value of metric ``name`` at this checkpoint (``valid_loss`` and
        ``valid_mean_token_accuracy`` read the ``full_valid_*`` figure when there is one), or None."""
        name = _ALIASES.get(name, name)
        for key in (FULL_VALIDATION.get(name), name):
            if key is not None and _usable(self.metrics.get(key)):
                return self.metrics[key]
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: id, step, model, whether it is the final model, metrics, job id, creation time."""
        return {"id": self.id, "step": self.step, "model": self.model, "final": self.final,
                "metrics": dict(self.metrics), "job_id": self.job_id, "created_at": self.created_at}


def _usable(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def metric_mode(metric: str, mode: Mode | None = None) -> Mode:
    """``mode`` when given, else ``"min"`` for a loss and ``"max"`` for anything else (accuracy,
    reward, a score), as the sweep ranks."""
    if mode is not None:
        if mode not in ("min", "max"):
            raise InvalidParameterError(f"mode must be 'min' or 'max', got {mode!r}")
        return mode
    return "min" if "loss" in metric else "max"


def resolve_metric(checkpoints: Sequence[Checkpoint], metric: str) -> str | None:
    """The metrics key a pick by ``metric`` compares: for ``valid_loss`` /
    ``valid_mean_token_accuracy`` (or ``loss`` / ``accuracy``) the ``full_valid_*`` twin when any
    checkpoint has it, else the name itself; None when no checkpoint has either. One key for all,
    so a sampled-batch figure is never compared with a whole-file one."""
    if not isinstance(metric, str) or not metric.strip():
        raise InvalidParameterError(f"metric must be a metric name such as 'valid_loss', got {metric!r}")
    name = _ALIASES.get(metric, metric)
    for key in (FULL_VALIDATION.get(name), name):
        if key is not None and any(_usable(c.metrics.get(key)) for c in checkpoints):
            return key
    return None


def best_checkpoint(
    checkpoints: Sequence[Checkpoint],
    metric: str = "valid_loss",
    mode: Mode | None = None,
    *,
    job_id: str = "",
) -> Checkpoint:
    """The checkpoint with the best ``metric`` (see [`resolve_metric()`][resolve_metric]; lowest for a
    loss, highest otherwise, or as ``mode`` says). A tie goes to the earlier step (fewer steps, less
    fitted to the training data). Checkpoints without the metric are left out; when none has it,
    [`CheckpointMetricError`][CheckpointMetricError] says which metrics they do have."""
    key = resolve_metric(checkpoints, metric)
    job = job_id or next((c.job_id for c in checkpoints if c.job_id), "")
    if key is None:
        raise _missing(checkpoints, metric, job)
    direction = metric_mode(key, mode)
    scored = [c for c in checkpoints if _usable(c.metrics.get(key))]

    def rank(c: Checkpoint) -> tuple[float, int]:
        value = c.metrics[key]
        return (value if direction == "min" else -value, c.step)

    return min(scored, key=rank)


def _missing(checkpoints: Sequence[Checkpoint], metric: str, job_id: str) -> CheckpointMetricError:
    of = f"job {job_id}" if job_id else "the job"
    if not checkpoints:
        return CheckpointMetricError(
            f"{of} has no checkpoint yet: checkpoints appear as training goes (wait() for the job)",
            metric=metric, job_id=job_id)
    available = sorted({k for c in checkpoints for k, v in c.metrics.items() if _usable(v) and k != "step"})
    hint = ""
    if _ALIASES.get(metric, metric).startswith("valid") or metric.startswith("full_valid"):
        hint = (": the job was trained without validation data (add .validate_on(...) when you start "
                "one), or pick by a training metric, e.g. metric='train_loss'")
    return CheckpointMetricError(
        f"no checkpoint of {of} has {metric!r} (they have: {', '.join(available) or 'no metrics'}){hint}",
        metric=metric, available=available, job_id=job_id)


class Checkpoints(list[Checkpoint]):
    """The checkpoints of a job in step order: a list of [`Checkpoint`][Checkpoint] that prints as a
    table of their metrics (``to_text()``, a table in a notebook), with ``to_dict()``,
    ``to_pandas()`` and [`best()`][best]."""

    def __init__(self, items: Iterable[Checkpoint] = (), *, job_id: str = "") -> None:
        super().__init__(items)
        self.job_id = job_id or next((c.job_id for c in self if c.job_id), "")

    def best(self, metric: str = "valid_loss", mode: Mode | None = None) -> Checkpoint:
        """The best checkpoint by ``metric``, as
        [`Job.best_checkpoint()`][foundry_tune.job.Job.best_checkpoint] picks it."""
        return best_checkpoint(self, metric, mode, job_id=self.job_id)

    @property
    def final(self) -> Checkpoint | None:
        """The job's final model, when it is among them."""
        return next((c for c in reversed(self) if c.final), None)

    def _columns(self) -> list[tuple[str, str]]:
        return [(key, label) for key, label in _COLUMNS if any(_usable(c.metrics.get(key)) for c in self)]

    def _best_step(self) -> tuple[str, int] | None:
        key = resolve_metric(self, "valid_loss")
        if key is None:
            return None
        return key, self.best(key).step

    def rows(self) -> list[list[str]]:
        """The table as text cells, header first: step, model, each metric some checkpoint has, and
        which one has the best validation loss."""
        columns = self._columns()
        best = self._best_step()
        header = ["step", "model", *[label for _, label in columns]]
        if best is not None:
            header.append("best")
        rows = [header]
        for c in self:
            cells = [str(c.step), c.model + (" (final)" if c.final else "")]
            cells += [_number(c.metrics.get(key)) for key, _ in columns]
            if best is not None:
                cells.append(f"<- lowest {best[0]}" if c.step == best[1] else "")
            rows.append(cells)
        return rows

    def to_text(self) -> str:
        """The metrics of every checkpoint as an aligned text table."""
        if not self:
            return f"no checkpoints{' of ' + self.job_id if self.job_id else ''}"
        return text_table(self.rows())

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        if not self:
            return f"<p>{self.to_text()}</p>"
        return html_table(self.rows(), f"checkpoints of {self.job_id}" if self.job_id else None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the job id and every checkpoint's ``to_dict()``, in step order."""
        return {"job_id": self.job_id, "checkpoints": [c.to_dict() for c in self]}

    def to_pandas(self) -> pd.DataFrame:
        """One row per checkpoint: step, model, final, and one column per metric (needs pandas)."""
        try:
            import pandas as pd
        except ModuleNotFoundError:
            raise ConfigurationError("to_pandas() needs pandas: pip install 'foundry-tune[pandas]'") from None
        records = [{"step": c.step, "model": c.model, "final": c.final,
                    **{k: v for k, v in c.metrics.items() if k != "step"}} for c in self]
        frame: pd.DataFrame = pd.DataFrame.from_records(records)
        return frame


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


# -- the checkpoint comparison ----------------------------------------------------------------------

COMPARISON_TAG = "foundry-tune-purpose"
"""Tag put on the deployments of a checkpoint comparison (value ``checkpoint-comparison``)."""

_NAME_MAX = 64
_SHORT_JOB = re.compile(r"^(?:ftjob-)?(.*)$")


def comparison_name(job_id: str, step: int) -> str:
    """The deployment name of checkpoint ``step`` of ``job_id`` in a comparison: deterministic, so
    that a comparison run again finds and reuses it, and apart from the names ``job.deploy()``
    derives, so that a comparison never takes over (nor deletes) a deployment made otherwise:
    ``cmp-<job hex, 12>-step<N>`` (a hash for a job id of another shape)."""
    body = _SHORT_JOB.match(job_id)
    short = re.sub(r"[^A-Za-z0-9]", "", body.group(1) if body else job_id)[:12]
    if len(short) < 6:
        short = hashlib.sha256(job_id.encode()).hexdigest()[:12]
    return f"cmp-{short}-step{int(step)}"[:_NAME_MAX]


def winner_of(report: EvaluationReport, labels: Sequence[str], checkpoints: Sequence[Checkpoint],
              rank_by: str | None = None) -> int:
    """Position in ``labels`` (the report's targets, in ``checkpoints`` order) of the winner: the
    highest mean of ``rank_by`` (default: the report's first metric), ties broken by the next
    metrics in order, then by the later step (without evidence against it, the final model stays)."""
    names = [m.name for m in report.metrics]
    if rank_by is not None and rank_by not in names:
        raise InvalidParameterError(f"rank_by={rank_by!r} is not one of the metrics: {', '.join(names)}")
    order = ([rank_by] if rank_by else []) + [n for n in names if n != rank_by]

    def key(position: int) -> tuple[Any, ...]:
        scores = report[labels[position]].scores
        means = tuple(-scores[n].mean if scores[n].n and not math.isnan(scores[n].mean) else math.inf
                      for n in order)
        return (*means, -checkpoints[position].step)

    return min(range(len(labels)), key=key)


@dataclasses.dataclass(frozen=True)
class CheckpointComparison:
    """What `job.compare_checkpoints()` returns: the evaluation report (one column per checkpoint,
    labelled ``step N``), the checkpoints compared, the winner and the deployments left running."""

    report: EvaluationReport
    checkpoints: tuple[Checkpoint, ...]
    """The checkpoints compared, in step order."""
    winner: Checkpoint
    rank_by: str
    kept: tuple[str, ...] = ()
    """Names of the deployments still live afterwards (the winner's with ``keep="winner"``)."""
    deleted: tuple[str, ...] = ()
    """Names of the deployments the comparison deleted."""

    @property
    def winner_label(self) -> str:
        """The winner's column in the report."""
        return step_label(self.winner)

    def summary(self) -> str:
        """One line: which checkpoint won, by what, and what is still deployed."""
        score = self.report[self.winner_label].scores[self.rank_by]
        kept = f"; kept deployed: {', '.join(self.kept)}" if self.kept else "; nothing left deployed"
        final = " (the final model)" if self.winner.final else ""
        return (f"winner: step {self.winner.step}{final}, {self.rank_by} {score.mean:.3f} "
                f"({self.winner.model}){kept}")

    def to_text(self) -> str:
        """The report's table and the verdict."""
        return f"{self.report.to_text()}\n{self.summary()}"

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        caption = (f"checkpoints of fine-tuning job {self.winner.job_id}: "
                   f"{self.report.examples} held-out examples")
        table = html_table(self.report.rows(), caption)
        return f"{table}<p><b>{html.escape(self.summary())}</b></p>"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the verdict, the checkpoints and the report's ``to_dict()``."""
        return {"winner": self.winner.to_dict(), "rank_by": self.rank_by, "kept": list(self.kept),
                "deleted": list(self.deleted), "checkpoints": [c.to_dict() for c in self.checkpoints],
                "report": self.report.to_dict()}


def step_label(checkpoint: Checkpoint) -> str:
    """A checkpoint's column label in a comparison: ``step 80`` (``step 100 (final)``)."""
    return f"step {checkpoint.step}" + (" (final)" if checkpoint.final else "")


# -- listing ---------------------------------------------------------------------------------------

CHECKPOINTS_PAGE_SIZE = 100
"""Checkpoints asked for per page."""


def checkpoints_guard(job_id: str, clock: Callable[[], float] = time.monotonic) -> PageGuard:
    """The bounds of a checkpoint listing. A cursor that does not advance ends it with what was
    read; the page cap or the time bound raises [`ScanIncompleteError`][ScanIncompleteError],
    since a partial list could make the caller pick (and deploy) the wrong checkpoint."""
    return PageGuard(f"list checkpoints of {job_id}", missing_has_more="more", strict=True, clock=clock)


def checkpoints_list_kwargs(after: str | None) -> dict[str, Any]:
    """Arguments of one ``fine_tuning.jobs.checkpoints.list`` page request."""
    kwargs: dict[str, Any] = {"limit": CHECKPOINTS_PAGE_SIZE}
    if after is not None:
        kwargs["after"] = after
    return kwargs


def in_step_order(found: Iterable[Checkpoint]) -> Checkpoints:
    """Checkpoints sorted by training step (the service lists them newest first)."""
    return Checkpoints(sorted(found, key=lambda c: c.step))
