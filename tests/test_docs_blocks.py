"""The docs' block extractor: which blocks run and which a skip marker holds back."""

from __future__ import annotations

from pathlib import Path

from _docs_blocks import python_blocks


def test_blocks_in_order_with_skip_markers(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "# t\n\n```python\nx = 1\n```\n\n<!-- skip: needs Azure -->\n```python\nAzure()\n```\n"
        "```bash\nls\n```\n\n!!! note\n    ```python\n    y = x + 1\n    ```\n"
        "<!-- skip: -->\n```python\nz = 3\n```\n",
        encoding="utf-8",
    )
    blocks = python_blocks(page)
    assert [(b.line, b.code, b.skip) for b in blocks] == [
        (4, "x = 1\n", None),
        (9, "Azure()\n", "needs Azure"),
        (17, "y = x + 1\n", None),
        (21, "z = 3\n", None),  # a marker without a reason does not skip
    ]


def test_a_marker_only_applies_to_the_next_block(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("<!-- skip: later -->\ntext in between\n```python\na = 1\n```\n", encoding="utf-8")
    assert python_blocks(page)[0].skip is None
