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
