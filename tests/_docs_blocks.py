"""Extract the runnable ```python blocks of a Markdown page (shared by the docs tests).

A block is skipped when the last non-blank line before its opening fence is a skip marker,
``<!-- skip: <reason> -->`` (e.g. ``<!-- skip: needs Azure -->``). The reason is required.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

__all__ = ["Block", "python_blocks"]

SKIP = re.compile(r"^<!--\s*skip:\s*(?P<reason>\S.*?)\s*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts (1-based line of its first code line), its code, and
    the skip reason if it is marked."""

    path: Path
    line: int
    code: str
    skip: str | None


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of ``path`` in page order (indented fences, e.g. in admonitions, too)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    previous = ""
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        fence, indent, lang = match["fence"], match["indent"], match["lang"].lower()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[start:j]]
        if lang in ("python", "py"):
            marker = SKIP.match(previous)
            blocks.append(
                Block(path, start + 1, "\n".join(body) + "\n", marker["reason"] if marker else None)
            )
        previous = ""
        i = j + 1
    return blocks
