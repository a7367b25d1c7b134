"""Writing records as canonical JSONL to a private temporary file, one record at a time.

Canonical form: compact separators, UTF-8 (``ensure_ascii=False``), keys in the record's
order, one ``\\n`` after every line. The file's bytes are exactly what gets uploaded.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from foundry_tune.errors import DatasetError

__all__ = ["canonical_line", "new_temp_file", "plain", "remove_quietly", "spool_records"]


def new_temp_file(name: str) -> tuple[int, Path]:
    """A new private temporary file (descriptor and path) whose name ends like ``name``."""
    stem = Path(name).stem[:40] or "dataset"
    fd, path = tempfile.mkstemp(prefix=f"foundry-tune-{stem}-", suffix=".jsonl")
    return fd, Path(path)


def remove_quietly(path: Path) -> None:
    """Delete a temporary file, ignoring a file already gone."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def is_missing(value: object) -> bool:
    """None, NaN, and pandas' NA / NaT: a cell with no value."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def plain(value: object, *, drop_none: bool = False) -> Any:
    """Turn numpy / pandas / Arrow values into plain JSON values (arrays to lists, scalars to
    Python numbers). ``drop_none`` removes keys whose value is None, as Arrow-backed data fills
    every struct field it does not have with None."""
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {
            str(k): plain(v, drop_none=drop_none) for k, v in value.items() if not (drop_none and v is None)
        }
    if isinstance(value, (list, tuple)):
        return [plain(v, drop_none=drop_none) for v in value]
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return plain(tolist(), drop_none=drop_none)
    item = getattr(value, "item", None)
    if callable(item):
        return plain(item(), drop_none=drop_none)
    return value


def canonical_line(record: object, index: int) -> bytes:
    """One record as its canonical JSONL line (with the ``\\n``)."""
    if not isinstance(record, Mapping):
        raise DatasetError(
            f"record {index} is a {type(record).__name__}, not a dict: each record must be one example "
            "like {'messages': [...]}"
        )
    try:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"record {index} cannot be written as JSON: {exc}") from None
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError as exc:
        raise DatasetError(f"record {index} holds text that is not valid Unicode: {exc.reason}") from None


def spool_records(records: Iterable[object], name: str) -> Path:
    """Write ``records`` to a new temporary JSONL file and return its path (removed on error)."""
    fd, path = new_temp_file(name)
    try:
        with os.fdopen(fd, "wb") as out:
            for index, record in enumerate(records):
                out.write(canonical_line(record, index))
    except BaseException:
        remove_quietly(path)
        raise
    return path
