"""Benchmark: memory of a multipart upload (Uploads API) stays bounded as files grow.

    python benchmarks/upload.py            # 64 MB and 256 MB files, 8 MiB parts, 4 in parallel
    python benchmarks/upload.py --quick    # 40 MB and 80 MB

Each upload runs in its own subprocess against the local emulator (started once, its own
process, so its memory is not counted). The child reports its peak RSS (``VmHWM``, Linux) before
and after the upload; the difference is what the upload cost. The bytes are checked on the
service side: the stored file's SHA-256 must equal the local one.

Targets (exit 1 when missed): the extra peak memory is at most ``parallel_parts x part_size``
plus 48 MB of overhead, and it does not grow with the file (the larger file's extra memory is
within 25% + 8 MB of the smaller one's).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024
PART_SIZE = 8 * MiB
PARALLEL = 4

CHILD = r"""
import json, sys, time
import openai
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune._core.upload import UploadOptions, upload_name
from foundry_tune._sync._upload import _upload_in_parts

base_url, path, part_size, parallel = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
client = openai.OpenAI(base_url=base_url, api_key="benchmark", max_retries=0, timeout=600)
ft = Foundry.from_openai_client(client)
data = Dataset.from_jsonl(path)
digest = data.content_hash()
options = UploadOptions(single_request_limit=1, part_size=part_size, parallel_parts=parallel)
def peak_kb():  # VmHWM: the peak RSS of this process image (ru_maxrss would include the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no /proc/self/status: Linux only")

before = peak_kb()
started = time.perf_counter()
created = _upload_in_parts(ft, data, upload_name(data.name, digest), digest, data.size_bytes, options)
seconds = time.perf_counter() - started
after = peak_kb()
print(json.dumps({"file_id": created.id, "seconds": seconds, "rss_before_kb": before, "rss_after_kb": after}))
"""


def make_file(path: Path, size: int) -> None:
    line_no = 0
    with path.open("w", encoding="utf-8") as fh:
        written = 0
        while written < size:
            row = {"messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": f"Question {line_no}: " + "lorem ipsum dolor sit amet " * 20},
                {"role": "assistant", "content": f"Answer {line_no}: " + "consectetur adipiscing elit " * 20},
            ]}
            text = json.dumps(row) + "\n"
            fh.write(text)
            written += len(text)
            line_no += 1


def run_one(base_url: str, path: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, base_url, str(path), str(PART_SIZE), str(PARALLEL)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"upload child failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [40 * MiB, 80 * MiB] if args.quick else [64 * MiB, 256 * MiB]

    from foundry_tune.emulator import Emulator

    rows = []
    with tempfile.TemporaryDirectory() as tmp, Emulator(job_duration=60) as emulator:
        info = emulator.info
        import openai

        reader = openai.OpenAI(base_url=info.openai_base_url, api_key="benchmark", max_retries=0, timeout=600)
        for size in sizes:
            path = Path(tmp) / f"upload-{size // MiB}mb.jsonl"
            make_file(path, size)
            actual = path.stat().st_size
            local = hashlib.sha256()
            with path.open("rb") as fh:
                while block := fh.read(MiB):
                    local.update(block)
            started = time.perf_counter()
            result = run_one(info.openai_base_url, path)
            wall = time.perf_counter() - started
            remote = hashlib.sha256(reader.files.content(str(result["file_id"])).content).hexdigest()
            extra_mb = (result["rss_after_kb"] - result["rss_before_kb"]) / 1024
            rows.append({"size_mb": actual / MiB, "seconds": result["seconds"], "wall": wall,
                         "extra_mb": extra_mb, "peak_mb": result["rss_after_kb"] / 1024,
                         "intact": remote == local.hexdigest()})
            os.remove(path)

    print(f"part size {PART_SIZE // MiB} MiB, {PARALLEL} parts in parallel")
    print(f"{'file':>10} {'upload s':>9} {'MB/s':>7} {'peak RSS MB':>12} {'extra MB':>9} {'intact':>7}")
    for r in rows:
        print(f"{r['size_mb']:>8.0f}MB {r['seconds']:>9.1f} {r['size_mb'] / r['seconds']:>7.1f} "
              f"{r['peak_mb']:>12.0f} {r['extra_mb']:>9.0f} {r['intact']!s:>7}")
    bound = PARALLEL * PART_SIZE / MiB + 48
    ok = all(r["intact"] for r in rows) and all(r["extra_mb"] <= bound for r in rows)
    ok = ok and rows[-1]["extra_mb"] <= rows[0]["extra_mb"] * 1.25 + 8
    verdict = "met" if ok else "MISSED"
    print(f"target: extra memory <= {bound:.0f} MB and flat across sizes, bytes intact: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
