"""``foundry-tune emulator``: the JSON line on stdout, a graceful stop, usage errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.emulator


def test_cli_prints_endpoints_then_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "foundry_tune", "emulator", "--port", "0", "--job-duration", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
        assert {
            "project_endpoint",
            "openai_base_url",
            "arm_endpoint",
            "subscription_id",
            "resource_group",
            "account_name",
        } <= set(line)
        assert line["project_endpoint"].endswith("/api/projects/default")
        assert line["openai_base_url"].endswith("/openai/v1")
        data_dir = Path(line["data_dir"])
        assert (data_dir / "emulator.sqlite3").exists()
        answer = httpx.get(f"{line['openai_base_url']}/files", headers={"api-key": "k"})
        assert answer.json()["data"] == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert not data_dir.exists(), "a temporary data folder is removed on exit"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("args", [["--fault-rate", "1.5"], ["--job-duration", "0"], ["--token", " "]])
def test_cli_usage_errors_exit_2(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "foundry_tune", "emulator", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "error:" in result.stderr
