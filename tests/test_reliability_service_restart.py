"""Service restarts: the emulator is SIGKILLed in the middle of jobs, a multipart upload and a
deployment, and restarted on the same data folder and port. Every job finishes (a client that was
waiting rides through the restart on its retry policy), and no file or upload part is lost or
corrupted: content hashes match what was sent."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._demo_data import demo_records
from foundry_tune._sync._credentials import StaticTokenCredential
from foundry_tune.client import Foundry, RetryPolicy
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator, EmulatorInfo
from foundry_tune.job import Job, JobStatus
from foundry_tune.methods import DPO, Supervised

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::foundry_tune._core.billing.BillingWarning")]

OPTIONS: dict[str, Any] = {"job_duration": 4.0, "deployment_provision_delay": 1.0,
                           "deployment_ready_delay": 0.3}


def connect(info: EmulatorInfo) -> Foundry:
    # Connection refused while the service is down is retried like any dropped connection.
    policy = RetryPolicy(max_attempts=60, initial_backoff=0.2, max_backoff=1.0, total_timeout=90.0)
    return Foundry(info.project_endpoint, StaticTokenCredential("t"), subscription_id=info.subscription_id,
                   resource_group=info.resource_group, account_name=info.account_name,
                   arm_endpoint=info.arm_endpoint, retry=policy)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "emulator-data"


def dpo_rows(n: int) -> Iterator[dict[str, Any]]:
    for row in demo_records(n, seed=77):
        system, user, assistant = row["messages"]
        yield {"input": {"messages": [system, user]}, "preferred_output": [assistant],
               "non_preferred_output": [{"role": "assistant", "content": "No idea."}]}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_kill_9_mid_jobs_uploads_and_deployment_loses_nothing(data_dir: Path) -> None:
    first = Emulator(data_dir=data_dir, **OPTIONS)
    info = first.start()
    port = int(info.arm_endpoint.rsplit(":", 1)[1])
    second = Emulator(data_dir=data_dir, port=port, **OPTIONS)
    ft = connect(info)
    try:
        sft = Dataset.from_records(demo_records(24, seed=71), name="sft.jsonl")
        dpo = Dataset.from_records(dpo_rows(16), name="dpo.jsonl")
        jobs = [
            ft.fine_tune("gpt-4.1-mini").train_on(sft).method(Supervised(n_epochs=1)).suffix("restart-a").training_type("Standard").start(),
            ft.fine_tune("gpt-4.1-mini").train_on(dpo).method(DPO(n_epochs=1)).suffix("restart-b").training_type("Standard").start(),
        ]
        sent = {jobs[0].training_file: sft.content_hash(), jobs[1].training_file: dpo.content_hash()}

        # A multipart upload with two of its three parts sent.
        blob = b"".join(f"line {i}: {'x' * (i % 50)}\n".encode() for i in range(30_000))
        parts = [blob[:300_000], blob[300_000:600_000], blob[600_000:]]
        upload = ft.openai.uploads.create(bytes=len(blob), filename="big.jsonl", mime_type="text/jsonl",
                                          purpose="fine-tune")
        part_ids = [ft.openai.uploads.parts.create(upload.id, data=chunk).id for chunk in parts[:2]]

        # A deployment still provisioning.
        deployment = ft.deployments.create("gpt-4.1-mini", "restart-base", capacity=1, wait=False)

        # A client that waits on the first job through the restart.
        waited: dict[str, Any] = {}

        def wait_through() -> None:
            try:
                waited["job"] = Job.attach(ft, jobs[0].id).wait(timeout=120, progress=False, poll=0.5)
            except Exception as exc:
                waited["error"] = exc

        watcher = threading.Thread(target=wait_through)
        watcher.start()
        assert {job.refresh().status for job in jobs} & {JobStatus.PENDING, JobStatus.VALIDATING_FILES,
                                                         JobStatus.QUEUED, JobStatus.RUNNING}
        first.kill()  # SIGKILL: no shutdown hook runs
        second.start()  # same data folder, same port

        watcher.join(150)
        assert "error" not in waited, waited.get("error")
        assert waited["job"].status is JobStatus.SUCCEEDED
        for job in jobs:
            job.wait(timeout=120, progress=False)
            assert job.status is JobStatus.SUCCEEDED and job.fine_tuned_model
            assert job.checkpoints()
        for file_id, digest in sent.items():
            assert file_id is not None
            assert sha256(ft.openai.files.content(file_id).content) == digest

        # The parts sent before the crash are kept: send the last one and complete.
        part_ids.append(ft.openai.uploads.parts.create(upload.id, data=parts[2]).id)
        done = ft.openai.uploads.complete(upload.id, part_ids=part_ids)
        assert done.file is not None
        assert sha256(ft.openai.files.content(done.file.id).content) == sha256(blob)

        deployment.wait(timeout=60)
        assert deployment.refresh().provisioning_state == "Succeeded"
        assert deployment.chat("hello")
        deployment.delete()
        assert second.stats()["deployments"] == 0
        assert second.stats()["jobs"] == 2
    finally:
        ft.close()
        first.kill()
        second.stop()
