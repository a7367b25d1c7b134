"""``foundry-tune validate`` starts fast: it loads no HTTP stack (httpx alone costs ~70 ms of imports,
a tenth of validating a 92 MB file on two cores), since validating never talks to the service."""

from __future__ import annotations

import json
from pathlib import Path

from _dataset_helpers import run_python

ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def test_validate_imports_no_http_client(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(ROW) for _ in range(12)) + "\n")
    probe = (
        "import sys\n"
        "from foundry_tune.cli import main\n"
        f"code = main(['validate', {str(data)!r}, '--method', 'sft', '--model', 'gpt-4.1-mini', '--json'])\n"
        "stacks = {'httpx', 'httpx2', 'httpcore', 'openai'}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & stacks)\n"
        "print('LOADED', loaded, code)\n"
    )
    run_python(probe, "LOADED [] 0")


def test_validate_imports_no_tls_logging_or_safety_check(tmp_path: Path) -> None:
    """Nor ssl, logging's redaction, the safety check or the splitter: what validating never uses
    (each loaded where it is called: `Dataset.safety_check()`, `Dataset.split()`, the HTTP clients)."""
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(ROW) for _ in range(12)) + "\n")
    lazy = ["foundry_tune._core.redact", "foundry_tune.dataset._safety_check", "foundry_tune.dataset._split",
            "ssl"]
    probe = (
        "import sys\n"
        "from foundry_tune.cli import main\n"
        f"code = main(['validate', {str(data)!r}, '--method', 'sft', '--model', 'gpt-4.1-mini', '--json'])\n"
        f"print('LOADED', sorted(set({lazy!r}) & set(sys.modules)), code)\n"
    )
    run_python(probe, "LOADED [] 0")


def test_the_validator_loads_no_pydantic() -> None:
    """The dataset package and the validation pass load no pydantic (~70 ms): a pass in several
    processes loads it, for its report, while its workers run."""
    probe = (
        "import sys\n"
        "from foundry_tune.dataset import Dataset, validate_file\n"
        "import foundry_tune.dataset._validator, foundry_tune.dataset._parallel\n"
        "print('PYDANTIC', 'pydantic' in sys.modules)\n"
    )
    run_python(probe, "PYDANTIC False")


def test_lazy_names_still_resolve() -> None:
    import foundry_tune.dataset as dataset
    from foundry_tune.dataset import _cost, _dataset, _report, _safety_check, _stats

    assert dataset.SafetyCheckReport is _safety_check.SafetyCheckReport
    assert dataset.DroppedRow is _safety_check.DroppedRow
    assert dataset.CostEstimate is _cost.CostEstimate
    assert dataset.estimate_cost is _cost.estimate_cost
    assert dataset.default_epochs is _cost.default_epochs
    assert dataset.ValidationReport is _report.ValidationReport
    assert dataset.TokenStats is _stats.TokenStats
    assert set(dataset.__all__) <= set(dir(dataset))
    # Dataset.safety_check's default threshold is the safety check's own default.
    assert _dataset._DEFAULT_SAFETY_THRESHOLD == _safety_check.DEFAULT_THRESHOLD
