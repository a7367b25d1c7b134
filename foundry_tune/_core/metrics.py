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
from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    import pandas

__all__ = ["MetricRow", "Metrics", "metrics_from_csv", "metrics_from_events"]

_KNOWN = (
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


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
        """Parse one row; ``None`` when it has no usable step number."""
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
    """The metrics of a job, one :class:`MetricRow` per step in step order."""

    def __init__(self, rows: Iterable[MetricRow], *, source: str) -> None:
        by_step: dict[int, MetricRow] = {}
        for row in rows:
            by_step[row.step] = row
        self._rows = [by_step[s] for s in sorted(by_step)]
        self.source = source
        """``"events"`` or ``"results"`` (the result CSV)."""

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

    def plot(self, path: str | Path | None = None, *, title: str | None = None) -> Any:
        """Plot train/validation loss (needs the ``plot`` extra, matplotlib).

        Returns the matplotlib Figure; when ``path`` is given the figure is also saved there (the
        format follows the suffix, e.g. ``.png``).
        """
        try:
            import matplotlib

            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise FoundryTuneError(
                "Metrics.plot() needs matplotlib: pip install 'foundry-tune[plot]'"
            ) from exc
        fig, ax = plt.subplots(figsize=(7, 4))
        steps = [row.step for row in self._rows]
        for name, label in (("train_loss", "train loss"), ("valid_loss", "validation loss"),
                            ("full_valid_loss", "full validation loss")):
            values = self.column(name)
            points = [(s, v) for s, v in zip(steps, values, strict=True) if v is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], label=label,
                        marker="o" if name == "full_valid_loss" else None)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title or "fine-tuning loss")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(str(path), dpi=120)
            plt.close(fig)
        return fig


def metrics_from_events(events: Iterable[Any]) -> Metrics:
    """Rows from a job's events (:class:`JobEvent` objects, or wire dicts / SDK objects).

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
