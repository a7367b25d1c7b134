"""Plain-text and HTML renderings of a small table (header row first), for reports, sweeps and the CLI.

Columns are padded to the widest cell as a terminal shows it: ids are never cut (Azure job ids are
38 characters, file ids 37, deployment names up to 64), wide characters (CJK, most emoji) count
two columns and combining marks none, and a cell's line breaks and tabs become spaces, so every
row stays on one line and the columns line up.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

__all__ = ["char_width", "columns", "display_width", "html_table", "text_table"]

_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]+")


def char_width(char: str) -> int:
    """Terminal columns one character takes: 2 for East Asian wide and fullwidth characters (CJK,
    most emoji), 0 for combining marks and zero-width characters, else 1."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """How many terminal columns ``text`` takes (the sum of each character's `char_width`)."""
    return sum(char_width(char) for char in text)


def _cell(value: str) -> str:
    return _BREAKS.sub(" ", value)


def _pad(cell: str, width: int) -> str:
    return cell + " " * (width - display_width(cell))


def _aligned(rows: Sequence[Sequence[str]], separator: str) -> tuple[list[str], list[int]]:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = [separator.join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return lines, widths


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, separated by `` | ``, a rule under the header."""
    lines, widths = _aligned(rows, " | ")
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Rows as columns separated by two spaces, each as wide as its widest cell (the CLI's tables:
    a header row of names in capitals, then one row per item), one line per row, ending in a newline."""
    lines, _ = _aligned(rows, "  ")
    return "".join(line + "\n" for line in lines)


def html_table(rows: Sequence[Sequence[str]], caption: str | None = None) -> str:
    """An HTML ``<table>`` with escaped cells, for ``_repr_html_``."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    top = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{top}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
