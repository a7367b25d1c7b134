"""Tool calls compared by structure: the scores of the metrics ``tool_call_match`` and
``tool_name_match`` (``foundry_tune.evaluation.metrics`` makes them metrics).

An answer that calls tools reaches a metric as the JSON list of its calls (what
``completion_from_response`` makes of ``message.tool_calls``); the reference's calls are the
assistant turn's ``tool_calls`` (``Example.tool_calls``), or a reference text that is such a list.
Two lists of calls match when they hold the same calls in any order: the same function names and
arguments that parse to the same JSON value (key order and whitespace ignored; numbers by value;
``true`` is not ``1``). An argument string that is not valid JSON matches nothing, on either side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from foundry_tune.evaluation._examples import Example

__all__ = ["ParsedCall", "call_score", "calls_text", "name_score", "parse_calls", "reference_calls",
           "same_calls"]


class _Malformed:
    """Arguments that did not parse: equal to nothing, itself included."""

    def __repr__(self) -> str:
        return "<malformed arguments>"


ParsedCall = tuple[str, Any]
"""A call as compared: (function name, parsed arguments or a ``_Malformed`` marker)."""


def _arguments(raw: object) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            return _Malformed()
    if raw is None:
        return {}
    return raw  # already parsed (a dict in a reference written by hand)


def _call(item: object) -> ParsedCall | None:
    """One call from the chat-completions shape (``{"type": "function", "function": {"name",
    "arguments"}}``), a custom tool call (``{"custom": {"name", "input"}}``) or a flat
    ``{"name", "arguments"}`` (the Responses API's ``function_call``); ``None`` for anything else."""
    if not isinstance(item, Mapping):
        return None
    function = item.get("function")
    if isinstance(function, Mapping) and isinstance(function.get("name"), str):
        return function["name"], _arguments(function.get("arguments"))
    custom = item.get("custom")
    if isinstance(custom, Mapping) and isinstance(custom.get("name"), str):
        return custom["name"], custom.get("input")  # free text: compared as it is
    if isinstance(item.get("name"), str) and "arguments" in item:
        return item["name"], _arguments(item.get("arguments"))
    return None


def parse_calls(value: object) -> list[ParsedCall] | None:
    """The calls in ``value`` (a list of calls, or its JSON text); ``None`` when it is not one
    (plain answer text). An empty list is a list of no calls."""
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return None
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return None
    calls = [_call(item) for item in value]
    if any(c is None for c in calls):
        return None
    return [c for c in calls if c is not None]


def reference_calls(example: Example) -> list[ParsedCall]:
    """The calls the reference makes: its ``tool_calls``, else its text when that is a list of calls,
    else none (a text reference)."""
    if example.tool_calls is not None:
        return parse_calls(list(example.tool_calls)) or []
    if example.reference is None:
        return []
    return parse_calls(example.reference) or []


def calls_text(calls: Sequence[Mapping[str, Any]]) -> str:
    """The JSON text an answer's tool calls are scored as (keys sorted, one line)."""
    return json.dumps([dict(c) for c in calls], sort_keys=True, ensure_ascii=False)


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, but a boolean only equals a boolean."""
    if isinstance(a, _Malformed) or isinstance(b, _Malformed):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def same_calls(answer: Sequence[ParsedCall], reference: Sequence[ParsedCall], *,
               arguments: bool = True) -> bool:
    """Whether the two lists hold the same calls in any order (names, and with ``arguments`` the
    parsed arguments too); an extra or a missing call is a mismatch."""
    if len(answer) != len(reference):
        return False
    left = list(answer)
    for name, args in reference:
        # Greedy pairing is exact here: "same call" is an equivalence (malformed arguments pair with nothing).
        match = next((i for i, (n, a) in enumerate(left)
                      if n == name and (not arguments or _same_json(a, args))), None)
        if match is None:
            return False
        left.pop(match)
    return True


def _answer_calls(output: str) -> list[ParsedCall]:
    return parse_calls(output) or []


def call_score(output: str, example: Example) -> float:
    """``tool_call_match``: 1 when the answer makes the reference's tool calls: the same functions
    with the same parsed arguments, in any order, none missing and none extra. A reference without
    tool calls scores 1 when the answer calls no tool either (the decision not to call one was right)."""
    return float(same_calls(_answer_calls(output), reference_calls(example)))


def name_score(output: str, example: Example) -> float:
    """``tool_name_match``: 1 when the answer calls the same functions as the reference (in any
    order, as many times), whatever their arguments; 1 when neither calls a tool."""
    return float(same_calls(_answer_calls(output), reference_calls(example), arguments=False))
