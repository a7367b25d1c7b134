"""Benchmark: watching one job with ``job.wait()`` costs less than the cookbook's loop.

    python benchmarks/watch.py              # a 3-minute and a 30-minute job, side by side (~31 min)
    python benchmarks/watch.py --quick      # one 3-minute job (~3.5 min)
    python benchmarks/watch.py --minutes 5 10

Method. Each row is one fine-tuning job of that many minutes on a local emulator of its own
(``Emulator(job_duration=...)``, a background process, Azure flavour, started with its defaults
otherwise); the rows run at the same time. The job is created over a direct connection (not
counted). Then two watchers start together, each in its own thread, on its own connection through
its own counting proxy in front of the emulator:

- foundry-tune: ``Foundry(endpoint, credential)`` as a user connects to Azure (default retry
  policy, default ``poll="adaptive"``), ``ft.jobs.attach(job_id).wait(progress=False)``.
- the cookbook: a plain ``openai.OpenAI`` client with the loop the fine-tuning cookbooks print:
  ``while status not terminal: retrieve; list_events(limit=10); sleep(10)``.

The job trains one epoch of 500 steps every 3 minutes (about 20 events a minute, Azure's step
lines every 10 steps). Each proxy counts the requests it forwards and the bytes of every answer
as written to the watcher (status line, headers and body). "Noticed end after" is the time from the job's
``finished_at`` to the moment the watcher read a final status.

Targets (exit 1 when missed): on every row foundry-tune spends no more requests and no more bytes
than the cookbook on the same job (the same job, so the same per job-minute). By design the wait
watches a young job closely (every second for its first seconds, then 0.6 times its age), so on
jobs shorter than about 2.5 minutes (``--minutes 1``) it looks more often than a 10-second loop
and this script exits 1: that is the price of noticing a short job's end within a second or two.
"""

from __future__ import annotations

import argparse
import http.server
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundry_tune._core.connection import EMULATOR_TOKEN, connection_options
from foundry_tune._demo_data import demo_records
from foundry_tune.client import Foundry, StaticTokenCredential
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.methods import Supervised
from tests._delaying_proxy import HOP_BY_HOP, DelayingProxy

TERMINAL = ("succeeded", "failed", "cancelled")
EXAMPLES = 500  # batch size 1 on the emulator: 500 steps an epoch, a step message every 10 steps
MINUTES_PER_EPOCH = 3.0  # an epoch every 3 minutes: about 20 events a minute on every row
_SERVER_AND_DATE = len(f"Server: {http.server.BaseHTTPRequestHandler.server_version} "
                       f"{http.server.BaseHTTPRequestHandler.sys_version}\r\n"
                       "Date: Wed, 02 Dec 2026 07:40:00 GMT\r\n")
"""The two headers the proxy's ``send_response`` adds to every answer."""


class CountingProxy(DelayingProxy):
    """The tests' proxy (`tests._delaying_proxy.DelayingProxy`, nothing held) on a free loopback
    port in front of ``upstream``, counting the requests it forwards and the bytes it writes back
    (status line, headers and body)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, delay=0.0, held=lambda method, path: False)
        self.requests = 0
        self.bytes = 0
        self._count = threading.Lock()
        self.start()

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        answer = super()._forward(method, path, headers, body)
        head = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}\r\n"]
        head += [f"{key}: {value}\r\n" for key, value in answer.headers.items()
                 if key.lower() not in HOP_BY_HOP]
        head.append(f"Content-Length: {len(answer.content)}\r\n\r\n")
        with self._count:
            self.requests += 1
            self.bytes += sum(len(line.encode()) for line in head) + _SERVER_AND_DATE + len(answer.content)
        return answer


@dataclass
class Watch:
    """What one watcher spent and when it saw the end."""

    requests: int = 0
    bytes: int = 0
    noticed: float | None = None
    status: str = ""
    events: int = 0
    error: str = ""


@dataclass
class Row:
    minutes: float
    ft: Watch = field(default_factory=Watch)
    cookbook: Watch = field(default_factory=Watch)
    finished_at: float | None = None
    events: int = 0


def _via(proxy: CountingProxy, info: Any) -> str:
    return proxy.url + urlsplit(info.project_endpoint).path


def _watch_with_foundry_tune(row: Row, proxy: CountingProxy, info: Any, job_id: str,
                             go: threading.Barrier) -> None:
    credential = StaticTokenCredential(info.token or EMULATOR_TOKEN)
    with Foundry(_via(proxy, info), credential) as ft:  # as a user connects to Azure: defaults
        go.wait()
        try:
            seen: list[Any] = []
            job = ft.jobs.attach(job_id).wait(progress=False, raise_on_failure=False, on_event=seen.append)
            row.ft.noticed = time.time()
            row.ft.status = str(job.status)
            row.ft.events = len(seen)
        except Exception as exc:  # reported in the table
            row.ft.error = repr(exc)


def _watch_like_the_cookbook(row: Row, proxy: CountingProxy, info: Any, job_id: str,
                             go: threading.Barrier) -> None:
    client = openai.OpenAI(base_url=_via(proxy, info) + "/openai/v1", api_key=info.token or EMULATOR_TOKEN)
    go.wait()
    try:
        status = ""
        shown: set[str] = set()
        while status not in TERMINAL:
            job = client.fine_tuning.jobs.retrieve(job_id)
            status = job.status
            if status in TERMINAL:
                row.cookbook.noticed = time.time()
            events = client.fine_tuning.jobs.list_events(fine_tuning_job_id=job_id, limit=10)
            shown.update(event.id for event in events.data)
            if status not in TERMINAL:
                time.sleep(10)
        row.cookbook.status = status
        row.cookbook.events = len(shown)
    except Exception as exc:
        row.cookbook.error = repr(exc)
    finally:
        client.close()


def run_row(row: Row) -> None:
    try:
        _run_row(row)
    except Exception as exc:  # reported in the table
        row.ft.error = row.ft.error or f"the row failed: {exc!r}"


def _run_row(row: Row) -> None:
    with Emulator(job_duration=row.minutes * 60.0) as emulator:
        info = emulator.info
        direct = Foundry(info.project_endpoint, StaticTokenCredential(info.token or EMULATOR_TOKEN),
                         **connection_options(info))
        with direct:
            records = list(demo_records(EXAMPLES, seed=int(row.minutes * 100)))
            data = Dataset.from_records(records, name="watch.jsonl")
            epochs = max(1, round(row.minutes / MINUTES_PER_EPOCH))
            job = (direct.fine_tune("gpt-4.1-mini").train_on(data).training_type("GlobalStandard")
                   .method(Supervised(n_epochs=epochs)).suffix(f"watch-{int(row.minutes * 60)}s").start())
            proxies = CountingProxy(_upstream(info)), CountingProxy(_upstream(info))
            go = threading.Barrier(2)
            threads = [
                threading.Thread(target=_watch_with_foundry_tune, args=(row, proxies[0], info, job.id, go)),
                threading.Thread(target=_watch_like_the_cookbook, args=(row, proxies[1], info, job.id, go)),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for watch, proxy in zip((row.ft, row.cookbook), proxies, strict=True):
                watch.requests, watch.bytes = proxy.requests, proxy.bytes
                proxy.close()
            job.refresh()
            row.finished_at = job.finished_at.timestamp() if job.finished_at else None
            row.events = len(job.events())


def _upstream(info: Any) -> str:
    parts = urlsplit(info.project_endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def _late(watch: Watch, finished_at: float | None) -> str:
    if watch.noticed is None or finished_at is None:
        return "-"
    return f"{max(0.0, watch.noticed - finished_at):.1f} s"


def table(rows: list[Row]) -> tuple[str, bool]:
    lines = [
        "| job | foundry-tune requests | bytes | cookbook requests | bytes | ratio (requests, bytes) "
        "| noticed end after (foundry-tune, cookbook) | events shown (foundry-tune, cookbook, job) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ok = True
    for row in rows:
        ft, cb = row.ft, row.cookbook
        met = not ft.error and not cb.error and ft.requests <= cb.requests and ft.bytes <= cb.bytes
        ok = ok and met
        ratio = (f"{ft.requests / cb.requests:.2f}, {ft.bytes / cb.bytes:.2f}"
                 if cb.requests and cb.bytes else "-")
        lines.append(
            f"| {row.minutes:g} min | {ft.requests} | {ft.bytes / 1e6:.3f} MB | {cb.requests} | "
            f"{cb.bytes / 1e6:.3f} MB | {ratio}{'' if met else ' MISSED'} | "
            f"{_late(ft, row.finished_at)}, {_late(cb, row.finished_at)} | "
            f"{ft.events}, {cb.events}, {row.events} |")
        for name, watch in (("foundry-tune", ft), ("cookbook", cb)):
            if watch.error:
                lines.append(f"\n{row.minutes:g} min, {name}: {watch.error}")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one 3-minute job")
    parser.add_argument("--minutes", type=float, nargs="+", help="job durations in minutes (default 3 30)")
    args = parser.parse_args(argv)
    minutes = args.minutes or ([3.0] if args.quick else [3.0, 30.0])
    rows = [Row(m) for m in minutes]
    started = time.monotonic()
    threads = [threading.Thread(target=run_row, args=(row,)) for row in rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text, ok = table(rows)
    print(text)
    print(f"\n{len(rows)} jobs watched side by side in {time.monotonic() - started:.0f} s; target "
          f"(foundry-tune <= cookbook in requests and bytes on every row): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
