"""Fixtures of the end-to-end tests in this flavour, on the emulators of ``tests/conftest.py``.

- ``ft``: a connection of this flavour to the module's emulator (the shared one, or the module's
  own with ``pytest.mark.own_emulator``), opened for the test and closed after it. It does not own
  the emulator: count with the ``emulator`` fixture (``emulator.stats()``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.emulator import EmulatorInfo

from ._helpers import connect


@pytest.fixture
async def ft(
    emulator_info: EmulatorInfo,
    anyio_backend: str,  # unasync: remove
) -> AsyncIterator[AsyncFoundry]:
    """A connection to the module's emulator, closed after the test."""
    async with connect(emulator_info) as conn:
        yield conn
