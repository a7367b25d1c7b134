"""The checkpoint tournament behind ``job.compare_checkpoints()``: deploy the job's checkpoints on
the Developer tier, evaluate them side by side, keep the winner if asked and delete the rest.

Developer-tier deployments have no hourly hosting fee, only per-token charges, and live 24 hours
(https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tune-test). Each checkpoint gets
a deployment name derived from the job and the step ([`comparison_name()`][comparison_name]), so a
comparison run again finds its deployments and reuses them instead of paying twice. Whatever this
call created is deleted when it fails or is interrupted (Ctrl-C, a cancelled task), within a
bounded time, before the error goes on.

Every argument is checked, the test data loaded and the metrics resolved before the first request:
a bad argument costs nothing. Only the Developer tier is used (``sku`` accepts its spellings only):
a comparison is a trial, and on a billed deployment type each checkpoint would bill a hosting fee
by the hour.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from foundry_tune._async import _flavour
from foundry_tune._core import job_state
from foundry_tune._core.checkpoints import (
    COMPARISON_TAG,
    Checkpoint,
    CheckpointComparison,
    comparison_name,
    step_label,
    winner_of,
)
from foundry_tune._core.deployment_body import DEVELOPER_SKU, normalize_sku
from foundry_tune._core.deployment_state import CREATE_TIMEOUT
from foundry_tune._core.progress import progress_mode
from foundry_tune._core.retry import check_seconds, time_bound
from foundry_tune.errors import CheckpointMetricError, InvalidParameterError

if TYPE_CHECKING:
    from foundry_tune._async._deployment import AsyncDeployment
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._job import AsyncJob
    from foundry_tune.evaluation import ProgressUpdate

__all__ = ["CLEANUP_TIMEOUT", "KEEP", "Keep", "compare_checkpoints"]

log = logging.getLogger("foundry_tune.deployment")

Keep = Literal["winner", "none", "all"]
"""What stays deployed after a comparison: the winner, nothing, or every checkpoint compared."""
KEEP: tuple[str, ...] = ("winner", "none", "all")
CLEANUP_TIMEOUT = 300.0
"""Seconds the clean-up after a failure or an interruption may take at most (then it logs what is
left and how to delete it)."""
COMPARISON_TAG_VALUE = "checkpoint-comparison"

# The evaluation runner sits one layer up (foundry_tune.evaluation imports this package): it is
# loaded by name when a comparison runs, the way Foundry.emulator() finds the emulator, so that the
# network layer keeps importing only downwards.
_RUNNER = "foundry_tune.evaluation._async._evaluate"
_PREPARE = "foundry_tune.evaluation._prepare"


def _chosen(found: Sequence[Checkpoint], wanted: int | Sequence[Checkpoint | int] | None,
            job_id: str) -> list[Checkpoint]:
    """The checkpoints to compare: all of them, the last ``wanted`` ones, or those named by step
    (or given as checkpoints), in step order."""
    if not found:
        raise CheckpointMetricError(
            f"job {job_id} has no checkpoint to compare: checkpoints appear as training goes "
            "(wait() for the job)", job_id=job_id)
    if wanted is None:
        chosen = list(found)
    elif isinstance(wanted, int):
        if wanted < 1 or isinstance(wanted, bool):
            raise InvalidParameterError(f"checkpoints={wanted!r}: give how many (at least 1) or which steps")
        chosen = list(found)[-wanted:]
    else:
        by_step = {c.step: c for c in found}
        chosen = []
        for item in wanted:
            step = item.step if isinstance(item, Checkpoint) else item
            if isinstance(step, bool) or not isinstance(step, int) or step not in by_step:
                raise InvalidParameterError(
                    f"checkpoints: job {job_id} has no checkpoint at step {step!r} (it has steps "
                    f"{', '.join(str(s) for s in sorted(by_step))})")
            if by_step[step] not in chosen:
                chosen.append(by_step[step])
    return sorted(chosen, key=lambda c: c.step)


def _labelled(chosen: Sequence[Checkpoint]) -> list[Checkpoint]:
    """The report's column order: the final model first (every other column then reads as a
    difference from it), then the others by step."""
    return sorted(chosen, key=lambda c: (not c.final, c.step))


def _developer_sku(sku: object) -> str:
    """``DeveloperTier`` for any spelling of it; any other deployment type is refused."""
    if not isinstance(sku, str) or not sku.strip() or normalize_sku(sku) != DEVELOPER_SKU:
        raise InvalidParameterError(
            f"sku={sku!r}: a checkpoint comparison deploys on the Developer tier only "
            f"(sku={DEVELOPER_SKU!r}: no hosting fee, a 24-hour life); to compare checkpoints on a "
            "deployment type that bills by the hour, deploy them yourself with "
            "job.deploy(checkpoint=..., sku=...) and compare the deployments with evaluate()")
    return DEVELOPER_SKU


def _check_arguments(concurrency: object, limit: object, capacity: object, progress: object) -> None:
    """The arguments that need neither the data nor the service (each an `InvalidParameterError`)."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidParameterError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidParameterError(f"limit must be None or a whole number >= 1, got {limit!r}")
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
        raise InvalidParameterError(f"capacity must be None or a whole number >= 1, got {capacity!r}")
    if not callable(progress):
        progress_mode(progress)  # type: ignore[arg-type]  # raises for anything it does not know


def _replayable(test_data: object) -> object:
    """``test_data`` as something that can be read twice (checked now, evaluated later): an
    iterator of records is read into a list, anything else is kept as it is."""
    if isinstance(test_data, Iterator) and not isinstance(test_data, (str, bytes, Path)):
        return list(test_data)
    return test_data


def _checked_metrics(job: AsyncJob, test_data: object, metrics: object, *, limit: int | None,
                     concurrency: int, rank_by: str | None) -> None:
    """Load ``test_data`` and resolve ``metrics`` the way [`evaluate()`][evaluate] will, and check
    ``rank_by`` against them, before anything is deployed."""
    prepare = importlib.import_module(_PREPARE)
    chosen = prepare.DEFAULT_METRICS if metrics is None else metrics
    # A stand-in target: the checks look at the prompts, which do not depend on the checkpoint.
    prepared = prepare.prepare({"checkpoint": job.fine_tuned_model or job.id}, test_data, chosen,
                               foundry=job._ft, concurrency=concurrency, limit=limit,
                               reference_field=None, confidence=0.95)
    names = [m.name for m in prepared.metrics]
    if rank_by is not None and rank_by not in names:
        raise InvalidParameterError(
            f"rank_by={rank_by!r} is not one of the metrics compared: {', '.join(names)}")


async def compare_checkpoints(
    job: AsyncJob,
    test_data: object,
    metrics: Sequence[object] | object | None = None,
    *,
    checkpoints: int | Sequence[Checkpoint | int] | None = None,
    keep: Keep = "none",
    rank_by: str | None = None,
    sku: str = DEVELOPER_SKU,
    capacity: int | None = None,
    concurrency: int = 8,
    limit: int | None = None,
    progress: bool | str | Callable[[ProgressUpdate], MaybeAwaitable[None]] | None = None,
    timeout: float = CREATE_TIMEOUT,
    cleanup_timeout: float = CLEANUP_TIMEOUT,
) -> CheckpointComparison:
    """See [`AsyncJob.compare_checkpoints()`][compare_checkpoints]."""
    # Everything is checked before the first request: a bad argument deploys nothing.
    job_state.check_deployable(job)
    if keep not in KEEP:
        raise InvalidParameterError(f"keep must be one of {', '.join(map(repr, KEEP))}, got {keep!r}")
    check_seconds(timeout, "timeout", zero=False)
    check_seconds(cleanup_timeout, "cleanup_timeout", zero=False)
    sku = _developer_sku(sku)
    _check_arguments(concurrency, limit, capacity, progress)
    evaluate = importlib.import_module(_RUNNER).evaluate
    test_data = _replayable(test_data)
    _checked_metrics(job, test_data, metrics, limit=limit, concurrency=concurrency, rank_by=rank_by)
    chosen = _labelled(_chosen(await job.checkpoints(), checkpoints, job.id))
    api = job._ft.deployments
    names = {c.step: comparison_name(job.id, c.step) for c in chosen}
    existing = {name for name in names.values() if await api.find_info(name) is not None}
    tags = {COMPARISON_TAG: COMPARISON_TAG_VALUE}
    options: dict[str, Any] = {"sku": sku, "job_id": job.id, "tags": tags, "timeout": timeout}
    if capacity is not None:
        options["capacity"] = capacity
    touched: list[str] = []  # names this call may have created, recorded before each request
    # The deploys whose create request may still be on its way. After an interruption the clean-up
    # waits for them (the blocking flavour cannot stop a thread), so that none creates a deployment
    # after it was deleted; once ``stopping`` is set no deploy starts. No lock: a deploy adds its
    # name before it looks at ``stopping``, the clean-up sets ``stopping`` before it reads the
    # names, so either the clean-up sees the name or the deploy sees ``stopping``.
    creating: set[str] = set()
    stopping = [False]
    succeeded = False
    kept: tuple[str, ...] = ()
    try:
        async def deploy(checkpoint: Checkpoint) -> AsyncDeployment:
            name = names[checkpoint.step]
            touched.append(name)
            creating.add(name)
            if stopping[0]:
                creating.discard(name)
                raise _flavour.INTERRUPTS[0]
            log.info("deploying checkpoint step %s of %s as %r (%s)", checkpoint.step, job.id, name, sku)
            try:
                deployment = await api.create(checkpoint.model, name, wait=False, **options)
            finally:
                creating.discard(name)
            # Once the comparison stops, the wait ends within a fraction of a second: a blocking
            # flavour's worker thread must not poll on (the interpreter would wait for it at exit).
            return await deployment._wait(timeout=timeout, stop=lambda: stopping[0])

        def stop() -> None:
            stopping[0] = True

        deployments = await _flavour.bounded_map(deploy, chosen, len(chosen), stop=stop)
        labels = [step_label(c) for c in chosen]
        kwargs: dict[str, Any] = {"foundry": job._ft, "concurrency": concurrency, "limit": limit,
                                  "progress": progress}
        if metrics is not None:
            kwargs["metrics"] = metrics
        report = await evaluate(dict(zip(labels, deployments, strict=True)), test_data, **kwargs)
        if report.interrupted:
            # evaluate() keeps a partial report; a comparison cut short has no winner to keep.
            raise _flavour.INTERRUPTS[0]
        rank = rank_by or report.metrics[0].name
        winner = chosen[winner_of(report, labels, chosen, rank)]
        kept = {"winner": (names[winner.step],), "none": (), "all": tuple(names.values())}[keep]
        succeeded = True
    finally:
        stopping[0] = True

        async def cleanup() -> list[str]:
            deadline = job._ft.retry.clock() + cleanup_timeout
            if not succeeded:
                await _settled(job, creating, deadline)
            # After success: every compared deployment but the kept ones. After a failure or an
            # interruption: only what this call created (a winner an earlier run kept stays).
            doomed = [n for n in names.values() if n not in kept] if succeeded else \
                [n for n in dict.fromkeys(touched) if n not in existing]
            if not doomed:
                return []
            unsettled = sorted(creating)
            return await _delete_all(job, doomed, deadline, unsettled)

        deleted = await _flavour.shielded(cleanup)
    return CheckpointComparison(report=report, checkpoints=tuple(sorted(chosen, key=lambda c: c.step)),
                                winner=winner, rank_by=rank,
                                kept=kept, deleted=tuple(deleted))


async def _settled(job: AsyncJob, creating: set[str], deadline: float) -> None:
    """Wait (until ``deadline`` on the connection's clock) until no create request of the
    comparison is on its way any more."""
    clock = job._ft.retry.clock
    pause = 0.01
    while clock() < deadline:
        if not creating:
            return
        await _flavour.sleep(min(pause, max(0.0, deadline - clock())))
        pause = min(pause * 2, 0.5)


def _how_to_delete(names: Sequence[str]) -> str:
    """The calls (and commands) that delete ``names``, for the warning about what is left."""
    calls = "; ".join(_flavour.awaited_chain(f"ft.deployments.delete({n!r})") for n in names)
    commands = "; ".join(f"foundry-tune deploy delete {n}" for n in names)
    return f"{calls} (or: {commands})"


async def _delete_all(job: AsyncJob, names: Sequence[str], deadline: float,
                      unsettled: Sequence[str] = ()) -> list[str]:
    """Delete ``names`` (already gone is fine), waiting until each is gone, until ``deadline`` (on
    the connection's clock); the names deleted. An interruption (Ctrl-C, a cancellation) while one
    is deleted does not stop the others: that one is tried once more, and the interruption is
    raised when done. What could not be deleted is logged at WARNING with the calls that delete it;
    a failure is never raised (an error already on its way matters more). ``unsettled``: names
    whose create request may still arrive after the deletion (named in the warning)."""
    api = job._ft.deployments
    clock = job._ft.retry.clock
    deleted: list[str] = []
    pending = list(names)
    retried: set[str] = set()
    interruption: BaseException | None = None
    try:
        while pending:
            name = pending.pop(0)
            remaining = deadline - clock()
            if remaining <= 0:
                continue
            try:
                with time_bound(deadline, clock):
                    await api.delete(name, wait=True, timeout=remaining)
            except _flavour.INTERRUPTS as exc:
                interruption = interruption or exc
                if name not in retried:
                    retried.add(name)
                    pending.append(name)
            except Exception as exc:  # keep deleting the others
                log.warning("could not delete deployment %r of the checkpoint comparison: %s", name, exc)
            else:
                deleted.append(name)
    finally:
        left = [n for n in names if n not in deleted]
        left += [n for n in unsettled if n not in left]
        if left:
            log.warning("deployments of the checkpoint comparison of %s may still be there: %s; delete "
                        "them with %s", job.id, ", ".join(left), _how_to_delete(left))
    if interruption is not None:
        raise interruption
    return deleted
