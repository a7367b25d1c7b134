"""A streaming ``multipart/form-data`` reader: file parts go straight to disk, chunk by chunk.

Starlette's own form parser needs the optional ``python-multipart`` package and keeps a spooled
copy; this one writes each file part to its destination as the bytes arrive, so a 64 MB part never
sits in memory and the size limit is enforced while reading.

What a client can make the reader hold is bounded: at most [`MAX_PARTS`][MAX_PARTS] parts, text fields of
[`MAX_FIELD_BYTES`][MAX_FIELD_BYTES] each and [`MAX_FIELDS_BYTES`][MAX_FIELDS_BYTES] together, the file parts
together within
the caller's limit, and each part name once (a repeated name is refused: which copy a server keeps
differs between servers, so no client may rely on it). Whenever a request is refused, the files it
had already written are deleted.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from foundry_tune.emulator._errors import ApiError, invalid

MAX_FIELD_BYTES = 64 * 1024
"""Largest text field (400 above)."""
MAX_FIELDS_BYTES = 256 * 1024
"""Largest total of a request's text fields (413 above)."""
MAX_PARTS = 16
"""Most parts, text and file, in one request (400 above); the Files API needs two (``purpose`` and
``file``), a part upload one (``data``)."""
_MAX_HEADERS = 16 * 1024


@dataclasses.dataclass
class FilePart:
    """A file part written to ``path``."""

    filename: str
    path: Path
    size: int
    content_type: str | None


@dataclasses.dataclass
class Form:
    """The text fields and the file parts of one request."""

    fields: dict[str, str]
    files: dict[str, FilePart]


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a multipart content type (400 when missing)."""
    main, _, params = content_type.partition(";")
    if main.strip().lower() != "multipart/form-data":
        raise invalid("Expected a multipart/form-data body.", code="invalid_content_type")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise invalid("The multipart body has no boundary.", code="invalid_content_type")


def _disposition(headers: dict[str, str]) -> tuple[str, str | None]:
    value = headers.get("content-disposition", "")
    name: str | None = None
    filename: str | None = None
    for item in value.split(";")[1:]:
        key, _, raw = item.strip().partition("=")
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"'):
            raw = raw[1:-1]
        if key.lower() == "name":
            name = raw
        elif key.lower() == "filename":
            filename = raw
    if name is None:
        raise invalid("A multipart part has no name.")
    return name, filename


class _Parser:
    def __init__(self, boundary: bytes, tmp_dir: Path, max_file_bytes: int) -> None:
        self.first = b"--" + boundary
        self.delim = b"\r\n--" + boundary
        self.tmp_dir = tmp_dir
        self.max_file_bytes = max_file_bytes
        self.buf = bytearray()
        self.state = "preamble"
        self.fields: dict[str, str] = {}
        self.files: dict[str, FilePart] = {}
        self._name = ""
        self._field = bytearray()
        self._sink: BinaryIO | None = None
        self._part: FilePart | None = None
        self._parts = 0
        self._field_bytes = 0
        self._file_bytes = 0

    def feed(self, chunk: bytes) -> None:
        if self.state == "done":  # the epilogue after the closing delimiter is ignored, not kept
            return
        self.buf += chunk
        progressed = True
        while progressed and self.state != "done":
            progressed = getattr(self, f"_{self.state}")()

    def _preamble(self) -> bool:
        at = self.buf.find(self.first)
        if at < 0:  # keep only what may be the start of the delimiter, not the whole preamble
            del self.buf[: max(0, len(self.buf) - len(self.first) + 1)]
            return False
        del self.buf[: at + len(self.first)]
        self.state = "after_delim"
        return True

    def _after_delim(self) -> bool:
        if len(self.buf) < 2:
            return False
        if self.buf[:2] == b"--":
            self.state = "done"
            return False
        if self.buf[:2] != b"\r\n":
            raise invalid("Malformed multipart body.")
        del self.buf[:2]
        self.state = "headers"
        return True

    def _headers(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > _MAX_HEADERS:
                raise invalid("Multipart part headers are too large.")
            return False
        headers: dict[str, str] = {}
        for line in bytes(self.buf[:end]).decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        del self.buf[: end + 4]
        self._name, filename = _disposition(headers)
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise invalid(f"The form has more than {MAX_PARTS} parts.", code="too_many_parts")
        if self._name in self.fields or self._name in self.files:
            raise invalid(
                f"The form has more than one '{self._name[:100]}' part: send each field once.",
                param=self._name[:100],
            )
        if filename is not None:
            path = self.tmp_dir / f"incoming-{uuid.uuid4().hex}"
            self._sink = path.open("wb")
            self._part = FilePart(filename, path, 0, headers.get("content-type"))
        else:
            self._field = bytearray()
        self.state = "body"
        return True

    def _emit(self, data: bytes | bytearray) -> None:
        name = self._name[:100]
        if self._sink is not None and self._part is not None:
            self._part.size += len(data)
            self._file_bytes += len(data)
            if self._part.size > self.max_file_bytes:
                raise ApiError(
                    413,
                    f"The file part '{name}' exceeds the limit of {self.max_file_bytes} bytes.",
                    code="file_too_large",
                    param=name,
                )
            if self._file_bytes > self.max_file_bytes:
                raise ApiError(
                    413,
                    f"The file parts together exceed the limit of {self.max_file_bytes} bytes.",
                    code="file_too_large",
                    param=name,
                )
            self._sink.write(data)
        else:
            self._field += data
            self._field_bytes += len(data)
            if len(self._field) > MAX_FIELD_BYTES:
                raise invalid(
                    f"The form field '{name}' exceeds the limit of {MAX_FIELD_BYTES} bytes.", param=name
                )
            if self._field_bytes > MAX_FIELDS_BYTES:
                raise ApiError(
                    413,
                    f"The form's text fields together exceed the limit of {MAX_FIELDS_BYTES} bytes.",
                    code="request_too_large",
                    param=name,
                )

    def _body(self) -> bool:
        at = self.buf.find(self.delim)
        if at < 0:
            keep = len(self.delim) - 1
            if len(self.buf) > keep:
                self._emit(self.buf[: len(self.buf) - keep])
                del self.buf[: len(self.buf) - keep]
            return False
        self._emit(self.buf[:at])
        del self.buf[: at + len(self.delim)]
        if self._sink is not None and self._part is not None:
            self._sink.close()
            self._sink = None
            self.files[self._name] = self._part
            self._part = None
        else:
            self.fields[self._name] = bytes(self._field).decode("utf-8", "replace")
        self.state = "after_delim"
        return True

    def abort(self) -> None:
        """Delete every file this request wrote (it is being refused)."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._part is not None:
            self._part.path.unlink(missing_ok=True)
            self._part = None
        for part in self.files.values():
            part.path.unlink(missing_ok=True)
        self.files.clear()


async def read_form(
    content_type: str, stream: AsyncIterator[bytes], tmp_dir: Path, max_file_bytes: int
) -> Form:
    """Read a multipart body from ``stream``, writing file parts under ``tmp_dir``.

    The caller owns (and must move or delete) the files of the returned form.
    """
    parser = _Parser(boundary_of(content_type), tmp_dir, max_file_bytes)
    try:
        async for chunk in stream:
            parser.feed(chunk)
        if parser.state != "done":
            raise invalid("The multipart body ended early.")
    except BaseException:
        parser.abort()
        raise
    return Form(parser.fields, parser.files)
