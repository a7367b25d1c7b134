"""Upload decisions without I/O: file naming, routing, part planning, which listed file is reusable,
and what a file's status or purpose means."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from openai.types import FileObject

from foundry_tune._core.paging import PageGuard
from foundry_tune._core.upload import (
    DEFAULT_PART_SIZE,
    Part,
    UploadedChooser,
    UploadOptions,
    check_purpose,
    clean_hash,
    is_processed,
    plan_parts,
    upload_name,
    upload_route,
)
from foundry_tune.errors import InvalidParameterError, UploadError

DIGEST = "ab" * 32


def _file(name: str, status: str = "processed", size: int | None = 10, purpose: str = "fine-tune",
          file_id: str = "file-1", details: str | None = None) -> FileObject:
    return FileObject.construct(id=file_id, bytes=size, created_at=0, filename=name, object="file",
                                purpose=purpose, status=status, status_details=details)


@pytest.mark.parametrize(("source", "expected"), [
    ("train.jsonl", f"train.sha256-{DIGEST[:32]}.jsonl"),
    ("data/Train Set.JSONL", f"Train-Set.sha256-{DIGEST[:32]}.jsonl"),
    ("x.json", f"x.sha256-{DIGEST[:32]}.jsonl"),
    ("...", f"data.sha256-{DIGEST[:32]}.jsonl"),
    ("a" * 80 + ".jsonl", f"{'a' * 60}.sha256-{DIGEST[:32]}.jsonl"),
])
def test_upload_names_carry_the_content_hash(source: str, expected: str) -> None:
    assert upload_name(source, DIGEST) == expected
    assert upload_name(source, "sha256:" + DIGEST.upper()) == expected


def test_clean_hash_drops_the_prefix_and_case() -> None:
    assert clean_hash(" SHA256:ABC ") == "abc"
    assert clean_hash("abc") == "abc"


@pytest.mark.parametrize(("size", "limit", "route"), [
    (1, 100, "files"), (100, 100, "files"), (101, 100, "uploads"),
])
def test_files_above_the_single_request_limit_go_through_the_uploads_api(size: int, limit: int,
                                                                          route: str) -> None:
    assert upload_route(size, UploadOptions(single_request_limit=limit)) == route


@pytest.mark.parametrize(("size", "part_size", "expected"), [
    (0, 10, []),
    (10, 10, [Part(0, 0, 10)]),
    (25, 10, [Part(0, 0, 10), Part(1, 10, 10), Part(2, 20, 5)]),
    (9, 10, [Part(0, 0, 9)]),
])
def test_parts_cover_the_file_exactly(size: int, part_size: int, expected: list[Part]) -> None:
    parts = plan_parts(size, part_size)
    assert parts == expected
    assert sum(p.length for p in parts) == size


@pytest.mark.parametrize("options", [
    {"part_size": DEFAULT_PART_SIZE + 1}, {"part_size": 0},
    {"single_request_limit": 0}, {"parallel_parts": 0},
])
def test_upload_options_refuse_impossible_sizes(options: dict[str, int]) -> None:
    with pytest.raises(InvalidParameterError):
        UploadOptions(**options)


MARK = upload_name("train.jsonl", DIGEST)


@pytest.mark.parametrize(("listed", "chosen"), [
    ([], None),
    ([_file("train.jsonl")], None),  # no hash in the name: not ours
    ([_file(upload_name("t", "cd" * 32))], None),  # another content
    ([_file(MARK, size=11)], None),  # another size
    ([_file(MARK, size=None)], "file-1"),  # size not listed: the hash decides
    ([_file(MARK, status="error")], None),
    ([_file(MARK, status="failed")], None),
    ([_file(MARK, status="deleting")], None),
    ([_file(MARK, status="pending", file_id="file-p"), _file(MARK, file_id="file-ok")], "file-ok"),
    ([_file(MARK, status="pending", file_id="file-p"),
      _file(MARK, status="running", file_id="file-r")], "file-p"),
    ([_file(MARK, status="error", file_id="file-e"), _file(MARK, file_id="file-ok")], "file-ok"),
])
def test_the_chooser_prefers_a_processed_file_then_the_first_still_processing(
    listed: list[FileObject], chosen: str | None
) -> None:
    chooser = UploadedChooser(DIGEST, 10)
    after = chooser.offer_page(SimpleNamespace(data=listed, has_more=False), PageGuard("files"))
    assert after is None
    assert (chooser.best.id if chooser.best else None) == chosen


def test_the_chooser_stops_paging_once_a_processed_file_is_found() -> None:
    chooser = UploadedChooser(DIGEST, 10)
    guard = PageGuard("files")
    page = SimpleNamespace(data=[_file("other", file_id="file-a"), _file(MARK, file_id="file-b")],
                           has_more=True)
    assert chooser.offer_page(page, guard) is None
    chooser = UploadedChooser(DIGEST, 10)
    page = SimpleNamespace(data=[_file("other", file_id="file-a")], has_more=True)
    assert chooser.offer_page(page, PageGuard("files")) == "file-a"


@pytest.mark.parametrize(("status", "answer"), [
    ("processed", True), ("uploaded", False), ("pending", False), ("running", False), ("PROCESSED", True),
])
def test_processing_states(status: str, answer: bool) -> None:
    assert is_processed(_file(MARK, status=status), "train.jsonl") is answer


@pytest.mark.parametrize("status", ["error", "failed", "deleted", "deleting"])
def test_a_rejected_or_deleted_file_raises_with_the_services_reason(status: str) -> None:
    with pytest.raises(UploadError) as info:
        is_processed(_file(MARK, status=status, details="line 4: no assistant message"), "train.jsonl")
    assert info.value.file_id == "file-1" and "train.jsonl" in str(info.value)
    if status in ("error", "failed"):
        assert info.value.details == "line 4: no assistant message"


@pytest.mark.parametrize(("purpose", "refused"), [
    ("fine-tune", False), ("assistants", True), ("batch", True), ("fine-tune-results", True),
])
def test_a_given_file_must_have_been_uploaded_for_fine_tuning(purpose: str, refused: bool) -> None:
    f = _file(MARK, purpose=purpose)
    if refused:
        with pytest.raises(UploadError, match="purpose") as info:
            check_purpose(f, "file-1")
        assert info.value.file_id == "file-1"
    else:
        check_purpose(f, "file-1")
