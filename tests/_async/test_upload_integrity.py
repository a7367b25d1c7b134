"""The bytes that train are the bytes that were validated, end to end on the emulator, in both
flavours: a file rewritten between validation and upload (even at the same size with its
modification time put back) is refused with ``DataChangedError`` and leaves no file under the
validated hash, by either route (one request, or the Uploads API in parts); a file that another
client uploaded under our hash-bearing name with other bytes is not reused."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import httpx2
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._upload import read_back_hash, upload_once
from foundry_tune._core.upload import upload_name
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import DataChangedError, DatasetError, UploadError
from foundry_tune.job import UploadOptions
from foundry_tune.methods import Supervised

from ._helpers import DropAfterCreate, flaky_connection, sft_data

# An emulator of its own whose jobs never finish while the module runs: the tests count the files on
# the service, and a finished job (this module's or another's on the shared emulator) adds one.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(job_duration=600.0)]

ROUTES = {
    "files": {},
    # parts of 4 kB: a ~20 kB file goes in several parts, two at a time
    "uploads": {"single_request_limit": 1024, "part_size": 4096, "parallel_parts": 2},
}


def _one_letter_changed(data: bytes) -> bytes:
    """``data`` with the first letter of its first message's content changed (still valid data)."""
    at = data.index(b'"content":"') + len(b'"content":"')
    return data[:at] + (b"Z" if data[at:at + 1] != b"Z" else b"Q") + data[at + 1:]


def _same_size_rewrite(path: Path) -> None:
    """Change one letter of the file, keep its size, and put its modification time back."""
    st = path.stat()
    path.write_bytes(_one_letter_changed(path.read_bytes()))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


async def _names(ft: AsyncFoundry) -> dict[str, str]:
    return {f.id: f.filename for f in (await ft.openai.files.list(purpose="fine-tune", limit=10_000)).data}


@pytest.mark.anyio
@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_a_same_size_rewrite_after_validation_never_uploads_under_the_old_hash(
    ft: AsyncFoundry, emulator: Emulator, tmp_path: Path, route: str
) -> None:
    path = tmp_path / f"rewritten-{route}.jsonl"
    sft_data(60, seed={"files": 501, "uploads": 502}[route]).to_jsonl(path)
    data = Dataset.from_jsonl(path)
    validated = hashlib.sha256(path.read_bytes()).hexdigest()
    said: list[str] = []

    def progress(line: str) -> None:  # the start's last word before the bytes are read
        said.append(line)
        if line.startswith("uploading"):
            _same_size_rewrite(path)

    builder = (ft.fine_tune("gpt-4.1-mini").train_on(data).method(Supervised(n_epochs=1))
               .training_type("GlobalStandard").suffix(f"rewrite-{route}").upload_options(**ROUTES[route]))
    before = emulator.stats()
    with pytest.raises(DataChangedError) as info:
        await builder.start(on_progress=progress)
    assert isinstance(info.value, UploadError) and isinstance(info.value, DatasetError)
    assert info.value.source == str(path) and str(path) in str(info.value)  # the file, by its path
    assert "changed after it was validated" in str(info.value)
    assert any(line.startswith("uploading") for line in said)
    after = emulator.stats()
    assert after["files"] == before["files"] and after["jobs"] == before["jobs"]
    marker = upload_name(path.name, validated)
    assert marker not in (await _names(ft)).values()

    # Run again: the file as it is now is validated, uploaded and trained.
    job = await builder.start()
    now = hashlib.sha256(path.read_bytes()).hexdigest()
    assert job.training_file is not None and now != validated
    assert await read_back_hash(ft, job.training_file) == now
    await job.cancel()


@pytest.mark.anyio
async def test_a_file_changed_since_its_validation_is_refused_before_anything_is_sent(
    ft: AsyncFoundry, emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "edited.jsonl"
    sft_data(20, seed=77).to_jsonl(path)
    data = Dataset.from_jsonl(path)
    assert data.validate("sft").valid
    validated = data.validated_hash
    with path.open("ab") as fh:  # an ordinary edit: a new line, new size and times
        fh.write(path.read_bytes().splitlines(keepends=True)[0])
    before = emulator.stats()
    with pytest.raises(DataChangedError, match=r"edited\.jsonl changed after it was validated"):
        await upload_once(ft, data, UploadOptions())
    assert emulator.stats()["files"] == before["files"] and emulator.stats()["uploads"] == before["uploads"]
    assert data.validated_hash == validated  # only a validation pass moves it


@pytest.mark.anyio
async def test_a_file_planted_under_our_name_with_other_bytes_is_not_reused(
    ft: AsyncFoundry, emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "planted.jsonl"
    sft_data(30, seed=88).to_jsonl(path)
    ours = path.read_bytes()
    digest = hashlib.sha256(ours).hexdigest()
    other = _one_letter_changed(ours)
    assert len(other) == len(ours) and other != ours
    planted = await ft.openai.files.create(file=(upload_name(path.name, digest), io.BytesIO(other)),
                                           purpose="fine-tune")

    builder = (ft.fine_tune("gpt-4.1-mini").train_on(path).method(Supervised(n_epochs=1))
               .training_type("GlobalStandard").suffix("planted"))
    plan = await builder.plan()
    assert [f.action for f in plan.files] == ["upload"] and plan.files[0].file_id is None
    said: list[str] = []
    before = emulator.stats()["files"]
    job = await builder.start(on_progress=said.append)
    assert job.training_file not in (None, planted.id)
    assert emulator.stats()["files"] == before + 1
    assert any(planted.id in line and "not ours" in line for line in said), said
    assert job.training_file is not None and await read_back_hash(ft, job.training_file) == digest
    # Our own upload is found again (and checked) by the next plan, the planted one still is not.
    again = await builder.suffix("planted-again").plan()
    assert [(f.action, f.file_id) for f in again.files] == [("reuse", job.training_file)]
    await job.cancel()


class RefusesContent(DropAfterCreate):
    """A service that will not serve a file's content (``GET /files/{id}/content``: 403), as a
    service may for fine-tune files; everything else goes through untouched."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and request.url.path.endswith("/content"):
            self.dropped += 1
            error = {"code": "Forbidden", "message": "Downloading files of purpose fine-tune is not allowed."}
            return httpx2.Response(403, json={"error": error}, request=request)
        return await self.inner.handle_async_request(request)


@pytest.mark.anyio
async def test_a_file_whose_content_cannot_be_read_back_is_not_reused(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    data = sft_data(20, seed=99, name="unreadable.jsonl")
    first = await upload_once(ft, data, UploadOptions())
    said: list[str] = []
    transport = RefusesContent(httpx2.AsyncHTTPTransport())
    async with flaky_connection(emulator.info, transport) as refusing:
        second = await upload_once(refusing, data, UploadOptions(), on_progress=said.append)
    assert transport.dropped == 1 and second.id != first.id  # uploaded again rather than trusted
    assert any(first.id in line and "could not be read back" in line and "403" in line for line in said), said
    assert await read_back_hash(ft, second.id) == data.content_hash()
