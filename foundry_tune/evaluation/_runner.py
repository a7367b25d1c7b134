"""Send every (target, example) request with bounded concurrency and score the answers.

Requests run on a thread pool of ``concurrency`` workers; each goes through the connection's
retry policy. Ctrl-C stops sending: the answers already in are kept and the run is marked
interrupted, so the report still shows what was measured.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
from collections.abc import Sequence
from typing import Protocol

from foundry_tune.errors import FoundryTuneError
from foundry_tune.evaluation._completion import Completer
from foundry_tune.evaluation._examples import Example
from foundry_tune.evaluation._progress import Progress
from foundry_tune.evaluation._targets import Target

__all__ = ["RunOutcome", "Sample", "Scorer", "run"]


class Scorer(Protocol):
    """What the runner needs of a metric."""

    @property
    def name(self) -> str: ...

    def score(self, output: str, example: Example) -> float: ...


@dataclasses.dataclass
class Sample:
    """One target's answer to one example, with its scores (``error`` set when the request failed)."""

    line: int
    output: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency: float | None = None
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    error: str | None = None
    metric_errors: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunOutcome:
    """Per target label, one entry per example (``None`` where the run was interrupted first)."""

    samples: dict[str, list[Sample | None]]
    interrupted: bool


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FoundryTuneError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _one(target: Target, example: Example, metrics: Sequence[Scorer], complete: Completer) -> Sample:
    sample = Sample(line=example.line)
    try:
        completion = complete(target, target.render(example))
    except Exception as exc:  # every failure is recorded per request; the run goes on
        sample.error = _describe(exc)
        return sample
    sample.output = completion.text
    sample.prompt_tokens = completion.prompt_tokens
    sample.completion_tokens = completion.completion_tokens
    sample.latency = completion.latency
    for metric in metrics:
        try:
            sample.scores[metric.name] = metric.score(completion.text, example)
        except Exception as exc:
            sample.metric_errors[metric.name] = _describe(exc)
    return sample


def run(
    targets: Sequence[Target],
    examples: Sequence[Example],
    metrics: Sequence[Scorer],
    complete: Completer,
    *,
    concurrency: int,
    progress: Progress,
) -> RunOutcome:
    """Evaluate every target on every example; see the module docstring."""
    samples: dict[str, list[Sample | None]] = {t.name: [None] * len(examples) for t in targets}
    progress.start(len(targets) * len(examples))
    pool = cf.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="foundry-tune-eval")
    interrupted = False
    try:
        # Interleaved, so that an interrupted run still holds complete pairs to compare.
        futures = {
            pool.submit(_one, target, example, metrics, complete): (target.name, i)
            for i, example in enumerate(examples)
            for target in targets
        }
        pending = set(futures)
        while pending:
            done, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
            for future in done:
                name, index = futures[future]
                sample = future.result()
                samples[name][index] = sample
                progress.advance(failed=sample.error is not None)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        progress.close()
    return RunOutcome(samples, interrupted)
