"""Reconciling an ambiguous create must stay cheap: looking a job up (by fingerprint, or by what it
was made of on services that drop metadata) costs a request per page of 100 jobs, not one per job.
Under a 20% fault rate a scan of one request per job almost never completes, and the create gives up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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


def test_a_start_that_finds_its_job_costs_one_request(
    ft: Foundry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = Dataset.from_records(demo_records(12, seed=5), name="cost.jsonl")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(data).training_type("Standard").suffix("cost")
    monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path / "first"))
    job = builder.start()
    monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path / "second"))  # as another machine: no ledger
    before = requests(ft)
    again = builder.start()
    assert again.id == job.id and again.reused
    assert requests(ft) - before == 1  # the fingerprint lookup, nothing else


def test_without_metadata_a_start_looks_files_up_only_for_a_job_that_matches_otherwise(
    make_foundry: Callable[..., Foundry], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ft = make_foundry(drop_metadata=True, job_duration=30.0)
    data = Dataset.from_records(demo_records(12, seed=6), name="cost.jsonl")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(data).training_type("Standard")
    machines = iter(range(10))

    def start(suffix: str) -> tuple[str, bool, int]:
        monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path / f"machine-{next(machines)}"))
        before = requests(ft)
        job = builder.suffix(suffix).start()
        return job.id, job.reused, requests(ft) - before

    first, reused, _ = start("one")
    assert not reused
    # Found again by its inputs: the fingerprint lookup, one listing of the jobs, and the
    # lookup of the uploaded file (its listing, then its content read back).
    again, reused, cost = start("one")
    assert again == first and reused and cost == 4
    # Another suffix: no listed job matches but for the files, so they are not looked up for the
    # job search. The fingerprint lookup, the listing, the upload's own file lookup (listing,
    # content, state), the create, and one check for a rival started elsewhere.
    other, reused, cost = start("two")
    assert other != first and not reused and cost == 7
