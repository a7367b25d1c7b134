"""An imported training file on a service that does not echo job metadata: a start on another
machine (no local ledger) still returns the job made of the same import instead of a second job,
recognising the job's training file by the import's name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.emulator import Emulator
from tests._served_files import ServedFiles

from ._helpers import FLAVOUR
from .test_file_import import _jsonl

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(drop_metadata=True, job_duration=5.0)]


@pytest.fixture(scope="module")
def served() -> Iterator[ServedFiles]:
    server = ServedFiles()
    yield server
    server.close()


@pytest.mark.anyio
async def test_a_start_elsewhere_finds_the_job_made_of_the_same_import(
    ft: AsyncFoundry, emulator: Emulator, served: ServedFiles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = f"/data/{FLAVOUR}/nometa.jsonl"
    served.files[path] = _jsonl(12, seed=45)
    monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path / "machine-1"))
    jobs_before = emulator.stats()["jobs"]
    first = await ft.fine_tune("gpt-4.1-mini").train_on(served.url(path)).suffix("nometa-import").start()
    assert first.fingerprint is None  # the service dropped the metadata

    monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path / "machine-2"))
    again = await ft.fine_tune("gpt-4.1-mini").train_on(served.url(path, token="resigned")).suffix(
        "nometa-import").start()
    assert again.id == first.id and again.reused
    assert emulator.stats()["jobs"] == jobs_before + 1 and served.gets[path] == 1
