"""The entry point behind ``Foundry.emulator()``: start an emulator for a connection to own.

The library core never imports this package: it finds [`start_embedded()`][start_embedded] through the entry
point group ``foundry_tune.emulators`` (name ``default``) that this package declares in
``pyproject.toml``.
"""

from __future__ import annotations

from typing import Any

from foundry_tune.emulator._launcher import Emulator
from foundry_tune.errors import ConfigurationError

__all__ = ["start_embedded"]


def start_embedded(options: dict[str, Any]) -> Emulator:
    """Create an [`Emulator`][Emulator] with ``options`` (its constructor's
    keyword arguments), start it and return it running; the caller stops it.

    :raises ConfigurationError: the ``emulator`` extra (starlette, uvicorn) is not installed.
    """
    emulator = Emulator(**options)
    try:
        emulator.start()
    except ImportError as exc:
        raise ConfigurationError(
            "the emulator needs the 'emulator' extra: pip install 'foundry-tune[emulator]'"
        ) from exc
    return emulator
