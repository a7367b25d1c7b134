"""The async sweep (``await ft.sweep(...)``, :class:`foundry_tune.aio.AsyncSweep`): the same grid,
id and pacing as the sync one, on the session emulator."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune import AsyncFoundry
from foundry_tune.aio import AsyncSweep
from foundry_tune.dataset import Dataset
from foundry_tune.errors import InvalidParameterError
from foundry_tune.methods import Supervised
from foundry_tune.sweep import Sweep
from tests._eval_data import rows

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.emulator,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]


def _data() -> tuple[Dataset, Dataset]:
    return Dataset.from_records(rows(60, seed=11), name="tickets-async.jsonl").split(validation=0.2, seed=2)


async def test_the_async_sweep_plans_what_the_sync_one_plans(aft: AsyncFoundry, ft: Any) -> None:
    train, validation = _data()
    grid = {"n_epochs": [1, 2], "learning_rate_multiplier": [0.5, 1], "seed": [3]}

    def builder(conn: Any) -> Any:
        return conn.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation).method(
            Supervised(batch_size=2))

    planned = AsyncSweep(builder(aft), grid, start=False)
    reference = Sweep(builder(ft), grid, start=False)
    assert planned.id == reference.id
    assert [t.params for t in planned.trials] == [t.params for t in reference.trials]
    fingerprints = [t.builder.fingerprint() for t in reference.trials]
    assert [t.builder.fingerprint() for t in planned.trials] == fingerprints
    assert [t.status for t in planned.trials] == ["waiting"] * 4
    with pytest.raises(InvalidParameterError, match="no hyperparameter 'beta'"):
        await aft.sweep(builder(aft), {"beta": [0.1]})


async def test_async_sweep_runs_held_trials_one_at_a_time_ranks_and_reattaches(aft: AsyncFoundry) -> None:
    train, validation = _data()
    base = aft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
    base = base.training_type("GlobalStandard").suffix("async-sweep")
    live_per_poll: list[int] = []
    swept = await aft.sweep(base, grid={"n_epochs": [1, 2]}, max_active=1)
    assert isinstance(swept, AsyncSweep)
    assert [t.status for t in swept.trials].count("waiting") == 1  # held on the client side
    assert await swept.wait(timeout=120, progress=lambda s: live_per_poll.append(
        sum(1 for t in s.trials if t.job is not None and not t.done))) is swept
    assert swept.done and all(t.succeeded for t in swept.trials) and max(live_per_poll) == 1

    ranked = await swept.results()
    scores = [await swept.score(t) for t in ranked]
    assert all(v is not None for v in scores) and scores == sorted(scores)  # type: ignore[type-var]
    assert swept.best is ranked[0]
    assert str(swept).splitlines()[0].split(" | ")[:2] == ["rank", "n_epochs"]

    # The same sweep again finds its jobs; a rank_by coroutine function is awaited.
    async def steps(trial: Any) -> float:
        return float(len(await trial.job.metrics()))

    again = await aft.sweep(base, grid={"n_epochs": [1, 2]}, rank_by=steps, max_active=1)
    assert all(t.done for t in again.trials)  # jobs that already ended take no slot: all found at once
    assert [t.job.id for t in again.trials] == [t.job.id for t in swept.trials]  # type: ignore[union-attr]
    step_counts = [await again.score(t) for t in again.trials]
    assert again.higher_is_better is False and step_counts[0] < step_counts[1]  # type: ignore[operator]
    assert again.best.params == {"n_epochs": 1}  # fewer steps: the function ranks lower-is-better
