"""Durability: after ``kill -9`` and a restart on the same data folder nothing is lost, and a job
that was running carries on and finishes (its clock comes from stored timestamps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from _emulator_helpers import arm_client, deploy, openai_client, sft_rows, wait_until, write_jsonl

from foundry_tune.emulator import Emulator

pytestmark = pytest.mark.emulator


def test_kill_9_and_restart_lose_nothing(tmp_path: Path, make_emulator: Callable[..., Emulator]) -> None:
    data_dir = tmp_path / "state"
    train = write_jsonl(tmp_path / "train.jsonl", sft_rows(30))
    first = make_emulator(data_dir=data_dir, job_duration=2.5)
    client = openai_client(first.info)
    with train.open("rb") as fh:
        file = client.files.create(file=fh, purpose="fine-tune")
    client.files.wait_for_processing(file.id, poll_interval=0.1)
    done = client.fine_tuning.jobs.create(
        model="gpt-4.1-nano",
        training_file=file.id,
        extra_body={"trainingType": "Standard"},
        metadata={"n": "0"},
    )
    wait_until(lambda: client.fine_tuning.jobs.retrieve(done.id).status == "succeeded", timeout=60)
    model = client.fine_tuning.jobs.retrieve(done.id).fine_tuned_model
    assert model
    arm = arm_client(first.info)
    assert deploy(arm, first.info, "kept", model).status_code == 201
    running = client.fine_tuning.jobs.create(
        model="gpt-4.1-nano",
        training_file=file.id,
        extra_body={"trainingType": "Standard"},
        metadata={"n": "1"},
    )
    queued = client.fine_tuning.jobs.create(
        model="gpt-4.1-nano",
        training_file=file.id,
        extra_body={"trainingType": "Standard"},
        metadata={"n": "2"},
    )
    upload = client.uploads.create(
        bytes=train.stat().st_size, filename="u.jsonl", purpose="fine-tune", mime_type="application/jsonl"
    )
    part = client.uploads.parts.create(upload_id=upload.id, data=train.read_bytes())
    wait_until(
        lambda: [
            e
            for e in client.fine_tuning.jobs.list_events(running.id, limit=100)
            if e.message.startswith("Step ")  # Azure's step lines
        ],
        timeout=30,
    )
    before_events = {e.id for e in client.fine_tuning.jobs.list_events(running.id, limit=100)}
    before_files = {f.id for f in client.files.list()}
    first.kill()
    assert not first.running

    time.sleep(0.5)
    second = make_emulator(data_dir=data_dir, job_duration=2.5)
    client = openai_client(second.info)
    assert before_files <= {f.id for f in client.files.list()}
    assert client.files.content(file.id).content == train.read_bytes()
    after_events = {e.id for e in client.fine_tuning.jobs.list_events(running.id, limit=100)}
    assert before_events <= after_events
    assert client.fine_tuning.jobs.retrieve(running.id).status in {"running", "succeeded"}
    resumed = wait_until(
        lambda: (j := client.fine_tuning.jobs.retrieve(running.id)).status == "succeeded" and j,
        timeout=60,
    )
    assert resumed.fine_tuned_model and resumed.result_files
    last = wait_until(
        lambda: (j := client.fine_tuning.jobs.retrieve(queued.id)).status == "succeeded" and j, timeout=60
    )
    assert last.finished_at and resumed.finished_at and last.finished_at >= resumed.finished_at
    # the pending upload kept its part and completes
    completed = client.uploads.complete(upload_id=upload.id, part_ids=[part.id])
    assert completed.status == "completed" and completed.file
    assert client.files.content(completed.file.id).content == train.read_bytes()
    arm = arm_client(second.info)
    assert [
        d["name"]
        for d in arm.get(
            f"/subscriptions/{second.info.subscription_id}/resourceGroups/{second.info.resource_group}/providers/"
            f"Microsoft.CognitiveServices/accounts/{second.info.account_name}/deployments",
            params={"api-version": "2024-10-01"},
        ).json()["value"]
    ] == ["kept"]
    assert [j.metadata for j in client.fine_tuning.jobs.list()] == [{"n": "2"}, {"n": "1"}, {"n": "0"}]


def test_half_written_blobs_are_removed_at_start(
    tmp_path: Path, make_emulator: Callable[..., Emulator]
) -> None:
    data_dir = tmp_path / "state"
    blobs = data_dir / "blobs"
    blobs.mkdir(parents=True)
    for name in ("incoming-abc", "upload_1.assembled", "ftjob-1.results.tmp"):
        (blobs / name).write_bytes(b"partial")
    (blobs / "upload_1.part_1").write_bytes(b"a kept part")
    make_emulator(data_dir=data_dir)
    assert sorted(p.name for p in blobs.iterdir()) == ["upload_1.part_1"]
