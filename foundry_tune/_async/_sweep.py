"""Hyperparameter sweeps: one job per grid point, paced to the service's per-resource limits.

```pycon
>>> sweep = ft.sweep(builder, grid={"n_epochs": [1, 2, 3], "learning_rate_multiplier": [0.5, 1, 2]})
>>> sweep.wait()                      # one live table for every job
>>> sweep.best.deploy("support-best") # ranked by validation loss unless rank_by says otherwise
```

Foundry runs one fine-tuning job at a time per resource and queues up to 20 more; the sweep
submits at most that many (counting the resource's other live jobs) and holds the rest on the
client side until slots free up. Every job is started with ``builder.start()``, so each grid
point is idempotent: running the same sweep again re-attaches to its jobs instead of paying twice.

The decisions (grid, pacing, statuses, ranking) are [`foundry_tune._core.sweep_plan`][_core.sweep_plan]'s;
this
module does the talking: starting, refreshing and reading the jobs' metrics.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune._async import _flavour
from foundry_tune._async._watch_many import refresh_jobs
from foundry_tune._core import sweep_plan as plan
from foundry_tune._core.polling import Deadline, adaptive_or_fixed, sweep_schedule
from foundry_tune._core.progress import progress_mode
from foundry_tune._core.retry import time_bound
from foundry_tune._core.settings import progress_from_env
from foundry_tune._core.status import JobStatus
from foundry_tune._core.sweep_plan import QUEUED_LIMIT, RUNNING_LIMIT
from foundry_tune._core.watch_many import GONE, FullCount, ListingDepth
from foundry_tune._notebook import live_html
from foundry_tune._table import html_table, text_table
from foundry_tune.errors import (
    FoundryTuneError,
    InvalidParameterError,
    RetryBudgetExceededError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune._async._builder import AsyncFineTuneBuilder
    from foundry_tune._async._deployment import AsyncDeployment
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._job import AsyncJob

__all__ = ["AsyncSweep", "AsyncTrial", "sweep"]


@dataclasses.dataclass
class AsyncTrial:
    """One grid point: its hyperparameters, its builder and (once submitted) its job."""

    index: int
    params: dict[str, Any]
    builder: AsyncFineTuneBuilder = dataclasses.field(repr=False)
    job: AsyncJob | None = None
    start_error: str | None = None
    _score: float | None = dataclasses.field(default=None, repr=False)
    _scored: bool = dataclasses.field(default=False, repr=False)
    _gone: bool = dataclasses.field(default=False, repr=False, init=False)  # its job is gone (404)

    @property
    def status(self) -> str:
        """The job's status, ``"waiting"`` before it is submitted, ``"not started"`` if starting failed,
        ``"gone"`` if the service stopped knowing the job (404: deleted, or no longer visible)."""
        if self._gone:
            return GONE
        return plan.trial_status(self.job.status if self.job is not None else None, self.start_error)

    @property
    def done(self) -> bool:
        """Nothing more will happen to this trial (a trial whose job is gone is done too)."""
        return self._gone or plan.trial_done(self.job.status if self.job is not None else None,
                                             self.start_error)

    @property
    def succeeded(self) -> bool:
        """The job succeeded (it has a fine-tuned model to deploy)."""
        return self.job is not None and self.job.status is JobStatus.SUCCEEDED

    async def deploy(self, name: str | None = None, **options: Any) -> AsyncDeployment:
        """Deploy this trial's fine-tuned model (see [`foundry_tune.job.Job.deploy()`][Job.deploy])."""
        if self.job is None or not self.succeeded:
            raise InvalidParameterError(
                f"trial {plan.label(self.params)} has no fine-tuned model ({self.status})")
        return await self.job.deploy(name, **options)


class AsyncSweep:
    """Jobs for every point of a hyperparameter grid; see the module docstring.

    Scores are read once per trial, when the sweep first sees its job succeeded (on ``submit()``,
    ``refresh()``, ``wait()``, ``results()`` or ``score()``); ``best``, ``rows()``, the table and
    ``to_pandas()`` rank by the scores read so far.
    """

    def __init__(
        self,
        builder: AsyncFineTuneBuilder,
        grid: Mapping[str, Iterable[Any]],
        *,
        rank_by: str | Callable[[AsyncTrial], MaybeAwaitable[float | None]] = "valid_loss",
        higher_is_better: bool | None = None,
        max_active: int | None = None,
        start: bool = True,
    ) -> None:
        method = plan.method_of(builder.tuning_method)
        combos = plan.expand_grid(method, grid)
        plan.check_options(rank_by, has_validation=builder.validation is not None, max_active=max_active)
        self.builder = builder
        self.grid = plan.normalized_grid(grid)
        self.rank_by = rank_by
        self.higher_is_better = (plan.default_higher_is_better(rank_by) if higher_is_better is None
                                 else higher_is_better)
        self.max_active = max_active if max_active is not None else RUNNING_LIMIT + QUEUED_LIMIT
        try:
            base = builder.fingerprint()
        except FoundryTuneError:
            base = repr(builder)
        self.id = plan.sweep_id(base, combos)
        self.trials: list[AsyncTrial] = []
        for index, combo in enumerate(combos):
            trial_builder = builder.method(plan.with_params(method, combo))
            trial_builder = trial_builder.metadata({plan.SWEEP_KEY: self.id})
            if "seed" in combo:
                trial_builder = trial_builder.seed(int(combo["seed"]))
            self.trials.append(AsyncTrial(index, combo, trial_builder))
        self._reported: dict[int, str] = {}
        self._depth = ListingDepth()  # where the listing showed the trials' jobs, between looks
        self._full = FullCount()  # when a look also counts the resource's live jobs
        self._live_cell = False
        self._env_mode = "auto"
        # Submitting talks to the service, which a constructor does not: with ``start`` the first
        # submit(), refresh(), wait(), results() or deploy_best() does it (sweep() and ft.sweep()
        # before they return).
        self._start_pending = start

    # -- submitting -----------------------------------------------------------------------------

    async def _free_slots(self, listed: list[dict[str, Any]] | None = None) -> int:
        """How many trials may start now; ``listed``: the resource's newest jobs when a look just
        read them (else they are listed here)."""
        mine = {t.job.id: t.job.status for t in self.trials if t.job is not None and not t._gone}
        if listed is None:
            others = [job.status for job in await self.builder.ft.jobs.list(limit=plan.LIVE_SCAN_LIMIT)
                      if job.id not in mine]
        else:
            others = [JobStatus(str(raw.get("status") or "unknown")) for raw in listed
                      if raw.get("id") not in mine]
        return plan.free_slots(max_active=self.max_active, mine=mine.values(), others=others)

    def _pending(self) -> list[AsyncTrial]:
        return [t for t in self.trials if t.job is None and t.start_error is None]

    async def submit(self) -> int:
        """Start as many waiting trials as the limits allow; returns how many were started.

        A trial whose job already exists (same fingerprint) is attached, not started again.
        """
        return await self._submit()

    async def _submit(self, listed: list[dict[str, Any]] | None = None) -> int:
        self._start_pending = False
        pending = self._pending()
        if not pending:
            return 0
        started = 0
        slots = await self._free_slots(listed)
        for trial in pending:
            if slots <= 0:
                break
            try:
                trial.job = await trial.builder.start(on_progress=lambda _: None)
            except Exception as exc:
                any_started = any(t.job is not None for t in self.trials)
                decision = plan.after_start_error(exc, any_started=any_started)
                if decision == "retry_later":
                    break
                if decision == "raise":
                    raise
                trial.start_error = str(exc)
                continue
            started += 1
            if trial.job.status.is_live:  # a job found again that already ended takes no slot
                slots -= 1
        await self._score_finished()
        return started

    # -- watching -------------------------------------------------------------------------------

    async def refresh(self) -> AsyncSweep:
        """Fetch every live job's state and submit waiting trials if slots freed up.

        One look costs one listing of the resource's jobs, read as deep as the oldest live trial
        (usually one page), instead of one request per job; a job the listing does not show is
        retrieved on its own. While trials are held back, some looks also count the resource's
        live jobs to find free slots, which reads the listing deeper (up to its 1,000 newest jobs:
        ten pages of 100 on a resource with a long history): the first look, the look right after
        one of the sweep's own jobs ended, and at least every tenth look (for slots freed by other
        jobs ending). A trial whose job the service no longer knows (404: deleted, or no longer
        visible) shows as ``"gone"`` and counts as done.
        """
        # One listing is one snapshot: a job that finishes between two looks is never shown
        # running beside its successor. The jobs retrieved on their own are read newest first
        # (the service starts queued jobs in creation order) for the same reason.
        held = bool(self._pending())
        full = held and self._full.due()
        live = {t.job.id: t for t in self.trials
                if t.job is not None and not t._gone and not t.job.status.is_terminal}
        seen = await refresh_jobs(self.builder.ft, [t.job for t in live.values() if t.job is not None],
                                  self._depth, full=full)
        for job_id in seen.gone:
            live[job_id]._gone = True
        ended = any(t.done for t in live.values())
        if held:
            self._full.looked(full=full, ended_mine=ended)
        if full:
            await self._submit(seen.listed)
        await self._score_finished()
        return self

    @property
    def done(self) -> bool:
        """Every trial finished (succeeded, failed, cancelled, or could not start)."""
        return all(t.done for t in self.trials)

    async def wait(
        self,
        timeout: float | None = None,
        *,
        poll: float | None = None,
        progress: bool | str | Callable[[AsyncSweep], MaybeAwaitable[None]] | None = None,
        stream: TextIO | None = None,
    ) -> AsyncSweep:
        """Wait for every job, submitting held trials as slots free up, and show them all.

        ``poll``: seconds between looks (default: every second while a trial changes, backing off to 15 s;
        longer while the service's pacing headers ask to hold back). Each look costs one listing of the
        resource's jobs, not one request per job (see [`refresh()`][refresh]). ``progress``: ``None`` (the
        default) or ``"auto"`` prints a line per status change and the table at the end (a live table in a
        notebook; `FOUNDRY_TUNE_PROGRESS` can turn it off or force plain lines), ``True`` does the same
        ignoring the variable, ``False`` or ``"off"`` is quiet, ``"plain"`` and ``"terminal"`` print the
        lines, ``"notebook"`` the live table (lines where no notebook can show it); a callable is called
        with the sweep after every poll (a function, or a coroutine function where the sweep is awaited).
        The strings mean what they mean for `Job.wait()`; any other value raises `InvalidParameterError`
        before the first look at the service.
        Failed jobs do not raise: they are ranked last. Interrupting stops watching only; the jobs keep
        running and running the same sweep again re-attaches to them.
        """
        schedule = adaptive_or_fixed(poll, sweep_schedule)
        ft = self.builder.ft  # None for a sweep built without a connection (its looks are the caller's)
        clock = ft.retry.clock if ft is not None else time.monotonic
        deadline = Deadline.after(timeout, clock())
        out = stream or sys.stderr
        show = self._display(progress, out)
        try:
            while True:
                try:
                    with time_bound(deadline.at, clock):  # a hanging look ends with the wait
                        changed = await self._poll_changes()
                except RetryBudgetExceededError:
                    if not deadline.passed(clock()):
                        raise
                    changed = False
                await _flavour.call(show, self)
                if self.done:
                    break
                now = clock()
                if deadline.passed(now):
                    raise WaitTimeoutError(f"sweep {self.id}: {self._counts()} after {timeout:g} s; "
                                           "the jobs keep running: call wait() again")
                interval = schedule.next(changed, remaining=deadline.remaining(now))
                if ft is not None:
                    interval = ft.pacing.sleep_for(interval, now, deadline.remaining(now))
                await _flavour.sleep(interval)
        except _flavour.INTERRUPTS:
            out.write(
                f"\nStopped watching sweep {self.id}; its jobs keep running. Run the same sweep again to "
                "re-attach (every job is found by its fingerprint), then call wait().\n")
            raise
        by_default = progress is None or isinstance(progress, str)  # True and callbacks: no closing table
        if by_default and not self._live_cell and self._env_mode != "off":
            out.write(f"\n{self}\n")
            out.flush()
        return self

    async def _poll_changes(self) -> bool:
        before = [t.status for t in self.trials]
        await self.refresh()
        return before != [t.status for t in self.trials]

    def _counts(self) -> str:
        return plan.count_text(t.status for t in self.trials)

    def _display(
        self, progress: bool | str | Callable[[AsyncSweep], MaybeAwaitable[None]] | None, stream: TextIO
    ) -> Callable[[AsyncSweep], MaybeAwaitable[None]]:
        if callable(progress):
            return progress
        if progress is None:
            self._env_mode = progress_from_env()
        else:  # True: shown whatever the variable says; strings and False as for Job.wait()
            self._env_mode = "auto" if progress is True else progress_mode(progress)
        if self._env_mode == "off":
            return lambda _: None
        cell = live_html(self._repr_html_()) if self._env_mode in ("auto", "notebook") else None
        self._live_cell = cell is not None
        if cell is not None:
            return lambda s: cell.update(s._repr_html_())

        def lines(s: AsyncSweep) -> None:
            for trial in s.trials:
                if s._reported.get(trial.index) != trial.status:
                    s._reported[trial.index] = trial.status
                    job = f" {trial.job.id}" if trial.job is not None else ""
                    where = f"[{trial.index + 1}/{len(s.trials)}] {plan.label(trial.params)}"
                    stream.write(f"sweep {where}:{job} {trial.status}\n")
            stream.flush()

        return lines

    # -- results --------------------------------------------------------------------------------

    async def score(self, trial: AsyncTrial) -> float | None:
        """The value ``rank_by`` gives this trial (``None`` until its job has succeeded); read once.

        A ``rank_by`` function may also be a coroutine function where the sweep is async.
        """
        if not trial.succeeded:
            return None
        if trial._scored:
            return trial._score
        if callable(self.rank_by):
            value = await _flavour.call(self.rank_by, trial)
        else:
            assert trial.job is not None
            value = plan.final_value(await trial.job.metrics(), self.rank_by)
        trial._score, trial._scored = value, True
        return value

    async def _start_if_pending(self) -> None:
        if self._start_pending:
            await self.submit()

    async def _score_finished(self) -> None:
        for trial in self.trials:
            if trial.succeeded and not trial._scored:
                await self.score(trial)

    def _ranked(self) -> list[AsyncTrial]:
        order = plan.ranked([t._score for t in self.trials], higher_is_better=self.higher_is_better)
        return [self.trials[i] for i in order]

    async def results(self) -> list[AsyncTrial]:
        """Trials best first: succeeded ones by ``rank_by``, then the rest."""
        await self._start_if_pending()
        await self._score_finished()
        return self._ranked()

    @property
    def best(self) -> AsyncTrial:
        """The best succeeded trial by the scores read so far (raises when none has one yet)."""
        ranked = self._ranked()
        top = ranked[0]._score if ranked else None
        if top is None or math.isnan(top):
            raise InvalidParameterError(
                f"no trial of sweep {self.id} has a {plan.rank_name(self.rank_by)} yet ({self._counts()})")
        return ranked[0]

    async def deploy_best(self, name: str | None = None, **options: Any) -> AsyncDeployment:
        """Deploy the best trial's model in one call."""
        await self._start_if_pending()
        await self._score_finished()
        return await self.best.deploy(name, **options)

    def rows(self) -> list[list[str]]:
        """The ranking as text cells, header first."""
        return plan.ranking_rows(
            list(self.grid), plan.rank_name(self.rank_by),
            [(t.params, t.status, t._score, t.job.id if t.job is not None else t.start_error or "")
             for t in self._ranked()])

    def __str__(self) -> str:
        return text_table(self.rows())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, trials={len(self.trials)}, {self._counts()})"

    def _repr_html_(self) -> str:
        return html_table(self.rows())

    def to_pandas(self) -> Any:
        """One row per trial: hyperparameters, status, score, job id (needs the ``pandas`` extra)."""
        import pandas as pd

        return pd.DataFrame.from_records([
            {**t.params, "status": t.status, plan.rank_name(self.rank_by): t._score,
             "job": t.job.id if t.job is not None else None}
            for t in self._ranked()
        ])

    async def cancel(self) -> None:
        """Cancel every live job and drop the trials not yet submitted."""
        self._start_pending = False
        for trial in self.trials:
            if trial.job is None and trial.start_error is None:
                trial.start_error = "cancelled before it started"
            elif trial.job is not None and not trial.job.status.is_terminal:
                await trial.job.cancel()


async def sweep(
    builder: AsyncFineTuneBuilder,
    grid: Mapping[str, Iterable[Any]],
    *,
    rank_by: str | Callable[[AsyncTrial], MaybeAwaitable[float | None]] = "valid_loss",
    higher_is_better: bool | None = None,
    max_active: int | None = None,
    start: bool = True,
) -> AsyncSweep:
    """One job per combination of ``grid`` values over the builder's method hyperparameters
    (``"seed"`` varies the builder's seed). ``rank_by`` is a metrics column (default validation
    loss, lower is better; accuracy and reward columns rank higher-is-better) or a function of a
    `AsyncTrial`. ``max_active`` caps the sweep's live jobs (default: 1 running + 20 queued).
    ``start=False`` submits nothing until ``submit()``, ``refresh()`` or ``wait()``."""
    swept = AsyncSweep(builder, grid, rank_by=rank_by, higher_is_better=higher_is_better,
                       max_active=max_active, start=start)
    if start:
        await swept.submit()
    return swept
