"""Reconciling an ambiguous create must stay cheap: looking a job up (by fingerprint, or by what it
was made of on services that drop metadata) costs a request per page of 100 jobs, not one per job.
Under a 20% fault rate a scan of one request per job almost never completes, and the create gives up."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._demo_data import demo_records
from foundry_tune._sync._jobs import scan_jobs
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.job import FineTuneBuilder

# An emulator of this module's own: it fills the resource with 30 s jobs that stay live.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(job_duration=30.0)]


def requests(ft: Foundry) -> int:
    emulator = ft.emulator_instance
    assert emulator is not None
    return int(emulator.stats()["requests"])


def test_lookups_cost_a_request_per_page_not_per_job(ft: Foundry) -> None:
    data = Dataset.from_records(demo_records(12, seed=3), name="lookup.jsonl")
    base: FineTuneBuilder = ft.fine_tune("gpt-4.1-mini").train_on(data).training_type("Standard")
    for i in range(12):
        base.suffix(f"lookup-{i}").start()
    before = requests(ft)
    assert scan_jobs(ft, {}, keep=lambda raw: False, want=1, limit=100) == []
    assert requests(ft) - before <= 2
    before = requests(ft)
    assert scan_jobs(ft, {"foundry_tune_fingerprint": "none"}, want=1) == []
    assert requests(ft) - before <= 2
