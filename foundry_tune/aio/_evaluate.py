"""``await evaluate(...)``: the async twin of :func:`foundry_tune.evaluate`.

Checks, examples, prompts, metrics, statistics and the report are the sync module's; requests
run as tasks on the caller's event loop, ``concurrency`` at a time, through the async retry policy.
Cancelling the awaiting task keeps what was measured (the report is marked interrupted).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from foundry_tune.errors import ConfigurationError
from foundry_tune.evaluation._completion import Completion, completion_from_response
from foundry_tune.evaluation._evaluate import DEFAULT_METRICS, prepare, summarize
from foundry_tune.evaluation._examples import Example
from foundry_tune.evaluation._grader_metric import GraderMetric, grader_reward
from foundry_tune.evaluation._progress import ProgressUpdate, make_progress
from foundry_tune.evaluation._report import EvaluationReport
from foundry_tune.evaluation._runner import RunOutcome, Sample, _describe
from foundry_tune.evaluation._targets import Target
from foundry_tune.evaluation.metrics import Metric

if TYPE_CHECKING:
    from foundry_tune.aio._foundry import AsyncFoundry

__all__ = ["evaluate"]


async def _complete(ft: AsyncFoundry, target: Target, messages: list[dict[str, Any]]) -> Completion:
    last_start = [0.0]

    async def attempt() -> Any:
        last_start[0] = time.perf_counter()
        return await ft.openai.chat.completions.create(model=target.model, messages=messages,  # type: ignore[arg-type]
                                                       **target.params)

    response = await ft.retry.call(attempt, what=f"chat completion on {target.model}")
    return completion_from_response(response, time.perf_counter() - last_start[0])


async def _score(ft: AsyncFoundry, metric: Metric | GraderMetric, output: str, example: Example) -> float:
    if isinstance(metric, GraderMetric) and not metric.local:
        graders = ft.openai.fine_tuning.alpha.graders

        async def run() -> Any:
            return await graders.run(grader=dict(metric.definition), model_sample=output,  # type: ignore[arg-type]
                                     item=dict(example.item))

        return grader_reward(await ft.retry.call(run, what="grader run"))
    return metric.score(output, example)


async def _one(ft: AsyncFoundry, target: Target, example: Example,
               metrics: Sequence[Metric | GraderMetric]) -> Sample:
    sample = Sample(line=example.line)
    try:
        completion = await _complete(ft, target, target.render(example))
    except Exception as exc:  # every failure is recorded per request; the run goes on
        sample.error = _describe(exc)
        return sample
    sample.output = completion.text
    sample.prompt_tokens = completion.prompt_tokens
    sample.completion_tokens = completion.completion_tokens
    sample.latency = completion.latency
    for metric in metrics:
        try:
            sample.scores[metric.name] = await _score(ft, metric, completion.text, example)
        except Exception as exc:
            sample.metric_errors[metric.name] = _describe(exc)
    return sample


async def evaluate(
    targets: object,
    dataset: object,
    metrics: Sequence[object] | object = DEFAULT_METRICS,
    *,
    foundry: AsyncFoundry | None = None,
    concurrency: int = 8,
    limit: int | None = None,
    reference_field: str | None = None,
    progress: bool | Callable[[ProgressUpdate], None] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> EvaluationReport:
    """Ask every target every example of ``dataset`` and score the answers; the arguments and the
    report are those of :func:`foundry_tune.evaluate`. ``foundry`` is an :class:`AsyncFoundry`
    (taken from the deployments when omitted)."""
    prepared = prepare(targets, dataset, metrics, foundry=foundry, concurrency=concurrency, limit=limit,
                       reference_field=reference_field, confidence=confidence)
    ft = prepared.connection
    from foundry_tune.aio._foundry import AsyncFoundry

    if not isinstance(ft, AsyncFoundry):
        raise ConfigurationError("the async evaluate() needs an AsyncFoundry: pass foundry=AsyncFoundry(...)")
    reporter = make_progress(progress)
    examples = prepared.examples
    samples: dict[str, list[Sample | None]] = {t.name: [None] * len(examples) for t in prepared.targets}
    slots = asyncio.Semaphore(concurrency)

    async def one(target: Target, index: int) -> None:
        async with slots:
            sample = await _one(ft, target, examples[index], prepared.metrics)
        samples[target.name][index] = sample
        reporter.advance(failed=sample.error is not None)

    reporter.start(len(prepared.targets) * len(examples))
    # Interleaved, so that an interrupted run still holds complete pairs to compare.
    tasks = [asyncio.ensure_future(one(t, i)) for i in range(len(examples)) for t in prepared.targets]
    interrupted = False
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        interrupted = True
        for task in tasks:
            task.cancel()
    finally:
        reporter.close()
    return summarize(prepared, RunOutcome(samples, interrupted), confidence=confidence, seed=seed)
