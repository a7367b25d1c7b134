"""Hashing a file while it is read for another purpose (the validation pass), so that the hash is
of exactly the bytes that were checked and the file is not read once more for it.

A file's identity on disk (its *stamp*) is its size, modification and change times, inode and
device. ``os.utime`` can put back a modification time, but not the change time, which every write
and every ``utime`` call moves: a same-size rewrite with its old modification time gets a new
stamp. The stamp only decides whether a hash may be reused without reading the file again; the
upload itself checks the bytes it sends
([`foundry_tune._core.upload.CheckedStream`][_core.upload.CheckedStream]).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["BLOCK", "Stamp", "open_hashing", "stamp_of"]

BLOCK = 1 << 20
"""Bytes read from the disk at a time."""

Stamp = tuple[int, int, int, int, int]


def stamp_of(st: os.stat_result) -> Stamp:
    """What identifies one version of a file on disk without reading it."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class _HashingRaw(io.RawIOBase):
    """A raw file reader that hashes every byte it reads, in order, and reports the digest when the
    file was read to its end from its start (with the file's stamp when it did not change)."""

    def __init__(self, file: io.FileIO, on_end: Callable[[str, Stamp | None], None]) -> None:
        super().__init__()
        self._file = file
        self._digest = hashlib.sha256()
        self._on_end: Callable[[str, Stamp | None], None] | None = on_end
        self._stamp = stamp_of(os.fstat(file.fileno()))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        n = self._file.readinto(buffer)
        if n:
            self._digest.update(memoryview(buffer)[:n])
        elif n == 0 and self._on_end is not None:
            on_end, self._on_end = self._on_end, None
            after = stamp_of(os.fstat(self._file.fileno()))
            on_end(self._digest.hexdigest(), self._stamp if after == self._stamp else None)
        return n if n is not None else 0

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            super().close()


def open_hashing(path: Path, on_end: Callable[[str, Stamp | None], None]) -> IO[bytes]:
    """``path`` opened for reading (buffered, binary); when it has been read to the end,
    ``on_end(sha256_hex, stamp)`` is called once, ``stamp`` being None when the file changed on
    disk while it was read. Raises ``OSError`` as ``open`` does."""
    file = io.FileIO(path, "rb")
    try:
        raw = _HashingRaw(file, on_end)
    except BaseException:
        file.close()
        raise
    return io.BufferedReader(raw, buffer_size=BLOCK)
