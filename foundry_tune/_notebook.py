"""A piece of HTML that updates in place in a Jupyter notebook (nothing elsewhere)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["LiveHTML", "live_html"]


class _HTML:
    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return self.text


class LiveHTML:
    """A notebook output cell showing HTML; :meth:`update` replaces it."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def update(self, text: str) -> None:
        """Show ``text`` (HTML) instead of what the cell showed."""
        self._handle.update(_HTML(text))


def live_html(text: str) -> LiveHTML | None:
    """Display ``text`` in a live cell when running in a Jupyter kernel, else return ``None``."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        shell = ipython.get_ipython()
        if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
            return None
        display: Any = importlib.import_module("IPython.display").display
        return LiveHTML(display(_HTML(text), display_id=True))
    except Exception:
        return None
