"""``doctor --compare`` seeds an emulator through the library's own path: the files are uploaded
once and the job is created once (with its fingerprint), so seeding twice creates nothing new."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.emulator


def test_seeding_uses_the_builder_and_creates_each_thing_once(make_foundry: Callable[..., Any]) -> None:
    from foundry_tune.doctor import seed_emulator
    from foundry_tune.job import FINGERPRINT_KEY

    ft = make_foundry()
    seed_emulator(ft, timeout=120)
    jobs = ft.openai.fine_tuning.jobs.list().data
    assert len(jobs) == 1
    job = jobs[0]
    assert job.status == "succeeded" and job.fine_tuned_model
    assert FINGERPRINT_KEY in (job.metadata or {})  # created by the builder, not a raw create
    assert job.validation_file and job.suffix == "doctor"
    uploaded = sorted(f.filename for f in ft.openai.files.list().data if f.purpose == "fine-tune")
    # named by content, as upload-once names what it uploads
    assert [name.split(".sha256-")[0] for name in uploaded] == ["doctor-train", "doctor-valid"]
    assert [d.name for d in ft.deployments.list()] == ["doctor-check"]

    seed_emulator(ft, timeout=120)
    assert [j.id for j in ft.openai.fine_tuning.jobs.list().data] == [job.id]
    assert sorted(f.filename for f in ft.openai.files.list().data if f.purpose == "fine-tune") == uploaded
    assert len(ft.deployments.list()) == 1
