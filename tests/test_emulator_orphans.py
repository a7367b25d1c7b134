"""An emulator never outlives the process that started it, even when that process is SIGKILLed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.emulator

_OWNER = textwrap.dedent(
    """
    import os, signal, sys
    from foundry_tune.emulator import Emulator

    emu = Emulator(job_duration=2)
    emu.start()
    print(emu.pid, flush=True)
    sys.stdin.readline()                      # wait until the test has read the pid
    os.kill(os.getpid(), signal.SIGKILL)      # no stop(), no atexit: the owner just dies
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().split()[2] != "Z"


def test_emulator_stops_when_its_owner_is_killed() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None and owner.stdin is not None
    server_pid = int(owner.stdout.readline())
    assert _alive(server_pid)
    owner.stdin.write("go\n")
    owner.stdin.flush()
    owner.wait(timeout=30)
    deadline = time.monotonic() + 20
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = _alive(server_pid)
    if alive:
        os.kill(server_pid, 9)
    assert not alive, "the emulator outlived the process that started it"
