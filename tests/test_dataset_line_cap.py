"""Lines over the line cap: reported as ``file.line_too_long`` and skipped in bounded pieces.

The cap is lowered through ``Check.max_line_bytes`` / ``iter_lines(max_bytes=...)`` so that the
tests never need a gigabyte; the reading pattern is checked on a stream that produces its bytes
on demand and refuses any unbounded read.
"""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _dataset_helpers import good_file, line, sft, write_lines
from hypothesis import given, settings
from hypothesis import strategies as st

from foundry_tune._method_kind import MethodKind
from foundry_tune.dataset import validate_file
from foundry_tune.dataset._reader import (
    BOM,
    LINE_TOO_LONG,
    MAX_LINE_BYTES,
    READ_CHUNK,
    iter_chunks,
    iter_lines,
)
from foundry_tune.dataset._validator import Check, run_validation

CAP = 4096


def _validate(path: Path, cap: int = CAP, method: MethodKind | None = MethodKind.SUPERVISED) -> Any:
    return run_validation(lambda: path.open("rb"), str(path), Check(method, max_line_bytes=cap))


def test_the_default_cap_fits_the_largest_vision_example_azure_allows() -> None:
    # Azure: at most 64 images per example, 10 MB each; as base64 data URLs in image parts.
    part = len('{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,"}}, ')
    image = (10 * 1024 * 1024 + 2) // 3 * 4
    text = 1_000_000  # messages around the images, far more than a token limit allows
    assert 64 * (part + image) + text <= MAX_LINE_BYTES


def test_an_over_long_line_mid_file_is_reported_and_the_rest_still_validated(tmp_path: Path) -> None:
    lines: list[str | bytes] = [line(sft(i)) for i in range(14)]
    lines[4] = b"\x00\xff" * 5000  # binary junk, no newline inside: 10,000 bytes
    lines[7] = line({"messages": []})  # a real problem after it must still be found
    lines[9] = b"x" * (CAP + 1)  # one byte over
    report = _validate(write_lines(tmp_path / "t.jsonl", lines))
    by_line = {issue.line: issue for issue in report.errors}
    assert sorted(by_line) == [5, 8, 10]
    assert by_line[5].code == by_line[10].code == LINE_TOO_LONG
    assert "10,000 bytes" in by_line[5].message and "4,096-byte limit" in by_line[5].message
    assert "4,097 bytes" in by_line[10].message
    assert "JSONL" in by_line[5].message  # says what to do
    assert by_line[8].code == "sft.messages_invalid"
    assert report.examples == 14 and not report.valid
    assert report.tokens is not None and report.tokens.examples == 11  # every good line was counted
    assert not [w for w in report.warnings if w.code == "data.duplicate"]  # skipped lines have no content


def test_a_line_at_the_cap_passes_with_bom_and_crlf(tmp_path: Path) -> None:
    padded = sft(0)
    padded["messages"][0]["content"] += " " * (CAP - len(line(padded).encode()))
    exact = line(padded).encode()
    assert len(exact) == CAP
    body = [exact] + [line(sft(i)).encode() for i in range(1, 12)]
    path = tmp_path / "t.jsonl"
    path.write_bytes(BOM + b"\r\n".join(body))  # BOM, CRLF, no final newline
    report = _validate(path)
    assert report.valid, report.errors
    assert report.examples == 12


def test_an_over_long_last_line_without_newline_is_sized_exactly(tmp_path: Path) -> None:
    path = good_file(tmp_path / "t.jsonl", "sft")
    with path.open("ab") as f:
        f.write(b"y" * (READ_CHUNK * 2 + 17))
    report = _validate(path, method=None)
    assert [(e.line, e.code) for e in report.errors] == [(13, LINE_TOO_LONG)]
    assert f"{READ_CHUNK * 2 + 17:,} bytes" in report.errors[0].message


@pytest.mark.parametrize("length", [READ_CHUNK - 2, READ_CHUNK - 1, READ_CHUNK, READ_CHUNK * 2 + 5])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_long_lines_under_the_cap_are_read_whole(length: int, newline: bytes) -> None:
    long = b"z" * length
    data = BOM + long + newline + b"short" + newline + long + newline + b"end"
    lines = list(iter_lines(io.BytesIO(data), max_bytes=READ_CHUNK * 3))
    assert [(x.number, x.data, x.too_long) for x in lines] == [
        (1, long, None),
        (2, b"short", None),
        (3, long, None),
        (4, b"end", None),
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_the_size_excludes_the_line_end_and_the_bom(newline: bytes) -> None:
    data = BOM + b"a" * 100 + newline + b"b" * 101 + newline + b"c" * 100 + newline + b"\n"
    data += b"d" * (READ_CHUNK + 500) + newline + b"e"
    lines = list(iter_lines(io.BytesIO(data), max_bytes=100))
    assert [x.data for x in lines] == [b"a" * 100, b"", b"c" * 100, b"", b"", b"e"]
    assert [x.blank for x in lines] == [False, False, False, True, False, False]
    assert lines[1].too_long is not None and "101 bytes, over the 100-byte limit" in lines[1].too_long
    assert lines[4].too_long is not None and f"{READ_CHUNK + 500:,} bytes" in lines[4].too_long


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_an_over_long_first_line_is_sized_without_its_bom(newline: bytes) -> None:
    data = BOM + b"a" * (READ_CHUNK * 2) + newline + b"next"
    lines = list(iter_lines(io.BytesIO(data), max_bytes=1000))
    assert [(x.number, x.data) for x in lines] == [(1, b""), (2, b"next")]
    assert lines[0].too_long is not None and f" {READ_CHUNK * 2:,} bytes" in lines[0].too_long


class _OnDemandFile:
    """A file of good lines with one huge line made of bytes produced only when asked for.

    It supports ``readline(size)`` with a bounded size only: iterating, ``read()`` or an
    unbounded ``readline()`` (what reading a line whole needs) fail the test.
    """

    def __init__(self, huge: int, at: int = 5, n: int = 12) -> None:
        self._parts = self._lines(huge, at, n)
        self._pending = b""
        self.requests: list[int] = []

    @staticmethod
    def _lines(huge: int, at: int, n: int) -> Iterator[bytes]:
        for i in range(n):
            if i == at - 1:
                left = huge
                while left:
                    take = min(left, READ_CHUNK)
                    left -= take
                    yield b"\x00" * take
                yield b"\n"
            else:
                yield (line(sft(i)) + "\n").encode()

    def readline(self, size: int = -1) -> bytes:
        assert 0 < size <= READ_CHUNK, f"unbounded read: readline({size})"
        self.requests.append(size)
        out = b""
        while len(out) < size:
            if not self._pending:
                self._pending = next(self._parts, b"")
                if not self._pending:
                    break
            room = size - len(out)
            cut = self._pending.find(b"\n", 0, room)
            take = cut + 1 if cut >= 0 else room
            out += self._pending[:take]
            self._pending = self._pending[take:]
            if out.endswith(b"\n"):
                break
        return out

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("read() is not how lines are read")

    def __iter__(self) -> Iterator[bytes]:
        raise AssertionError("iterating reads each line whole")

    def __enter__(self) -> _OnDemandFile:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_huge_line_is_skipped_in_bounded_pieces_never_held_whole() -> None:
    huge = 64 * 1024 * 1024
    opened: list[_OnDemandFile] = []

    def open_stream() -> Any:
        opened.append(_OnDemandFile(huge))
        return opened[-1]

    tracemalloc.start()
    try:
        report = run_validation(open_stream, "virtual.jsonl", Check(None, max_line_bytes=CAP))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(e.line, e.code) for e in report.errors] == [(5, LINE_TOO_LONG)]
    assert f"{huge:,} bytes" in report.errors[0].message
    assert report.method is MethodKind.SUPERVISED and report.examples == 12
    assert report.tokens is not None and report.tokens.examples == 11
    assert opened and max(max(f.requests) for f in opened) <= READ_CHUNK
    assert peak < 8 * READ_CHUNK, f"peak {peak:,} bytes while skipping a {huge:,}-byte line"


def test_the_public_validator_accepts_bom_crlf_files_as_before(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(BOM + b"\r\n".join(line(sft(i)).encode() for i in range(12)) + b"\r\n")
    report = validate_file(path, "sft")
    assert report.valid and report.examples == 12


_PIECES = [b"{}", b'{"a": 1}', b"", b" ", b"\r", b"\t", BOM, b"x" * 150, b"y" * (READ_CHUNK + 5), b"\xff",
           b"z"]


@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=12),
       ends=st.lists(st.sampled_from([b"\n", b"\r\n", b""]), min_size=12, max_size=12),
       size=st.integers(1, 4),
       max_bytes=st.sampled_from([1, 100, READ_CHUNK - 1, READ_CHUNK, MAX_LINE_BYTES]),
       file_start=st.booleans())
@settings(max_examples=150, deadline=None)
def test_chunks_hold_the_same_lines_as_iter_lines(pieces: list[bytes], ends: list[bytes], size: int,
                                                  max_bytes: int, file_start: bool) -> None:
    """``iter_chunks`` repeats ``iter_lines``'s start for speed: both give the same lines."""
    data = b"".join(piece + end for piece, end in zip(pieces, ends, strict=False))
    expected = list(iter_lines(io.BytesIO(data), max_bytes, file_start=file_start))
    chunks = list(iter_chunks(io.BytesIO(data), size, max_bytes, file_start=file_start))
    assert [line for chunk in chunks for line in chunk] == expected
    assert all(0 < len(chunk) <= size for chunk in chunks[:-1])
