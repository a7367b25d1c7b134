"""Everything ``evaluate()`` does without a request: resolve and check the targets, metrics and
examples before anything is sent, and summarize what a run measured into a report. Shared by both
flavours of the runner (``foundry_tune/evaluation/_async/_evaluate.py`` and its generated twin)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from foundry_tune.errors import GraderError, InvalidParameterError
from foundry_tune.evaluation import metrics as _metrics
from foundry_tune.evaluation._examples import Example, load_examples
from foundry_tune.evaluation._grader_metric import GraderMetric
from foundry_tune.evaluation._report import EvaluationReport, MetricInfo, TargetResult
from foundry_tune.evaluation._samples import RunOutcome
from foundry_tune.evaluation._targets import Target, as_target
from foundry_tune.evaluation._tool_calls import reference_calls

__all__ = ["DEFAULT_METRICS", "TOOL_CALL_METRICS", "Prepared", "default_metrics", "prepare", "summarize"]

DEFAULT_METRICS = ("exact_match", "normalized_match", "rouge_l")
"""The metrics ``evaluate()`` scores with when none are given (and no reference calls tools)."""

TOOL_CALL_METRICS = ("tool_call_match", "tool_name_match")
"""The metrics ``evaluate()`` scores with when none are given and a reference answer calls tools:
text metrics would compare JSON texts (call ids included), not the calls."""


def default_metrics(examples: Sequence[Example]) -> tuple[str, ...]:
    """The metrics for ``metrics`` left at its default: [`TOOL_CALL_METRICS`][TOOL_CALL_METRICS] when a
    reference
    answer calls tools (a tool-calling test set, text rows included), else
    [`DEFAULT_METRICS`][DEFAULT_METRICS]."""
    if any(reference_calls(e) for e in examples):
        return TOOL_CALL_METRICS
    return DEFAULT_METRICS


def _targets(targets: object) -> list[Target]:
    if isinstance(targets, Mapping):
        resolved = [as_target(value, str(name)) for name, value in targets.items()]
    elif isinstance(targets, (str, Target)) or not isinstance(targets, Sequence):
        resolved = [as_target(targets)]
    else:
        resolved = [as_target(t) for t in targets]
    if not resolved:
        raise InvalidParameterError("evaluate() needs at least one target")
    names = [t.name for t in resolved]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidParameterError(
            f"two targets are labelled {duplicates[0]!r}: give each a distinct name "
            "(a dict {label: target} or Target(..., name=...))")
    return resolved


def _connection(foundry: object | None, targets: Sequence[Target]) -> object | None:
    """The explicit connection, else the one a deployment target was created on."""
    if foundry is not None:
        return foundry
    for target in targets:
        for attribute in ("foundry", "_ft", "_foundry", "connection"):
            found = getattr(target.deployment, attribute, None)
            if found is not None and hasattr(found, "openai"):
                return found  # type: ignore[no-any-return]
    return None


def _check_item_fields(metric: GraderMetric, examples: Sequence[Example]) -> None:
    try:
        from foundry_tune.graders import template_references
    except ImportError:
        return
    needed = template_references(dict(metric.definition)).item_fields
    for example in examples:
        missing = sorted(f for f in needed if f not in example.item)
        if missing:
            raise GraderError(
                f"line {example.line}: the grader {metric.name!r} uses {{{{item.{missing[0]}}}}}, "
                "which the row does not have")


def _check(examples: Sequence[Example], targets: Sequence[Target],
           metrics: Sequence[_metrics.Metric | GraderMetric]) -> None:
    """Everything that can be wrong before a request is sent."""
    for metric in metrics:
        if metric.needs_reference:
            missing = next((e for e in examples if e.reference is None), None)
            if missing is not None:
                raise InvalidParameterError(
                    f"line {missing.line}: metric {metric.name!r} needs a reference answer and the row "
                    "has none (no final assistant turn); name the row field with reference_field=")
        if isinstance(metric, GraderMetric):
            metric.check_runnable()
            _check_item_fields(metric, examples)
    for target in targets:
        for example in examples:
            messages = target.render(example)
            if not any(m.get("role") == "user" for m in messages):
                raise InvalidParameterError(
                    f"line {example.line}: the prompt for {target.name!r} has no user message; "
                    "give the target a user= template")


@dataclasses.dataclass(frozen=True)
class Prepared:
    """An evaluation checked and ready to run (shared by the sync and async ``evaluate``)."""

    targets: list[Target]
    metrics: list[_metrics.Metric | GraderMetric]
    examples: list[Example]
    connection: object | None


def prepare(
    targets: object,
    dataset: object,
    metrics: Sequence[object] | object,
    *,
    foundry: object | None,
    concurrency: int,
    limit: int | None,
    reference_field: str | None,
    confidence: float,
) -> Prepared:
    """Resolve targets, metrics and examples and check everything before a request is sent."""
    if not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidParameterError("concurrency must be a positive integer")
    if not 0 < confidence < 1:
        raise InvalidParameterError("confidence must be between 0 and 1")
    if limit is not None and limit < 1:
        raise InvalidParameterError("limit must be at least 1")
    resolved_targets = _targets(targets)
    chosen = metrics is DEFAULT_METRICS  # left at its default: chosen from the data below
    if isinstance(metrics, (str, Mapping)) or not isinstance(metrics, Sequence):
        specs: list[object] = [metrics]
    else:
        specs = list(metrics)
    if not specs:
        raise InvalidParameterError("evaluate() needs at least one metric")
    connection = _connection(foundry, resolved_targets)
    resolved_metrics = [_metrics.resolve(s).bind(connection) for s in specs]
    names = [m.name for m in resolved_metrics]
    if len(set(names)) != len(names):
        raise InvalidParameterError("two metrics share a name: give one of them name=")
    examples = list(load_examples(dataset, reference_field=reference_field, limit=limit))
    if chosen and (by_data := default_metrics(examples)) is not DEFAULT_METRICS:
        resolved_metrics = [_metrics.resolve(s).bind(connection) for s in by_data]
    _check(examples, resolved_targets, resolved_metrics)
    return Prepared(resolved_targets, resolved_metrics, examples, connection)


def summarize(prepared: Prepared, outcome: RunOutcome, *, confidence: float, seed: int) -> EvaluationReport:
    """The report of a finished (or interrupted) run."""
    infos = tuple(MetricInfo(m.name, m.binary) for m in prepared.metrics)
    results = tuple(
        TargetResult.build(t, outcome.samples[t.name], infos, confidence, seed) for t in prepared.targets
    )
    return EvaluationReport(results, infos, len(prepared.examples), outcome.interrupted, confidence, seed)
