"""The evaluation report: per-target scores with intervals, tokens, latency, cost, paired differences.

It renders as the table people fine-tune for (metric | base model | fine-tuned model | difference)
in text, HTML (notebooks), a pandas DataFrame, a dict / JSON, and a bar chart.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from statistics import fmean, quantiles
from typing import TYPE_CHECKING, Any

from foundry_tune._table import html_table, text_table
from foundry_tune.errors import ConfigurationError, InvalidParameterError
from foundry_tune.evaluation._cost import InferenceCost, inference_cost
from foundry_tune.evaluation._samples import Sample
from foundry_tune.evaluation._stats import Estimate, PairedDifference, estimate, paired_difference
from foundry_tune.evaluation._targets import Target

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EvaluationReport", "MetricInfo", "TargetResult"]


@dataclasses.dataclass(frozen=True)
class MetricInfo:
    """A metric's name and whether it is pass/fail."""

    name: str
    binary: bool


def _mean(values: Sequence[float]) -> float | None:
    return fmean(values) if values else None


def _percentile(values: Sequence[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[q - 1]


@dataclasses.dataclass(frozen=True)
class TargetResult:
    """Everything measured for one target."""

    name: str
    model: str
    tuned: bool
    samples: tuple[Sample | None, ...] = dataclasses.field(repr=False)
    scores: dict[str, Estimate]
    answered: int
    failed: int
    prompt_tokens: float | None
    """Mean prompt tokens per request, as the service reported them."""
    completion_tokens: float | None
    latency_p50: float | None
    latency_p95: float | None
    cost: InferenceCost | None
    scoring_errors: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    """Per metric: how many answers it could not score, and the first error message."""

    @classmethod
    def build(cls, target: Target, samples: Sequence[Sample | None], metrics: Sequence[MetricInfo],
              confidence: float, seed: int) -> TargetResult:
        """Summarize one target's samples."""
        answered = [s for s in samples if s is not None and s.error is None]
        failed = sum(1 for s in samples if s is not None and s.error is not None)
        scores = {
            m.name: estimate([s.scores[m.name] for s in answered if m.name in s.scores],
                             binary=m.binary, confidence=confidence, seed=seed)
            for m in metrics
        }
        prompt = _mean([s.prompt_tokens for s in answered if s.prompt_tokens is not None])
        completion = _mean([s.completion_tokens for s in answered if s.completion_tokens is not None])
        latencies = sorted(s.latency for s in answered if s.latency is not None)
        scoring_errors: dict[str, tuple[int, str]] = {}
        for sample in answered:
            for name, message in sample.metric_errors.items():
                count, first = scoring_errors.get(name, (0, message))
                scoring_errors[name] = (count + 1, first)
        return cls(
            name=target.name, model=target.model, tuned=target.tuned, samples=tuple(samples),
            scores=scores, answered=len(answered), failed=failed,
            prompt_tokens=prompt, completion_tokens=completion,
            latency_p50=_percentile(latencies, 50), latency_p95=_percentile(latencies, 95),
            cost=inference_cost(target.price_model, tuned=target.tuned, prompt_tokens=prompt,
                                completion_tokens=completion),
            scoring_errors=scoring_errors,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-example samples)."""
        return {
            "name": self.name, "model": self.model, "tuned": self.tuned,
            "answered": self.answered, "failed": self.failed,
            "scores": {k: dataclasses.asdict(v) for k, v in self.scores.items()},
            "mean_prompt_tokens": self.prompt_tokens, "mean_completion_tokens": self.completion_tokens,
            "latency_p50_s": self.latency_p50, "latency_p95_s": self.latency_p95,
            "cost": None if self.cost is None else {
                **dataclasses.asdict(self.cost), "per_1k_requests": self.cost.per_1k_requests},
            "scoring_errors": {k: {"count": n, "first": m} for k, (n, m) in self.scoring_errors.items()},
        }


def _pairs(first: TargetResult, second: TargetResult, metric: str) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for x, y in zip(first.samples, second.samples, strict=True):
        if x is not None and y is not None and metric in x.scores and metric in y.scores:
            a.append(x.scores[metric])
            b.append(y.scores[metric])
    return a, b


def _ratio(new: float | None, old: float | None) -> str:
    if new is None or old is None or old == 0:
        return ""
    return f"{new / old:.2f}x"


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
    """Results of [`foundry_tune.evaluate()`][evaluate]; the first target is the baseline of every
    comparison."""

    targets: tuple[TargetResult, ...]
    metrics: tuple[MetricInfo, ...]
    examples: int
    interrupted: bool = False
    confidence: float = 0.95
    seed: int = 0

    def __getitem__(self, name: str) -> TargetResult:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)

    def compare(self, first: str | None = None, second: str | None = None) -> dict[str, PairedDifference]:
        """Paired difference ``second - first`` per metric (default: second target minus the first)."""
        if len(self.targets) < 2:
            raise InvalidParameterError("a comparison needs two targets")
        a = self[first] if first is not None else self.targets[0]
        b = self[second] if second is not None else self.targets[1]
        return {
            m.name: paired_difference(*_pairs(a, b, m.name), binary=m.binary,
                                      confidence=self.confidence, seed=self.seed)
            for m in self.metrics
        }

    # -- the table --------------------------------------------------------------------------

    def _difference_columns(self) -> list[tuple[str, TargetResult, dict[str, PairedDifference]]]:
        base = self.targets[0]
        others = self.targets[1:]
        return [
            ("difference" if len(others) == 1 else f"{t.name} vs {base.name}", t,
             self.compare(base.name, t.name))
            for t in others
        ]

    def rows(self) -> list[list[str]]:
        """The table as text cells, header first."""
        diffs = self._difference_columns()
        base = self.targets[0]
        header = ["metric", *[t.name for t in self.targets], *[d[0] for d in diffs]]
        rows = [header]
        for m in self.metrics:
            cells = [m.name]
            for t in self.targets:
                e = t.scores[m.name]
                if e.n == 0:
                    cells.append("n/a")
                elif m.binary:
                    cells.append(f"{100 * e.mean:.1f}% [{100 * e.low:.1f}, {100 * e.high:.1f}]")
                else:
                    cells.append(f"{e.mean:.3f} [{e.low:.3f}, {e.high:.3f}]")
            for _, _, comparison in diffs:
                d = comparison[m.name]
                if d.n == 0:
                    cells.append("")
                elif m.binary:
                    cells.append(f"{100 * d.difference:+.1f} pts ({_p(d.p_value)}, McNemar)")
                else:
                    cells.append(f"{d.difference:+.3f} ({_p(d.p_value)}, sign-flip)")
            rows.append(cells)

        def stat_row(label: str, value: Any, fmt: str, ratio: bool = True) -> None:
            values = [value(t) for t in self.targets]
            cells = [label, *[format(v, fmt) if v is not None else "n/a" for v in values]]
            cells += [_ratio(value(t), value(base)) if ratio else "" for _, t, _ in diffs]
            rows.append(cells)

        stat_row("mean prompt tokens", lambda t: t.prompt_tokens, ",.0f")
        stat_row("mean completion tokens", lambda t: t.completion_tokens, ",.0f")
        stat_row("latency p50 (s)", lambda t: t.latency_p50, ".2f")
        stat_row("latency p95 (s)", lambda t: t.latency_p95, ".2f")
        stat_row("cost per 1k requests (USD)", lambda t: t.cost.per_1k_requests if t.cost else None, ",.4f")
        rows.append(["answered / failed", *[f"{t.answered} / {t.failed}" for t in self.targets],
                     *["" for _ in diffs]])
        return rows

    def to_text(self) -> str:
        """The table as aligned text."""
        notes = [f"{self.examples} examples, {round(100 * self.confidence)}% confidence intervals."]
        if self.interrupted:
            notes.append("Interrupted: partial results.")
        problems = [
            f"{t.name}: {count} answers not scored by {metric} (first error: {first})"
            for t in self.targets for metric, (count, first) in t.scoring_errors.items()
        ] + [
            f"{t.name}: {t.failed} requests failed (first error: {first})"
            for t in self.targets if t.failed
            for first in [next(s.error for s in t.samples if s is not None and s.error)]
        ]
        return "\n".join([text_table(self.rows()), "", " ".join(notes), *problems])

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        caption = f"{self.examples} examples"
        if self.interrupted:
            caption += " (interrupted: partial results)"
        return html_table(self.rows(), caption)

    # -- machine-readable forms ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: metrics, per-target summaries and the paired comparisons."""
        comparisons = [
            {"baseline": self.targets[0].name, "target": t.name, "metric": metric,
             **{k: v for k, v in dataclasses.asdict(d).items() if k != "confidence"}}
            for _, t, comparison in (self._difference_columns() if len(self.targets) > 1 else [])
            for metric, d in comparison.items()
        ]
        return {
            "examples": self.examples, "interrupted": self.interrupted, "confidence": self.confidence,
            "metrics": [dataclasses.asdict(m) for m in self.metrics],
            "targets": [t.to_dict() for t in self.targets],
            "comparisons": comparisons,
        }

    def to_json(self, **kwargs: Any) -> str:
        """`to_dict()` as JSON (NaN written as `null`, and so is the unbounded side of an interval:
        a continuous comparison of 5 or fewer examples has no finite 95% interval)."""
        def clean(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value

        return json.dumps(clean(self.to_dict()), **kwargs)

    def to_pandas(self, *, samples: bool = False) -> pd.DataFrame:
        """The table as numbers (rows: metrics and statistics; columns: targets), or with
        ``samples=True`` one row per target and example (output, tokens, latency, scores, error)."""
        try:
            import pandas as pd
        except ModuleNotFoundError:
            raise ConfigurationError("to_pandas() needs pandas: pip install 'foundry-tune[pandas]'") from None
        if samples:
            records = [
                {"target": t.name, "line": s.line, "output": s.output, "prompt_tokens": s.prompt_tokens,
                 "completion_tokens": s.completion_tokens, "latency_s": s.latency, "error": s.error,
                 **s.scores}
                for t in self.targets for s in t.samples if s is not None
            ]
            frame: pd.DataFrame = pd.DataFrame.from_records(records)
            return frame
        index = [m.name for m in self.metrics] + [
            "mean prompt tokens", "mean completion tokens", "latency p50 (s)", "latency p95 (s)",
            "cost per 1k requests (USD)"]
        data: dict[str, list[float | None]] = {
            t.name: [*(t.scores[m.name].mean for m in self.metrics),
                t.prompt_tokens, t.completion_tokens, t.latency_p50, t.latency_p95,
                t.cost.per_1k_requests if t.cost else None]
            for t in self.targets
        }
        table: pd.DataFrame = pd.DataFrame(data, index=index, dtype="float64")
        return table

    def plot(self, ax: Any = None, path: str | None = None, *, title: str | None = None) -> Any:
        """Bar chart of every metric per target with confidence intervals (needs the `plot` extra,
        matplotlib).

        :param ax: A matplotlib Axes to draw into; without it and without `path`, a new pyplot figure
            (shown inline in a notebook).
        :param path: Save the figure there (the format follows the suffix, e.g. `.png`). Without `ax` the
            figure is then only saved, not shown: matplotlib's backend and pyplot's figures are left as
            they were, so a notebook keeps showing plots inline.
        :param title: A title for the chart (default: none).
        :returns: The matplotlib Axes drawn into (`.figure` is its figure), as every `.plot()` of the
            library returns.
        :raises ConfigurationError: matplotlib is not installed.
        :raises InvalidParameterError: `ax` is not an Axes or `path` not a file name.
        """
        from foundry_tune._core.plotting import axes_for, save_figure

        figsize = (1.6 + 1.4 * len(self.metrics) * len(self.targets) / 2, 3.6)
        ax = axes_for(ax, path, what="EvaluationReport.plot()", figsize=figsize)
        width = 0.8 / len(self.targets)
        for i, t in enumerate(self.targets):
            estimates = [t.scores[m.name] for m in self.metrics]
            positions = [j + (i - (len(self.targets) - 1) / 2) * width for j in range(len(self.metrics))]
            means = [e.mean for e in estimates]
            errors = [[e.mean - e.low for e in estimates], [e.high - e.mean for e in estimates]]
            ax.bar(positions, means, width, yerr=errors, capsize=3, label=t.name)
        ax.set_xticks(range(len(self.metrics)), [m.name for m in self.metrics])
        ax.set_ylabel("score")
        ax.set_ylim(0, max(1.0, *(t.scores[m.name].high for t in self.targets for m in self.metrics
                                   if not math.isnan(t.scores[m.name].high))))
        ax.legend()
        if title is not None:
            ax.set_title(title)
        save_figure(ax, path, what="EvaluationReport.plot()")
        return ax
