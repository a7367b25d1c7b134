"""Sync and async public surfaces match pairwise (issue 11: "parity is a fact").

:data:`PAIRS` is derived, not hand-picked: every public sync name whose object is defined in a
generated module, paired with its twin in ``foundry_tune.aio`` named by the unasync table in reverse
(``Foundry`` -> ``AsyncFoundry``; functions keep their name). For each pair, every public member of
the sync object has an async twin of the same name, kind (method / classmethod / property / ...) and
parameters (names, kinds, defaults; annotations may differ, ``Job`` vs ``AsyncJob``), and the async
side has nothing the sync side lacks. Allowed differences: ``__enter__`` / ``__exit__`` pair with
``__aenter__`` / ``__aexit__``, and the async side may also have ``aclose`` when it is the same as
its ``close``. Constructors are compared only for classes users construct (not for the script's
``HANDED_OUT`` classes such as ``Job``, which the library builds).

The surfaces come from ``scripts/public_surface.py``, the same description the frozen
public-surface test uses.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from _scripts import load_script

pytest.importorskip("aiohttp")



surface = load_script("public_surface.py")

SYNC_MODULES = (
    "foundry_tune",
    "foundry_tune.client",
    "foundry_tune.job",
    "foundry_tune.deployment",
    "foundry_tune.sweep",
    "foundry_tune.evaluation",
)
"""The public sync modules whose ``__all__`` names are checked for an async twin."""

GENERATED_PREFIXES = ("foundry_tune._sync.", "foundry_tune.evaluation._sync.")
"""Modules generated from the async source: every public name defined there has an async twin."""

ASYNC_MODULE = "foundry_tune.aio"

ASYNC_NAME: dict[str, str] = {
    sync: aio for aio, sync in load_script("unasync.py").SUBS if aio.isidentifier() and sync.isidentifier()
}
"""The unasync table in reverse (``Foundry`` -> ``AsyncFoundry``, ``Trial`` -> ``AsyncTrial``);
names it does not list (functions, ``Completer``) keep their name."""


def derived_pairs() -> list[tuple[str, str]]:
    """(sync, async) objects as ``module:name``: every public name of :data:`SYNC_MODULES` defined in
    a generated module, once per object, with its twin in :data:`ASYNC_MODULE`."""
    pairs: list[tuple[str, str]] = []
    seen: set[int] = set()
    for module_name in SYNC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            defined_in = getattr(obj, "__module__", None) or ""
            if not defined_in.startswith(GENERATED_PREFIXES) or id(obj) in seen:
                continue
            seen.add(id(obj))
            pairs.append((f"{module_name}:{name}", f"{ASYNC_MODULE}:{ASYNC_NAME.get(name, name)}"))
    return pairs


PAIRS: list[tuple[str, str]] = derived_pairs()
"""(sync, async) objects as ``module:name``; the async one must be exported by its module."""

SYNC_TO_ASYNC_DUNDERS = {"__enter__": "__aenter__", "__exit__": "__aexit__"}

# KNOWN_GAPS MUST END EMPTY. It lists the parity gaps of the code before issue 11's refactor; the
# refactor closes them and removes their lines. The test fails when the gaps differ from this set
# either way: a gap that reappears, or one that was closed and is still listed here.
KNOWN_GAPS: frozenset[str] = frozenset()
"""Gaps between the flavours that are accepted. Issue 11 emptied it (the async builder wrapped a sync
one, and AsyncFoundry.close/sweep, AsyncJob.reattach_hint, AsyncSweep and evaluate(completer=) were
missing): it must stay empty, since both flavours are now generated from one source."""


def _load(path: str) -> tuple[Any, bool]:
    module_name, name = path.split(":")
    module = importlib.import_module(module_name)
    exported = name in getattr(module, "__all__", ())
    return getattr(module, name, None), exported


def _members(entry: dict[str, Any]) -> dict[str, Any]:
    if entry["kind"] == "class":
        members: dict[str, Any] = entry["members"]
        return members
    return {"": entry}  # a function: compare it as one nameless member


def _params(entry: dict[str, Any]) -> list[tuple[str, str, str | None]] | None:
    params = entry.get("parameters")
    if params is None:
        return None
    return [(p["name"], p["kind"], p["default"]) for p in params]


def _compare_params(where: str, sync: dict[str, Any], aio: dict[str, Any]) -> list[str]:
    ours, theirs = _params(sync), _params(aio)
    if ours is None or theirs is None:
        return [] if ours == theirs else [f"{where}: signature unknown"]
    gaps: list[str] = []
    by_name = {name: (kind, default) for name, kind, default in theirs}
    sync_names = {name for name, _, _ in ours}
    for name, kind, default in ours:
        if name not in by_name:
            gaps.append(f"{where}({name}): missing")
        elif by_name[name] != (kind, default):
            gaps.append(f"{where}({name}): kind or default differs")
    gaps.extend(f"{where}({name}): extra" for name, _, _ in theirs if name not in sync_names)
    positional = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
    if ([n for n, k, _ in ours if k in positional and n in by_name]
            != [n for n, k, _ in theirs if k in positional and n in sync_names]):
        gaps.append(f"{where}: positional order differs")
    return gaps


def _is_alias_of_close(aio_obj: Any) -> bool:
    aclose, close = getattr(aio_obj, "aclose", None), getattr(aio_obj, "close", None)
    return aclose is not None and close is not None and (
        aclose is close or getattr(aclose, "__wrapped__", None) is close
        or getattr(aclose, "__code__", None) is getattr(close, "__code__", False)
        or _delegates(aclose, "close")
    )


def _delegates(func: Any, name: str) -> bool:
    """``func`` is a one-line delegation to ``self.<name>()`` (an alias written as a method)."""
    code = getattr(func, "__code__", None)
    return code is not None and name in code.co_names and len(code.co_names) <= 2


def gaps() -> set[str]:
    """Every parity gap between the sync and async public surfaces."""
    found: set[str] = set()
    for sync_path, aio_path in PAIRS:
        sync_obj, _ = _load(sync_path)
        assert sync_obj is not None, f"{sync_path} is gone"
        aio_obj, exported = _load(aio_path)
        if aio_obj is None or not exported:
            found.add(f"{aio_path}: missing")
            continue
        sync_entry, aio_entry = surface.describe(sync_obj), surface.describe(aio_obj)
        sync_members, aio_members = _members(sync_entry), _members(aio_entry)
        if sync_entry["kind"] == "class" and aio_entry["kind"] != "class":
            found.add(f"{aio_path}: not a class")
            continue
        expected: dict[str, str] = {}  # async member name -> sync member name
        for name in sync_members:
            expected[SYNC_TO_ASYNC_DUNDERS.get(name, name)] = name
        if sync_path.rsplit(":", 1)[1] in surface.HANDED_OUT:
            expected.pop("__init__", None)  # built by the library; its constructor is no promise
            aio_members = {k: v for k, v in aio_members.items() if k != "__init__"}
        for aio_name, sync_name in sorted(expected.items()):
            where = f"{aio_path}.{aio_name}" if aio_name else aio_path
            if aio_name not in aio_members:
                found.add(f"{where}: missing")
                continue
            sync_member, aio_member = sync_members[sync_name], aio_members[aio_name]
            if sync_member["kind"] != aio_member["kind"]:
                found.add(f"{where}: kind differs ({sync_member['kind']} vs {aio_member['kind']})")
                continue
            found.update(_compare_params(where, sync_member, aio_member))
        for aio_name in sorted(set(aio_members) - set(expected)):
            if aio_name == "aclose" and _is_alias_of_close(aio_obj):
                continue
            found.add(f"{aio_path}.{aio_name}: extra (no sync twin)")
    return found


def test_every_sync_name_has_its_async_twin() -> None:
    found = gaps()
    assert found - KNOWN_GAPS == set(), "new parity gaps between the sync and async surfaces"
    assert KNOWN_GAPS - found == set(), "gaps closed: remove them from KNOWN_GAPS (it must end empty)"


def test_the_pairs_cover_every_generated_public_name() -> None:
    pairs = {(sync.split(":")[1], aio) for sync, aio in PAIRS}
    for expected in [
        ("Foundry", "foundry_tune.aio:AsyncFoundry"),
        ("ArmClient", "foundry_tune.aio:AsyncArmClient"),
        ("Job", "foundry_tune.aio:AsyncJob"),
        ("DeploymentsAPI", "foundry_tune.aio:AsyncDeploymentsAPI"),
        ("Trial", "foundry_tune.aio:AsyncTrial"),
        ("sweep", "foundry_tune.aio:sweep"),
        ("evaluate", "foundry_tune.aio:evaluate"),
        ("Completer", "foundry_tune.aio:Completer"),
        ("FoundryCompleter", "foundry_tune.aio:FoundryCompleter"),
    ]:
        assert expected in pairs
    assert len(PAIRS) == len({sync.split(":")[1] for sync, _ in PAIRS})  # each object once
    assert not {"JobStatus", "RetryPolicy"} & {sync.split(":")[1] for sync, _ in PAIRS}  # not generated


def test_the_comparison_sees_a_missing_method_and_a_changed_parameter() -> None:
    class Sync:
        def close(self) -> None: ...

        def wait(self, timeout: float = 1.0, *, progress: bool = True) -> None: ...

        def __enter__(self) -> Sync:
            return self

    class Async:
        async def wait(self, timeout: float = 2.0, *, progress: bool = True, extra: int = 0) -> None: ...

        async def aclose(self) -> None: ...

        async def __aenter__(self) -> Async:
            return self

    Sync.__module__ = Async.__module__ = "foundry_tune._example"  # described like the package's own
    sync_members = _members(surface.describe(Sync))
    aio_members = _members(surface.describe(Async))
    assert "close" in sync_members and "close" not in aio_members
    assert _compare_params("A.wait", sync_members["wait"], aio_members["wait"]) == [
        "A.wait(timeout): kind or default differs",
        "A.wait(extra): extra",
    ]
    assert not _is_alias_of_close(Async)

    class Closing:
        async def close(self) -> None: ...

        async def aclose(self) -> None:
            await self.close()

    assert _is_alias_of_close(Closing)
