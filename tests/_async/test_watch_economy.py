"""Watching one job is economical: after its first look, ``job.wait()`` reads only new events in a
small page from the newest, shows each event once, and holds its looks back while the service says
few requests remain. Counted at a recording proxy in front of the emulator, and by the intervals the
wait asks to sleep (never timed)."""

from __future__ import annotations

import contextlib
import itertools
import json
from urllib.parse import urlsplit

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async import _flavour
from foundry_tune._async._credentials import AsyncStaticTokenCredential
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune._core.events import EVENTS_PAGE_SIZE, SMALL_PAGE_MIN
from foundry_tune.emulator import EmulatorInfo
from foundry_tune.job import JobEvent
from foundry_tune.methods import Supervised
from tests._pacing_proxy import Exchange, PacingProxy

from ._helpers import WAIT, sft_data

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(job_duration=4.0)]


def _proxy(info: EmulatorInfo) -> PacingProxy:
    parts = urlsplit(info.project_endpoint)
    return PacingProxy(f"{parts.scheme}://{parts.netloc}")


def _through(proxy: PacingProxy, info: EmulatorInfo) -> AsyncFoundry:
    """A connection to the emulator through ``proxy``, as a user connects to a service."""
    path = urlsplit(info.project_endpoint).path
    return AsyncFoundry(proxy.url + path, AsyncStaticTokenCredential(info.token or "token-for-tests"))


async def _start(ft: AsyncFoundry, seed: int, suffix: str) -> AsyncJob:
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=seed)).training_type("GlobalStandard")
               .method(Supervised(n_epochs=1)).suffix(suffix))
    return await builder.start()


def _ids(exchange: Exchange) -> list[str]:
    return [event["id"] for event in json.loads(exchange.body)["data"]]


@pytest.mark.anyio
async def test_wait_reads_only_new_events_in_small_pages(emulator_info: EmulatorInfo) -> None:
    with _proxy(emulator_info) as proxy:
        async with _through(proxy, emulator_info) as ft:
            job = await _start(ft, seed=1501, suffix="watch-pages")
            proxy.exchanges.clear()
            seen: list[JobEvent] = []
            await job.wait(timeout=WAIT, progress=False, on_event=seen.append)
            history = await job.events()
        pages = proxy.sent("GET", "/events")[:-1 - len(history) // 100]  # without job.events()' pages
    assert [e.id for e in seen] == [e.id for e in history]  # every event once, oldest first
    assert pages[0].query["limit"] == str(EVENTS_PAGE_SIZE)  # the first look reads the history
    known: set[str] = set()  # ids read by the looks before the current one
    look: set[str] = set(_ids(pages[0]))  # ids read by the current look
    last_new, looks = len(look), 1
    for before, page in itertools.pairwise(pages):
        ids = _ids(page)
        if "after" in page.query:  # a page further down: only when the whole page above was new
            assert not known & set(_ids(before))
            assert page.query["after"] == _ids(before)[-1]
            look.update(ids)
            continue
        last_new = len(look - known)
        known |= look
        look = set(ids)
        looks += 1
        # a look: a small page from the newest, sized from how many were new at the last look
        assert int(page.query["limit"]) == min(EVENTS_PAGE_SIZE, max(SMALL_PAGE_MIN, 2 * last_new + 1))
        assert int(page.query["limit"]) < EVENTS_PAGE_SIZE
    assert looks >= 3


class _Enough(Exception):
    """Stops a wait once it asked for enough sleeps."""


@pytest.mark.anyio
async def test_wait_holds_back_while_the_service_says_few_requests_remain(
    emulator_info: EmulatorInfo, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The intervals the wait asks to sleep, recorded (each sleep cut short, the wait stopped after
    five): nothing here depends on how fast this machine is."""
    asked: dict[str, list[float]] = {}
    real_sleep = _flavour.sleep
    few_left = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"}
    for case, headers in (("paced", few_left), ("free", {})):
        sleeps = asked[case] = []

        async def brief(seconds: float, sleeps: list[float] = sleeps) -> None:
            sleeps.append(seconds)
            if len(sleeps) == 5:
                raise _Enough
            await real_sleep(min(seconds, 0.1))

        with _proxy(emulator_info) as proxy:
            async with _through(proxy, emulator_info) as ft:
                job = await _start(ft, seed=1502 if case == "paced" else 1503, suffix=f"watch-{case}")
                proxy.headers = headers
                with monkeypatch.context() as patch, contextlib.suppress(_Enough):  # or the job ended
                    patch.setattr(_flavour, "sleep", brief)
                    await job.wait(timeout=WAIT, progress=False, poll=0.25)
            assert ft.pacing.reason == ("x-ratelimit-remaining-requests" if headers else "")
    # when free, the fixed poll; when paced, the rate limit's 30-second reset (less the time a look takes)
    assert asked["free"] and set(asked["free"]) == {0.25}, asked
    assert asked["paced"] and min(asked["paced"]) > 20.0, asked
