"""Bounds on user-given JSON (grader definitions, response formats, grader inputs): how deep it
may nest and which numbers it may hold, checked without recursion so that a pathological input
is refused with a message instead of a ``RecursionError``, ``OverflowError`` or ``MemoryError``."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["MAX_JSON_DEPTH", "json_problem", "parse_json"]

MAX_JSON_DEPTH = 64
"""How deeply grader JSON (and a response format) may nest; real graders use about ten levels."""
_MAX_JSON_INT = 2**63 - 1  # the service's widest integer
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class _JSONProblem(ValueError):
    """Raised by the JSON parser's hooks; its message names the problem."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not -_MAX_JSON_INT - 1 <= int(text) <= _MAX_JSON_INT:
        shown = text if len(text) <= 24 else f"{text[:12]}... ({len(text):,} characters)"
        raise _JSONProblem(f"the integer {shown} is outside the 64-bit range the service reads")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JSONProblem(f"the number {text[:20]} is too large for a 64-bit float")
    return value


def _parse_constant(text: str) -> Any:
    raise _JSONProblem(f"{text} is not a JSON number (JSON has no NaN or Infinity)")


def _text_too_deep(text: str, limit: int) -> bool:
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        bracket = match.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in ("]", "}"):
            depth -= 1
    return False


def parse_json(text: str) -> Any:
    """``json.loads`` for user-given JSON, bounded: nesting deeper than [`MAX_JSON_DEPTH`][MAX_JSON_DEPTH],
    ``NaN`` / ``Infinity``, integers past 64 bits and floats past a double raise ``ValueError``
    (``json.JSONDecodeError`` for malformed JSON) instead of a ``RecursionError`` or silent acceptance."""
    if _text_too_deep(text, MAX_JSON_DEPTH):
        raise _JSONProblem(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels (the limit)")
    try:
        return json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except RecursionError:  # pragma: no cover - the depth scan above refuses these first
        raise _JSONProblem(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels (the limit)") from None


def json_problem(value: Any, limit: int = MAX_JSON_DEPTH, *, numbers: bool = True) -> str | None:
    """What makes ``value`` (a dict/list tree from the caller) unfit to send as JSON, or ``None``:
    nesting deeper than ``limit``, and (with ``numbers``) a NaN or infinite float or an integer
    past 64 bits. Walks the tree without recursion, so a million-level structure is refused, not
    a ``RecursionError``."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        current, path, depth = stack.pop()
        if isinstance(current, BaseModel):  # a grader object: its fields and extra keys
            current = dict(current)
        if isinstance(current, (Mapping, list, tuple)):
            if depth >= limit:
                return f"{_short(path)} nests deeper than {limit} levels (the limit)"
            if isinstance(current, Mapping):
                items: list[tuple[str, Any]] = [(f"{path}.{_key(key)}" if path else _key(key), item)
                                                for key, item in current.items()]
            else:
                items = [(f"{path}[{index}]", item) for index, item in enumerate(current)]
            stack.extend((item, where, depth + 1) for where, item in reversed(items))
        elif not numbers:
            continue
        elif isinstance(current, float) and not math.isfinite(current):
            return f"{_short(path)} is {current}, which is not a JSON number"
        elif isinstance(current, int) and not isinstance(current, bool) and not (
            -_MAX_JSON_INT - 1 <= current <= _MAX_JSON_INT
        ):
            return f"{_short(path)} is an integer outside the 64-bit range the service reads"
    return None


def _short(path: str) -> str:
    if not path:
        return "the value"
    return path if len(path) <= 60 else f"{path[:57]}..."


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and key.bit_length() > 64:
        return "<a huge integer>"
    return repr(key)
