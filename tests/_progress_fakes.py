"""Stand-ins for where progress goes: IPython's display machinery, so the notebook progress panel
can be tested without Jupyter (every ``update`` of the panel is recorded), and a terminal."""

from __future__ import annotations

import io
import sys
import types
from typing import Any

import pytest


def fake_notebook(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Install a fake ``IPython.display`` whose ``HTML`` is the text itself; returns the list of
    what the panel showed, one entry per update."""
    shown: list[Any] = []

    class Handle:
        def update(self, obj: Any) -> None:
            shown.append(obj)

    display_module = types.ModuleType("IPython.display")
    display_module.HTML = lambda text: text  # type: ignore[attr-defined]
    display_module.display = lambda obj, display_id=False: Handle()  # type: ignore[attr-defined]
    ipython = types.ModuleType("IPython")
    ipython.display = display_module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    return shown


class FakeTerminal(io.StringIO):
    """What a terminal receives; it says it is one."""

    def isatty(self) -> bool:
        return True
