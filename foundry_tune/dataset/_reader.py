"""Streaming JSONL reading: one line at a time, in bounded chunks, never the whole file.

Tolerated: a UTF-8 byte order mark at the start, CRLF line ends, no final newline.
Blank (whitespace-only) lines are skipped: they are not examples, but line numbers still count
them, so every reported line number is the one an editor shows.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from foundry_tune.dataset._findings import describe_type

__all__ = ["BOM", "Line", "ParsedLine", "iter_chunks", "iter_lines", "parse_line", "strip_line"]

BOM = b"\xef\xbb\xbf"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class Line(NamedTuple):
    """One physical line: its 1-based number and its bytes without the line end (and BOM)."""

    number: int
    data: bytes

    @property
    def blank(self) -> bool:
        """Whether the line holds only whitespace."""
        return not self.data.strip()


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


def iter_lines(stream: IO[bytes]) -> Iterator[Line]:
    """Every physical line of a binary stream, numbered from 1."""
    for number, raw in enumerate(stream, 1):
        yield Line(number, strip_line(raw, number == 1))


def iter_chunks(stream: IO[bytes], size: int = 512) -> Iterator[list[Line]]:
    """The lines of ``stream`` in lists of at most ``size``: the validator's unit of work."""
    chunk: list[Line] = []
    for line in iter_lines(stream):
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (write null or a number)")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


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
    if _SURROGATE_ESCAPE.search(data) and _has_lone_surrogate(value):
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
