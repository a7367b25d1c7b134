"""The API reference renders docstrings as Markdown (mkdocstrings, `docstring_style: sphinx`): a
Sphinx role such as ``:meth:`x``` shows as raw text there, a bare ``>>>`` example as nested quotes
and a Google-style ``Args:`` section as one run-on paragraph, so none may appear in a docstring;
cross-references are written ``[`title`][identifier]``, examples in fences, parameters as
``:param name:`` fields."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "foundry_tune"
SPHINX_ROLE = re.compile(r":(?:meth|class|func|attr|exc|data|mod|obj|ref):`")
GOOGLE_SECTION = re.compile(r"^\s*(?:Args|Arguments|Parameters|Returns|Yields|Raises|Attributes):\s*$", re.M)


def _docstrings() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    line = node.body[0].lineno if node.body else 1
                    found.append((path.relative_to(PACKAGE.parent).as_posix(), line, doc))
    return found


DOCSTRINGS = _docstrings()


def test_the_package_has_docstrings_to_check() -> None:
    assert len(DOCSTRINGS) > 300


@pytest.mark.parametrize("rule", ["sphinx roles", "bare examples", "google sections"])
def test_docstrings_are_markdown_the_api_reference_renders(rule: str) -> None:
    bad = []
    for where, line, doc in DOCSTRINGS:
        if rule == "sphinx roles" and SPHINX_ROLE.search(doc):
            bad.append(f"{where}:{line}: {SPHINX_ROLE.search(doc).group(0)}")  # type: ignore[union-attr]
        if rule == "google sections" and GOOGLE_SECTION.search(doc):
            bad.append(f"{where}:{line}: {GOOGLE_SECTION.search(doc).group(0).strip()}")  # type: ignore[union-attr]
        if rule == "bare examples":
            fenced = False
            for text in doc.splitlines():
                if text.strip().startswith("```"):
                    fenced = not fenced
                elif text.strip().startswith(">>>") and not fenced:
                    bad.append(f"{where}:{line}: {text.strip()[:60]}")
                    break
    assert not bad, f"{len(bad)} docstrings with {rule}:\n" + "\n".join(bad[:20])
