"""One request at a time on a reused connection to the emulator, with and without ``TCP_NODELAY``.

An answer leaves the emulator in two writes (headers, then body). With Nagle's algorithm on, the
second waits for the client to acknowledge the first, which a client on a kept-alive connection
delays by ~40 ms: every request then takes ~40 ms however little work it is. The emulator's
connections set ``TCP_NODELAY``; for the comparison, ``FOUNDRY_TUNE_EMULATOR_NAGLE=1`` (a benchmark
aid, read by the emulator process) leaves Nagle's algorithm on.

Each mode starts its own emulator through ``Foundry.emulator()`` (the library's own connection
pool, the one users run on) and times, ``--requests`` times each after a warm-up:
- ``GET job``: ``ft.openai.fine_tuning.jobs.retrieve()`` (what a wait loop polls),
- ``POST upload``: ``ft.openai.uploads.create()`` (a small JSON body),
- ``GET job, raw socket``: the same GET written on a plain kept-alive socket (the server alone).

Then (``--assemble-mb``, default 256; 0 skips it) one more emulator takes an upload of that many MB
in 64 MB parts and completes it while another client lists files every 10 ms: the longest of those
answers shows whether the loop stayed free while the parts were joined and hashed (it runs in a
worker thread; on the event loop it held every request for the whole join).

Target: the median with ``TCP_NODELAY`` under 5 ms for every request (exit 1 otherwise). Run:
    python benchmarks/emulator_latency.py [--requests 200] [--assemble-mb 256] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from foundry_tune import Foundry

NAGLE_ENV = "FOUNDRY_TUNE_EMULATOR_NAGLE"  # foundry_tune.emulator._server.NAGLE_ENV
TARGET_MS = 5.0
WARMUP = 10
_ROW = {"messages": [{"role": "user", "content": "Where is my order?"},
                     {"role": "assistant", "content": "It ships tomorrow."}]}


@contextlib.contextmanager
def _nagle(on: bool) -> Iterator[None]:
    before = os.environ.get(NAGLE_ENV)
    if on:
        os.environ[NAGLE_ENV] = "1"
    else:
        os.environ.pop(NAGLE_ENV, None)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(NAGLE_ENV, None)
        else:
            os.environ[NAGLE_ENV] = before


def _timed(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(WARMUP):
        call()
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


class _RawConnection:
    """A kept-alive HTTP/1.1 connection on a plain socket (client side ``TCP_NODELAY`` on)."""

    def __init__(self, base_url: str, path: str) -> None:
        url = urlsplit(base_url)
        self._sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._request = f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\napi-key: bench\r\n\r\n".encode()

    def get(self) -> None:
        self._sock.sendall(self._request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += self._recv()
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the emulator answered {head.splitlines()[0]!r}")

    def _recv(self) -> bytes:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise RuntimeError("the emulator closed the connection")
        return chunk

    def close(self) -> None:
        self._sock.close()


def _job(ft: Foundry) -> str:
    data = io.BytesIO(b"".join(json.dumps(_ROW).encode() + b"\n" for _ in range(20)))
    file_id = ft.openai.files.create(file=("train.jsonl", data), purpose="fine-tune").id
    for _ in range(200):
        if ft.openai.files.retrieve(file_id).status == "processed":
            break
        time.sleep(0.05)
    return ft.openai.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=file_id).id


def measure(count: int, *, nagle: bool) -> dict[str, list[float]]:
    """Seconds per request of each kind, on one emulator started with or without Nagle's algorithm."""
    with _nagle(nagle):
        ft = Foundry.emulator(job_duration=3600)
    try:
        job_id = _job(ft)
        upload = {"bytes": 100, "filename": "data.jsonl", "purpose": "fine-tune",
                  "mime_type": "application/jsonl"}
        base = str(ft.openai.base_url).rstrip("/")
        raw = _RawConnection(base, f"{urlsplit(base).path}/fine_tuning/jobs/{job_id}")
        try:
            return {
                "GET job": _timed(lambda: ft.openai.fine_tuning.jobs.retrieve(job_id), count),
                "POST upload": _timed(lambda: ft.openai.uploads.create(**upload), count),
                "GET job, raw socket": _timed(raw.get, count),
            }
        finally:
            raw.close()
    finally:
        ft.close()


def assembly(megabytes: int) -> dict[str, float]:
    """Seconds ``complete`` took for an upload of ``megabytes`` and the answers to a file listing
    sent every 10 ms meanwhile (count, median and longest, in ms)."""
    part_bytes = 64 * 1024 * 1024
    size = megabytes * 1024 * 1024
    row = json.dumps(_ROW).encode() + b"\n"
    blob = row * (min(size, part_bytes) // len(row) + 1)
    with Foundry.emulator() as ft:
        upload = ft.openai.uploads.create(bytes=size, filename="big.jsonl", purpose="batch",
                                          mime_type="application/jsonl")
        part_ids, left = [], size
        while left:
            n = min(part_bytes, left)
            part_ids.append(ft.openai.uploads.parts.create(upload_id=upload.id, data=blob[:n]).id)
            left -= n
        done, waits = threading.Event(), []

        def poll() -> None:
            while not done.is_set():
                started = time.perf_counter()
                ft.openai.files.list(limit=1)  # on a second connection of the pool
                waits.append(time.perf_counter() - started)
                time.sleep(0.01)

        thread = threading.Thread(target=poll)
        thread.start()
        time.sleep(0.3)
        started = time.perf_counter()
        ft.openai.uploads.complete(upload_id=upload.id, part_ids=part_ids)
        took = time.perf_counter() - started
        done.set()
        thread.join()
    return {"complete_s": round(took, 2), "answers": len(waits),
            "median_ms": round(statistics.median(waits) * 1000, 1), "longest_ms": round(max(waits) * 1000, 1)}


def summary(seconds: list[float]) -> dict[str, float]:
    """Median and 95th percentile in ms, and requests per second one at a time."""
    ordered = sorted(seconds)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 3),
        "requests_per_second": round(len(ordered) / sum(ordered), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests of each kind (default 200)")
    parser.add_argument("--assemble-mb", type=int, default=256,
                        help="MB of upload to complete while another client lists files (0 skips it)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    for mode, nagle in (("TCP_NODELAY", False), ("Nagle", True)):
        for kind, seconds in measure(args.requests, nagle=nagle).items():
            results.setdefault(kind, {})[mode] = summary(seconds)
    print(f"{args.requests} requests of each kind, one at a time on a reused connection (ms; req/s)\n")
    print("| request | TCP_NODELAY median | p95 | req/s | Nagle median | p95 | req/s | req/s ratio |")
    print("|---|---|---|---|---|---|---|---|")
    missed = []
    for kind, modes in results.items():
        fast, slow = modes["TCP_NODELAY"], modes["Nagle"]
        ratio = fast["requests_per_second"] / slow["requests_per_second"]
        cells = [f"{m['median_ms']:.2f} | {m['p95_ms']:.2f} | {m['requests_per_second']:,.0f}"
                 for m in (fast, slow)]
        print(f"| {kind} | {cells[0]} | {cells[1]} | {ratio:.0f}x |")
        if fast["median_ms"] >= TARGET_MS:
            missed.append(f"{kind}: median {fast['median_ms']:.2f} ms with TCP_NODELAY "
                          f"(target < {TARGET_MS:g} ms)")
    if args.assemble_mb > 0:
        joined = assembly(args.assemble_mb)
        results["complete while listing"] = joined
        print(f"\nupload of {args.assemble_mb} MB completed in {joined['complete_s']:.2f} s; "
              f"a file listing every 10 ms meanwhile: {joined['answers']} answers, "
              f"median {joined['median_ms']:.1f} ms, "
              f"longest {joined['longest_ms']:.0f} ms")
    if args.json:
        print(json.dumps(results, indent=2))
    for line in missed:
        print("MISSED " + line, file=sys.stderr)
    print("\ntarget met" if not missed else "\ntarget missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
