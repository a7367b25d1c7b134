"""Shared test setup: one emulator for the whole session and connections onto it, plus emulators of
a test's own where it needs isolation or other options.

- ``ft``: a :class:`~foundry_tune.Foundry` that owns the session emulator (:data:`EMULATOR_OPTIONS`);
  ``emulator`` is that emulator and ``emulator_info`` where it listens. Module-scoped: between
  modules the emulator is replaced once it holds many jobs (the emulator, like Azure, takes at most
  100 per resource and 20 queued).
- ``aft`` (per test, async tests marked ``@pytest.mark.anyio``): an ``AsyncFoundry`` on the same emulator.
- ``make_foundry(**options)`` / ``make_emulator(**options)``: a fresh emulator (options over
  :data:`EMULATOR_OPTIONS`) stopped when the test ends, for tests that count, restart, inject faults,
  need TLS or a token, or must not see what other tests made.
- ``pytestmark = pytest.mark.own_emulator(**options)``: the module's ``ft`` (and ``emulator``) is an
  emulator of its own, stopped after its last test.

The session emulator is shared by every module not marked ``own_emulator``: jobs, files and
deployments made by one test stay visible to the next (a start with the same data, method and suffix
is *reused*, the same bytes are not uploaded again). Tests on it compare counters before and after,
use data and suffixes of their own, and delete the deployments they make.
Imports of the library happen inside the fixtures, so that a collection never fails here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from foundry_tune import AsyncFoundry, Foundry
    from foundry_tune.emulator import Emulator, EmulatorInfo

EMULATOR_OPTIONS: dict[str, Any] = {
    "job_duration": 1.0,
    "deployment_ready_delay": 0.2,
    "deployment_provision_delay": 0.2,
}
"""The session emulator's options: short jobs and deployments, no faults, any token accepted."""


def _need_emulator() -> None:
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")


class _Started:
    """Connections and emulators a fixture started, closed in reverse order when it ends."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], None]] = []

    def foundry(self, options: dict[str, Any]) -> Foundry:
        _need_emulator()
        from foundry_tune import Foundry

        retry = options.pop("retry", None)
        conn = Foundry.emulator(retry=retry, **{**EMULATOR_OPTIONS, **options})
        self._closers.append(conn.close)
        return conn

    def emulator(self, options: dict[str, Any]) -> Emulator:
        _need_emulator()
        from foundry_tune.emulator import Emulator

        emu = Emulator(**{**EMULATOR_OPTIONS, **options})
        self._closers.append(emu.stop)
        emu.start()
        return emu

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


class _SharedEmulator:
    """The session emulator, replaced by a fresh one between modules once it holds
    :data:`RECYCLE_AFTER_JOBS` jobs (it refuses more than 100 per resource, as Azure does)."""

    def __init__(self) -> None:
        self._started = _Started()
        self._current: Foundry | None = None

    def connection(self) -> Foundry:
        current = self._current
        if current is not None:
            emu = current.emulator_instance
            if emu is not None and emu.running and emu.stats()["jobs"] < RECYCLE_AFTER_JOBS:
                return current
            self.close()
        self._current = self._started.foundry({})
        return self._current

    def close(self) -> None:
        self._started.close()
        self._current = None


RECYCLE_AFTER_JOBS = 50
"""Jobs on the session emulator after which the next module gets a fresh one."""


@pytest.fixture(scope="session", autouse=True)
def _session_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The local state of what runs outside a test (module fixtures): a session folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        yield


@pytest.fixture(autouse=True)
def _state_dir(_session_state_dir: None, tmp_path_factory: pytest.TempPathFactory,
               monkeypatch: pytest.MonkeyPatch) -> None:
    """foundry-tune's local state (start locks and ledger) in a folder of each test's own, never the
    user's cache: a test never finds what another one made (the fake services reuse ids and ports).
    Subprocesses a test starts inherit it."""
    monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="session", autouse=True)
def _retirement_clock() -> Iterator[None]:
    """The catalog's clock for retirement warnings, pinned to a day before every published
    fine-tuning retirement: no test depends on today's date (tests of the warning set their own)."""
    import datetime

    from foundry_tune import catalog

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "_today", lambda: datetime.date(2026, 1, 5))
        yield


@pytest.fixture(scope="session")
def _shared_emulator() -> Iterator[_SharedEmulator]:
    shared = _SharedEmulator()
    try:
        yield shared
    finally:
        shared.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "own_emulator(**options): the module's ft / emulator is an emulator of its own with these "
        "options (over EMULATOR_OPTIONS; data_dir=True: a folder under pytest's tmp), not the shared one",
    )


@pytest.fixture(scope="module")
def _module_foundry(
    request: pytest.FixtureRequest,
    _shared_emulator: _SharedEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Foundry]:
    """A connection to the session emulator, which it owns (``ft.emulator_instance``); the same
    for every module until that emulator is recycled. Do not close it.

    A module marked ``pytest.mark.own_emulator(**options)`` gets an emulator of its own instead,
    stopped after its last test: for modules that assert everything on the resource (every job,
    every deployment), or need other options (a token, longer jobs). ``data_dir=True`` puts its state
    in a folder under pytest's ``tmp_path_factory`` (the default is a temporary folder of its own)."""
    marker = request.node.get_closest_marker("own_emulator")
    if marker is None:
        yield _shared_emulator.connection()
        return
    options = dict(marker.kwargs)
    if options.get("data_dir") is True:  # a folder of the module's own, under pytest's tmp
        options["data_dir"] = tmp_path_factory.mktemp("emulator") / "data"
    started = _Started()
    try:
        yield started.foundry(options)
    finally:
        started.close()


@pytest.fixture(scope="module")
def ft(_module_foundry: Foundry) -> Foundry:
    """The module's connection (see ``_module_foundry``). ``tests/_async`` and ``tests/_sync``
    override it with a connection of their flavour, per test, on the same emulator."""
    return _module_foundry


@pytest.fixture(scope="module")
def emulator(_module_foundry: Foundry) -> Emulator:
    """The module's emulator, which ``ft`` owns: the session one, or its own (``.info``, ``.stats()``)."""
    emu = _module_foundry.emulator_instance
    assert emu is not None
    return emu


@pytest.fixture(scope="module")
def emulator_info(emulator: Emulator) -> EmulatorInfo:
    """Where the module's emulator listens."""
    return emulator.info


@pytest.fixture
async def aft(emulator_info: EmulatorInfo, anyio_backend: str) -> AsyncIterator[AsyncFoundry]:
    """An ``AsyncFoundry`` on the module's emulator, closed after the test (async tests only); the
    same connection as ``ft`` in ``tests/_async``."""
    from tests._async._helpers import connect

    async with connect(emulator_info) as conn:
        yield conn


@pytest.fixture
def make_foundry() -> Iterator[Callable[..., Foundry]]:
    """``make_foundry(**options)``: a connection owning a fresh emulator (``retry=`` too), closed
    after the test."""
    started = _Started()
    try:
        yield lambda **options: started.foundry(options)
    finally:
        started.close()


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    """``make_emulator(**options)``: a fresh, started emulator, stopped after the test (``kill()``
    it and make another on the same ``data_dir`` to restart)."""
    started = _Started()
    try:
        yield lambda **options: started.emulator(options)
    finally:
        started.close()
