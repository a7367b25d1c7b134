"""What a deployment says: a generic answer from a base model, and for a fine-tuned model the
assistant turn of the nearest training prompt (token overlap over its training file).

This is an emulation, not a model: it makes "base versus tuned" comparisons show a real,
deterministic difference without any weights.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
_SKIP_FIELDS = {
    "messages",
    "tools",
    "input",
    "preferred_output",
    "non_preferred_output",
    "parallel_tool_calls",
}


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


def _prompt_and_answer(row: dict[str, Any]) -> tuple[str, str] | None:
    if "preferred_output" in row:
        messages = (row.get("input") or {}).get("messages") or []
        preferred = row.get("preferred_output") or [{}]
        answer = text_of(preferred[0].get("content")) if isinstance(preferred[0], dict) else ""
    else:
        messages = row.get("messages") or []
        answer = ""
        if messages and messages[-1].get("role") == "assistant":
            answer = text_of(messages[-1].get("content"))
            messages = messages[:-1]
        else:
            extra = [v for k, v in row.items() if k not in _SKIP_FIELDS and isinstance(v, (str, int, float))]
            answer = str(extra[0]) if extra else ""
    users = [text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users or not answer:
        return None
    return users[-1], answer


@functools.lru_cache(maxsize=16)
def training_index(path: Path, mtime: float) -> tuple[tuple[frozenset[str], str], ...]:
    """(prompt words, answer) for every usable row of a training file (cached per file version)."""
    del mtime  # part of the cache key only
    index: list[tuple[frozenset[str], str]] = []
    with path.open("rb") as fh:
        for raw in fh:
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if isinstance(row, dict) and (pair := _prompt_and_answer(row)) is not None:
                index.append((words(pair[0]), pair[1]))
    return tuple(index)


def nearest_answer(path: Path, prompt: str) -> str | None:
    """The answer of the training row whose prompt shares the most words with ``prompt``."""
    if not path.exists():
        return None
    asked = words(prompt)
    best: tuple[float, str] | None = None
    for prompt_words, answer in training_index(path, path.stat().st_mtime):
        union = len(asked | prompt_words) or 1
        score = len(asked & prompt_words) / union
        if best is None or score > best[0]:
            best = (score, answer)
    return None if best is None else best[1]


def generic_answer(model: str, prompt: str) -> str:
    """A base model's deterministic, generic reply."""
    topic = " ".join(prompt.split()[:12])
    return (
        f'Here is a general answer from {model}. You asked about: "{topic}". '
        "I can offer a broad overview, but I have no specialised training for this task."
    )
