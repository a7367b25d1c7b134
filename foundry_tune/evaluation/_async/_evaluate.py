"""``evaluate()``: check everything locally, send every (target, example) request, at most
``concurrency`` at a time, score the answers and summarize them into a report.

The number in flight adapts to the service's rate limit (see `_core.concurrency`), one limiter per
model or deployment (each has its own limit on Azure): a 429 (seen through the retry policy's
notices, although the policy retries it inside one call) halves that one's and pauses its new
requests for the service's ``Retry-After``; successes raise it again, one per window.

Each request goes through the connection's retry policy (or a completer you pass). An interruption
(Ctrl-C, or cancelling the task that awaits it) stops sending: the answers already in are kept and
the report is marked interrupted, so it still shows what was measured.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from foundry_tune._async import _flavour
from foundry_tune._async._grading import score_on_service, service_connection
from foundry_tune._core.concurrency import AdaptiveConcurrency
from foundry_tune._core.retry import RetryNotice, observe_retries
from foundry_tune.errors import ConfigurationError
from foundry_tune.evaluation._completion import Completion, completion_from_response
from foundry_tune.evaluation._examples import Example, Message
from foundry_tune.evaluation._grader_metric import GraderMetric
from foundry_tune.evaluation._prepare import DEFAULT_METRICS, prepare, summarize
from foundry_tune.evaluation._progress import Progress, ProgressUpdate, make_progress
from foundry_tune.evaluation._report import EvaluationReport
from foundry_tune.evaluation._samples import RunOutcome, Sample, describe
from foundry_tune.evaluation._targets import Target, for_example
from foundry_tune.evaluation.metrics import Metric

if TYPE_CHECKING:
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["Completer", "FoundryCompleter", "evaluate", "run"]


class Completer(Protocol):
    """Sends one request and returns its `Completion`; [`FoundryCompleter`][FoundryCompleter] is the one
    ``evaluate()`` uses. Pass your own as ``completer=`` (a function or an object with this
    ``__call__``; where ``evaluate()`` is awaited, it may also be a coroutine function)."""

    def __call__(self, target: Target, messages: list[Message]) -> MaybeAwaitable[Completion]: ...


# Who wants the headers of the answers in the code running now (the run's rate limiter).
_answer_headers: contextvars.ContextVar[Callable[[Mapping[str, str]], None] | None] = contextvars.ContextVar(
    "foundry_tune_answer_headers", default=None)

# False: a fixed ``concurrency`` whatever the service answers (the behaviour before issue 15, kept
# for benchmarks/evaluate.py and the tests to compare with).
_adaptive: contextvars.ContextVar[bool] = contextvars.ContextVar("foundry_tune_adaptive_concurrency",
                                                                 default=True)

# The gate of the target the code running now sends to (each request's task or thread sets it):
# its 429s and rate-limit headers feed that target's limiter only.
_target_gate: contextvars.ContextVar[_flavour.AdaptiveGate | None] = contextvars.ContextVar(
    "foundry_tune_target_gate", default=None)


class FoundryCompleter:
    """Chat completions on a Foundry connection (its ``openai`` client and ``retry`` policy).
    The service's rate-limit headers of each answer go to the run's concurrency limiter."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def __call__(self, target: Target, messages: list[Message]) -> Completion:
        last_start = [0.0]
        observe = _answer_headers.get()

        async def attempt() -> Any:
            last_start[0] = time.perf_counter()
            if observe is None:
                return await self.connection.openai.chat.completions.create(
                    model=target.model, messages=messages, **target.params
                )
            raw = await self.connection.openai.chat.completions.with_raw_response.create(
                model=target.model, messages=messages, **target.params
            )
            observe(raw.headers)
            return raw.parse()

        response = await self.connection.retry.call(attempt, what=f"chat completion on {target.model}")
        return completion_from_response(response, time.perf_counter() - last_start[0])


async def _score(metric: Metric | GraderMetric, output: str, example: Example) -> float:
    """One metric's score; a service-side grader runs on the metric's connection."""
    if not isinstance(metric, GraderMetric) or metric.local:
        return metric.score(output, example)
    return await score_on_service(metric, output, example)


async def _one(target: Target, example: Example, metrics: Sequence[Metric | GraderMetric],
               complete: Completer, gate: _flavour.AdaptiveGate | None = None) -> Sample:
    sample = Sample(line=example.line)
    request = (complete, for_example(target, example), target.render(example))
    try:
        if gate is None:
            completion = await _flavour.call(*request)
        else:
            async with gate:
                completion = await _flavour.call(*request)
            gate.succeeded()
    except Exception as exc:  # every failure is recorded per request; the run goes on
        sample.error = describe(exc)
        return sample
    sample.output = completion.text
    sample.prompt_tokens = completion.prompt_tokens
    sample.completion_tokens = completion.completion_tokens
    sample.latency = completion.latency
    for metric in metrics:
        try:
            sample.scores[metric.name] = await _score(metric, completion.text, example)
        except Exception as exc:
            sample.metric_errors[metric.name] = describe(exc)
    return sample


async def run(
    targets: Sequence[Target],
    examples: Sequence[Example],
    metrics: Sequence[Metric | GraderMetric],
    complete: Completer,
    *,
    concurrency: int,
    progress: Progress,
    adaptive: bool = True,
) -> RunOutcome:
    """Ask every target every example, at most ``concurrency`` requests at a time (fewer while the
    service throttles, unless ``adaptive`` is false: then always ``concurrency``, the old
    behaviour); see the module docstring."""
    samples: dict[str, list[Sample | None]] = {t.name: [None] * len(examples) for t in targets}
    # Interleaved, so that an interrupted run still holds complete pairs to compare.
    work = [(target, index) for index in range(len(examples)) for target in targets]
    # One limiter per model or deployment (targets on the same one share it): each adapts to its
    # own rate limit, and a 429 of one deployment neither halves nor pauses the others;
    # ``bounded_map`` keeps the total in flight at ``concurrency``.
    gates = ({t.model: _flavour.AdaptiveGate(AdaptiveConcurrency(concurrency)) for t in targets}
             if adaptive else {})
    progress.concurrency = progress.maximum = max(1, concurrency)

    def in_flight_allowed() -> int:
        if not gates:
            return concurrency
        return min(max(1, concurrency), sum(g.limiter.limit for g in gates.values()))

    def noticed(notice: RetryNotice) -> None:
        gate = _target_gate.get()
        if gate is not None and notice.reason == "429":
            gate.throttled(notice.delay)
        progress.retried(notice)

    def stop() -> None:
        for gate in gates.values():
            gate.close()  # requests waiting at a gate after an interruption are not sent

    async def one(item: tuple[Target, int]) -> None:
        target, index = item
        gate = gates.get(target.model)
        # Set in this request's own task (thread) context: seen by its retries and its answers.
        _target_gate.set(gate)
        _answer_headers.set(gate.observe if gate is not None else None)
        sample = await _one(target, examples[index], metrics, complete, gate)
        progress.concurrency = in_flight_allowed()
        samples[target.name][index] = sample
        progress.advance(failed=sample.error is not None)
        await _reported(progress)  # unasync: remove

    progress.start(len(work))
    await _reported(progress)  # unasync: remove
    interrupted = False
    try:
        with observe_retries(noticed):
            await _flavour.bounded_map(one, work, concurrency, stop=stop)
    except _flavour.INTERRUPTS:
        interrupted = True
    finally:
        progress.close()
    # A copy: after an interruption, requests still in flight must not change the report.
    return RunOutcome({name: list(column) for name, column in samples.items()}, interrupted)


# unasync: remove-begin
class _CallbackProgress(Progress):
    """Progress reported to a callback that may be a coroutine function: what it returned is
    awaited by [`_reported()`][_reported] (the sync flavour gives the callback to ``Progress`` as it is)."""

    def __init__(self, callback: Callable[[ProgressUpdate], MaybeAwaitable[None]]) -> None:
        super().__init__(self._call)
        self.callback = callback
        self.returned: list[MaybeAwaitable[None]] = []

    def _call(self, update: ProgressUpdate) -> None:
        self.returned.append(self.callback(update))


async def _reported(progress: Progress) -> None:
    """Await what the progress callback returned since the last look (in the order it was called)."""
    while isinstance(progress, _CallbackProgress) and progress.returned:
        await _flavour.resolve(progress.returned.pop(0))
# unasync: remove-end


def _progress(progress: bool | str | Callable[[ProgressUpdate], MaybeAwaitable[None]] | None) -> Progress:
    # unasync: remove-begin
    if callable(progress):
        return _CallbackProgress(progress)
    # unasync: remove-end
    return make_progress(progress)


def _requesting_connection(connection: object | None) -> object:
    """The connection the requests go to: one of this flavour (its retry policy runs them)."""
    if connection is None:
        raise ConfigurationError("evaluate() needs a connection: pass foundry=AsyncFoundry(...)")
    if not isinstance(getattr(connection, "retry", None), _flavour.AsyncRetryPolicy):
        raise ConfigurationError(
            f"this evaluate() cannot send requests on a {type(connection).__name__}: "
            "pass foundry=AsyncFoundry(...)")
    return connection


async def evaluate(
    targets: object,
    dataset: object,
    metrics: Sequence[object] | object = DEFAULT_METRICS,
    *,
    foundry: AsyncFoundry | None = None,
    concurrency: int = 8,
    limit: int | None = None,
    reference_field: str | None = None,
    progress: bool | str | Callable[[ProgressUpdate], MaybeAwaitable[None]] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    completer: Completer | None = None,
) -> EvaluationReport:
    """Ask every target every example of ``dataset`` and score the answers.

    ``targets``: a dict ``{label: target}`` or a list, each a [`Target`][Target], a deployment or a
    model/deployment name (the first is the baseline the others are compared with).
    ``dataset``: a held-out Dataset, JSONL path or records (SFT, DPO or RFT rows).
    ``metrics``: metric objects, built-in names, graders or callables; left at its default, the
    tool-call metrics (``TOOL_CALL_METRICS``) when a reference answer calls tools, else
    ``DEFAULT_METRICS``. A row's ``tools``, ``tool_choice`` and ``parallel_tool_calls`` go with
    its request (a target's ``params`` win).
    ``foundry``: the connection (taken from the deployments when omitted). Requests run at most
    ``concurrency`` at a time through the connection's retry policy, or through ``completer``
    when given (see `Completer`). The number in flight adapts to the service's rate limit,
    for each model or deployment on its own (each has its own limit), within ``concurrency`` in
    all: a 429 halves that one's (down to 1) and holds its new requests back for the
    service's ``Retry-After``, so that the other workers do not hit the wall too; each window of answers
    (as many as are in flight) raises it by one, back up to ``concurrency``, while the service's
    ``x-ratelimit-remaining-requests`` / ``x-ratelimit-remaining-tokens`` headers leave room,
    and it drops at once to the requests the service says remain when fewer remain. The
    429s count even when the retry policy retries them inside one request, and with a
    ``completer`` of your own that goes through the connection's retry policy. A live progress
    line shows ``N at a time`` (their limits added up) while it is lower than ``concurrency``.
    ``progress``: ``None`` (the default) or ``"auto"`` (what
    ``FOUNDRY_TUNE_PROGRESS`` asks for, else a live line in a terminal or a live cell in a
    notebook), ``True`` (always on stderr), ``False`` or ``"off"`` (nothing), ``"plain"`` (log
    lines), ``"terminal"`` (a live line), ``"notebook"`` (a live cell), or a callable given every
    `ProgressUpdate`; the strings mean what they mean for `Job.wait()`, and any other value raises
    `InvalidParameterError` before a request is sent. Callbacks (``completer``, ``progress``) may
    also be coroutine functions where ``evaluate()`` is awaited.
    An interruption keeps what was measured.
    """
    prepared = prepare(targets, dataset, metrics, foundry=foundry, concurrency=concurrency, limit=limit,
                       reference_field=reference_field, confidence=confidence)
    if completer is None:
        completer = FoundryCompleter(_requesting_connection(prepared.connection))
    for metric in prepared.metrics:
        if isinstance(metric, GraderMetric) and not metric.local:
            service_connection(metric, hint=": pass foundry=AsyncFoundry(...)")
    outcome = await run(prepared.targets, prepared.examples, prepared.metrics, completer,
                        concurrency=concurrency, progress=_progress(progress), adaptive=_adaptive.get())
    return summarize(prepared, outcome, confidence=confidence, seed=seed)
