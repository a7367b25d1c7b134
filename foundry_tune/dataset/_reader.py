"""Streaming JSONL reading: one line at a time, in bounded chunks, never the whole file.

Tolerated: a UTF-8 byte order mark at the start, CRLF line ends, no final newline.
Blank (whitespace-only) lines are skipped: they are not examples, but line numbers still count
them, so every reported line number is the one an editor shows.

A line is never held whole when it is over [`MAX_LINE_BYTES`][MAX_LINE_BYTES]: it is read in
[`READ_CHUNK`][READ_CHUNK] pieces, kept only up to the cap, then only counted up to its newline, and
comes out as a [`Line`][Line] with ``too_long`` set (``file.line_too_long``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from typing import IO, Any, NamedTuple

from foundry_tune.dataset._findings import describe_type

__all__ = [
    "BOM",
    "LINE_TOO_LONG",
    "MAX_LINE_BYTES",
    "READ_CHUNK",
    "SURROGATE_ESCAPE",
    "Line",
    "ParsedLine",
    "iter_chunks",
    "iter_lines",
    "json_scanner",
    "native_loads",
    "parse_line",
    "strip_line",
]

BOM = b"\xef\xbb\xbf"
LINE_TOO_LONG = "file.line_too_long"

MAX_LINE_BYTES = 1 << 30
"""The longest line read (1 GiB, line end and BOM not counted): above any valid example.
Azure's vision fine-tuning allows 64 images of at most 10 MB per example, as base64 data URLs
64 x 13,981,016 bytes (853 MiB for 10 MiB images), and the rest of an example is bounded by the
model's token limit; the Files API's 512 MB per file is not a bound, as the Uploads API takes
files up to 8 GB. A longer line is a binary file, or a file whose line breaks are missing."""

READ_CHUNK = 1 << 20
"""Lines up to this size are read in one call; longer ones in pieces of this size."""
_SURROGATE_ESCAPE = SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A ``\\uD800``-``\\uDFFF`` escape (maybe a lone surrogate, which is not valid text)."""


class Line(NamedTuple):
    """One physical line: its 1-based number and its bytes without the line end (and BOM)."""

    number: int
    data: bytes
    too_long: str | None = None
    """Why the line was skipped unread (it is over the line cap; ``data`` is then empty)."""

    @property
    def blank(self) -> bool:
        """Whether the line holds only whitespace."""
        data = self.data
        return (not data or data.isspace()) and self.too_long is None


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedLine:
    """A decoded line: ``record`` when it is a JSON object, else a problem ``code`` and ``message``."""

    record: dict[str, Any] | None
    code: str | None = None
    message: str | None = None


def strip_line(raw: bytes, first: bool) -> bytes:
    """Drop the line end (LF or CRLF) and, on the first line, a UTF-8 byte order mark."""
    if first and raw.startswith(BOM):
        raw = raw[len(BOM) :]
    return raw.rstrip(b"\r\n")


def iter_lines(stream: IO[bytes], max_bytes: int = MAX_LINE_BYTES, *,
               file_start: bool = True) -> Iterator[Line]:
    """Every physical line of a binary stream, numbered from 1; one over ``max_bytes`` bytes comes
    with ``too_long`` set, and at most ``max_bytes`` + [`READ_CHUNK`][READ_CHUNK] bytes of it are ever
    held. ``file_start`` False: the stream is a part of a file that starts after its first byte (a
    byte order mark there is data, not a BOM); its lines are still numbered from 1."""
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
    readline = stream.readline
    # A read shorter than READ_CHUNK ends at a newline or the end of the file: a whole line.
    whole = min(max_bytes, READ_CHUNK - 1)
    raw = readline(READ_CHUNK)
    if not raw:
        return
    if file_start or len(raw) > whole:
        yield _read_on(readline, raw, 1, max_bytes, at_start=file_start)
    else:
        yield Line(1, raw.rstrip(b"\r\n"))
    number = 1
    while raw := readline(READ_CHUNK):
        number += 1
        if len(raw) > whole:
            yield _read_on(readline, raw, number, max_bytes)
        else:
            yield Line(number, raw.rstrip(b"\r\n"))


def _read_on(readline: Callable[[int], bytes], start: bytes, number: int, max_bytes: int,
             *, at_start: bool = True) -> Line:
    """The line that begins with ``start``: read on to its newline, keeping its bytes while they fit
    under the cap (plus a BOM and a CRLF) and only counting them after that. ``at_start`` False: a byte
    order mark on line 1 is data (the stream is a part of a file, not its start)."""
    first = number == 1 and at_start
    bom = len(BOM) if first and start.startswith(BOM) else 0
    room = bom + max_bytes + 2
    kept: list[bytes] | None = [start]
    size = len(start)
    part = start
    tail = start[-2:]
    while part and not part.endswith(b"\n"):
        part = readline(READ_CHUNK)
        size += len(part)
        tail = (tail + part)[-2:]
        if kept is not None:
            if size > room:
                kept = None
            else:
                kept.append(part)
    if kept is not None:
        data = strip_line(kept[0] if len(kept) == 1 else b"".join(kept), first)
        if len(data) <= max_bytes:
            return Line(number, data)
        size = len(data)
    else:
        size -= bom + (2 if tail == b"\r\n" else 1 if tail.endswith(b"\n") else 0)
    return Line(
        number,
        b"",
        f"the line is {size:,} bytes, over the {max_bytes:,}-byte limit per line (larger than any "
        "valid example), so it was skipped: each example must be one JSON object on a line of its "
        "own; check that this is a JSONL file and that its line breaks are intact",
    )


def iter_chunks(stream: IO[bytes], size: int = 512, max_bytes: int = MAX_LINE_BYTES, *,
                file_start: bool = True) -> Iterator[list[Line]]:
    """The lines of ``stream`` in lists of at most ``size``: the validator's unit of work
    (``file_start`` as for [`iter_lines()`][iter_lines])."""
    # iter_lines() unrolled here (one generator instead of two: this is the validator's hot loop).
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
    size = max(size, 1)
    readline = stream.readline
    whole = min(max_bytes, READ_CHUNK - 1)
    raw = readline(READ_CHUNK)
    if not raw:
        return
    if file_start or len(raw) > whole:
        chunk = [_read_on(readline, raw, 1, max_bytes, at_start=file_start)]
    else:
        chunk = [Line(1, raw.rstrip(b"\r\n"))]
    append = chunk.append
    number = 1
    while raw := readline(READ_CHUNK):
        if len(chunk) >= size:
            yield chunk
            chunk = []
            append = chunk.append
        number += 1
        if len(raw) > whole:
            append(_read_on(readline, raw, number, max_bytes))
        else:
            append(Line(number, raw.rstrip(b"\r\n")))
    yield chunk


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (write null or a number)")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def json_scanner() -> Callable[[str, int], tuple[Any, int]]:
    """``scan(text, index)``: the JSON value at ``index`` of ``text`` and where it ends, decoded
    as [`parse_line()`][parse_line] decodes (NaN and Infinity refused); raises ``StopIteration``
    or ``ValueError`` on invalid JSON."""
    scan: Callable[[str, int], tuple[Any, int]] = getattr(_DECODER, "scan_once")  # noqa: B009 (untyped)
    return scan


def native_loads() -> Callable[[bytes], Any] | None:
    """``orjson.loads`` when orjson is installed (the ``fast`` extra), else None.

    It parses about twice as fast as the standard library but is not the same parser: it reads
    integers of more than 64 bits as floats and refuses what Python's reads as infinity. Use it
    only where neither can matter (see ``foundry_tune.dataset._validator``)."""
    try:
        import orjson
    except ImportError:
        return None
    loads: Callable[[bytes], Any] = orjson.loads
    return loads


def parse_line(data: bytes) -> ParsedLine:
    """Decode one non-blank line as UTF-8 JSON holding an object."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParsedLine(
            None,
            "file.encoding",
            f"byte 0x{data[exc.start]:02x} at column {exc.start + 1} is not valid UTF-8: "
            "save the file as UTF-8",
        )
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        hint = ""
        if text.lstrip().startswith(("{", "[")) and exc.msg.startswith(("Expecting", "Unterminated")):
            hint = " (each line must hold one complete JSON object: pretty-printed JSON is not JSONL)"
        return ParsedLine(None, "file.invalid_json", f"invalid JSON at column {exc.colno}: {exc.msg}{hint}")
    except ValueError as exc:
        return ParsedLine(None, "file.invalid_json", f"invalid JSON: {exc}")
    except RecursionError:
        return ParsedLine(None, "file.invalid_json", "invalid JSON: nested too deeply")
    if not isinstance(value, dict):
        return ParsedLine(
            None,
            "file.not_object",
            f"the line is {describe_type(value)}, not an object: each line must be one example "
            'like {"messages": [...]}',
        )
    if b"\\u" in data and _SURROGATE_ESCAPE.search(data) and _has_lone_surrogate(value):
        return ParsedLine(
            None,
            "file.encoding",
            "the line escapes an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is not valid "
            "Unicode text: fix or remove the escape",
        )
    return ParsedLine(value)


def _has_lone_surrogate(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
