"""The docs' notebooks run top to bottom against the emulator, and the copies stored in the
repository carry the outputs the site renders (progress, metrics plot, evaluation table)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "docs" / "notebooks"
NAMES = ["sft-end-to-end.ipynb", "rft-with-grader.ipynb", "choosing-a-checkpoint.ipynb"]


def load_execute() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_execute", NOTEBOOKS / "execute.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outputs(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for cell in notebook["cells"] if cell["cell_type"] == "code" for o in cell.get("outputs", [])]


def check_outputs(notebook: dict[str, Any]) -> None:
    produced = outputs(notebook)
    assert not [o for o in produced if o["output_type"] == "error"]
    assert not [o for o in produced if o.get("name") == "stderr"], "warnings leaked into the notebook"
    html = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in produced)
    plain = "\n".join(str(o.get("data", {}).get("text/plain", "")) for o in produced)
    assert any("image/png" in o.get("data", {}) for o in produced), "no metrics plot"
    assert "<progress" in html, "no progress display"
    assert "status='succeeded'" in plain, "the job did not succeed"
    assert "fine-tuned model" in html or "tuned" in html, "no evaluation table"
    assert "<table" in html


@pytest.mark.parametrize("name", NAMES)
def test_stored_notebook_has_its_outputs(name: str) -> None:
    notebook = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    code_cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code_cells and all(c.get("execution_count") for c in code_cells), "run docs/notebooks/execute.py"
    check_outputs(notebook)


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_against_the_emulator(name: str) -> None:
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("starlette")
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    executed = load_execute().execute(NOTEBOOKS / name, write=False)
    check_outputs(json.loads(json.dumps(executed)))
