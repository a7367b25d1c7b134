"""Upload decisions without I/O: file naming, routing, part planning, which listed file is reusable,
and what a file's status or purpose means."""

from __future__ import annotations

import hashlib
import io
import math
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from openai.types import FileObject

from foundry_tune._core.paging import PageGuard
from foundry_tune._core.upload import (
    DEFAULT_PART_SIZE,
    CandidateScan,
    CheckedStream,
    Part,
    UploadOptions,
    check_purpose,
    clean_hash,
    is_processed,
    older_twins,
    oldest_first,
    plan_parts,
    upload_name,
    upload_route,
    with_upload_options,
)
from foundry_tune.dataset import Dataset
from foundry_tune.errors import DataChangedError, InvalidParameterError, UploadError

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


def _candidates(listed: list[FileObject], exclude: frozenset[str] = frozenset()) -> list[str]:
    scan = CandidateScan(DIGEST, 10, exclude)
    assert scan.offer_page(SimpleNamespace(data=listed, has_more=False), PageGuard("files")) is None
    return [f.id for f in scan.listed]


@pytest.mark.parametrize(("listed", "kept"), [
    ([], []),
    ([_file("train.jsonl")], []),  # no hash in the name: not ours
    ([_file(upload_name("t", "cd" * 32))], []),  # another content
    ([_file(MARK, size=11)], []),  # another size
    ([_file(MARK, size=None)], ["file-1"]),  # size not listed: the hash decides
    ([_file(upload_name("other-stem.jsonl", DIGEST))], ["file-1"]),  # another stem, the same hash
    ([_file(MARK, status="error")], []),
    ([_file(MARK, status="failed")], []),
    ([_file(MARK, status="deleting")], []),
    ([_file(MARK, status="pending", file_id="file-p"), _file(MARK, file_id="file-ok")],
     ["file-p", "file-ok"]),
    ([_file(MARK, status="error", file_id="file-e"), _file(MARK, file_id="file-ok")], ["file-ok"]),
])
def test_candidates_carry_the_hash_and_size_and_are_not_failed_or_deleted(
    listed: list[FileObject], kept: list[str]
) -> None:
    assert _candidates(listed) == kept


def test_the_candidate_scan_reads_every_page_in_listing_order() -> None:
    scan = CandidateScan(DIGEST, 10)
    guard = PageGuard("files")
    first = SimpleNamespace(data=[_file(MARK, file_id="c"), _file("other", file_id="o")], has_more=True)
    second = SimpleNamespace(data=[_file(MARK, file_id="a", status="pending")], has_more=False)
    assert scan.offer_page(first, guard) == "o"
    assert scan.offer_page(second, guard) is None
    assert [f.id for f in scan.listed] == ["c", "a"]


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


# --- upload options: typed errors naming the option --------------------------------------------

_INT_OPTIONS = ("single_request_limit", "part_size", "parallel_parts")
_SECONDS_OPTIONS = ("processing_timeout", "not_found_grace")
_BAD_INTS: list[object] = [True, False, "10", 10.0, 1.5, None, 10**400, -(10**400), -1, 0, math.nan, [4]]
_BAD_SECONDS: list[object] = [True, "30", None, math.nan, math.inf, -math.inf, -1, 10**400, 1e300, [1.0]]


@pytest.mark.parametrize(("name", "value"), [(n, v) for n in _INT_OPTIONS for v in _BAD_INTS]
                         + [(n, v) for n in _SECONDS_OPTIONS for v in _BAD_SECONDS])
def test_a_bad_upload_option_raises_the_typed_error_naming_it(name: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=f"upload option {name} ") as info:
        UploadOptions(**{name: value})  # type: ignore[arg-type]
    assert len(str(info.value)) < 300  # a 400-digit number is not echoed back
    with pytest.raises(InvalidParameterError, match=name):
        with_upload_options(UploadOptions(), {name: value})


def test_processing_timeout_must_be_positive_but_the_grace_may_be_zero() -> None:
    with pytest.raises(InvalidParameterError, match="processing_timeout"):
        UploadOptions(processing_timeout=0)
    assert UploadOptions(not_found_grace=0).not_found_grace == 0


@pytest.mark.parametrize("changes", [
    {"part_size": 1, "parallel_parts": 1, "single_request_limit": 1, "processing_timeout": 0.5},
    {"part_size": DEFAULT_PART_SIZE, "parallel_parts": 32, "single_request_limit": 512 * 1024 * 1024},
    {"processing_timeout": 7 * 24 * 3600, "not_found_grace": 0.0},
])
def test_upload_options_accept_every_value_in_range(changes: dict[str, object]) -> None:
    options = with_upload_options(UploadOptions(), changes)
    assert all(getattr(options, k) == v for k, v in changes.items())


def test_an_unknown_upload_option_is_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidParameterError, match="unknown upload option 'part_sise': the options are "
                       "single_request_limit, part_size") as info:
        with_upload_options(UploadOptions(), {"part_sise": 8})
    assert not isinstance(info.value, TypeError)


# --- the scan passes over files whose content was found to differ -----------------------------

def test_the_candidate_scan_passes_over_excluded_files() -> None:
    listed = [_file(MARK, file_id="file-planted"), _file(MARK, file_id="file-ours")]
    assert _candidates(listed, frozenset({"file-planted"})) == ["file-ours"]


# --- CheckedStream: the body of a single-request upload ----------------------------------------

DATA = b"".join(b'{"messages":[{"role":"user","content":"q%d"}]}\n' % i for i in range(2000))
SHA = hashlib.sha256(DATA).hexdigest()


def _drain(stream: CheckedStream, chunk: int, sent: list[bytes]) -> None:
    stream.seek(0)  # what an HTTP client does first
    while block := stream.read(chunk):
        sent.append(block)


@pytest.mark.parametrize("chunk", [1, 1000, 65536, len(DATA), -1])
def test_the_validated_bytes_go_through_unchanged(chunk: int) -> None:
    stream = CheckedStream(io.BytesIO(DATA), size=len(DATA), expected="sha256:" + SHA, label="t.jsonl")
    sent: list[bytes] = []
    _drain(stream, chunk, sent)
    assert b"".join(sent) == DATA and stream.verified and stream.failure is None


@pytest.mark.parametrize(("now", "why"), [
    (DATA[:-5] + b"X" + DATA[-4:], "another SHA-256"),  # same size, one byte changed
    (b"Y" + DATA[1:], "another SHA-256"),  # the first byte
    (DATA[:-10], "shorter"),
    (DATA + b"{}\n", "longer"),
])
@pytest.mark.parametrize("chunk", [1000, 65536, -1])
def test_changed_bytes_are_refused_before_the_end_of_the_body_is_handed_out(now: bytes, why: str,
                                                                              chunk: int) -> None:
    stream = CheckedStream(io.BytesIO(now), size=len(DATA), expected=SHA, label="t.jsonl")
    sent: list[bytes] = []
    with pytest.raises(DataChangedError, match=why) as info:
        _drain(stream, chunk, sent)
    assert info.value.source == "t.jsonl" and "t.jsonl changed after it was validated" in str(info.value)
    assert len(b"".join(sent)) < len(DATA)  # the last bytes never left
    assert stream.failure is info.value and not stream.verified
    with pytest.raises(DataChangedError):  # and it stays refused
        stream.read(10)


def test_the_http_length_probe_and_a_second_send_start_over() -> None:
    stream = CheckedStream(io.BytesIO(DATA), size=len(DATA), expected=SHA, label="t.jsonl")
    with pytest.raises(OSError):
        stream.fileno()  # not a real file: the client probes with tell/seek
    assert stream.tell() == 0 and stream.seek(0, os.SEEK_END) == len(DATA) and stream.seek(0) == 0
    first: list[bytes] = []
    _drain(stream, 4096, first)
    second: list[bytes] = []
    _drain(stream, 777, second)  # a retried request reads it all again, hashed afresh
    assert b"".join(second) == DATA and stream.verified
    with pytest.raises(io.UnsupportedOperation):
        stream.seek(5)


def test_finish_checks_what_a_client_left_unread() -> None:
    stream = CheckedStream(io.BytesIO(b"Z" + DATA[1:]), size=len(DATA), expected=SHA, label="t.jsonl")
    stream.read(100)
    with pytest.raises(DataChangedError):
        stream.finish()


# --- the dataset's hash is the hash of the bytes validated --------------------------------------

def _rewrite_keeping_size_and_mtime(path: Path, data: bytes) -> None:
    # The change time (which os.utime cannot put back) is what tells the versions apart without
    # reading them: wait out a coarse file-system clock tick so that it moves.
    time.sleep(0.03)
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size


ROWS = b"".join(b'{"messages":[{"role":"user","content":"q%d"},{"role":"assistant","content":"a"}]}\n' % i
                for i in range(50))


def test_validation_hashes_what_it_reads_and_the_hash_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(ROWS)
    data = Dataset.from_jsonl(path)
    assert data.validated_hash is None
    assert data.validate("sft").valid
    assert data.validated_hash == hashlib.sha256(ROWS).hexdigest()
    from foundry_tune.dataset import _dataset

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was read again")

    monkeypatch.setattr(_dataset, "open_hashing", no_read)
    assert data.content_hash() == data.validated_hash  # from the validation pass


def test_a_same_size_rewrite_with_its_mtime_put_back_gets_a_new_hash(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(ROWS)
    data = Dataset.from_jsonl(path)
    assert data.validate("sft").valid
    old = data.content_hash()
    changed = ROWS.replace(b'"q1"', b'"Q1"', 1)
    _rewrite_keeping_size_and_mtime(path, changed)
    assert data.content_hash() == hashlib.sha256(changed).hexdigest() != old
    assert data.validated_hash == old  # what was validated stays known until the next validation
    assert data.validate("sft").valid and data.validated_hash == data.content_hash()


@pytest.mark.parametrize(("name", "value"), [
    ("parallel_parts", True), ("part_size", 10**400), ("single_request_limit", "100"),
    ("processing_timeout", math.nan), ("not_found_grace", -1.0),
])
def test_the_builders_upload_options_raise_the_typed_error_naming_the_option(name: str,
                                                                            value: object) -> None:
    from foundry_tune._core.spec import JobSpec

    with pytest.raises(InvalidParameterError, match=f"upload option {name} "):
        JobSpec("gpt-4.1-mini").upload_options(**{name: value})


# --- twins: the same content uploaded at the same moment on another machine --------------------

def _twin(file_id: str, created_at: int | None = 100, status: str = "pending") -> FileObject:
    return FileObject.construct(id=file_id, bytes=10, created_at=created_at, filename=MARK, object="file",
                                purpose="fine-tune", status=status)


OURS = _twin("ours")


@pytest.mark.parametrize(("listed", "older"), [
    ([OURS], []),
    ([], []),
    # Another second: created_at decides, whatever the listing order.
    ([OURS, _twin("a", 99)], ["a"]),
    ([_twin("a", 99), OURS], ["a"]),
    ([_twin("b", 101), OURS], []),
    ([OURS, _twin("b", 98), _twin("a", 97)], ["a", "b"]),
    # The same second: the service lists newest first, so listed after ours is older.
    ([_twin("b"), OURS, _twin("a")], ["a"]),
    ([OURS, _twin("b"), _twin("a")], ["a", "b"]),
    ([_twin("b"), _twin("a"), OURS], []),
    # No created_at: the newest.
    ([OURS, _twin("x", None)], []),
    ([OURS, _twin("x", None), _twin("a", 99)], ["a"]),
    # Ours not listed yet: only an earlier second is older (never both racers deleting theirs).
    ([_twin("b"), _twin("a")], []),
    ([_twin("b"), _twin("a", 99)], ["a"]),
])
def test_older_twins_are_the_ones_listed_before_ours_oldest_first(listed: list[FileObject],
                                                                  older: list[str]) -> None:
    assert [f.id for f in older_twins(OURS, listed)] == older


def test_every_racer_agrees_on_the_oldest_twin() -> None:
    # Three uploads in one second, listed newest first: each racer, whichever file is its own,
    # keeps the same one (the oldest), and the oldest one's racer keeps its own.
    listed = [_twin("c"), _twin("b"), _twin("a")]
    keepers = {(older_twins(ours, listed) or [ours])[0].id for ours in listed}
    assert keepers == {"a"}
    # A racer that checked before the younger ones existed kept its own: the later ones agree.
    assert older_twins(listed[2], listed[2:]) == []
    assert [f.id for f in older_twins(listed[0], listed)][:1] == ["a"]


def test_two_racers_that_miss_their_own_file_never_both_give_theirs_up() -> None:
    a, b = _twin("a"), _twin("b")
    gives_up = [bool(older_twins(a, [b])), bool(older_twins(b, [a]))]
    assert gives_up == [False, False]


@pytest.mark.parametrize(("listed", "order"), [
    ([], []),
    ([_twin("c"), _twin("b"), _twin("a")], ["a", "b", "c"]),  # one second: listed later is older
    ([_twin("a", 99), _twin("b", 100)], ["a", "b"]),  # created_at first, whatever the listing order
    ([_twin("x", None), _twin("b", 101), _twin("a")], ["a", "b", "x"]),  # no created_at: the newest
])
def test_reuse_takes_the_oldest_file_the_one_racing_uploads_keep(listed: list[FileObject],
                                                                 order: list[str]) -> None:
    assert [f.id for f in oldest_first(listed)] == order
    # The first one is the file that no racer deletes: none is older than it.
    if listed:
        assert older_twins(oldest_first(listed)[0], listed) == []
