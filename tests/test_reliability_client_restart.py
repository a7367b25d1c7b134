"""Client restarts: a training script SIGKILLed while it waits, or between upload and create, is
run again; the second run re-attaches to the first run's job (by fingerprint) and finishes it.
The emulator shows one job and one uploaded file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._demo_data import demo_records
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator

# An emulator of this module's own: the tests count its jobs and files, and 3 s jobs leave time to
# kill the script while it waits.
pytestmark = [pytest.mark.emulator, pytest.mark.slow, pytest.mark.own_emulator(job_duration=3.0)]

SCRIPT = Path(__file__).with_name("reliability_train_once.py")


def script_env(emu: Emulator, **extra: str) -> dict[str, str]:
    info = emu.info
    return {
        **os.environ,
        "RESTART_PROJECT_ENDPOINT": info.project_endpoint,
        "RESTART_ARM_ENDPOINT": info.arm_endpoint,
        "RESTART_SUBSCRIPTION": info.subscription_id,
        "RESTART_RESOURCE_GROUP": info.resource_group,
        "RESTART_ACCOUNT": info.account_name,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def job_status(emu: Emulator, job_id: str) -> str:
    import httpx

    answer = httpx.get(f"{emu.info.openai_base_url}/fine_tuning/jobs/{job_id}", headers={"api-key": "k"},
                       timeout=10)
    return str(answer.json()["status"])


def cleanup(emu: Emulator) -> None:
    """Delete every job's files so that the next test starts from an empty service view."""
    import httpx

    for f in uploaded(emu):
        httpx.delete(f"{emu.info.openai_base_url}/files/{f['id']}", headers={"api-key": "k"}, timeout=10)


def data_file(tmp_path: Path, seed: int) -> Path:
    return Dataset.from_records(demo_records(20, seed=seed)).to_jsonl(tmp_path / "train.jsonl")


def launch(emu: Emulator, data: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(SCRIPT), str(data)], env=script_env(emu, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(process: subprocess.Popen[str], prefix: str, timeout: float = 60.0) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if line.startswith(prefix):
            return line.strip()
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(f"no {prefix!r} line; stderr: {process.stderr.read() if process.stderr else ''}")


def run_to_end(emu: Emulator, data: Path) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), str(data)], env=script_env(emu),
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def uploaded(emu: Emulator) -> list[dict[str, Any]]:
    import httpx

    answer = httpx.get(emu.info.openai_base_url + "/files", headers={"api-key": "k"}, timeout=10)
    files: list[dict[str, Any]] = answer.json()["data"]
    return [f for f in files if f["purpose"] == "fine-tune"]


def test_killed_while_waiting_then_rerun_finishes_the_same_job(emulator: Emulator, tmp_path: Path) -> None:
    data = data_file(tmp_path, seed=41)
    jobs_before = emulator.stats()["jobs"]
    first = launch(emulator, data)
    line = read_until(first, "JOB ")
    job_id = line.split()[1]
    assert line.endswith("reused=False")
    first.send_signal(signal.SIGKILL)  # killed while job.wait() polls
    first.wait(10)
    first.stdout and first.stdout.close()
    first.stderr and first.stderr.close()
    assert first.returncode == -signal.SIGKILL
    assert job_status(emulator, job_id) != "succeeded"  # it really was killed mid-wait

    out = run_to_end(emulator, data)
    assert f"JOB {job_id} reused=True" in out
    assert f"DONE {job_id} succeeded reused=True" in out
    stats = emulator.stats()
    assert stats["jobs"] == jobs_before + 1
    assert len(uploaded(emulator)) == 1
    cleanup(emulator)


def test_killed_between_upload_and_create_then_rerun_creates_one_job(
    emulator: Emulator, tmp_path: Path
) -> None:
    data = data_file(tmp_path, seed=43)
    jobs_before = emulator.stats()["jobs"]
    first = launch(emulator, data, RESTART_KILL_BEFORE_CREATE="1")
    read_until(first, "KILL before create")
    first.wait(30)
    first.stdout and first.stdout.close()
    first.stderr and first.stderr.close()
    assert first.returncode == -signal.SIGKILL
    files = uploaded(emulator)
    assert len(files) == 1 and files[0]["status"] == "processed"  # the upload happened...
    assert emulator.stats()["jobs"] == jobs_before  # ...the create did not

    out = run_to_end(emulator, data)
    assert f"reusing {files[0]['id']}" in out  # the second run did not upload again
    job_id = out.split("JOB ", 1)[1].split()[0]
    assert f"DONE {job_id} succeeded reused=False" in out
    assert emulator.stats()["jobs"] == jobs_before + 1
    assert [f["id"] for f in uploaded(emulator)] == [files[0]["id"]]
    again = run_to_end(emulator, data)  # a third run finds the finished job and pays nothing
    assert f"DONE {job_id} succeeded reused=True" in again
    assert emulator.stats()["jobs"] == jobs_before + 1
