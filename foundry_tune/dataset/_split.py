"""Deterministic train/validation split in two streaming passes.

Each line gets a key: a seeded hash of its JSON text. The ``k`` lines with the smallest keys
(``k = round(n * validation)``) form the validation part. Equal lines have equal keys, so a
repeated example always lands on one side; memory is one 8-byte key per line.

When a part would hold fewer examples than the service takes in a file (10), the split says so
and which fraction gives enough (`SplitResult`).
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import math
import os
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import IO

from foundry_tune.dataset._reader import iter_chunks, parse_line
from foundry_tune.dataset._spool import new_temp_file, remove_quietly
from foundry_tune.dataset._validator import MIN_EXAMPLES
from foundry_tune.errors import DatasetError, InvalidParameterError

__all__ = ["SplitResult", "split_file"]


@dataclasses.dataclass(frozen=True)
class SplitResult:
    """The two parts of a split, their sizes, and what to do when one is too small for the service."""

    train: Path
    validation: Path
    train_examples: int
    validation_examples: int
    advice: str | None
    """None when both parts have at least `MIN_EXAMPLES` examples; otherwise what to do
    ("use validation=0.12 or more", or add examples when no fraction gives both parts enough)."""

    def shortfall(self, name: str, validation: float, seed: int) -> str | None:
        """The warning for a split of ``name`` with a part under the minimum, or None."""
        if self.advice is None:
            return None
        short = [(part, n) for part, n in (("training", self.train_examples),
                                            ("validation", self.validation_examples)) if n < MIN_EXAMPLES]
        if len(short) == 2:
            parts = (f"the training part has {self.train_examples} and the validation part "
                     f"{self.validation_examples} examples")
        else:
            part, n = short[0]
            parts = f"the {part} part has {n} example{'' if n == 1 else 's'}"
        return (f"{name} split(validation={float(validation)!r}, seed={seed}): {parts}; the service needs "
                f"at least {MIN_EXAMPLES} examples in each file: {self.advice}")

    def part_advice(self, part: str, name: str, validation: float, seed: int) -> str | None:
        """What the too-few-examples finding of the ``part`` ("training", "validation") says to do."""
        n = self.train_examples if part == "training" else self.validation_examples
        if self.advice is None or n >= MIN_EXAMPLES:
            return None
        where = "in split() " if self.advice.startswith("use validation=") else ""
        return (f"{self.advice} {where}(this file is the {part} part of {name} "
                f"split(validation={float(validation)!r}, seed={seed}))")


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


def _sizes(ordered: list[int], validation: float) -> tuple[int, int] | None:
    """(training, validation) sizes of a split of these sorted keys at ``validation``."""
    threshold = _threshold(ordered, validation)
    if threshold is None:
        return None
    size = bisect.bisect_right(ordered, threshold)
    return len(ordered) - size, size


def _advice(ordered: list[int], n_train: int, n_valid: int) -> str | None:
    """The nearest fraction (in hundredths) that gives both parts `MIN_EXAMPLES`, as advice;
    None when both already have enough."""
    if n_train >= MIN_EXAMPLES and n_valid >= MIN_EXAMPLES:
        return None
    n = len(ordered)
    if n >= 2 * MIN_EXAMPLES:
        # Start where rounding n * fraction first gives enough, then walk (duplicates move the cut).
        if n_valid < MIN_EXAMPLES:
            start, step, word = max(math.ceil((MIN_EXAMPLES - 0.5) / n * 100), 1), 1, "more"
        else:
            start, step, word = min(math.floor((n - MIN_EXAMPLES) / n * 100), 99), -1, "less"
        for hundredths in range(start, 100 if step > 0 else 0, step):
            sizes = _sizes(ordered, hundredths / 100)
            if sizes is not None and min(sizes) >= MIN_EXAMPLES:
                return f"use validation={hundredths / 100:g} or {word}"
    if n < MIN_EXAMPLES:
        return f"add examples: even unsplit, {n} is too few"
    return (f"no split of {n} examples gives both parts {MIN_EXAMPLES} (a split needs at least "
            f"{2 * MIN_EXAMPLES} different examples): add examples, or train on all {n} without a "
            "validation file")


def split_file(
    open_stream: Callable[[], IO[bytes]], name: str, validation: float, seed: int
) -> SplitResult:
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
    ordered = sorted(keys)
    del keys
    threshold = _threshold(ordered, validation)
    if threshold is None:
        raise DatasetError(f"{name}: every example is the same, so no split can keep the parts apart")
    n_valid = bisect.bisect_right(ordered, threshold)
    advice = _advice(ordered, n - n_valid, n_valid)
    del ordered
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
    return SplitResult(train_path, valid_path, n - n_valid, n_valid, advice)
