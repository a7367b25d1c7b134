"""The Uploads API on the emulator (part order, byte and md5 checks, limits, cancel, expiry) and
the streaming multipart reader it uses."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest
from _emulator_helpers import openai_client

from foundry_tune.emulator import Emulator
from foundry_tune.emulator._errors import ApiError
from foundry_tune.emulator._multipart import read_form

# An emulator of this module's own: the tests read its blob folder and database.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator()]


def _upload(client: openai.OpenAI, size: int) -> str:
    return client.uploads.create(
        bytes=size, filename="data.jsonl", purpose="fine-tune", mime_type="application/jsonl"
    ).id


def test_parts_are_joined_in_the_order_given(emulator: Emulator) -> None:
    client = openai_client(emulator.info)
    upload = _upload(client, 12)
    first = client.uploads.parts.create(upload_id=upload, data=b"first-")
    second = client.uploads.parts.create(upload_id=upload, data=b"second")
    done = client.uploads.complete(
        upload_id=upload, part_ids=[second.id, first.id], md5=hashlib.md5(b"secondfirst-").hexdigest()
    )
    assert done.status == "completed" and done.file is not None
    assert client.files.content(done.file.id).content == b"secondfirst-"


def test_byte_count_must_match_what_was_declared(emulator: Emulator) -> None:
    client = openai_client(emulator.info, max_retries=0)
    upload = _upload(client, 10)
    part = client.uploads.parts.create(upload_id=upload, data=b"12345")
    with pytest.raises(openai.BadRequestError) as short:
        client.uploads.complete(upload_id=upload, part_ids=[part.id])
    assert "5 bytes" in short.value.message and "10 bytes" in short.value.message
    extra = client.uploads.parts.create(upload_id=upload, data=b"123456")  # unused parts are allowed...
    with pytest.raises(openai.BadRequestError, match="11 bytes"):  # ...but the listed ones must add up
        client.uploads.complete(upload_id=upload, part_ids=[part.id, extra.id])
    rest = client.uploads.parts.create(upload_id=upload, data=b"67890")
    with pytest.raises(openai.BadRequestError, match="more than once"):
        client.uploads.complete(upload_id=upload, part_ids=[part.id, part.id])
    with pytest.raises(openai.BadRequestError, match="does not belong"):
        client.uploads.complete(upload_id=upload, part_ids=[part.id, "part_unknown"])
    with pytest.raises(openai.BadRequestError, match="md5"):
        client.uploads.complete(upload_id=upload, part_ids=[part.id, rest.id], md5="0" * 32)
    assert client.uploads.complete(upload_id=upload, part_ids=[part.id, rest.id]).status == "completed"
    with pytest.raises(openai.BadRequestError, match="completed"):
        client.uploads.parts.create(upload_id=upload, data=b"x")


def test_cancelled_upload_takes_no_more_parts(emulator: Emulator) -> None:
    client = openai_client(emulator.info, max_retries=0)
    upload = _upload(client, 4)
    client.uploads.parts.create(upload_id=upload, data=b"ab")
    assert client.uploads.cancel(upload_id=upload).status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        client.uploads.parts.create(upload_id=upload, data=b"cd")
    leftovers = [p for p in (Path(str(emulator.data_dir)) / "blobs").iterdir() if p.name.startswith(upload)]
    assert leftovers == []


def test_size_limits(emulator: Emulator) -> None:
    client = openai_client(emulator.info, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="8 GB"):
        _upload(client, 8 * 1024**3 + 1)
    upload = _upload(client, 8 * 1024**3)
    with pytest.raises(openai.APIStatusError) as too_big:
        client.uploads.parts.create(upload_id=upload, data=b"\0" * (64 * 1024 * 1024 + 1))
    assert too_big.value.status_code == 413
    incoming = [
        p for p in (Path(str(emulator.data_dir)) / "blobs").iterdir() if p.name.startswith("incoming-")
    ]
    assert incoming == []


def test_expired_upload_is_refused(emulator: Emulator) -> None:
    client = openai_client(emulator.info, max_retries=0)
    upload = _upload(client, 3)
    with sqlite3.connect(Path(str(emulator.data_dir)) / "emulator.sqlite3") as db:
        doc = json.loads(
            db.execute("SELECT doc FROM docs WHERE kind='upload' AND id=?", (upload,)).fetchone()[0]
        )
        doc["expires_at"] = 1
        db.execute("UPDATE docs SET doc=? WHERE kind='upload' AND id=?", (json.dumps(doc), upload))
    with pytest.raises(openai.BadRequestError, match="expired"):
        client.uploads.parts.create(upload_id=upload, data=b"abc")


def test_files_create_requires_purpose_and_file(emulator: Emulator) -> None:
    url = f"{emulator.info.openai_base_url}/files"
    headers = {"api-key": "k"}
    missing_purpose = httpx.post(url, headers=headers, files={"file": ("a.jsonl", b"{}\n")})
    assert missing_purpose.status_code == 400 and missing_purpose.json()["error"]["param"] == "purpose"
    missing_file = httpx.post(url, headers=headers, data={"purpose": "fine-tune"}, files={"x": ("a", b"1")})
    assert missing_file.status_code == 400 and missing_file.json()["error"]["param"] == "file"
    not_multipart = httpx.post(url, headers=headers, json={"purpose": "fine-tune"})
    assert not_multipart.status_code == 400


# -- the streaming multipart reader, in process ------------------------------------------------------


def _body(boundary: str, payload: bytes) -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.jsonl"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_multipart_reader_handles_any_chunking(tmp_path: Path, chunk: int) -> None:
    boundary = "b0undary"
    payload = b"line one\r\n--b0undar not yet\r\n" + bytes(range(256)) * 4
    form = asyncio.run(
        read_form(
            f"multipart/form-data; boundary={boundary}",
            _chunks(_body(boundary, payload), chunk),
            tmp_path,
            10_000,
        )
    )
    assert form.fields == {"purpose": "fine-tune"}
    part = form.files["file"]
    assert part.filename == "t.jsonl" and part.size == len(payload)
    assert part.path.read_bytes() == payload


def test_multipart_reader_enforces_the_limit_while_streaming(tmp_path: Path) -> None:
    boundary = "zz"
    with pytest.raises(ApiError) as caught:
        asyncio.run(
            read_form(
                f"multipart/form-data; boundary={boundary}",
                _chunks(_body(boundary, b"x" * 5000), 512),
                tmp_path,
                1000,
            )
        )
    assert caught.value.status == 413
    assert list(tmp_path.iterdir()) == []


def test_multipart_reader_rejects_truncated_bodies(tmp_path: Path) -> None:
    body = _body("q", b"data")[:-10]
    with pytest.raises(ApiError, match="ended early"):
        asyncio.run(read_form("multipart/form-data; boundary=q", _chunks(body, 16), tmp_path, 1000))
    assert list(tmp_path.iterdir()) == []
