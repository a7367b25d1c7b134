"""What a deployment says: a generic answer from a base model, and for a fine-tuned model the
assistant turn of the nearest training prompt (token overlap over its training file).

This is an emulation, not a model: it makes "base versus tuned" comparisons show a real,
deterministic difference without any weights.

Tool calling: when a request offers ``tools``, a tuned model whose nearest training prompt was
answered with ``tool_calls`` answers with those calls (fresh ids, the trained arguments), as long
as every function they call is offered. A base model calls a tool only when ``tool_choice`` forces
it (``"required"`` or a named function), with empty arguments: it never learned the conventions
the tuned model was trained on.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Any, Literal

from foundry_tune.emulator._state import new_id

_WORD = re.compile(r"[a-z0-9]+")
_SKIP_FIELDS = {
    "messages",
    "tools",
    "input",
    "preferred_output",
    "non_preferred_output",
    "parallel_tool_calls",
}

Choice = Literal["auto", "none", "required", "function"]


def text_of(content: object) -> str:
    """The text of a message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def words(text: str) -> frozenset[str]:
    """The lower-cased word set used for similarity."""
    return frozenset(_WORD.findall(text.lower()))


@dataclasses.dataclass(frozen=True)
class Trained:
    """One usable training row: its prompt's words and the assistant turn it was taught."""

    words: frozenset[str]
    text: str
    """The turn's text ("" when the turn only calls tools)."""
    calls: tuple[tuple[str, str], ...] = ()
    """The turn's function calls as (name, arguments JSON string), in order."""


@dataclasses.dataclass(frozen=True)
class ToolRequest:
    """What a chat request says about tools: the functions it offers and how one may be chosen."""

    tools: tuple[tuple[str, frozenset[str]], ...]
    """Each offered function's name and the words of its name and description, in request order."""
    choice: Choice = "auto"
    forced: str | None = None
    """The function ``tool_choice`` names (``choice == "function"``)."""
    parallel: bool = True

    @property
    def names(self) -> frozenset[str]:
        """The names of the offered functions."""
        return frozenset(name for name, _ in self.tools)


@dataclasses.dataclass(frozen=True)
class Reply:
    """An assistant turn: its text and its function calls (name, arguments JSON string)."""

    text: str
    calls: tuple[tuple[str, str], ...] = ()

    def tool_calls(self) -> list[dict[str, Any]]:
        """The calls in the chat-completions shape, each with a fresh id."""
        return [
            {"id": new_id("call_"), "type": "function", "function": {"name": name, "arguments": arguments}}
            for name, arguments in self.calls
        ]


def _calls_of(message: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(message, dict):
        return ()
    found: list[tuple[str, str]] = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            arguments = function.get("arguments", "{}")
            text = arguments if isinstance(arguments, str) else json.dumps(arguments)
            found.append((function["name"], text))
    return tuple(found)


def _trained(row: dict[str, Any]) -> Trained | None:
    calls: tuple[tuple[str, str], ...] = ()
    if "preferred_output" in row:
        messages = (row.get("input") or {}).get("messages") or []
        preferred = row.get("preferred_output") or [{}]
        answer = text_of(preferred[0].get("content")) if isinstance(preferred[0], dict) else ""
        calls = _calls_of(preferred[0])
    else:
        messages = row.get("messages") or []
        answer = ""
        if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
            answer = text_of(messages[-1].get("content"))
            calls = _calls_of(messages[-1])
            messages = messages[:-1]
        else:
            extra = [v for k, v in row.items() if k not in _SKIP_FIELDS and isinstance(v, (str, int, float))]
            answer = str(extra[0]) if extra else ""
    users = [text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users or not (answer or calls):
        return None
    return Trained(words(users[-1]), answer, calls)


@functools.lru_cache(maxsize=16)
def training_index(path: Path, mtime: float) -> tuple[Trained, ...]:
    """Every usable row of a training file (cached per file version)."""
    del mtime  # part of the cache key only
    index: list[Trained] = []
    with path.open("rb") as fh:
        for raw in fh:
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if isinstance(row, dict) and (entry := _trained(row)) is not None:
                index.append(entry)
    return tuple(index)


def _index(path: Path) -> tuple[Trained, ...]:
    return training_index(path, path.stat().st_mtime) if path.exists() else ()


def _nearest(entries: list[Trained], asked: frozenset[str]) -> tuple[float, Trained] | None:
    """The entry whose prompt shares the most words with ``asked`` (Jaccard; the first on a tie)."""
    best: tuple[float, Trained] | None = None
    for entry in entries:
        score = len(asked & entry.words) / (len(asked | entry.words) or 1)
        if best is None or score > best[0]:
            best = (score, entry)
    return best


def is_training_prompt(path: Path, prompt: str) -> bool:
    """Whether ``prompt`` is (word for word) one of the training rows' prompts."""
    asked = words(prompt)
    return any(entry.words == asked for entry in _index(path))


def nearest_answer(path: Path, prompt: str) -> str | None:
    """The text answer of the training row whose prompt shares the most words with ``prompt``."""
    found = _nearest([e for e in _index(path) if e.text], words(prompt))
    return None if found is None else found[1].text


def tuned_reply(path: Path, prompt: str, request: ToolRequest | None) -> Reply | None:
    """What a model tuned on the file at ``path`` answers (``None``: it answers as its base model).

    Without tools (or with ``tool_choice="none"``) the nearest row with a text answer. With tools,
    the nearest row whose answer is text or calls only offered functions; its calls when it has
    some and shares a word with the prompt (``"required"`` / a named function: the nearest row
    that calls one / that function, else the base model's forced call).
    """
    if request is None or request.choice == "none":
        text = nearest_answer(path, prompt)
        return None if text is None else Reply(text)
    asked, offered = words(prompt), request.names
    usable = [e for e in _index(path) if all(name in offered for name, _ in e.calls)]
    if request.choice == "function":
        usable = [
            dataclasses.replace(e, calls=tuple(c for c in e.calls if c[0] == request.forced))
            for e in usable
            if any(name == request.forced for name, _ in e.calls)
        ]
    elif request.choice == "required":
        usable = [e for e in usable if e.calls]
    found = _nearest(usable, asked)
    if found is not None and found[1].calls and found[0] > 0:
        entry = found[1]
        return Reply(entry.text, entry.calls if request.parallel else entry.calls[:1])
    if request.choice != "auto":
        return None  # the base model's forced call
    text = nearest_answer(path, prompt)
    return None if text is None else Reply(text)


def base_reply(model: str, prompt: str, request: ToolRequest | None) -> Reply:
    """A base model's deterministic answer: generic text, or a forced call with empty arguments
    (to the named function, else the offered one sharing the most words with the prompt)."""
    if request is None or request.choice not in ("required", "function") or not request.tools:
        return Reply(generic_answer(model, prompt))
    if request.forced is not None:
        return Reply("", ((request.forced, "{}"),))
    asked = words(prompt)
    name = max(request.tools, key=lambda tool: len(asked & tool[1]))[0]  # the first on a tie
    return Reply("", ((name, "{}"),))


def generic_answer(model: str, prompt: str) -> str:
    """A base model's deterministic, generic reply."""
    words = prompt.split()
    # a long question is quoted up to a whole word with an ellipsis, never cut silently mid-phrase
    topic = " ".join(words) if len(words) <= 40 else " ".join(words[:40]) + " ..."
    return (
        f'Here is a general answer from {model}. You asked about: "{topic}". '
        "I can offer a broad overview, but I have no specialised training for this task."
    )
