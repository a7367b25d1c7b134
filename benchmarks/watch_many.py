"""Benchmark: watching many jobs costs one listing per look, not one retrieve per job per look.

    python benchmarks/watch_many.py                     # 10 jobs, 30 looks each way
    python benchmarks/watch_many.py --jobs 20 --looks 50
    python benchmarks/watch_many.py --others 5          # 5 newer jobs of someone else above them

Method. A local emulator of its own (``Emulator(job_duration=3600)``, a background process, Azure
flavour) holds ``--jobs`` fine-tuning jobs that stay live for the whole run (and, with
``--others``, that many newer jobs that are not watched, so the listing must reach below them).
The jobs are created over a direct connection (not counted). Then two watchers take the same
number of looks at the same jobs, one after the other, each on a connection of its own:

- foundry-tune: ``Foundry(endpoint, credential)`` as a user connects to Azure,
  ``ft.jobs.wait_all(ids, poll=...)`` (the loop a sweep's ``wait()`` uses too), stopped after
  ``--looks`` looks by its ``progress`` callback;
- one retrieve per job per look: ``client.fine_tuning.jobs.retrieve(id)`` for every job, what
  users write around the openai SDK and what ``Sweep.wait()`` did before (``job.refresh()`` on
  every live trial).

Each connection's HTTP client counts its requests and the bytes of every answer (status line,
headers and body) with an httpx event hook. Both watchers must see the same statuses.

Target (exit 1 when missed): foundry-tune spends one listing per look and no retrieve (the issue's
"one listing per interval, not one retrieve per job"), so fewer requests than one retrieve per job,
and both see the same statuses. Bytes are reported beside it: a listing row is the same job body a
retrieve answers, so they are about equal with nothing else on the resource, and with newer
unrelated jobs above the watched ones (``--others``) the listing carries those too, so its bytes
can exceed the retrieves' (the requests' lead stays).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundry_tune._core.connection import EMULATOR_TOKEN, connection_options
from foundry_tune._demo_data import demo_records
from foundry_tune.client import Foundry, StaticTokenCredential
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator


@dataclass
class Spent:
    """What one watcher spent."""

    requests: int = 0
    bytes: int = 0
    lists: int = 0
    retrieves: int = 0

    def hook(self, response: Any) -> None:
        """An httpx response hook: count the answer as the watcher received it."""
        response.read()
        head = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n"
        head += "".join(f"{key}: {value}\r\n" for key, value in response.headers.items()) + "\r\n"
        self.requests += 1
        self.bytes += len(head.encode()) + len(response.content)
        path = response.request.url.path
        if path.endswith("/fine_tuning/jobs"):
            self.lists += 1
        elif "/fine_tuning/jobs/" in path:
            self.retrieves += 1


class Enough(Exception):
    """Ends the foundry-tune watch after the looks asked for."""


def connect(info: Any, spent: Spent | None = None) -> Foundry:
    ft = Foundry(info.project_endpoint, StaticTokenCredential(info.token or EMULATOR_TOKEN),
                 **connection_options(info))
    if spent is not None:
        ft.openai._client.event_hooks["response"].append(spent.hook)
    return ft


def start_jobs(ft: Foundry, n: int, suffix: str, seed: int) -> list[str]:
    data = Dataset.from_records(list(demo_records(20, seed=seed)), name=f"{suffix}.jsonl")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(data).training_type("GlobalStandard").suffix(suffix)
    return [builder.seed(i).start(on_progress=lambda _: None).id for i in range(n)]


def watch_with_foundry_tune(info: Any, ids: list[str], looks: int, poll: float) -> tuple[Spent, list[str]]:
    spent = Spent()
    seen: list[list[str]] = []

    def progress(jobs: list[Any]) -> None:
        seen.append([job.status.value for job in jobs])
        if len(seen) >= looks:
            raise Enough

    with connect(info, spent) as ft, contextlib.suppress(Enough):
        ft.jobs.wait_all(ids, poll=poll, progress=progress)
    return spent, seen[-1]


def watch_one_retrieve_per_job(info: Any, ids: list[str], looks: int, poll: float) -> tuple[Spent, list[str]]:
    spent = Spent()
    statuses: list[str] = []
    with connect(info, spent) as ft:
        client = ft.openai  # the plain openai SDK client, as users call it
        for look in range(looks):
            statuses = [client.fine_tuning.jobs.retrieve(job_id).status for job_id in ids]
            if look < looks - 1:
                time.sleep(poll)
    return spent, statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=10, help="jobs watched (default 10)")
    parser.add_argument("--looks", type=int, default=30, help="looks each watcher takes (default 30)")
    parser.add_argument("--others", type=int, default=0,
                        help="newer jobs not watched, above the watched ones in the listing (default 0)")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between looks (default 0.05)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with Emulator(job_duration=3600.0) as emulator:
        info = emulator.info
        with connect(info) as direct:
            ids = start_jobs(direct, args.jobs, "watched", seed=1)
            if args.others:
                start_jobs(direct, args.others, "others", seed=2)
        ft, ft_statuses = watch_with_foundry_tune(info, ids, args.looks, args.poll)
        alt, alt_statuses = watch_one_retrieve_per_job(info, ids, args.looks, args.poll)
    live = all(s not in ("succeeded", "failed", "cancelled") for s in ft_statuses)
    same = ft_statuses == alt_statuses and live
    looks = args.looks
    one_listing = ft.retrieves == 0  # every look answered by the listing
    cheaper = one_listing and ft.requests < alt.requests
    above = f", {args.others} newer jobs above them" if args.others else ""
    print(f"| {args.jobs} jobs watched, {looks} looks{above} | requests | bytes "
          "| per look (requests, bytes) | listings, retrieves |")
    print("|---|---|---|---|---|")
    for name, spent in (("foundry-tune `ft.jobs.wait_all()`", ft), ("one retrieve per job per look", alt)):
        print(f"| {name} | {spent.requests} | {spent.bytes / 1e6:.3f} MB | {spent.requests / looks:.1f}, "
              f"{spent.bytes / looks / 1e3:.1f} kB | {spent.lists}, {spent.retrieves} |")
    ratio = (f"{alt.requests / max(ft.requests, 1):.1f}x fewer requests, "
             f"{alt.bytes / max(ft.bytes, 1):.2f}x fewer bytes")
    print(f"\nfoundry-tune: {ratio}; the same statuses seen: {'yes' if same else 'NO'} "
          f"({time.monotonic() - started:.0f} s in all)")
    ok = cheaper and same
    verdict = "met" if ok else "MISSED"
    print(f"target (one listing per look, no retrieve, fewer requests, same answer): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
