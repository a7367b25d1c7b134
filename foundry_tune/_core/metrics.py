"""Training metrics as typed rows, from the job's events (structured or step messages) or from its
result CSV."""

from __future__ import annotations

import base64
import binascii
import csv
import dataclasses
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from foundry_tune._core.events import JobEvent
from foundry_tune._core.plotting import axes_for, save_figure
from foundry_tune.errors import FoundryTuneError, InvalidParameterError

if TYPE_CHECKING:
    import pandas

__all__ = ["MetricRow", "Metrics", "metrics_from_csv", "metrics_from_events", "with_rewards_from"]

_KNOWN = (
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)

# Reinforcement fine-tuning's reward columns, in the names OpenAI's and Azure's RFT guides use.
_REWARDS = ("train_reward_mean", "valid_reward_mean", "full_valid_reward_mean")
_LOSSES = ("train_loss", "valid_loss", "full_valid_loss")
# Other spellings of the rewards in the service's metrics events (OpenAI's RFT guide, "Training
# metrics": top-level `train_mean_reward` and `full_valid_mean_reward` next to `scores`).
_REWARD_ALIASES = {
    "train_mean_reward": "train_reward_mean",
    "valid_mean_reward": "valid_reward_mean",
    "full_valid_mean_reward": "full_valid_reward_mean",
}
_LABELS = {
    "train_loss": "train loss",
    "valid_loss": "validation loss",
    "full_valid_loss": "full validation loss",
    "train_reward_mean": "train reward",
    "valid_reward_mean": "validation reward",
    "full_valid_reward_mean": "full validation reward",
}


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        if not text or text.lower() in ("nan", "none", "null"):
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    return None if math.isnan(number) else number


def _flatten_rft(raw: dict[str, Any]) -> dict[str, Any]:
    scores = raw.get("scores")
    usage = raw.get("usage")
    samples = usage.get("samples") if isinstance(usage, dict) else None
    if not isinstance(scores, dict) and not isinstance(samples, dict) and not (
        _REWARD_ALIASES.keys() & raw.keys()
    ):
        return raw
    flat = {k: v for k, v in raw.items() if k not in ("scores", "usage")}
    lifted: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _REWARD_ALIASES:
            lifted.setdefault(_REWARD_ALIASES[key], value)
    if isinstance(scores, dict):
        for key, value in scores.items():
            if key != "graders":
                lifted[_REWARD_ALIASES.get(str(key), str(key))] = value
        graders = scores.get("graders")
        for grader in graders if isinstance(graders, list) else []:
            if isinstance(grader, dict) and isinstance(grader.get("name"), str):
                for key, value in grader.items():
                    if key not in ("name", "type"):
                        lifted[f"{grader['name']}.{key}"] = value
    if isinstance(samples, dict):
        lifted.update(samples)
    for key in _REWARD_ALIASES:
        flat.pop(key, None)
    # The row's own top-level values win over what was lifted from inside it.
    return {**lifted, **flat}


def loss_text(value: float) -> str:
    """A loss for a one-line summary: four decimals, or three significant digits when that would
    show a small non-zero loss as ``0.0000`` (a DPO loss of ``3.81e-06``)."""
    if value != 0 and abs(value) < 0.0005:
        return f"{value:.3g}"
    return f"{value:.4f}"


@dataclasses.dataclass(frozen=True)
class MetricRow:
    """One training step. Missing values are ``None``; RFT reward columns and any other numeric
    fields the service adds are in ``extra``."""

    step: int
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None
    total_steps: int | None = None
    extra: dict[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> MetricRow | None:
        """Parse one row; ``None`` when it has no usable step number.

        A reinforcement job's metrics event nests its rewards (`scores.train_reward_mean`, one
        entry per grader in `scores.graders`) and reasoning tokens (`usage.samples`): they
        become columns `train_reward_mean`, `<grader>.train_reward_mean`,
        `train_reasoning_tokens_mean`, ...; `train_mean_reward` is read as `train_reward_mean`.
        """
        raw = _flatten_rft(raw)
        step = _number(raw.get("step"))
        if step is None:
            return None
        known = {k: _number(raw.get(k)) for k in _KNOWN}
        total = _number(raw.get("total_steps"))
        extra: dict[str, float] = {}
        for key, value in raw.items():
            if key in _KNOWN or key in ("step", "total_steps"):
                continue
            number = _number(value)
            if number is not None:
                extra[str(key)] = number
        return cls(step=int(step), total_steps=None if total is None else int(total), extra=extra, **known)

    def as_dict(self) -> dict[str, Any]:
        """A flat dict (``extra`` merged in), the shape of one DataFrame row."""
        out: dict[str, Any] = {"step": self.step}
        out.update({k: getattr(self, k) for k in _KNOWN})
        out.update(self.extra)
        return out


class Metrics(Sequence[MetricRow]):
    """The metrics of a job, one [`MetricRow`][MetricRow] per step in step order."""

    def __init__(self, rows: Iterable[MetricRow], *, source: str) -> None:
        by_step: dict[int, MetricRow] = {}
        for row in rows:
            by_step[row.step] = row
        self._rows = [by_step[s] for s in sorted(by_step)]
        self.source = source
        """``"events"``, ``"results"`` (the result CSV), or ``"results+events"`` (a
        reinforcement job's result CSV with the rewards of its events added)."""

    @overload
    def __getitem__(self, index: int) -> MetricRow: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[MetricRow]: ...
    def __getitem__(self, index: int | slice) -> MetricRow | Sequence[MetricRow]:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[MetricRow]:
        return iter(self._rows)

    def __repr__(self) -> str:
        return f"Metrics({len(self)} steps from {self.source}{self._last_text()})"

    def _last_text(self) -> str:
        if not self._rows:
            return ""
        last = self._rows[-1]
        parts = [f"step {last.step}"]
        if last.train_loss is not None:
            parts.append(f"train_loss {loss_text(last.train_loss)}")
        if last.valid_loss is not None:
            parts.append(f"valid_loss {loss_text(last.valid_loss)}")
        parts += [f"{name} {last.extra[name]:.4f}" for name in _REWARDS if name in last.extra]
        return "; last: " + ", ".join(parts)

    @property
    def last(self) -> MetricRow | None:
        """The last step's row, or ``None`` when there are no metrics yet."""
        return self._rows[-1] if self._rows else None

    def column(self, name: str) -> list[float | None]:
        """One column by name (``"train_loss"``, an RFT reward field, ...), ``None`` where missing."""
        return [row.as_dict().get(name) for row in self._rows]

    def to_pandas(self) -> pandas.DataFrame:
        """A DataFrame with one row per step (needs the ``pandas`` extra)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise FoundryTuneError(
                "Metrics.to_pandas() needs pandas: pip install 'foundry-tune[pandas]'"
            ) from exc
        frame: pandas.DataFrame = pd.DataFrame([row.as_dict() for row in self._rows])
        return frame

    def plot(
        self,
        path: str | Path | None = None,
        *,
        title: str | None = None,
        ax: Any = None,
        columns: Sequence[str] | str | None = None,
    ) -> Any:
        """Plot the training curves (needs the `plot` extra, matplotlib).

        By default the reward columns when the job has any (reinforcement fine-tuning:
        `train_reward_mean`, `valid_reward_mean`, `full_valid_reward_mean`), else the losses
        (`train_loss`, `valid_loss`, `full_valid_loss`); `columns` picks others by name (see
        `to_pandas()` for the names).

        :param path: Save the figure there (the format follows the suffix, e.g. `.png`). Without `ax` the
            figure is then only saved, not shown: matplotlib's backend and pyplot's figures are left as
            they were, so a notebook keeps showing plots inline.
        :param title: The title (default: "fine-tuning reward" or "fine-tuning loss").
        :param ax: A matplotlib Axes to draw into (e.g. one of `plt.subplots(1, 2)`); without it and
            without `path`, a new pyplot figure (shown inline in a notebook).
        :param columns: The columns to plot, by name.
        :returns: The matplotlib Axes drawn into (`.figure` is its figure), as every `.plot()` of the
            library returns.
        :raises ConfigurationError: matplotlib is not installed.
        :raises InvalidParameterError: `ax` is not an Axes, `path` not a file name, or a name in
            `columns` has no values.
        """
        names = self._plot_columns(columns)
        axes = axes_for(ax, path, what="Metrics.plot()", figsize=(7, 4))
        steps = [row.step for row in self._rows]
        for name in names:
            points = [(s, v) for s, v in zip(steps, self.column(name), strict=True) if v is not None]
            if points:
                # Full-validation values come once per epoch: markers keep them visible.
                axes.plot([p[0] for p in points], [p[1] for p in points], label=_LABELS.get(name, name),
                          marker="o" if name.startswith("full_valid") else None)
        rewards = bool(names) and all(name in _REWARDS for name in names)
        losses = all(name in _LOSSES for name in names)
        axes.set_xlabel("step")
        axes.set_ylabel("mean reward" if rewards else "loss" if losses else "value")
        axes.set_title(title or ("fine-tuning reward" if rewards else "fine-tuning loss" if losses
                                 else "fine-tuning metrics"))
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend()
        save_figure(axes, path, what="Metrics.plot()")
        return axes

    def _plot_columns(self, columns: Sequence[str] | str | None) -> list[str]:
        present = self._columns_with_values()
        if columns is None:
            rewards = [name for name in _REWARDS if name in present]
            return rewards or list(_LOSSES)
        names = [columns] if isinstance(columns, str) else list(columns)
        for name in names:
            if not isinstance(name, str):
                raise InvalidParameterError(
                    f"Metrics.plot(columns=...): column names are strings, got {type(name).__name__}"
                )
            if name not in present and self._rows:
                raise InvalidParameterError(
                    f"Metrics.plot(columns=...): no values for {name!r}; columns with values: "
                    + ", ".join(sorted(present))
                )
        return names

    def _columns_with_values(self) -> set[str]:
        return {key for row in self._rows for key, value in row.as_dict().items()
                if value is not None and key != "step"}

    @property
    def has_rewards(self) -> bool:
        """Whether any step has a reward value (`train_reward_mean`, `valid_reward_mean` or
        `full_valid_reward_mean`): a reinforcement fine-tuning job's metrics."""
        return any(name in row.extra for row in self._rows for name in _REWARDS)


def _is_reward(name: str) -> bool:
    # `train_reward_mean`, ... and a multi grader's `<grader>.train_reward_mean`
    return name in _REWARDS or any(name.endswith("." + reward) for reward in _REWARDS)


def with_rewards_from(results: Metrics, events: Metrics) -> Metrics:
    """`results` (from the result CSV) with the reward columns of `events` added, by step (a
    multi grader's per-grader rewards too).

    For a reinforcement job whose result file carries no reward columns: the rewards are in its
    events. Steps only the events have become rows with just those values; a value the CSV has
    is kept.
    """
    rewards: dict[int, dict[str, float]] = {}
    for row in events:
        found = {name: value for name, value in row.extra.items() if _is_reward(name)}
        if found:
            rewards[row.step] = found
    if not rewards:
        return results
    by_step = {row.step: row for row in results}
    merged: list[MetricRow] = []
    for step in sorted(by_step.keys() | rewards.keys()):
        row = by_step.get(step) or MetricRow(step=step)
        extra = {**rewards.get(step, {}), **row.extra}
        merged.append(dataclasses.replace(row, extra=extra))
    return Metrics(merged, source="results+events")


def metrics_from_events(events: Iterable[Any]) -> Metrics:
    """Rows from a job's events ([`JobEvent`][JobEvent] objects, or wire dicts / SDK objects).

    Reads ``metrics`` events' structured ``data`` (OpenAI) and step lines in ``message`` events
    (``Step 8250: training loss=3.81E-06``, how Azure reports progress). When both describe the
    same step, the structured row wins and the message only fills the fields it lacks.
    """
    structured: dict[int, dict[str, Any]] = {}
    from_text: dict[int, dict[str, Any]] = {}
    for item in events:
        event = item if isinstance(item, JobEvent) else JobEvent.from_wire(item)
        data = event.metrics
        if data is None:
            continue
        step = _number(data.get("step"))
        if step is None:
            continue
        target = structured if event.is_structured_metrics else from_text
        target.setdefault(int(step), {}).update(data)
    rows: list[MetricRow] = []
    for step in sorted(structured.keys() | from_text.keys()):
        merged = {**from_text.get(step, {}), **structured.get(step, {})}
        row = MetricRow.from_mapping(merged)
        if row is not None:
            rows.append(row)
    return Metrics(rows, source="events")


def _maybe_base64(text: str) -> str:
    # Azure OpenAI has served results.csv base64-encoded; plain CSV always has a comma in its header.
    head = text.strip()
    if not head or "," in head.splitlines()[0]:
        return text
    try:
        decoded = base64.b64decode("".join(head.split()), validate=True).decode("utf-8-sig")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return text
    return decoded if "," in decoded else text


def metrics_from_csv(text: str | bytes) -> Metrics:
    """Rows from a job's result file (``results.csv``). Empty cells become ``None``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    text = _maybe_base64(text.lstrip("\ufeff"))
    reader = csv.DictReader(io.StringIO(text))
    rows: list[MetricRow] = []
    for raw in reader:
        cleaned = {(k or "").strip(): v for k, v in raw.items() if k}
        row = MetricRow.from_mapping(cleaned)
        if row is not None:
            rows.append(row)
    return Metrics(rows, source="results")
