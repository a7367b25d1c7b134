"""Across machines, where no local lock helps: a start that finds, right after its create, an older
job with the same fingerprint cancels its own (still pending, before it trains) and returns the
older one. The rival is created deterministically from ``on_progress``, after the start's own
lookup and before its create, through the raw openai client, as another machine's start would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._builder import AsyncFineTuneBuilder
from foundry_tune._async._flavour import sleep
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._upload import upload_once
from foundry_tune.emulator import Emulator
from foundry_tune.job import UploadOptions
from foundry_tune.methods import Supervised

from ._helpers import sft_data

pytestmark = [pytest.mark.emulator]


async def start_with_a_rival(ft: AsyncFoundry, builder: AsyncFineTuneBuilder) -> tuple[Any, Any]:
    """Start ``builder`` while a rival with the same create arguments is created just before our
    create (in the same moment's listing, but a second older); returns (our start's job, rival)."""
    assert builder.training is not None
    uploaded = await upload_once(ft, builder.training, UploadOptions())  # type: ignore[arg-type]
    rivals: list[Any] = []

    async def on_progress(line: str) -> None:
        # The first line comes from providing the files: the start's job lookup is done, its
        # create is next. A rival made now is older (the service counts whole seconds).
        if not rivals and not line.startswith("started job"):
            fp = builder.fingerprint()
            kwargs = builder.create_kwargs(Supervised(), fp, "rival-attempt", uploaded.id, None)
            rivals.append(await ft.openai.fine_tuning.jobs.create(**kwargs))
            await sleep(1.1)

    job = await builder.start(on_progress=on_progress)
    assert len(rivals) == 1, "the start made no progress call before its create"
    return job, rivals[0]


@pytest.mark.anyio
async def test_a_start_that_finds_an_older_rival_after_its_create_cancels_its_own(
    ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = sft_data(20, seed=103, name="rival.jsonl")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(data).suffix("rival")
    before = emulator.stats()["jobs"]
    job, rival = await start_with_a_rival(ft, builder)
    assert job.id == rival.id and job.reused
    assert emulator.stats()["jobs"] == before + 2  # ours was made, then cancelled
    mine = [j for j in await ft.jobs.find(builder.fingerprint()) if j.id != rival.id]
    assert len(mine) == 1 and mine[0].status.value in ("cancelled", "cancelling")
    kept = [j.id for j in await ft.jobs.list(fingerprint=builder.fingerprint(), limit=10)
            if j.status.value not in ("cancelled", "cancelling")]
    assert kept == [rival.id]  # live or already succeeded (short jobs here)
    monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path / "another-machine"))  # no local ledger
    again = await builder.start()  # the next start finds the one that is left
    assert again.id == rival.id and again.reused
    await job.cancel()


@pytest.mark.anyio
async def test_force_new_never_cancels_its_job_for_an_older_one(ft: AsyncFoundry, emulator: Emulator) -> None:
    data = sft_data(20, seed=104, name="forced.jsonl")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(data).suffix("forced")
    first = await builder.start()
    second = await builder.start(force_new=True)
    assert second.id != first.id and not second.reused
    await second.refresh()
    assert second.status.is_live
    for job in (first, second):
        await job.cancel()
