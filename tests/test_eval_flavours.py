"""The evaluate runner in both flavours (one source, ``foundry_tune/evaluation/_async``): the same
report from the same answers, ``completer=`` in both, interruption keeps what was measured, and a
connection of the other flavour is refused before any request."""

from __future__ import annotations

import asyncio
import threading
import time
import types
from typing import Any

import pytest

from foundry_tune.errors import ConfigurationError, ServiceError
from foundry_tune.evaluation import Completion, Target, evaluate
from foundry_tune.evaluation._examples import Message

ROWS = [
    {"messages": [{"role": "user", "content": f"ticket {i}"},
                  {"role": "assistant", "content": "billing" if i % 2 else "shipping"}]}
    for i in range(12)
]
TARGETS = {"base": Target("gpt-4.1-mini"), "tuned": Target("gpt-4.1-mini.ft-1")}


def _answer(target: Target, messages: list[Message]) -> Completion:
    number = int(str(messages[-1]["content"]).split()[-1])
    if number == 5:
        raise ServiceError("overloaded", status=503)
    right = "billing" if number % 2 else "shipping"
    text = right if ".ft-" in target.model or number < 3 else "no idea"
    return Completion(text, 10 + number, len(text.split()), 0.5)


async def _answer_async(target: Target, messages: list[Message]) -> Completion:
    await asyncio.sleep(0)
    return _answer(target, messages)


def _aevaluate(*args: Any, **kwargs: Any) -> Any:
    pytest.importorskip("aiohttp")
    from foundry_tune.aio import evaluate as aevaluate

    return asyncio.run(aevaluate(*args, **kwargs))


def test_both_flavours_report_the_same_from_the_same_answers() -> None:
    options: dict[str, Any] = {"metrics": ["exact_match", "rouge_l"], "progress": False, "seed": 3}
    sync_report = evaluate(TARGETS, ROWS, completer=_answer, **options)
    async_report = _aevaluate(TARGETS, ROWS, completer=_answer_async, **options)
    assert async_report.to_dict() == sync_report.to_dict()
    tuned = sync_report["tuned"]
    assert (tuned.answered, tuned.failed) == (11, 1) and tuned.scores["exact_match"].mean == 1.0
    assert sync_report["base"].scores["exact_match"].mean < 1.0


def test_async_concurrency_is_bounded() -> None:
    active, peak = [0], [0]

    async def slow(target: Target, messages: list[Message]) -> Completion:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.005)
        active[0] -= 1
        return _answer(target, messages)

    report = _aevaluate(TARGETS, ROWS, "exact_match", completer=slow, concurrency=3, progress=False)
    assert peak[0] == 3 and report["tuned"].answered == 11


def test_cancelling_the_async_evaluate_keeps_what_was_measured() -> None:
    pytest.importorskip("aiohttp")
    from foundry_tune.aio import evaluate as aevaluate

    done = [0]

    async def slow(target: Target, messages: list[Message]) -> Completion:
        await asyncio.sleep(0.01)
        done[0] += 1
        return _answer(target, messages)

    async def main() -> Any:
        task = asyncio.ensure_future(aevaluate(TARGETS, ROWS, "exact_match", completer=slow, concurrency=2,
                                               progress=False))
        while done[0] < 6:
            await asyncio.sleep(0.002)
        task.cancel()
        return await task

    report = asyncio.run(main())
    assert report.interrupted
    assert 6 <= sum(t.answered + t.failed for t in report.targets) < 24


def test_sync_ctrl_c_stops_sending() -> None:
    sent = [0]
    lock = threading.Lock()

    def answer(target: Target, messages: list[Message]) -> Completion:
        with lock:
            sent[0] += 1
            if sent[0] == 5:
                raise KeyboardInterrupt
        time.sleep(0.005)
        return _answer(target, messages)

    report = evaluate(TARGETS, ROWS, "exact_match", completer=answer, concurrency=2, progress=False)
    assert report.interrupted
    assert sent[0] < 24  # the requests not started yet were dropped


def test_a_connection_of_the_other_flavour_is_refused_before_any_request() -> None:
    pytest.importorskip("aiohttp")
    from foundry_tune import RetryPolicy
    from foundry_tune.aio import AsyncRetryPolicy

    async_like = types.SimpleNamespace(openai=object(), retry=AsyncRetryPolicy())
    sync_like = types.SimpleNamespace(openai=object(), retry=RetryPolicy())
    with pytest.raises(ConfigurationError, match="cannot send requests on a SimpleNamespace"):
        evaluate(TARGETS, ROWS, "exact_match", foundry=async_like, progress=False)
    with pytest.raises(ConfigurationError, match="pass foundry=AsyncFoundry"):
        _aevaluate(TARGETS, ROWS, "exact_match", foundry=sync_like, progress=False)
    with pytest.raises(ConfigurationError, match=r"needs a connection: pass foundry=AsyncFoundry\(...\)"):
        _aevaluate(TARGETS, ROWS, "exact_match", progress=False)
