"""Processes on one machine (notebook kernels, scripts) start the identical job at the same instant:
one job is made and each distinct file is uploaded once; every process gets that job back, and all
but one are told ``reused``. The processes share the state folder (``FOUNDRY_TUNE_STATE_DIR``, set
for the session by tests/conftest.py) and meet behind a barrier of files before each round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from _dataset_helpers import sft

from foundry_tune import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator, EmulatorInfo

pytestmark = pytest.mark.own_emulator()

ROUNDS = 4
CALLERS = 3
ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time
from pathlib import Path

from foundry_tune import Foundry
from foundry_tune.client import StaticTokenCredential
from foundry_tune.dataset import Dataset

endpoint, token, ca, folder, index = sys.argv[1:6]
folder = Path(folder)
rounds = sorted(folder.glob("round-*"))
with Foundry(endpoint, StaticTokenCredential(token), verify=ca or True) as ft:
    for round_dir in rounds:
        builder = (ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_jsonl(round_dir / "train.jsonl"))
                   .validate_on(Dataset.from_jsonl(round_dir / "val.jsonl")).suffix(round_dir.name))
        builder.fingerprint()  # hash before the barrier, so that the starts overlap
        (round_dir / f"ready-{index}").touch()
        deadline = time.monotonic() + 60
        while not (round_dir / "go").exists():
            if time.monotonic() > deadline:
                sys.exit("no go")
            time.sleep(0.002)
        job = builder.start(on_progress=lambda line: None)
        print(json.dumps({"round": round_dir.name, "id": job.id, "reused": job.reused}), flush=True)
"""


def write_round(folder: Path, tag: str, rows: int = 10) -> tuple[Dataset, Dataset]:
    """This round's training and validation files (nothing earlier can be reused)."""
    folder.mkdir()
    records = [sft(i) for i in range(2 * rows)]
    for record in records:
        record["messages"][0]["content"] = f"You answer briefly. [{tag}]"
    for name, part in (("train.jsonl", records[:rows]), ("val.jsonl", records[rows:])):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    return Dataset.from_jsonl(folder / "train.jsonl"), Dataset.from_jsonl(folder / "val.jsonl")


def uploads_of(ft: Foundry, *datasets: Dataset) -> int:
    """How many files on the service hold one of ``datasets`` (their names carry the content hash)."""
    markers = tuple(f".sha256-{data.content_hash()[:32]}.jsonl" for data in datasets)
    return sum(f.filename.endswith(markers) for f in ft.openai.files.list(purpose="fine-tune"))


def wait_for(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_processes_on_one_machine_make_one_job_and_upload_once(
    ft: Foundry, emulator: Emulator, emulator_info: EmulatorInfo, tmp_path: Path
) -> None:
    assert os.environ.get("FOUNDRY_TUNE_STATE_DIR")  # shared by the workers (tests/conftest.py)
    names = [f"round-{n}-{uuid.uuid4().hex[:8]}" for n in range(ROUNDS)]
    rounds = {name: write_round(tmp_path / name, name) for name in names}
    args = [emulator_info.project_endpoint, emulator_info.token or "token-for-tests",
            emulator_info.ca_cert or "", str(tmp_path)]
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, *args, str(i)], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for i in range(CALLERS)]
    try:
        for name, (train, validation) in rounds.items():
            round_dir = tmp_path / name
            wait_for(lambda d=round_dir: len(list(d.glob("ready-*"))) == CALLERS, f"{name}: workers ready")
            before = emulator.stats()["jobs"]
            (round_dir / "go").touch()
            results = [json.loads(worker.stdout.readline() or "{}") for worker in workers]  # type: ignore[union-attr]

            assert all(r.get("round") == name for r in results), results
            assert emulator.stats()["jobs"] - before == 1, f"{name}: {results}"
            assert uploads_of(ft, train) == uploads_of(ft, validation) == 1, name
            assert len({r["id"] for r in results}) == 1
            assert sorted(r["reused"] for r in results) == [False] + [True] * (CALLERS - 1)
        for worker in workers:
            _, errors = worker.communicate(timeout=30)
            assert worker.returncode == 0, errors[-2000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
