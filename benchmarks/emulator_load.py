"""Load on the emulator: N concurrent openai clients polling fine-tuning jobs for a while.

Target: no errors except the injected ones. Run:
    python benchmarks/emulator_load.py [--clients 50] [--seconds 60] [--fault-rate 0.0]
Prints a JSON summary (requests, errors by kind, injected faults, latency percentiles).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import openai

from foundry_tune.emulator import Emulator


def _training_file(folder: Path) -> Path:
    path = folder / "train.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"answer {i}"},
            ]
        }
        for i in range(50)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _poller(
    base_url: str,
    job_ids: list[str],
    stop_at: float,
    latencies: list[float],
    errors: Counter[str],
    lock: threading.Lock,
) -> None:
    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=30)
    mine: list[float] = []
    bad: Counter[str] = Counter()
    i = 0
    while time.monotonic() < stop_at:
        job_id = job_ids[i % len(job_ids)]
        started = time.perf_counter()
        try:
            if i % 3 == 0:
                client.fine_tuning.jobs.retrieve(job_id)
            elif i % 3 == 1:
                client.fine_tuning.jobs.list_events(job_id, limit=20)
            else:
                client.fine_tuning.jobs.list(limit=10)
        except openai.APIStatusError as exc:
            bad[f"http_{exc.status_code}"] += 1
        except openai.APIConnectionError:
            bad["connection"] += 1
        mine.append(time.perf_counter() - started)
        i += 1
    with lock:
        latencies.extend(mine)
        errors.update(bad)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-seed", type=int, default=1)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Emulator(
            job_duration=args.seconds / 2,
            fault_rate=args.fault_rate,
            fault_seed=args.fault_seed,
            slow_seconds=0.5,
        ) as emu,
    ):
        setup = openai.OpenAI(base_url=emu.info.openai_base_url, api_key="bench", max_retries=10)
        with _training_file(Path(tmp)).open("rb") as fh:
            file_id = setup.files.create(file=fh, purpose="fine-tune").id
        setup.files.wait_for_processing(file_id, poll_interval=0.2)
        job_ids = [
            setup.fine_tuning.jobs.create(
                model="gpt-4.1-mini", training_file=file_id, extra_body={"trainingType": "GlobalStandard"}
            ).id
            for _ in range(args.jobs)
        ]
        before = emu.stats()
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=_poller, args=(emu.info.openai_base_url, job_ids, stop_at, latencies, errors, lock)
            )
            for _ in range(args.clients)
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        after = emu.stats()
    injected = after["faults"] - before["faults"]
    injected_errors = sum(v for k, v in after["faults_by_kind"].items() if k != "slow") - sum(
        v for k, v in before["faults_by_kind"].items() if k != "slow"
    )
    ordered = sorted(latencies)
    summary = {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "fault_rate": args.fault_rate,
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "errors": dict(errors),
        "errors_total": sum(errors.values()),
        "injected_faults": injected,
        "injected_error_faults": injected_errors,
        "unexplained_errors": sum(errors.values()) - injected_errors,
        "latency_ms": {
            "p50": round(statistics.median(ordered) * 1000, 1),
            "p95": round(ordered[int(len(ordered) * 0.95)] * 1000, 1),
            "max": round(ordered[-1] * 1000, 1),
        },
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
