"""The layer contracts of ARCHITECTURE.md hold: one way down, no runtime cycle between packages,
a core without network SDKs, and an emulator the library reaches only through its entry point.

The contracts live in pyproject.toml (``[tool.importlinter]``); each runs here on its own so a
broken one names itself. Only runtime imports count (``exclude_type_checking_imports``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import grimp
import pytest
from importlinter import api as importlinter_api

from foundry_tune.errors import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"

CONTRACT_IDS = [
    str(contract["id"])
    for contract in importlinter_api.read_configuration(str(PYPROJECT))["contracts_options"]
]

# The contracts issue 11 asks for; removing one from pyproject.toml must be a visible decision.
REQUIRED_CONTRACTS = {
    "layers",
    "no-facade-below",
    "emulator-protected",
    "root-is-a-facade",
    "core-pure",
    "flavours-independent",
    "evaluation-async-flavour",
    "evaluation-sync-flavour",
    "errors-floor",
    "no-cycles",
}

_LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def test_the_required_contracts_are_configured() -> None:
    assert set(CONTRACT_IDS) >= REQUIRED_CONTRACTS


@pytest.mark.parametrize("contract", CONTRACT_IDS)
def test_contract_is_kept(contract: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _LINT, "--no-logo", "--no-cache", "--contract", contract, str(PYPROJECT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"contract {contract!r} is broken:\n{result.stdout}\n{result.stderr}"


def test_core_never_imports_the_emulator() -> None:
    graph = grimp.build_graph("foundry_tune", exclude_type_checking_imports=True, cache_dir=None)
    assert "foundry_tune._core" in graph.modules
    chain = graph.find_shortest_chain(importer="foundry_tune._core", imported="foundry_tune.emulator",
                                      as_packages=True)
    assert chain is None, f"the core reaches the emulator: {' -> '.join(chain or ())}"


def test_emulator_entry_point_resolves_to_start_embedded() -> None:
    from foundry_tune.emulator._embedded import start_embedded

    (entry,) = entry_points(group="foundry_tune.emulators", name="default")
    assert entry.load() is start_embedded


def test_start_embedded_without_the_extra_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from foundry_tune.emulator._embedded import start_embedded

    real_find_spec = importlib.util.find_spec

    def without_uvicorn(name: str, package: str | None = None) -> object:
        return None if name == "uvicorn" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_uvicorn)
    with pytest.raises(ConfigurationError, match=r"foundry-tune\[emulator\]"):
        start_embedded({"job_duration": 1})
