"""A large upload through the Uploads API (64 MB parts) while sampling the emulator's RSS.

Target: the emulator's memory stays flat (parts are streamed to disk, never held whole). Run:
    python benchmarks/emulator_upload.py [--gigabytes 1.0]
Prints a JSON summary (bytes, seconds, MB/s, RSS before / peak / after in MB).
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import openai

from foundry_tune.emulator import Emulator

PART = 64 * 1024 * 1024


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _part(index: int, size: int) -> bytes:
    row = (
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"part {index}: " + "lorem ipsum " * 80},
                    {"role": "assistant", "content": "dolor sit amet " * 40},
                ]
            }
        ).encode()
        + b"\n"
    )
    data = row * (size // len(row) + 1)
    return data[:size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    args = parser.parse_args()
    total = int(args.gigabytes * 1024**3)
    sizes = [PART] * (total // PART) + ([total % PART] if total % PART else [])
    samples: list[float] = []
    with Emulator() as emu:
        pid = emu.pid
        assert pid is not None
        client = openai.OpenAI(base_url=emu.info.openai_base_url, api_key="bench", timeout=600)
        time.sleep(1.0)
        baseline = _rss_mb(pid)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(_rss_mb(pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        upload = client.uploads.create(
            bytes=total, filename="big.jsonl", purpose="batch", mime_type="application/jsonl"
        )
        part_ids = [
            client.uploads.parts.create(upload_id=upload.id, data=_part(i, size)).id
            for i, size in enumerate(sizes)
        ]
        completed = client.uploads.complete(upload_id=upload.id, part_ids=part_ids)
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        done.set()
        sampler.join()
        after = _rss_mb(pid)
        assert completed.file is not None and completed.file.bytes == total
    print(
        json.dumps(
            {
                "bytes": total,
                "parts": len(sizes),
                "seconds": round(elapsed, 1),
                "mb_per_second": round(total / 1024**2 / elapsed, 1),
                "rss_mb": {
                    "before": round(baseline, 1),
                    "peak": round(max(samples), 1),
                    "after": round(after, 1),
                },
                "rss_growth_mb": round(max(samples) - baseline, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
