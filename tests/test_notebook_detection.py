"""Notebook detection with fake shells: Jupyter / JupyterLab / VS Code (ipykernel's
ZMQInteractiveShell), Colab (``google.colab._shell.Shell``, a subclass with another name), terminal
IPython and no IPython; and every progress display asks the same detection."""

from __future__ import annotations

import io
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from _progress_fakes import fake_notebook

from foundry_tune import _notebook
from foundry_tune._core.progress import make_reporter
from foundry_tune.evaluation._progress import make_progress


@pytest.fixture(autouse=True)
def _no_progress_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOUNDRY_TUNE_PROGRESS", raising=False)


class ZMQInteractiveShell:  # the name of ipykernel's shell (Jupyter, JupyterLab, VS Code)
    pass


class Shell(ZMQInteractiveShell):  # google.colab._shell.Shell
    pass


class TerminalInteractiveShell:  # `ipython` in a terminal
    pass


def _with_shell(monkeypatch: pytest.MonkeyPatch, shell: object) -> list[Any]:
    """A fake IPython whose ``get_ipython()`` returns ``shell``, with a display that records."""
    shown = fake_notebook(monkeypatch)
    sys.modules["IPython"].get_ipython = lambda: shell  # type: ignore[attr-defined]
    return shown


@pytest.mark.parametrize("shell", [ZMQInteractiveShell(), Shell()], ids=["jupyter-vscode", "colab"])
def test_kernel_shells_are_notebooks(monkeypatch: pytest.MonkeyPatch, shell: object) -> None:
    _with_shell(monkeypatch, shell)
    assert _notebook.shell_kind() == "notebook" and _notebook.in_notebook()
    # every display takes the notebook path: job progress, evaluation progress, the sweep's cell
    reporter = make_reporter("auto")
    assert type(reporter).__name__ == "_NotebookHTML"
    assert type(make_progress(None)).__name__ == "_NotebookProgress"
    assert _notebook.live_html("<b>x</b>") is not None


def test_a_subclass_of_ipykernels_shell_is_recognised_by_class(monkeypatch: pytest.MonkeyPatch) -> None:
    # the class ipykernel exports, here under a name no check by name would know
    kernel_shell = type("SomeKernelShell", (), {})
    zmqshell = types.ModuleType("ipykernel.zmqshell")
    zmqshell.ZMQInteractiveShell = kernel_shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", zmqshell)
    _with_shell(monkeypatch, type("HostedShell", (kernel_shell,), {})())
    assert _notebook.in_notebook()


def test_terminal_ipython_is_not_a_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = _with_shell(monkeypatch, TerminalInteractiveShell())
    assert _notebook.shell_kind() == "terminal" and not _notebook.in_notebook()
    assert _notebook.live_html("x") is None
    assert type(make_progress(None)).__name__ != "_NotebookProgress"
    out = io.StringIO()
    reporter = make_reporter("auto", out)
    assert type(reporter).__name__ == "_PlainLog"  # a StringIO is no terminal: plain lines
    assert shown == []  # nothing went to a display


@pytest.mark.parametrize("case", ["no-shell", "no-ipython", "get_ipython-raises"])
def test_no_shell_means_plain_text(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    if case == "no-ipython":
        monkeypatch.delitem(sys.modules, "IPython", raising=False)
    elif case == "no-shell":
        _with_shell(monkeypatch, None)
    else:
        fake_notebook(monkeypatch)

        def boom() -> None:
            raise RuntimeError("broken")

        sys.modules["IPython"].get_ipython = boom  # type: ignore[attr-defined]
    assert _notebook.shell_kind() == "none"
    assert _notebook.live_html("x") is None
    assert type(make_reporter("auto")).__name__ in ("_PlainLog", "_TerminalLine")


def test_a_kernel_without_a_display_falls_back_to_text(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_shell(monkeypatch, Shell())
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # importing it raises ImportError
    assert _notebook.shell_kind() == "terminal"
    assert _notebook.live_html("x") is None


def test_only_the_notebook_module_asks_ipython_for_its_shell() -> None:
    package = Path(_notebook.__file__).parent
    askers = [path.relative_to(package).as_posix() for path in package.rglob("*.py")
              if re.search(r"get_ipython|ZMQInteractiveShell", path.read_text(encoding="utf-8"))]
    assert askers == ["_notebook.py"]
