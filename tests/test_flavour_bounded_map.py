"""``bounded_map`` of both flavours: results in order, at most ``limit`` at once, and the first
failure stops the work not done yet (the async one cancels the calls in flight, so that a cancelled
multipart upload stops sending its parts)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from foundry_tune._async import _flavour as async_flavour
from foundry_tune._sync import _flavour as sync_flavour


def test_async_results_come_in_the_items_order_with_at_most_limit_running() -> None:
    running = [0]
    most = [0]

    async def slow_echo(item: int) -> int:
        running[0] += 1
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0.01 * (5 - item))  # the first items finish last
        running[0] -= 1
        return item * 10

    assert asyncio.run(async_flavour.bounded_map(slow_echo, range(5), 2)) == [0, 10, 20, 30, 40]
    assert most[0] == 2
    assert asyncio.run(async_flavour.bounded_map(slow_echo, [], 2)) == []


def test_async_first_failure_cancels_the_siblings_and_is_raised() -> None:
    started: set[int] = set()
    cancelled: set[int] = set()

    async def part(item: int) -> int:
        started.add(item)
        try:
            if item == 0:
                await asyncio.sleep(0.01)
                raise ValueError("part 0 failed")
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.add(item)
            raise
        return item

    async def main() -> None:
        began = time.monotonic()
        with pytest.raises(ValueError, match="part 0 failed"):
            await async_flavour.bounded_map(part, range(5), 2)
        assert time.monotonic() - began < 5
        await asyncio.sleep(0.05)  # anything left running would start the waiting items now

    asyncio.run(main())
    assert started == {0, 1}
    assert cancelled == {1}


def test_async_cancelling_the_caller_cancels_every_call() -> None:
    cancelled: set[int] = set()

    async def part(item: int) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.add(item)
            raise

    async def main() -> None:
        task = asyncio.ensure_future(async_flavour.bounded_map(part, range(3), 3))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)

    asyncio.run(main())
    assert cancelled == {0, 1, 2}


def test_sync_first_failure_drops_the_items_not_started() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def part(item: int) -> int:
        with lock:
            started.append(item)
        if item == 0:
            raise ValueError("part 0 failed")
        time.sleep(0.05)
        return item

    with pytest.raises(ValueError, match="part 0 failed"):
        sync_flavour.bounded_map(part, range(20), 1)
    assert started == [0]
    assert sync_flavour.bounded_map(lambda x: x * 10, range(4), 2) == [0, 10, 20, 30]
