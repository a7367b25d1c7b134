"""The flavours' ``AdaptiveGate`` (issue 15 review): closing it stops the holders waiting at it, a
woken waiter that is cancelled passes its wake-up on, and in the sync flavour the limiter is only
changed under the gate's lock. Not timed: threads are synchronized by events, not by sleeps."""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Any

import pytest

from foundry_tune._async import _flavour as async_flavour
from foundry_tune._core.concurrency import AdaptiveConcurrency
from foundry_tune._core.retry import RetryNotice, _notify
from foundry_tune._sync import _flavour as sync_flavour
from foundry_tune.evaluation import Target
from foundry_tune.evaluation._completion import Completion
from foundry_tune.evaluation._sync import _evaluate as sync_evaluate


def _waiting(gate: sync_flavour.AdaptiveGate) -> int:
    return len(gate._condition._waiters)  # type: ignore[attr-defined]  # CPython's Condition


def _until(condition: Any, what: str) -> None:
    for _ in range(10_000):
        if condition():
            return
        threading.Event().wait(0.001)
    raise AssertionError(f"never happened: {what}")


def test_a_closed_sync_gate_turns_its_waiters_and_later_holders_away() -> None:
    gate = sync_flavour.AdaptiveGate(AdaptiveConcurrency(1))
    outcomes: list[str] = []

    def wait() -> None:
        try:
            with gate:
                outcomes.append("entered")
        except sync_flavour.GateClosed:
            outcomes.append("closed")

    with gate:
        threads = [threading.Thread(target=wait) for _ in range(3)]
        for thread in threads:
            thread.start()
        _until(lambda: _waiting(gate) == 3, "three holders wait")
        gate.close()
        for thread in threads:
            thread.join(10)
    assert outcomes == ["closed"] * 3
    with pytest.raises(sync_flavour.GateClosed), gate:
        pass
    assert gate.in_flight == 0


def test_a_closed_async_gate_turns_its_waiters_and_later_holders_away() -> None:
    async def main() -> list[str]:
        gate = async_flavour.AdaptiveGate(AdaptiveConcurrency(1))
        outcomes: list[str] = []

        async def wait() -> None:
            try:
                async with gate:
                    outcomes.append("entered")
            except async_flavour.GateClosed:
                outcomes.append("closed")

        async with gate:
            tasks = [asyncio.create_task(wait()) for _ in range(3)]
            await asyncio.sleep(0)
            gate.close()
            await asyncio.gather(*tasks)
        with pytest.raises(async_flavour.GateClosed):
            async with gate:
                pass
        return outcomes

    assert asyncio.run(main()) == ["closed"] * 3


def test_a_woken_async_waiter_that_is_cancelled_passes_the_wake_up_on() -> None:
    async def main() -> str:
        gate = async_flavour.AdaptiveGate(AdaptiveConcurrency(1))
        tasks: dict[str, asyncio.Task[str]] = {}

        async def waiter(name: str) -> str:
            async with gate:
                return name

        async with gate:
            tasks["A"] = asyncio.create_task(waiter("A"))
            tasks["B"] = asyncio.create_task(waiter("B"))
            await asyncio.sleep(0)  # both wait
        tasks["A"].cancel()  # woken by the holder leaving, cancelled in the same tick
        return await asyncio.wait_for(tasks["B"], 10)

    assert asyncio.run(main()) == "B"


def test_the_sync_gate_changes_its_limiter_under_its_lock_only_and_halves_once_per_burst(
        monkeypatch: pytest.MonkeyPatch) -> None:
    unlocked: list[str] = []
    gates: list[sync_flavour.AdaptiveGate] = []

    class Gate(sync_flavour.AdaptiveGate):
        def __init__(self, limiter: AdaptiveConcurrency, **kwargs: Any) -> None:
            super().__init__(limiter, **kwargs)
            limiter.gate = self  # type: ignore[attr-defined]
            gates.append(self)

    class Checked(AdaptiveConcurrency):
        def _check(self, name: str) -> None:
            if not self.gate._condition._is_owned():  # type: ignore[attr-defined]
                unlocked.append(name)

        def succeeded(self) -> bool:
            self._check("succeeded")
            return super().succeeded()

        def throttled(self, now: float, retry_after: float | None = None) -> None:
            self._check("throttled")
            super().throttled(now, retry_after)

        def observe(self, headers: Any) -> None:
            self._check("observe")
            super().observe(headers)

    monkeypatch.setattr(sync_evaluate._flavour, "AdaptiveGate", Gate)
    monkeypatch.setattr(sync_evaluate, "AdaptiveConcurrency", Checked)
    burst = threading.Barrier(8)

    def complete(target: Target, messages: list[Any]) -> Completion:
        observe = sync_evaluate._answer_headers.get()
        assert observe is not None
        observe({"x-ratelimit-remaining-requests": "100"})
        if len(messages[0]["content"]) == 2:  # the first 8 questions: one burst of 429s at once
            burst.wait(10)
            _notify(RetryNotice("chat", 1, 3, 60.0, "429"))
        return Completion(text="a", prompt_tokens=1, completion_tokens=1, latency=0.0)

    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
            for i in range(8)]
    report = sync_evaluate.evaluate({"m": Target("m")}, rows, ["exact_match"], completer=complete,
                                    concurrency=8, progress=False)
    assert report["m"].failed == 0
    assert unlocked == []
    (gate,) = gates
    assert gate.limiter.throttles == 8 and gate.limiter.decreases == 1 and gate.limiter.lowest == 4


def test_after_an_interruption_sync_evaluate_sends_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    # The limit starts at 1: the other workers wait at the gate while the first request runs.
    monkeypatch.setattr(sync_evaluate, "AdaptiveConcurrency",
                        lambda maximum: AdaptiveConcurrency(maximum, limit=1))
    sent: list[str] = []
    others_waiting = threading.Event()

    def complete(target: Target, messages: list[Any]) -> Completion:
        sent.append(messages[0]["content"])
        if len(sent) == 1:
            gate = sync_evaluate._target_gate.get()
            assert gate is not None
            _until(lambda: _waiting(gate) == 3, "the other workers wait at the gate")
            others_waiting.set()
            # Ctrl-C, while this request is still in flight (a signal, so that it wakes the main thread)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            _until(lambda: gate.closed, "the interrupted run closes the gate")
        return Completion(text="a", prompt_tokens=1, completion_tokens=1, latency=0.0)

    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
            for i in range(8)]
    before = set(threading.enumerate())
    report = sync_evaluate.evaluate({"m": Target("m")}, rows, ["exact_match"], completer=complete,
                                    concurrency=4, progress=False)
    for thread in set(threading.enumerate()) - before:
        thread.join(10)
    assert others_waiting.is_set()
    assert report.interrupted
    assert sent == ["q0"]  # the workers that waited at the gate did not send theirs
