"""The main user paths, written once as async functions and run in both flavours on the session
emulator: on ``AsyncFoundry`` directly, and on ``Foundry`` through :class:`Sync`, which awaits
exactly the calls that are coroutines on the async twin (a sync name without an async twin, or a
method async on one side only, fails the test: the two surfaces must keep matching)."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

import foundry_tune.aio
from foundry_tune import AsyncFoundry, Foundry
from foundry_tune._demo_data import demo_records
from foundry_tune.aio import AsyncStaticTokenCredential
from foundry_tune.client import StaticTokenCredential
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import EmulatorInfo
from foundry_tune.errors import DatasetValidationError, JobCancelledError
from foundry_tune.job import JobStatus
from foundry_tune.methods import Supervised

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]

WAIT = 90.0
_runs = itertools.count()


class Sync:
    """A sync library object seen through its async twin's shape: a method that is a coroutine
    function on the twin becomes awaitable here; results that have a twin are wrapped again."""

    def __init__(self, target: Any) -> None:
        twin = getattr(foundry_tune.aio, f"Async{type(target).__name__}", None)
        assert twin is not None, f"{type(target).__name__} has no async twin in foundry_tune.aio"
        self._target = target
        self._twin = twin

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return _wrap(value)
        twin_value = getattr(self._twin, name, None)
        assert twin_value is not None, f"{self._twin.__name__}.{name} is missing"
        if inspect.iscoroutinefunction(twin_value):

            async def call(*args: Any, **kwargs: Any) -> Any:
                return _wrap(value(*args, **kwargs))

            return call
        return lambda *args, **kwargs: _wrap(value(*args, **kwargs))


def _wrap(value: Any) -> Any:
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    if type(value).__module__.startswith("foundry_tune.") and hasattr(
        foundry_tune.aio, f"Async{type(value).__name__}"
    ):
        return Sync(value)
    return value


Connect = Callable[[], Any]


def _flavours(info: EmulatorInfo) -> dict[str, Connect]:
    options = {
        "subscription_id": info.subscription_id,
        "resource_group": info.resource_group,
        "account_name": info.account_name,
        "arm_endpoint": info.arm_endpoint,
    }

    @asynccontextmanager
    async def connect_async() -> AsyncIterator[Any]:
        async with AsyncFoundry(info.project_endpoint, AsyncStaticTokenCredential("t"), **options) as ft:
            yield ft

    @asynccontextmanager
    async def connect_sync() -> AsyncIterator[Any]:
        with Foundry(info.project_endpoint, StaticTokenCredential("t"), **options) as ft:
            yield Sync(ft)

    return {"async": connect_async, "sync": connect_sync}


@pytest.fixture(params=["async", "sync"])
def connect(request: pytest.FixtureRequest, emulator_info: EmulatorInfo) -> Connect:
    """Opens a connection of the flavour under test to the session emulator."""
    return _flavours(emulator_info)[request.param]


def _unique(prefix: str) -> str:
    """A suffix no other test on the shared emulator uses (a start with the same one is reused)."""
    return f"{prefix}-{next(_runs)}"


def _data(seed: int, n: int = 20) -> Dataset:
    return Dataset.from_records(demo_records(n, seed=seed), name="support.jsonl")


# -- the scenarios: written once -----------------------------------------------------------------


async def validate_start_wait_deploy_chat_delete(ft: Any, suffix: str) -> None:
    train, validation = _data(seed=61, n=50).split(validation=0.2, seed=1)
    builder = (
        ft.fine_tune("gpt-4.1-mini")
        .train_on(train)
        .validate_on(validation)
        .method(Supervised(n_epochs=1))
        .suffix(suffix)
        .training_type("GlobalStandard")
    )
    plan = await builder.plan()
    assert plan.creates_job

    job = await builder.start()
    assert not job.reused
    await job.wait(timeout=WAIT, progress=False)
    assert job.status is JobStatus.SUCCEEDED
    assert job.fine_tuned_model and job.fine_tuned_model.endswith(suffix)

    metrics = await job.metrics()
    assert len(metrics) > 1 and metrics.last is not None and metrics.last.train_loss is not None

    trained = {row["messages"][-1]["content"] for row in train.iter_records()}
    question = next(iter(train.iter_records()))["messages"][1]["content"]
    deployment = await job.deploy(capacity=1)
    try:
        assert deployment.model == job.fine_tuned_model and deployment.job_id == job.id
        assert deployment.name in [d.name for d in await ft.deployments.list(created_by_foundry_tune=True)]
        assert await deployment.chat(question) in trained  # the tuned model answers from its data
    finally:
        await deployment.delete()
    assert deployment.name not in [d.name for d in await ft.deployments.list()]


async def invalid_data_is_refused_before_upload(ft: Any, suffix: str) -> None:
    rows = list(demo_records(12, seed=62))
    rows[3] = {"messages": [{"role": "user", "content": "no answer"}]}
    builder = ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(rows)).suffix(suffix)
    with pytest.raises(DatasetValidationError) as info:
        await builder.start()
    assert any(issue.line == 4 for issue in info.value.report.errors)
    assert not await ft.jobs.list(suffix=suffix)


async def second_identical_start_reuses_the_job(ft: Any, again: Any, suffix: str) -> None:
    def builder(conn: Any) -> Any:
        return (
            conn.fine_tune("gpt-4.1-mini")
            .train_on(_data(seed=63))
            .method(Supervised(n_epochs=1))
            .suffix(suffix)
            .training_type("GlobalStandard")
        )

    first = await builder(ft).start()
    assert not first.reused
    second = await builder(again).start()  # as a restarted script would, on its own connection
    assert second.id == first.id and second.reused
    assert [j.id for j in await again.jobs.find(first.fingerprint)] == [first.id]
    await second.cancel()


async def cancel_stops_the_job(ft: Any, suffix: str) -> None:
    job = await (
        ft.fine_tune("gpt-4.1-mini")
        .train_on(_data(seed=64))
        .method(Supervised(n_epochs=1))
        .suffix(suffix)
        .training_type("GlobalStandard")
        .start()
    )
    await job.cancel()
    with pytest.raises(JobCancelledError):
        await job.wait(timeout=WAIT, progress=False)
    assert job.status is JobStatus.CANCELLED
    assert (await ft.jobs.get(job.id)).status is JobStatus.CANCELLED


# -- run in both flavours --------------------------------------------------------------------------


async def test_validate_start_wait_metrics_deploy_chat_delete(connect: Connect) -> None:
    async with connect() as ft:
        await validate_start_wait_deploy_chat_delete(ft, _unique("scn-path"))


async def test_invalid_data_is_refused_before_upload(connect: Connect) -> None:
    async with connect() as ft:
        await invalid_data_is_refused_before_upload(ft, _unique("scn-invalid"))


async def test_second_identical_start_reuses_the_job(connect: Connect) -> None:
    async with connect() as ft, connect() as again:
        await second_identical_start_reuses_the_job(ft, again, _unique("scn-reuse"))


async def test_cancel_stops_the_job(connect: Connect) -> None:
    async with connect() as ft:
        await cancel_stops_the_job(ft, _unique("scn-cancel"))


def test_the_adapter_refuses_a_name_without_an_async_twin() -> None:
    class Lonely:
        pass

    with pytest.raises(AssertionError, match="no async twin"):
        Sync(Lonely())
