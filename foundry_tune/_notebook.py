"""Where output goes: a notebook that can show HTML (Jupyter, JupyterLab, VS Code, Colab), a
terminal IPython, or no IPython at all; and a piece of HTML that updates in place in a notebook.

This is the one place that decides whether we run in a notebook; every progress display asks it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Literal

__all__ = ["LiveHTML", "in_notebook", "live_html", "shell_kind"]

ShellKind = Literal["notebook", "terminal", "none"]

# The kernel shell of Jupyter, JupyterLab and VS Code is ipykernel's ZMQInteractiveShell; Colab's
# (google.colab._shell.Shell) and other hosted kernels subclass it under another name.
_KERNEL_SHELL = "ZMQInteractiveShell"


def _ipython_shell() -> Any:
    """The running IPython shell, or ``None``. IPython is never imported here: a process where
    nothing imported it has no shell."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        return ipython.get_ipython()
    except Exception:
        return None


def _is_kernel_shell(shell: object) -> bool:
    """Whether ``shell`` is ipykernel's shell or a subclass of it (by class, else by class name)."""
    zmqshell = sys.modules.get("ipykernel.zmqshell")
    kernel_class = getattr(zmqshell, _KERNEL_SHELL, None) if zmqshell is not None else None
    if isinstance(kernel_class, type) and isinstance(shell, kernel_class):
        return True
    return any(cls.__name__ == _KERNEL_SHELL for cls in type(shell).__mro__)


def _can_display() -> bool:
    try:
        return callable(getattr(importlib.import_module("IPython.display"), "display", None))
    except Exception:
        return False


def shell_kind() -> ShellKind:
    """``"notebook"`` in a kernel that can show HTML (Jupyter, JupyterLab, VS Code, Colab),
    ``"terminal"`` in any other IPython (e.g. terminal IPython), ``"none"`` without IPython."""
    shell = _ipython_shell()
    if shell is None:
        return "none"
    if _is_kernel_shell(shell) and _can_display():
        return "notebook"
    return "terminal"


def in_notebook() -> bool:
    """Whether output can be shown as HTML in a notebook cell (see `shell_kind`)."""
    return shell_kind() == "notebook"


class _HTML:
    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return self.text


class LiveHTML:
    """A notebook output cell showing HTML; `update` replaces it."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def update(self, text: str) -> None:
        """Show ``text`` (HTML) instead of what the cell showed."""
        self._handle.update(_HTML(text))


def live_html(text: str) -> LiveHTML | None:
    """Display ``text`` in a live cell when running in a notebook (`in_notebook`), else return ``None``."""
    if not in_notebook():
        return None
    try:
        display: Any = importlib.import_module("IPython.display").display
        return LiveHTML(display(_HTML(text), display_id=True))
    except Exception:
        return None
