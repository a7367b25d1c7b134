"""Sweeps end to end on the emulator, written once and run in both flavours: pacing (the service
runs one job at a time, ``max_active`` holds trials on the client), ranking by a metrics column or
a function, deploying the best, re-attaching to the same jobs, submitting on first use, and
failing before anything is uploaded or started. The grid and checks without a service are in
``tests/test_sweep.py``."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune._async._sweep import AsyncSweep, AsyncTrial, sweep
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import DatasetValidationError, InvalidParameterError

from ._helpers import WAIT, sft_data, sft_rows

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]

GRID: dict[str, list[Any]] = {"n_epochs": [1, 2, 3], "learning_rate_multiplier": [0.5]}


async def running_windows(jobs: list[AsyncJob]) -> list[tuple[int, int]]:
    """Each job's (started, finished) seconds by the service's own record, in start order."""
    windows = []
    for job in jobs:
        started = [e.created_at for e in await job.events() if "started" in e.message.lower()]
        windows.append((started[0], int(job.raw["finished_at"])))
    return sorted(windows)


def trained_tokens(trial: AsyncTrial) -> float:
    """A ``rank_by`` function (the same in both flavours): the job's billed tokens."""
    assert trial.job is not None and trial.job.trained_tokens is not None
    return float(trial.job.trained_tokens)


@pytest.mark.anyio
async def test_sweep_paces_ranks_deploys_the_best_and_reattaches(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    train, validation = sft_data(40, seed=21).split(validation=0.25, seed=1)
    base = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
            .training_type("GlobalStandard").suffix("sweep"))
    jobs_before = emulator.stats()["jobs"]
    running: list[int] = []
    live: list[int] = []

    def count(s: AsyncSweep) -> None:
        running.append(sum(t.status == "running" for t in s.trials))
        live.append(sum(t.job is not None and not t.done for t in s.trials))

    swept = await ft.sweep(base, grid=GRID, max_active=2)
    assert isinstance(swept, AsyncSweep) and len(swept.trials) == 3
    assert [t.status for t in swept.trials].count("waiting") == 1  # held on the client side
    assert await swept.wait(timeout=WAIT, poll=0.2, progress=count) is swept
    assert swept.done and all(t.succeeded for t in swept.trials)
    assert emulator.stats()["jobs"] - jobs_before == 3
    assert max(live) == 2 and max(running) == 1
    # The service's own record: no job started before the previous one finished.
    windows = await running_windows([t.job for t in swept.trials if t.job is not None])
    for (_, finished), (next_start, _) in itertools.pairwise(windows):
        assert next_start >= finished

    ranked = await swept.results()
    scores = [await swept.score(t) for t in ranked]
    assert all(v is not None for v in scores) and scores == sorted(scores)  # type: ignore[type-var]
    best = swept.best
    assert best is ranked[0] and best.job is not None
    metrics = await best.job.metrics()
    final = metrics.column("full_valid_loss")
    assert await swept.score(best) == [v for v in final if v is not None][-1]
    assert str(swept).splitlines()[0].split(" | ")[:3] == ["rank", "n_epochs", "learning_rate_multiplier"]
    shown = io.StringIO()
    await swept.wait(stream=shown)  # already done: shows every trial, then the ranking
    lines = shown.getvalue().splitlines()
    assert sum("succeeded" in line for line in lines if line.startswith("sweep [")) == 3
    headers = [[c.strip() for c in line.split(" | ")] for line in lines if line.startswith("rank")]
    assert headers == [["rank", "n_epochs", "learning_rate_multiplier", "status", "valid_loss", "job"]]

    deployments_before = emulator.stats()["deployments"]
    async with await swept.deploy_best(capacity=1) as deployment:
        assert deployment.model == best.job.fine_tuned_model
        assert emulator.stats()["deployments"] == deployments_before + 1
        assert await deployment.chat("Where is my parcel?")
    assert emulator.stats()["deployments"] == deployments_before

    # The same sweep again finds every job (none started twice); a rank_by function ranks
    # lower-is-better unless told otherwise.
    again = await sweep(base, GRID, rank_by=trained_tokens, max_active=1)
    assert all(t.done for t in again.trials)  # jobs that already ended take no slot: all found at once
    assert [t.job.id for t in again.trials] == [t.job.id for t in swept.trials]  # type: ignore[union-attr]
    assert again.higher_is_better is False
    assert [t.params["n_epochs"] for t in await again.results()] == [1, 2, 3]  # more epochs, more tokens
    assert again.best.params == {"n_epochs": 1, "learning_rate_multiplier": 0.5}
    # unasync: remove-begin

    async def steps(trial: AsyncTrial) -> float:  # a coroutine function is awaited
        assert trial.job is not None
        return float(len(await trial.job.metrics()))

    by_steps = await ft.sweep(base, grid=GRID, rank_by=steps, higher_is_better=True)
    assert [t.job.id for t in by_steps.trials] == [t.job.id for t in swept.trials]  # type: ignore[union-attr]
    assert [t.params["n_epochs"] for t in await by_steps.results()] == [3, 2, 1]
    # unasync: remove-end
    assert emulator.stats()["jobs"] - jobs_before == 3


@pytest.mark.anyio
async def test_a_sweep_constructed_to_start_submits_on_its_first_results(ft: AsyncFoundry) -> None:
    train, validation = sft_data(40, seed=17).split(validation=0.25, seed=4)
    base = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
            .training_type("GlobalStandard").suffix("start-pending"))
    held = AsyncSweep(base, {"n_epochs": [1, 2]}, max_active=1, start=False)
    await held.results()
    assert all(t.job is None for t in held.trials)  # start=False: only submit/refresh/wait submit

    swept = AsyncSweep(base, {"n_epochs": [1, 2]}, max_active=1)
    assert all(t.job is None for t in swept.trials)  # a constructor talks to nobody
    try:
        await swept.results()
        assert [t.job is not None for t in swept.trials] == [True, False]  # max_active holds one
    finally:
        await swept.cancel()


@pytest.mark.anyio
async def test_bad_data_or_grid_fails_before_anything_is_uploaded_or_started(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    before = emulator.stats()
    bad = Dataset.from_records(sft_rows(5, seed=2), name="too-few.jsonl")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(bad).training_type("GlobalStandard")
    with pytest.raises(DatasetValidationError):
        await ft.sweep(builder, grid={"n_epochs": [1, 2]}, rank_by="train_loss")
    good = builder.train_on(sft_data(20, seed=2)).suffix("bad-grid")
    with pytest.raises(InvalidParameterError, match="no hyperparameter 'beta'"):
        await ft.sweep(good, {"beta": [0.1]}, rank_by="train_loss")
    after = emulator.stats()
    assert (after["files"], after["jobs"]) == (before["files"], before["jobs"])
