"""The matplotlib plumbing every ``.plot()`` shares.

No ``.plot()`` changes the process's matplotlib backend or pyplot's list of figures when it only
saves a file: a notebook that saved one chart keeps showing the next ones inline. Three cases:

- ``ax`` given: draw into it (its figure is the caller's);
- only ``path`` given: a ``matplotlib.figure.Figure`` made without pyplot, saved, never shown;
- neither: a new figure from pyplot, so a notebook shows it inline and a script's ``plt.show()``
  shows it.

matplotlib is imported only inside these functions (the ``plot`` extra is optional).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from foundry_tune.errors import ConfigurationError, InvalidParameterError

__all__ = ["axes_for", "save_figure"]


def _require_matplotlib(what: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigurationError(f"{what} needs matplotlib: pip install 'foundry-tune[plot]'") from None


def _check_path(path: object, what: str) -> str | None:
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):  # "" is no file name
        raise InvalidParameterError(
            f"{what}: path must be a file name (str or pathlib.Path), got {type(path).__name__}"
        )
    target = os.fspath(path)
    return target if isinstance(target, str) else os.fsdecode(target)


def axes_for(ax: Any, path: str | Path | None, *, what: str, figsize: tuple[float, float]) -> Any:
    """The matplotlib Axes to draw on (see the module docstring for the three cases).

    Raises ConfigurationError when matplotlib is missing (naming the ``plot`` extra) and
    InvalidParameterError when ``ax`` is not an Axes or ``path`` not a file name; ``what`` names
    the method in those messages.
    """
    _require_matplotlib(what)
    _check_path(path, what)
    if ax is not None:
        from matplotlib.axes import Axes

        if not isinstance(ax, Axes):
            raise InvalidParameterError(
                f"{what}: ax must be a matplotlib Axes (e.g. from plt.subplots()), "
                f"got {type(ax).__name__}"
            )
        return ax
    if path is not None:
        from matplotlib.figure import Figure

        return Figure(figsize=figsize, layout="constrained").add_subplot()
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=figsize, layout="constrained")
    return new_ax


def save_figure(ax: Any, path: str | Path | None, *, what: str, dpi: int = 120) -> None:
    """Save the whole figure ``ax`` belongs to at ``path`` (the format follows the suffix);
    nothing when ``path`` is ``None``. Saving through the figure itself needs no backend."""
    target = _check_path(path, what)
    if target is None:
        return
    figure = ax.figure
    for _ in range(16):  # an Axes in a SubFigure: save the figure at the root
        parent = getattr(figure, "figure", figure)
        if parent is figure or parent is None:
            break
        figure = parent
    figure.savefig(target, dpi=dpi, bbox_inches="tight")
