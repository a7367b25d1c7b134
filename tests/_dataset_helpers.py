"""Builders of small, valid training lines for the dataset tests (unique per index: no duplicates)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "foundry-samples"


def sft(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": f"What is {i} + 1?"},
            {"role": "assistant", "content": f"{i + 1}"},
        ]
    }


def dpo(i: int) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": f"Say the number {i} politely."}]},
        "preferred_output": [{"role": "assistant", "content": f"Certainly: {i}."}],
        "non_preferred_output": [{"role": "assistant", "content": f"{i}. Whatever."}],
    }


def rft(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"Compute {i} * 2."}], "answer": str(i * 2)}


GOOD = {"sft": sft, "dpo": dpo, "rft": rft}


def line(record: object) -> str:
    return json.dumps(record, ensure_ascii=False)


def write_lines(
    path: Path, lines: Sequence[str | bytes], *, newline: bytes = b"\n", final: bool = True
) -> Path:
    parts = [x if isinstance(x, bytes) else x.encode("utf-8") for x in lines]
    data = newline.join(parts) + (newline if final and parts else b"")
    path.write_bytes(data)
    return path


def good_file(path: Path, method: str, n: int = 12, **kwargs: Any) -> Path:
    return write_lines(path, [line(GOOD[method](i)) for i in range(n)], **kwargs)


def sft_dataset(n: int, seed: int, name: str = "support.jsonl") -> Any:
    """``n`` valid supervised examples from the demo data, as a :class:`~foundry_tune.Dataset`."""
    from foundry_tune._demo_data import demo_records
    from foundry_tune.dataset import Dataset

    return Dataset.from_records(demo_records(n, seed=seed), name=name)


def race_data(tag: str, rows: int = 10) -> tuple[Any, Any]:
    """Training and validation data of one race only (tagged, so nothing earlier can be reused), as
    two :class:`~foundry_tune.Dataset`."""
    from foundry_tune.dataset import Dataset

    records = [sft(i) for i in range(2 * rows)]
    for record in records:
        record["messages"][0]["content"] = f"You answer briefly. [{tag}]"
    return (Dataset.from_records(records[:rows], name="train.jsonl"),
            Dataset.from_records(records[rows:], name="val.jsonl"))


def run_python(code: str, expected: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing imported yet, no thread); assert that its standard
    output holds ``expected``; return that output."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    assert expected in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout
