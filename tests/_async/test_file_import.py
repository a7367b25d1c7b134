"""Training data the service fetches itself through its file import (``train_on("https://...")``,
``ft.files.import_url(...)``) instead of an upload: imported once (a retried start, another SAS
token for the same blob and a start on a machine that has no record of it reuse the import), the
SAS query never shown (plan, reprs, logs, errors), and a URL the service cannot fetch is a typed
error that names the URL with its query hidden.

The data is served by a local HTTP server (``http://127.0.0.1``, the only http:// the library
takes) that counts the GETs: each one is an import the service made."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune import FileURL
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._core.file_import import is_import_name
from foundry_tune._core.redact import redact_json
from foundry_tune.emulator import Emulator
from foundry_tune.errors import CostLimitError, InvalidParameterError, ServiceError, UploadError
from tests._served_files import SECRET, ServedFiles

from ._helpers import FLAVOUR, sft_rows

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator()]

@pytest.fixture(scope="module")
def served() -> Iterator[ServedFiles]:
    server = ServedFiles()
    yield server
    server.close()


def _jsonl(n: int, seed: int) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in sft_rows(n, seed)).encode()


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert "sig=" not in text or "sig=********" in text


@pytest.mark.anyio
async def test_train_on_url_imports_once_instead_of_uploading(
    ft: AsyncFoundry, emulator: Emulator, served: ServedFiles, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"/data/{FLAVOUR}/train.jsonl"
    served.files[path] = _jsonl(12, seed=41)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="openai")  # its request log holds the request body
    uploads_before = emulator.stats()["uploads"]
    builder = ft.fine_tune("gpt-4.1-mini").train_on(served.url(path)).suffix("imported")

    plan = await builder.plan()
    assert [f.action for f in plan.files] == ["import"] and plan.files[0].file_id is None
    assert "not validated locally" in str(plan) and "train.jsonl?<hidden>" in str(plan)
    assert plan.reports == []  # nothing local to validate
    job = await builder.start()

    remote = await ft.openai.files.retrieve(job.training_file)
    assert remote.status == "processed" and is_import_name(remote.filename)
    assert remote.filename.startswith("train.import-")
    assert served.gets[path] == 1  # the service fetched it once
    assert emulator.stats()["uploads"] == uploads_before  # no multipart upload
    names = [f.filename for f in (await ft.openai.files.list()).data]
    assert names.count(remote.filename) == 1 and not any(".sha256-" in n for n in names)  # nor a file upload

    # A retried start, a new job of the same data and another SAS token of the same blob: no new import.
    again = await builder.start()
    assert again.id == job.id and again.reused
    other = await builder.suffix("imported-2").start(force_new=True)
    assert other.id != job.id and other.training_file == job.training_file
    fresh_token = await ft.files.import_url(served.url(path, token="2025-01-05"))
    assert fresh_token.id == job.training_file
    assert served.gets[path] == 1
    replan = await builder.plan()
    assert replan.files[0].file_id == job.training_file and "imported before" in str(replan)

    _no_secret(str(plan), repr(plan), str(replan), repr(builder), repr(builder.spec), caplog.text)


@pytest.mark.anyio
async def test_a_machine_without_a_record_finds_the_import_by_its_name(
    ft: AsyncFoundry, served: ServedFiles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = f"/data/{FLAVOUR}/lookup.jsonl"
    served.files[path] = _jsonl(10, seed=42)
    first = await ft.files.import_url(served.url(path), filename="support.jsonl")
    assert first.filename is not None and first.filename.startswith("support.import-")
    monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path))  # another machine: an empty ledger

    second = await ft.files.import_url(FileURL(served.url(path, token="other"), filename="support.jsonl"))
    assert second.id == first.id and served.gets[path] == 1
    renamed = await ft.files.import_url(served.url(path), filename="support-v2.jsonl")
    assert renamed.id != first.id and served.gets[path] == 2  # another name is another import


@pytest.mark.anyio
async def test_a_url_the_service_cannot_fetch_is_an_upload_error_without_the_token(
    ft: AsyncFoundry, served: ServedFiles, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = served.url(f"/data/{FLAVOUR}/missing.jsonl")
    with pytest.raises(UploadError) as caught:
        await ft.fine_tune("gpt-4.1-mini").train_on(url).suffix("missing").start()
    message = str(caught.value)
    assert f"/data/{FLAVOUR}/missing.jsonl?<hidden>" in message and "404" in message
    assert caught.value.file_id is not None
    _no_secret(message, str(caught.value.details), caplog.text)
    # The failed import (status error, no job can use it) is deleted, not left counting against the
    # resource's file limit: no file of that name is left.
    assert f"the failed file {caught.value.file_id} was deleted" in message
    assert not await _files_named(ft, "missing.import-")

    unreachable = "http://127.0.0.1:1/data/unreachable.jsonl?sig=" + SECRET  # nothing listens on port 1
    with pytest.raises(UploadError, match="was deleted") as refused:
        await ft.files.import_url(unreachable)
    _no_secret(str(refused.value))
    assert not await _files_named(ft, "unreachable.import-")


async def _files_named(ft: AsyncFoundry, prefix: str) -> list[str]:
    return [f.id for f in (await ft.openai.files.list()).data if (f.filename or "").startswith(prefix)]


@pytest.mark.anyio
async def test_a_failed_import_whose_delete_fails_raises_the_import_error_and_logs_the_delete(
    ft: AsyncFoundry, served: ServedFiles, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse(file_id: str, **_: object) -> None:
        raise ServiceError("deletes are refused here", status=400)

    monkeypatch.setattr(ft.openai.files, "delete", refuse)
    caplog.set_level(logging.WARNING, logger="foundry_tune.job")
    with pytest.raises(UploadError, match="404") as caught:
        await ft.files.import_url(served.url(f"/data/{FLAVOUR}/also-missing.jsonl"))
    assert "was deleted" not in str(caught.value)  # the import's error, not the delete's
    assert f"could not delete the failed import {caught.value.file_id}" in caplog.text
    assert "ft.files.cleanup()" in caplog.text
    monkeypatch.undo()
    report = await ft.files.cleanup(dry_run=True)  # young, but failed: the cleanup takes it
    (decision,) = [d for d in report.decisions if d.file.id == caught.value.file_id]
    assert decision.action == "delete" and "could not process it (status error)" in decision.reason
    _no_secret(caplog.text)


@pytest.mark.anyio
async def test_rejected_content_is_reported_and_imported_again_once_fixed(
    ft: AsyncFoundry, served: ServedFiles
) -> None:
    path = f"/data/{FLAVOUR}/broken.jsonl"
    served.files[path] = b'{"not": "a chat example"}\n'
    with pytest.raises(UploadError, match="while processing it") as caught:
        await ft.files.import_url(served.url(path))
    _no_secret(str(caught.value))
    assert not await _files_named(ft, "broken.import-")  # the rejected file is deleted
    served.files[path] = _jsonl(10, seed=43)
    fixed = await ft.files.import_url(served.url(path))  # the failed import is not reused
    assert fixed.status == "processed" and fixed.id != caught.value.file_id


@pytest.mark.anyio
async def test_a_cost_cap_refuses_remote_data_it_cannot_estimate(
    ft: AsyncFoundry, served: ServedFiles
) -> None:
    path = f"/data/{FLAVOUR}/capped.jsonl"
    served.files[path] = _jsonl(10, seed=44)
    with pytest.raises(CostLimitError, match="cannot be estimated") as caught:
        await ft.fine_tune("gpt-4.1-mini").train_on(served.url(path)).start(max_cost=5.0)
    assert path not in served.gets  # refused before the service was asked to fetch anything
    _no_secret(str(caught.value))


@pytest.mark.anyio
@pytest.mark.parametrize("purpose", ["  ", "", "batch", "fine-tune ", "Fine-Tune", None])
async def test_a_purpose_no_fine_tuning_job_takes_is_refused_before_any_request(
    ft: AsyncFoundry, emulator: Emulator, served: ServedFiles, purpose: object
) -> None:
    path = f"/data/{FLAVOUR}/purpose.jsonl"
    served.files[path] = _jsonl(10, seed=45)
    before = emulator.stats()["requests"]
    with pytest.raises(InvalidParameterError, match="purpose must be 'fine-tune'"):
        await ft.files.import_url(served.url(path), purpose=purpose)  # type: ignore[arg-type]
    assert emulator.stats()["requests"] == before
    assert path not in served.gets


def test_only_https_urls_are_taken_and_their_query_is_hidden() -> None:
    with pytest.raises(InvalidParameterError, match="https://"):
        FileURL("http://storage.example.com/data/train.jsonl?sig=" + SECRET)
    with pytest.raises(InvalidParameterError, match="file name"):
        FileURL("https://storage.example.com/data/")
    url = FileURL(f"https://acct.blob.core.windows.net/data/train.jsonl?sv=1&sig={SECRET}")
    assert repr(url) == "FileURL('https://acct.blob.core.windows.net/data/train.jsonl?<hidden>')"
    assert url.key == FileURL("https://ACCT.blob.core.windows.net/data/train.jsonl?sv=2&sig=x").key
    assert url.key != FileURL(url.url, filename="other.jsonl").key
    # a client that logs request bodies logs the import's content_url with every query value masked
    logged = redact_json({"json_data": {"content_url": url.url}})["json_data"]["content_url"]
    assert SECRET not in logged and "sv=1" not in logged
