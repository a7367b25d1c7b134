"""``foundry-tune validate`` starts fast: it loads no HTTP stack (httpx alone costs ~70 ms of imports,
a tenth of validating a 92 MB file on two cores), since validating never talks to the service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          check=False)
    assert "LOADED [] 0" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


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
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          check=False)
    assert "LOADED [] 0" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


def test_lazy_names_still_resolve() -> None:
    import foundry_tune.dataset as dataset
    from foundry_tune.dataset import _dataset, _safety_check

    assert dataset.SafetyCheckReport is _safety_check.SafetyCheckReport
    assert dataset.DroppedRow is _safety_check.DroppedRow
    assert {"DroppedRow", "SafetyCheckReport"} <= set(dir(dataset))
    # Dataset.safety_check's default threshold is the safety check's own default.
    assert _dataset._DEFAULT_SAFETY_THRESHOLD == _safety_check.DEFAULT_THRESHOLD
