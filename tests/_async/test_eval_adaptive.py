"""evaluate() against a rate-limited emulator (switch ``inference_rate_limit``): its concurrency
adapts, so it sends fewer requests that get a 429 than a fixed concurrency does, with the same
scores, and never more than ``concurrency`` at once. 429s are counted by the emulator (its stats),
not by time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from foundry_tune._async import _flavour
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._core.concurrency import AdaptiveConcurrency
from foundry_tune._core.retry import RetryNotice, RetryPolicy, _notify
from foundry_tune.emulator import Emulator
from foundry_tune.evaluation import ProgressUpdate, Target
from foundry_tune.evaluation._async import _evaluate
from foundry_tune.evaluation._async._evaluate import FoundryCompleter, evaluate
from foundry_tune.evaluation._completion import Completion
from tests._eval_data import rows

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator()]
TARGETS = {"mini": Target("gpt-4.1-mini"), "nano": Target("gpt-4.1-nano")}
# 4 requests a second per deployment, 2 at most at once (half a second of burst): far below what
# any machine sends at 8 at a time, however slow or loaded, so that the service's rate, not the
# machine's, sets the pace. Each 429 says exactly when a request would pass (``retry-after-ms``),
# so that a run takes a few seconds.
LIMIT = {"requests_per_minute": 240, "burst_seconds": 0.5, "exact_retry_after": True}
# A retry policy that never gives up in this scenario (a fixed concurrency keeps losing races).
PATIENT = RetryPolicy(max_attempts=1000, total_timeout=120)


class _Patient:
    """The test's connection with a patient retry policy."""

    def __init__(self, ft: AsyncFoundry) -> None:
        self.openai = ft.openai
        self.retry = _flavour.retry_runner(PATIENT)


@pytest.fixture(autouse=True)
def _limit_off(emulator: Emulator) -> Iterator[None]:
    yield
    emulator.switches(inference_rate_limit=None)


class _Counting:
    """A completer around `FoundryCompleter` that counts the requests in flight."""

    def __init__(self, ft: AsyncFoundry) -> None:
        self.inner = FoundryCompleter(_Patient(ft))
        self.in_flight = 0
        self.peak = 0

    async def __call__(self, target: Target, messages: list[dict[str, Any]]) -> Any:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self.inner(target, messages)
        finally:
            self.in_flight -= 1


async def _run(ft: AsyncFoundry, emulator: Emulator, *, adaptive: bool,
               progress: Any = False) -> tuple[Any, int, int, int]:
    """(report, 429s, attempts, most in flight) of one throttled run of 12 x 2 requests, 8 at a time."""
    emulator.switches(inference_rate_limit=None)
    emulator.switches(inference_rate_limit=LIMIT)  # full buckets
    before = emulator.stats()
    completer = _Counting(ft)
    token = _evaluate._adaptive.set(adaptive)
    try:
        report = await evaluate(TARGETS, rows(12, seed=5), ["exact_match", "rouge_l"], foundry=ft,
                                concurrency=8, completer=completer, progress=progress)
    finally:
        _evaluate._adaptive.reset(token)
    after = emulator.stats()
    throttled = after["responses_by_status"].get("429", 0) - before["responses_by_status"].get("429", 0)
    return report, throttled, after["requests"] - before["requests"], completer.peak


@pytest.mark.anyio
async def test_under_a_rate_limit_evaluate_sends_fewer_429s_than_a_fixed_concurrency(
        ft: AsyncFoundry, emulator: Emulator) -> None:
    fixed, fixed_429s, fixed_attempts, fixed_peak = await _run(ft, emulator, adaptive=False)
    updates: list[ProgressUpdate] = []
    adaptive, adaptive_429s, attempts, peak = await _run(ft, emulator, adaptive=True,
                                                         progress=updates.append)
    assert fixed_429s >= 12  # the scenario does throttle a fixed gate
    # A clear margin, so that two runs at a fixed concurrency (the gate turned off) cannot pass.
    assert adaptive_429s <= fixed_429s * 0.6
    assert attempts == 24 + adaptive_429s and fixed_attempts == 24 + fixed_429s
    for name in TARGETS:  # the same answers, so the same scores; none failed
        assert adaptive[name].failed == fixed[name].failed == 0
        assert adaptive[name].scores["exact_match"].mean == fixed[name].scores["exact_match"].mean
        assert adaptive[name].scores["rouge_l"].mean == fixed[name].scores["rouge_l"].mean
    assert peak <= 8 and fixed_peak <= 8
    # The progress shows the concurrency: 8 to start with, lower once the service throttled.
    assert updates[0].concurrency == 8
    assert min(u.concurrency for u in updates) < 8


@pytest.mark.anyio
async def test_without_a_rate_limit_the_concurrency_stays_at_its_maximum(
        ft: AsyncFoundry, emulator: Emulator) -> None:
    completer = _Counting(ft)
    updates: list[ProgressUpdate] = []
    report = await evaluate(TARGETS, rows(12, seed=6), ["exact_match"], foundry=ft, concurrency=3,
                            completer=completer, progress=updates.append)
    assert report["mini"].failed == report["nano"].failed == 0
    assert completer.peak <= 3
    assert {u.concurrency for u in updates} == {3}


async def _hold(gate: _flavour.AdaptiveGate, seen: list[int], item: int) -> int:
    async with gate:
        seen.append(gate.in_flight)
        if item == 2:
            gate.limiter.throttled(gate.clock())  # 4 -> 2 while the others wait
        await _flavour.sleep(0.01)
    return item


@pytest.mark.anyio
async def test_the_gate_never_lets_more_in_than_the_limit_as_it_moves() -> None:
    gate = _flavour.AdaptiveGate(AdaptiveConcurrency(4))
    seen: list[int] = []

    async def hold(item: int) -> int:
        return await _hold(gate, seen, item)

    assert await _flavour.bounded_map(hold, range(12), 8) == list(range(12))
    assert gate.peak <= 4 and max(seen) <= 4
    assert gate.limiter.limit == 2 and gate.in_flight == 0
    assert max(seen[6:]) <= 2  # once halved, at most 2 at once


class _ThrottledFor:
    """A completer whose answers for one model are all preceded by a 429 (as the retry policy
    reports one), while the others never are: it notes the limit each request's target has."""

    def __init__(self, throttled_model: str) -> None:
        self.throttled_model = throttled_model
        self.limits: dict[str, list[int]] = {}

    async def __call__(self, target: Target, messages: list[dict[str, Any]]) -> Any:
        gate = _evaluate._target_gate.get()
        assert gate is not None
        self.limits.setdefault(target.model, []).append(gate.limiter.limit)
        if target.model == self.throttled_model:
            _notify(RetryNotice(f"chat completion on {target.model}", 1, 3, 0.0, "429"))
        return Completion(text=messages[-1]["content"], prompt_tokens=1, completion_tokens=1, latency=0.0)


@pytest.mark.anyio
async def test_a_429_of_one_target_leaves_the_others_concurrency_alone() -> None:
    completer = _ThrottledFor("gpt-4.1-mini")
    report = await evaluate(TARGETS, rows(16, seed=7), ["exact_match"], concurrency=4,
                            completer=completer, progress=False)
    assert report["mini"].failed == report["nano"].failed == 0
    assert min(completer.limits["gpt-4.1-mini"]) < 4  # lowered by its own 429s
    assert set(completer.limits["gpt-4.1-nano"]) == {4}  # never throttled: never lowered
