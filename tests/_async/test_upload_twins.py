"""Across machines, where no local lock helps: an upload that finds, right after its create, an
older file of the same name, size and content (another machine's upload of the same bytes at the
same moment) deletes its own file and uses the older one; a file under our name with other bytes
is never used, and ours is kept. The rival is uploaded deterministically from ``on_progress`` at
the "uploading" line, after our lookup and before our create, through the raw openai client, as
another machine's upload would be."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Awaitable, Callable

import httpx2
import openai
import pytest
from openai.types import FileObject

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._upload import read_back_hash, upload_once
from foundry_tune._core.upload import upload_name
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.job import UploadOptions
from foundry_tune.methods import Supervised

from ._helpers import DropAfterCreate, flaky_connection, sft_data

pytestmark = [pytest.mark.emulator]

ROUTES = {
    "files": UploadOptions(),
    # parts of 4 kB: a ~10 kB file goes in several parts, two at a time
    "uploads": UploadOptions(single_request_limit=1024, part_size=4096, parallel_parts=2),
}


def _bytes(data: Dataset) -> bytes:
    with data.open_upload() as stream:
        return stream.read()


def _other_bytes(data: bytes) -> bytes:
    """``data`` with one letter of its first message changed: same size, other content."""
    at = data.index(b'"content":"') + len(b'"content":"')
    return data[:at] + (b"Z" if data[at:at + 1] != b"Z" else b"Q") + data[at + 1:]


def rival_upload(ft: AsyncFoundry, data: Dataset, content: bytes,
                 rivals: list[FileObject]) -> Callable[[str], Awaitable[None]]:
    """An ``on_progress`` that, at the "uploading" line (our lookup found nothing, our create is
    next), uploads ``content`` under our hash-bearing name, as another machine would."""
    name = upload_name(data.name, data.content_hash())

    async def on_progress(line: str) -> None:
        if line.startswith("uploading") and not rivals:
            rivals.append(await ft.openai.files.create(file=(name, io.BytesIO(content)), purpose="fine-tune"))

    return on_progress


async def _named(ft: AsyncFoundry, name: str) -> list[str]:
    return [f.id for f in (await ft.openai.files.list(purpose="fine-tune", limit=10_000)).data
            if f.filename == name]


def _deleted_id(said: list[str]) -> str:
    [line] = [line for line in said if "deleted our upload" in line]
    return line.rsplit("deleted our upload ", 1)[1].split()[0]


@pytest.mark.anyio
@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_an_older_upload_of_the_same_bytes_is_used_and_ours_deleted(
    ft: AsyncFoundry, emulator: Emulator, route: str
) -> None:
    data = sft_data(40, seed={"files": 1201, "uploads": 1202}[route], name=f"twin-{route}.jsonl")
    rivals: list[FileObject] = []
    said: list[str] = []
    progress = rival_upload(ft, data, _bytes(data), rivals)

    async def on_progress(line: str) -> None:
        said.append(line)
        await progress(line)

    before = emulator.stats()["files"]
    got = await upload_once(ft, data, ROUTES[route], on_progress=on_progress)
    [rival] = rivals
    assert got.id == rival.id and got.status == "processed"
    assert any(line.startswith(f"reusing {rival.id}") and "uploaded elsewhere just before ours" in line
               for line in said), said
    ours = _deleted_id(said)
    assert ours != rival.id
    with pytest.raises(openai.NotFoundError):
        await ft.openai.files.retrieve(ours)
    assert await _named(ft, upload_name(data.name, data.content_hash())) == [rival.id]
    assert emulator.stats()["files"] == before + 1  # the rival's; ours made, then deleted


@pytest.mark.anyio
async def test_a_start_trains_on_the_older_twin(ft: AsyncFoundry, emulator: Emulator) -> None:
    data = sft_data(30, seed=1203, name="twin-start.jsonl")
    rivals: list[FileObject] = []
    said: list[str] = []
    progress = rival_upload(ft, data, _bytes(data), rivals)

    async def on_progress(line: str) -> None:
        said.append(line)
        await progress(line)

    builder = (ft.fine_tune("gpt-4.1-mini").train_on(data).method(Supervised(n_epochs=1))
               .training_type("GlobalStandard").suffix("twin-start"))
    job = await builder.start(on_progress=on_progress)
    [rival] = rivals
    assert job.training_file == rival.id
    assert await _named(ft, upload_name(data.name, data.content_hash())) == [rival.id]
    with pytest.raises(openai.NotFoundError):
        await ft.openai.files.retrieve(_deleted_id(said))
    await job.cancel()


@pytest.mark.anyio
async def test_an_older_file_under_our_name_with_other_bytes_is_not_used(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    data = sft_data(30, seed=1204, name="twin-planted.jsonl")
    ours_bytes = _bytes(data)
    planted_bytes = _other_bytes(ours_bytes)
    assert len(planted_bytes) == len(ours_bytes) and planted_bytes != ours_bytes
    rivals: list[FileObject] = []
    said: list[str] = []
    progress = rival_upload(ft, data, planted_bytes, rivals)

    async def on_progress(line: str) -> None:
        said.append(line)
        await progress(line)

    builder = (ft.fine_tune("gpt-4.1-mini").train_on(data).method(Supervised(n_epochs=1))
               .training_type("GlobalStandard").suffix("twin-planted"))
    before = emulator.stats()["files"]
    job = await builder.start(on_progress=on_progress)
    [planted] = rivals
    assert job.training_file is not None and job.training_file != planted.id
    assert await read_back_hash(ft, job.training_file) == hashlib.sha256(ours_bytes).hexdigest()
    assert not any("deleted our upload" in line for line in said), said
    # Both stay: ours, and the planted one (never ours to delete).
    name = upload_name(data.name, data.content_hash())
    assert sorted(await _named(ft, name)) == sorted([planted.id, job.training_file])
    assert emulator.stats()["files"] == before + 2
    await job.cancel()


class Counts(DropAfterCreate):
    """Counts the Files API requests by kind; refuses deletes (403) when ``refuse_delete``."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, *, refuse_delete: bool = False) -> None:
        super().__init__(inner)
        self.refuse_delete = refuse_delete
        self.kinds: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if "/files" in path:
            kind = {"GET": "list" if path.endswith("/files") else "content" if path.endswith("/content")
                    else "retrieve", "POST": "create", "DELETE": "delete"}[request.method]
            self.kinds.append(kind)
            if kind == "delete" and self.refuse_delete:
                error = {"code": "Forbidden", "message": "This file cannot be deleted."}
                return httpx2.Response(403, json={"error": error}, request=request)
        return await self.inner.handle_async_request(request)


@pytest.mark.anyio
async def test_an_upload_without_a_twin_costs_one_more_listing_and_nothing_else(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    data = sft_data(20, seed=1205, name="twin-alone.jsonl")
    counts = Counts(httpx2.AsyncHTTPTransport())
    async with flaky_connection(emulator.info, counts) as counted:
        got = await upload_once(counted, data, UploadOptions())
    # The lookup before, the create, the check after, then polls until processed.
    assert counts.kinds[:3] == ["list", "create", "list"], counts.kinds
    assert set(counts.kinds[3:]) == {"retrieve"}, counts.kinds
    assert await _named(ft, upload_name(data.name, data.content_hash())) == [got.id]


@pytest.mark.anyio
async def test_a_failed_delete_of_our_duplicate_is_logged_and_the_older_file_still_used(
    ft: AsyncFoundry, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    data = sft_data(20, seed=1206, name="twin-undeletable.jsonl")
    rivals: list[FileObject] = []
    said: list[str] = []
    progress = rival_upload(ft, data, _bytes(data), rivals)

    async def on_progress(line: str) -> None:
        said.append(line)
        await progress(line)

    counts = Counts(httpx2.AsyncHTTPTransport(), refuse_delete=True)
    caplog.set_level(logging.WARNING, logger="foundry_tune.job")
    async with flaky_connection(emulator.info, counts) as counted:
        got = await upload_once(counted, data, UploadOptions(), on_progress=on_progress)
    [rival] = rivals
    assert got.id == rival.id
    assert counts.kinds.count("delete") == 1 and counts.kinds.count("content") == 1, counts.kinds
    named = await _named(ft, upload_name(data.name, data.content_hash()))
    [ours] = [i for i in named if i != rival.id]  # ours stays, the older one is used
    assert any(f"could not delete file {ours}" in r.getMessage() for r in caplog.records), caplog.text
    assert any(f"our upload {ours} could not be deleted" in line for line in said), said


@pytest.mark.anyio
async def test_a_rerun_reuses_the_oldest_of_several_files_with_our_content(ft: AsyncFoundry) -> None:
    data = sft_data(20, seed=1207, name="twin-rerun.jsonl")
    name = upload_name(data.name, data.content_hash())
    made = [await ft.openai.files.create(file=(name, io.BytesIO(_bytes(data))), purpose="fine-tune")
            for _ in range(3)]  # left by uploads racing before this fix: the oldest is the one kept
    said: list[str] = []
    got = await upload_once(ft, data, UploadOptions(), on_progress=said.append)
    assert got.id == made[0].id
    assert said == [f"reusing {made[0].id} ({name}): same content already uploaded"]
