"""User callbacks (``on_event``, ``completer``, ``progress``) are called, and their answers used, in
both flavours; where the call is awaited, a callback may also be a coroutine function."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune._async._builder import AsyncFineTuneBuilder
from foundry_tune._async._flavour import sleep
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._sweep import AsyncSweep
from foundry_tune.dataset import Dataset
from foundry_tune.evaluation import Completion, ProgressUpdate, Target
from foundry_tune.evaluation._async._evaluate import evaluate
from foundry_tune.job import JobEvent
from foundry_tune.methods import Supervised

from ._helpers import WAIT, sft_data

pytestmark = [pytest.mark.emulator]

ROWS = [
    {"messages": [{"role": "user", "content": f"Capital of country {i}?"},
                  {"role": "assistant", "content": f"City{i}"}]}
    for i in range(4)
]


def builder(ft: AsyncFoundry, seed: int, suffix: str) -> AsyncFineTuneBuilder:
    return (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=seed)).training_type("GlobalStandard")
            .method(Supervised(n_epochs=1)).suffix(suffix))


def answer(target: Target, messages: list[Any]) -> Completion:
    question = str(messages[-1]["content"])
    return Completion(text="City" + question.rsplit(maxsplit=1)[-1].rstrip("?"), prompt_tokens=3,
                      completion_tokens=1, latency=0.0)


@pytest.mark.anyio
async def test_wait_passes_every_event_once_to_a_plain_on_event(ft: AsyncFoundry) -> None:
    job = await builder(ft, seed=601, suffix="cb-plain").start()
    seen: list[JobEvent] = []
    await job.wait(timeout=WAIT, progress=False, poll=0.2, on_event=seen.append)
    assert seen
    assert len({event.id for event in seen}) == len(seen)
    assert [event.id for event in seen] == [event.id for event in await job.events()]


@pytest.mark.anyio
async def test_evaluate_uses_a_plain_completer_and_reports_progress() -> None:
    updates: list[ProgressUpdate] = []
    report = await evaluate({"base": Target("gpt-4.1-mini")}, Dataset.from_records(ROWS), ["exact_match"],
                            completer=answer, concurrency=2, progress=updates.append)
    assert report["base"].answered == 4 and report["base"].failed == 0
    assert report["base"].scores["exact_match"].mean == 1.0
    assert [u.done for u in updates] == [0, 1, 2, 3, 4] and updates[-1].total == 4


@pytest.mark.anyio
async def test_sweep_wait_calls_a_plain_progress_with_the_sweep(ft: AsyncFoundry) -> None:
    sweep = await ft.sweep(builder(ft, seed=611, suffix="cb-sweep"), {"n_epochs": [1]},
                           rank_by="train_loss")
    shown: list[AsyncSweep] = []
    await sweep.wait(timeout=WAIT, poll=0.2, progress=shown.append)
    assert shown and all(s is sweep for s in shown)
    assert sweep.trials[0].succeeded


# unasync: remove-begin
@pytest.mark.anyio
async def test_wait_awaits_a_coroutine_on_event(ft: AsyncFoundry) -> None:
    job = await builder(ft, seed=602, suffix="cb-coro").start()
    seen: list[str] = []

    async def on_event(event: JobEvent) -> None:
        await sleep(0)
        seen.append(event.id)

    await job.wait(timeout=WAIT, progress=False, poll=0.2, on_event=on_event)
    assert seen == [event.id for event in await job.events()]


@pytest.mark.anyio
async def test_evaluate_awaits_a_coroutine_completer_and_progress() -> None:
    done: list[int] = []

    async def complete(target: Target, messages: list[Any]) -> Completion:
        await sleep(0)
        return answer(target, messages)

    async def progress(update: ProgressUpdate) -> None:
        await sleep(0)
        done.append(update.done)

    report = await evaluate({"base": Target("gpt-4.1-mini")}, Dataset.from_records(ROWS), ["exact_match"],
                            completer=complete, concurrency=2, progress=progress)
    assert report["base"].answered == 4 and report["base"].scores["exact_match"].mean == 1.0
    assert sorted(done) == [0, 1, 2, 3, 4]


@pytest.mark.anyio
async def test_sweep_wait_awaits_a_coroutine_progress(ft: AsyncFoundry) -> None:
    sweep = await ft.sweep(builder(ft, seed=612, suffix="cb-sweep-coro"), {"n_epochs": [1]},
                           rank_by="train_loss")
    shown: list[int] = []

    async def progress(s: AsyncSweep) -> None:
        await sleep(0)
        shown.append(sum(t.done for t in s.trials))

    await sweep.wait(timeout=WAIT, poll=0.2, progress=progress)
    assert shown and shown[-1] == 1
# unasync: remove-end
