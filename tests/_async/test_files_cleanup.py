"""``ft.files``: foundry-tune's uploads listed with the jobs that use them, a cleanup that never
deletes a file a live job uses (checked again right before each delete), a dry run that deletes
nothing, and a start after a cleanup that uploads again instead of naming a deleted file.

Jobs here run for 10 minutes (``job_duration=600``): a started job stays live for the whole module;
a job that ended is a cancelled one."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async import _files as files_module
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._core.upload import upload_name
from foundry_tune.emulator import Emulator
from foundry_tune.errors import FileInUseError, InvalidParameterError

from ._helpers import sft_data

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(job_duration=600)]


async def _raw_upload(ft: AsyncFoundry, name: str, body: bytes = b'{"messages": []}\n') -> str:
    made = await ft.openai.files.create(file=(name, io.BytesIO(body)), purpose="fine-tune")
    return made.id


async def _ids(ft: AsyncFoundry, *, all: bool = False) -> set[str]:
    return {f.id for f in await ft.files.list(all=all)}


def _ledger_ids() -> set[str]:
    folder = Path(os.environ["FOUNDRY_TUNE_STATE_DIR"]) / "once"
    return {json.loads(p.read_text())["id"] for p in folder.glob("*.json")}


@pytest.mark.anyio
async def test_list_shows_the_library_uploads_with_their_jobs(ft: AsyncFoundry) -> None:
    job = await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=31)).suffix("files-list").start()
    stray = await _raw_upload(ft, "someone-elses.jsonl")

    ours = {f.id: f for f in await ft.files.list()}
    assert job.training_file in ours and stray not in ours
    listed = ours[job.training_file]
    assert listed.ours and listed.purpose == "fine-tune" and listed.bytes and listed.created_at is not None
    assert job.id in listed.used_by and job.id in listed.live_jobs
    everything = await _ids(ft, all=True)
    assert {stray, job.training_file} <= everything


@pytest.mark.anyio
async def test_cleanup_keeps_live_jobs_files_and_deletes_the_rest(ft: AsyncFoundry) -> None:
    running = await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=32)).suffix("keep").start()
    ended = await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=33)).suffix("gone").start()
    await ended.cancel()
    orphan = await _raw_upload(ft, upload_name("orphan.jsonl", "ab" * 32))
    stray = await _raw_upload(ft, "not-ours.jsonl")
    assert ended.training_file in _ledger_ids()  # this machine remembers the upload

    dry = await ft.files.cleanup(older_than=0)
    assert dry.dry_run and not dry.deleted
    assert {ended.training_file, orphan} <= {f.id for f in dry.to_delete}
    assert running.training_file not in {f.id for f in dry.to_delete}
    assert {ended.training_file, orphan, running.training_file, stray} <= await _ids(ft, all=True)

    report = await ft.files.cleanup(older_than=0, dry_run=False)
    deleted = {f.id for f in report.deleted}
    assert {ended.training_file, orphan} <= deleted
    kept = {d.file.id: d.reason for d in report.kept}
    assert running.id in kept[running.training_file]
    left = await _ids(ft, all=True)
    assert running.training_file in left and stray in left  # another tool's file is never touched
    assert not ({ended.training_file, orphan} & left)
    assert ended.training_file not in _ledger_ids()  # forgotten locally too

    # the same data again: uploaded anew, never the deleted id
    again = await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=33)).suffix("gone").start()
    assert again.training_file not in (None, ended.training_file)
    assert again.training_file in await _ids(ft)


@pytest.mark.anyio
async def test_cleanup_checks_again_right_before_each_delete(ft: AsyncFoundry,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with sft_data(12, seed=35).open_upload() as stream:  # valid rows: the job it gets stays live
        late = await _raw_upload(ft, upload_name("late.jsonl", "cd" * 32), stream.read())
    real = files_module.list_jobs
    calls: list[Any] = []

    async def list_jobs(ft_: AsyncFoundry, **kwargs: Any) -> files_module.Listing:
        if kwargs.get("since") is not None and not calls:  # the check before the delete
            made = await ft.openai.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=late)
            calls.append(made.id)
        return await real(ft_, **kwargs)

    monkeypatch.setattr(files_module, "list_jobs", list_jobs)
    report = await ft.files.cleanup(older_than=0, dry_run=False)
    decision = next(d for d in report.decisions if d.file.id == late)
    assert decision.action == "kept" and calls[0] in decision.reason
    assert late in await _ids(ft)


@pytest.mark.anyio
async def test_delete_refuses_a_file_a_live_job_uses(ft: AsyncFoundry) -> None:
    job = await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=34)).suffix("busy").start()
    assert job.training_file is not None
    with pytest.raises(FileInUseError) as info:
        await ft.files.delete(job.training_file)
    assert info.value.job_ids == (job.id,) and job.training_file in await _ids(ft)

    await job.cancel()
    await ft.files.delete(job.training_file)
    assert job.training_file not in await _ids(ft)
    await ft.files.delete(job.training_file)  # already gone is fine
    with pytest.raises(InvalidParameterError):
        await ft.files.cleanup(older_than=-1)


@pytest.mark.anyio
async def test_flags_and_ages_that_are_not_what_they_seem_are_refused_before_any_request(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    before = emulator.stats()["requests"]
    for flag in ("no", "false", 0, 1, None):  # "no" is truthy: as dry_run it would have deleted
        with pytest.raises(InvalidParameterError, match="dry_run must be True or False"):
            await ft.files.cleanup(dry_run=flag)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterError, match="all must be True or False"):
            await ft.files.list(all=flag)  # type: ignore[arg-type]
    for age in (float("nan"), float("inf"), -1, "3600", True, dt.timedelta(seconds=-1)):
        with pytest.raises(InvalidParameterError, match="older_than"):
            await ft.files.cleanup(older_than=age, dry_run=False)  # type: ignore[arg-type]
    assert emulator.stats()["requests"] == before


@pytest.mark.anyio
async def test_cleanup_keeps_young_files_by_default(ft: AsyncFoundry) -> None:
    young = await _raw_upload(ft, upload_name("young.jsonl", "ef" * 32))
    report = await ft.files.cleanup(dry_run=False)
    decision = next(d for d in report.decisions if d.file.id == young)
    assert decision.action == "kept" and "younger than 1h" in decision.reason
    assert young in await _ids(ft)
