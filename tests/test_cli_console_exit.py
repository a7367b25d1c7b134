"""The console script: after ``validate`` it ends the process without the interpreter's teardown,
yet with everything a normal exit does that a user can see: the exit code, the whole output,
the exit handlers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _dataset_helpers import GOOD, good_file, line, write_lines

_SCRIPT = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('exit handler ran', file=sys.stderr))\n"
    "sys.argv = ['foundry-tune', *sys.argv[1:]]\n"
    "from foundry_tune.cli import console\n"
    "console()\n"
)


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _SCRIPT, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_validate_exits_with_its_code_its_whole_output_and_the_exit_handlers(tmp_path: Path) -> None:
    ok = _console("validate", str(good_file(tmp_path / "ok.jsonl", "sft")), "--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)  # the whole JSON document, flushed
    assert report["valid"] is True and report["examples"] == 12
    assert "exit handler ran" in ok.stderr
    rows = [line(GOOD["sft"](i)) for i in range(12)]
    rows[3] = "not json"
    bad = _console("validate", str(write_lines(tmp_path / "bad.jsonl", rows)), "--method", "sft")
    assert bad.returncode == 1
    assert "line 4: invalid JSON" in bad.stdout
    assert "exit handler ran" in bad.stderr


def test_other_commands_exit_as_usual(tmp_path: Path) -> None:
    done = _console("--version")
    assert done.returncode == 0 and done.stdout.strip()
    assert "exit handler ran" in done.stderr
