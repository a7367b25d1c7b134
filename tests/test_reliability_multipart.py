"""Multipart uploads survive dropped connections: a part re-sent after its answer was lost leaves
an unused part behind, and the upload still completes with exactly the bytes of the file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._demo_data import demo_records
from foundry_tune.client import Foundry, RetryPolicy
from foundry_tune.dataset import Dataset

pytestmark = [pytest.mark.emulator]


def test_a_part_sent_twice_does_not_break_the_upload(ft: Foundry) -> None:
    blob = b"".join(f"{i:06d} some bytes of a large training file\n".encode() for i in range(3000))
    parts = [blob[:40_000], blob[40_000:80_000], blob[80_000:]]
    uploads = ft.openai.uploads
    upload = uploads.create(bytes=len(blob), filename="parts.jsonl", mime_type="text/jsonl",
                            purpose="fine-tune")
    ids = [uploads.parts.create(upload.id, data=parts[0]).id]
    uploads.parts.create(upload.id, data=parts[1])  # its answer was "lost": the client sends it again
    ids.append(uploads.parts.create(upload.id, data=parts[1]).id)
    ids.append(uploads.parts.create(upload.id, data=parts[2]).id)  # failed with 400 before the fix
    done = uploads.complete(upload.id, part_ids=ids, md5=hashlib.md5(blob).hexdigest())
    assert done.file is not None
    assert ft.openai.files.content(done.file.id).content == blob


@pytest.mark.parametrize("seed", [1, 3])
def test_library_multipart_upload_under_faults(seed: int, make_foundry: Callable[..., Foundry]) -> None:
    data = Dataset.from_records(demo_records(1500, seed=5), name="parts.jsonl")
    policy = RetryPolicy(max_attempts=10, initial_backoff=0.1, max_backoff=1.0, total_timeout=60.0)
    options = {"fault_rate": 0.3, "fault_seed": seed, "slow_seconds": 0.2, "job_duration": 5.0}
    ft = make_foundry(retry=policy, **options)  # its own emulator: faults, and it counts jobs and files
    job = (ft.fine_tune("gpt-4.1-mini").train_on(data).training_type("Standard")
           .upload_options(single_request_limit=50_000, part_size=40_000, parallel_parts=4).start())
    assert job.training_file is not None
    file_id = job.training_file
    content = ft.retry.call(lambda: ft.openai.files.content(file_id).content, what="download")
    assert hashlib.sha256(content).hexdigest() == data.content_hash()
    emulator = ft.emulator_instance
    assert emulator is not None
    stats = emulator.stats()
    assert (stats["jobs"], stats["files"]) == (1, 1)
