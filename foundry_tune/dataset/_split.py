"""Deterministic train/validation split in two streaming passes.

Each line gets a key: a seeded hash of its JSON text. The ``k`` lines with the smallest keys
(``k = round(n * validation)``) form the validation part. Equal lines have equal keys, so a
repeated example always lands on one side; memory is one 8-byte key per line.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import IO

from foundry_tune.dataset._reader import iter_chunks, parse_line
from foundry_tune.dataset._spool import new_temp_file, remove_quietly
from foundry_tune.errors import DatasetError, InvalidParameterError

__all__ = ["split_file"]


def _key(data: bytes, seed: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data.strip(), digest_size=8, key=seed).digest(), "little")


def _threshold(ordered: list[int], validation: float) -> int | None:
    """The largest key of the validation part: the cut between two different keys whose size is
    closest to ``n * validation`` (at least 1, at most n - 1), or None when all keys are equal."""
    n = len(ordered)
    target = min(max(round(n * validation), 1), n - 1)
    best: int | None = None
    for size in range(1, n):
        if ordered[size - 1] != ordered[size] and (best is None or abs(size - target) < abs(best - target)):
            best = size
            if size >= target:
                break
    return None if best is None else ordered[best - 1]


def split_file(
    open_stream: Callable[[], IO[bytes]], name: str, validation: float, seed: int
) -> tuple[Path, Path]:
    """Write the (train, validation) parts of a JSONL source to two new temporary files."""
    if isinstance(validation, bool) or not isinstance(validation, (int, float)) or not 0 < validation < 1:
        raise InvalidParameterError(f"validation must be a fraction between 0 and 1, got {validation!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        shown = repr(seed) if not isinstance(seed, int) or seed.bit_length() <= 64 else "<a huge integer>"
        raise InvalidParameterError(f"seed must be a whole number from 0 to 2**63 - 1, got {shown}")
    seed_bytes = str(seed).encode()
    keys: array[int] = array("Q")
    with open_stream() as stream:
        for chunk in iter_chunks(stream):
            for line in chunk:
                if line.blank:
                    continue
                problem = line.too_long if line.too_long is not None else parse_line(line.data).message
                if problem is not None:
                    raise DatasetError(f"{name}, line {line.number}: {problem} (validate the file first)")
                keys.append(_key(line.data, seed_bytes))
    n = len(keys)
    if n < 2:
        raise DatasetError(f"{name} has {n} example(s): a split needs at least 2")
    threshold = _threshold(sorted(keys), validation)
    if threshold is None:
        raise DatasetError(f"{name}: every example is the same, so no split can keep the parts apart")
    del keys
    train_fd, train_path = new_temp_file(f"{name}-train")
    valid_fd, valid_path = new_temp_file(f"{name}-validation")
    try:
        with os.fdopen(train_fd, "wb") as train, os.fdopen(valid_fd, "wb") as valid, open_stream() as stream:
            for chunk in iter_chunks(stream):
                for line in chunk:
                    if not line.blank:
                        target = valid if _key(line.data, seed_bytes) <= threshold else train
                        target.write(line.data + b"\n")
    except BaseException:
        remove_quietly(train_path)
        remove_quietly(valid_path)
        raise
    return train_path, valid_path
