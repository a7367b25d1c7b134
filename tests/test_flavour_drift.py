"""Regression tests for the behaviours the async API had drifted from (issue 11), each written once
and run in both flavours on one embedded emulator.

Each test body is a coroutine that reaches the API through ``await io(...)``: in the async flavour
``io`` awaits what the library returns, in the sync flavour it hands the value back, and the body
is driven without an event loop (:func:`run_sync` fails if it ever really suspends). So the sync
run exercises the blocking API itself, not a thread or loop around it.

The async cases that fail before the refactor are ``xfail(strict=True)``: once the refactor closes
the gap they pass, strict xfail turns that into a failure, and the mark MUST be removed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from _aio_helpers import connect, sft_data

from foundry_tune import Foundry
from foundry_tune.client import StaticTokenCredential
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator, EmulatorInfo
from foundry_tune.errors import UploadError
from foundry_tune.evaluation import Completion, Target
from foundry_tune.methods import Supervised

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]

T = TypeVar("T")
Body = Callable[[Any, "Io"], Coroutine[Any, Any, T]]



def flavours() -> list[str]:
    """Both flavours: each behaviour that once drifted between them must hold in both."""
    return ["sync", "async"]


class Io:
    """Await what the library returns in the async flavour; pass it through in the sync one."""

    def __init__(self, flavour: str) -> None:
        self.flavour = flavour

    async def __call__(self, value: Awaitable[T] | T) -> T:
        if self.flavour == "async":
            assert inspect.isawaitable(value), f"the async API returned {value!r}, not an awaitable"
            return await value
        assert not inspect.isawaitable(value), f"the sync API returned an awaitable: {value!r}"
        return value


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends (the sync flavour's body) to its result."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise AssertionError("the sync flavour suspended: something in it is asynchronous")


def sync_connect(info: EmulatorInfo) -> Foundry:
    """A Foundry on the emulator's project endpoint, with ARM settings (``connect``'s sync twin)."""
    return Foundry(
        info.project_endpoint,
        StaticTokenCredential("token-for-tests"),
        subscription_id=info.subscription_id,
        resource_group=info.resource_group,
        account_name=info.account_name,
        arm_endpoint=info.arm_endpoint,
    )


def run_in(flavour: str, info: EmulatorInfo, body: Body[T]) -> T:
    """Run ``body(ft, io)`` on a fresh connection of ``flavour`` that is closed afterwards."""
    io = Io(flavour)
    if flavour == "sync":
        with sync_connect(info) as ft:
            return run_sync(body(ft, io))

    async def main() -> T:
        async with connect(info) as ft:
            return await body(ft, io)

    return asyncio.run(main())


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(job_duration=0.5) as emu:
        yield emu


def _seed(flavour: str, test: int) -> int:
    # Each flavour trains on its own bytes: the same data would let one flavour's start()
    # re-attach to the jobs the other one made (same fingerprint) instead of doing the work.
    return 100 * test + (1 if flavour == "sync" else 2)


# --- a file uploaded for another purpose is refused before a job is created -------------------


@pytest.mark.parametrize("flavour", flavours())
def test_a_file_uploaded_for_another_purpose_is_refused(
    emulator: Emulator, flavour: str, tmp_path: Path
) -> None:
    path = sft_data(12, seed=_seed(flavour, 1)).to_jsonl(tmp_path / "assistants.jsonl")

    async def body(ft: Any, io: Io) -> None:
        with path.open("rb") as fh:
            other = await io(ft.openai.files.create(file=("assistants.jsonl", fh), purpose="assistants"))
        jobs_before = emulator.stats()["jobs"]
        builder = ft.fine_tune("gpt-4.1-mini").train_on(other.id).training_type("GlobalStandard")
        with pytest.raises(UploadError, match="fine-tuning needs purpose 'fine-tune'") as info:
            await io(builder.start())
        assert other.id in str(info.value) and "'assistants'" in str(info.value)
        assert info.value.file_id == other.id
        assert emulator.stats()["jobs"] == jobs_before  # refused by the client, not by the service

    run_in(flavour, emulator.info, body)


# --- ft.sweep ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", flavours())
def test_sweep_runs_one_job_per_grid_point(emulator: Emulator, flavour: str) -> None:
    train, validation = sft_data(40, seed=_seed(flavour, 2)).split(validation=0.25, seed=1)

    async def body(ft: Any, io: Io) -> None:
        builder = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
                   .training_type("GlobalStandard").method(Supervised(n_epochs=1)).suffix(f"sweep-{flavour}"))
        sweep = await io(ft.sweep(builder, {"n_epochs": [1, 2]}))
        assert await io(sweep.wait(timeout=60, poll=0.2, progress=False)) is sweep
        assert [t.params for t in sweep.trials] == [{"n_epochs": 1}, {"n_epochs": 2}]
        assert all(t.succeeded for t in sweep.trials)
        assert len({t.job.id for t in sweep.trials}) == 2
        assert sweep.best in sweep.trials

    run_in(flavour, emulator.info, body)


# --- evaluate(..., completer=...) -------------------------------------------------------------


@pytest.mark.parametrize("flavour", flavours())
def test_evaluate_takes_a_custom_completer(flavour: str) -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"Capital of country {i}?"},
                      {"role": "assistant", "content": f"City{i}"}]}
        for i in range(4)
    ]
    asked: list[tuple[str, str]] = []

    def answer(target: Target, messages: list[Any]) -> Completion:
        question = str(messages[-1]["content"])
        asked.append((target.name, question))
        return Completion(text="City" + question.rsplit(maxsplit=1)[-1].rstrip("?"), prompt_tokens=3,
                          completion_tokens=1, latency=0.0)

    async def answer_async(target: Target, messages: list[Any]) -> Completion:
        return answer(target, messages)

    if flavour == "sync":
        from foundry_tune import evaluate

        report = evaluate({"base": Target("gpt-4.1-mini")}, Dataset.from_records(rows), ["exact_match"],
                          completer=answer, concurrency=2)
    else:
        # The async flavour awaits its completer, as it awaits everything that talks to a model.
        from foundry_tune.aio import evaluate as aevaluate_typed

        aevaluate: Any = aevaluate_typed  # it had no `completer` before issue 11
        report = asyncio.run(aevaluate({"base": Target("gpt-4.1-mini")}, Dataset.from_records(rows),
                                       ["exact_match"], completer=answer_async, concurrency=2))
    assert sorted(q for _, q in asked) == sorted(f"Capital of country {i}?" for i in range(4))
    assert report["base"].answered == 4 and report["base"].scores["exact_match"].mean == 1.0


# --- job.reattach_hint ------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", flavours())
def test_reattach_hint_names_the_job(emulator: Emulator, flavour: str) -> None:
    data = sft_data(12, seed=_seed(flavour, 3))

    async def body(ft: Any, io: Io) -> None:
        job = await io(ft.fine_tune("gpt-4.1-mini").train_on(data).training_type("GlobalStandard")
                       .suffix(f"hint-{flavour}").start())
        try:
            hint = job.reattach_hint()  # no I/O: a plain method in both flavours
            assert isinstance(hint, str) and job.id in hint
            assert f"foundry-tune jobs watch {job.id}" in hint
        finally:
            await io(job.cancel())  # free the resource's one running slot for the other tests

    run_in(flavour, emulator.info, body)


# --- close() / aclose() -----------------------------------------------------------------------


@pytest.mark.parametrize("flavour", flavours())
def test_close_closes_the_connection(emulator: Emulator, flavour: str) -> None:
    io = Io(flavour)

    async def body() -> None:
        ft = sync_connect(emulator.info) if flavour == "sync" else connect(emulator.info)
        assert isinstance(await io(ft.jobs.list(limit=1)), list)
        await io(ft.close())
        assert ft.openai.is_closed()

    if flavour == "sync":
        run_sync(body())
    else:
        asyncio.run(body())


def test_aclose_still_closes_the_async_connection(emulator: Emulator) -> None:
    async def body() -> None:
        ft = connect(emulator.info)
        assert isinstance(await ft.jobs.list(limit=1), list)
        await ft.aclose()
        assert ft.openai.is_closed()

    asyncio.run(body())
