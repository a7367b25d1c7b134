"""The local lock every identical ``start()`` holds: serialising across threads, event loops and
processes, waiting no longer than the retry budget, and keeping its files private and anonymous."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from foundry_tune import RetryPolicy
from foundry_tune._async import _exclusive as async_exclusive
from foundry_tune._async._flavour import AsyncRetryPolicy
from foundry_tune._core.local_state import entry_name
from foundry_tune._sync import _exclusive as sync_exclusive
from foundry_tune.errors import LocalLockTimeoutError, WaitTimeoutError

ENDPOINT = "https://acct-canary.services.ai.azure.com/api/projects/p?sig=CANARY-SECRET"
KEY = "job:canary-fingerprint"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(folder))
    return folder


def connection(total_timeout: float = 5.0) -> types.SimpleNamespace:
    return types.SimpleNamespace(endpoint=ENDPOINT, retry=RetryPolicy(total_timeout=total_timeout))


def async_connection(total_timeout: float = 5.0) -> types.SimpleNamespace:
    return types.SimpleNamespace(endpoint=ENDPOINT,
                                 retry=AsyncRetryPolicy(RetryPolicy(total_timeout=total_timeout)))


def test_threads_hold_the_key_one_at_a_time(state: Path) -> None:
    ft = connection()
    inside = 0
    most = 0
    guard = threading.Lock()

    def hold() -> None:
        nonlocal inside, most
        with sync_exclusive.exclusive(ft, KEY, what="start of the same job"):  # type: ignore[arg-type]
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_event_loops_in_several_threads_hold_the_key_one_at_a_time(state: Path) -> None:
    inside = 0
    most = 0

    async def hold() -> None:
        nonlocal inside, most
        async with async_exclusive.exclusive(async_connection(), KEY, what="start"):  # type: ignore[arg-type]
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.05)
            inside -= 1

    async def several() -> None:
        await asyncio.gather(hold(), hold())

    threads = [threading.Thread(target=asyncio.run, args=(several(),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_other_keys_and_endpoints_do_not_wait(state: Path) -> None:
    ft = connection(total_timeout=0.2)
    other_endpoint = types.SimpleNamespace(endpoint=ENDPOINT.replace("acct", "other"), retry=ft.retry)
    with sync_exclusive.exclusive(ft, KEY, what="start"):  # type: ignore[arg-type]
        with sync_exclusive.exclusive(ft, "job:another", what="start"):  # type: ignore[arg-type]
            pass
        with sync_exclusive.exclusive(other_endpoint, KEY, what="start"):  # type: ignore[arg-type]
            pass


def test_waiting_for_another_process_is_bounded_and_names_the_lock_file(state: Path) -> None:
    folder = sync_exclusive.once_folder()
    assert folder is not None
    lock_file = folder / (entry_name(ENDPOINT, KEY) + ".lock")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, filelock, time; lock = filelock.FileLock(sys.argv[1]); lock.acquire(); "
         "print('held', flush=True); time.sleep(30)", str(lock_file)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        began = time.monotonic()
        with pytest.raises(LocalLockTimeoutError) as caught, \
                sync_exclusive.exclusive(connection(total_timeout=0.5), KEY, what="start of the same job"):  # type: ignore[arg-type]
            pytest.fail("entered a key another process holds")
        waited = time.monotonic() - began
    finally:
        holder.kill()
        holder.wait()
    assert 0.5 <= waited < 2.0
    assert isinstance(caught.value, WaitTimeoutError)
    assert caught.value.lock_file == str(lock_file)
    message = str(caught.value)
    assert "another start of the same job on this machine is still running" in message
    assert str(lock_file) in message and "CANARY" not in message and "acct-canary" not in message
    # The holder is gone: its lock went with it (an OS lock is never stale).
    with sync_exclusive.exclusive(connection(total_timeout=2), KEY, what="start"):  # type: ignore[arg-type]
        pass


def test_waiting_inside_the_process_is_bounded_too(state: Path) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with sync_exclusive.exclusive(connection(), KEY, what="start"):  # type: ignore[arg-type]
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        began = time.monotonic()
        with pytest.raises(LocalLockTimeoutError), \
                sync_exclusive.exclusive(connection(total_timeout=0.3), KEY, what="start"):  # type: ignore[arg-type]
            pass
        assert time.monotonic() - began < 1.5

        async def wait_async() -> None:
            async with async_exclusive.exclusive(async_connection(0.3), KEY, what="start"):  # type: ignore[arg-type]
                pass

        with pytest.raises(LocalLockTimeoutError):
            asyncio.run(wait_async())
    finally:
        release.set()
        thread.join()


def test_a_failure_inside_releases_the_key(state: Path) -> None:
    ft = connection(total_timeout=0.3)
    with pytest.raises(RuntimeError), sync_exclusive.exclusive(ft, KEY, what="start"):  # type: ignore[arg-type]
        raise RuntimeError("boom")
    with sync_exclusive.exclusive(ft, KEY, what="start"):  # type: ignore[arg-type]
        pass


def test_the_state_files_are_private_and_name_neither_endpoint_nor_key(state: Path) -> None:
    with sync_exclusive.exclusive(connection(), KEY, what="start") as ledger:  # type: ignore[arg-type]
        assert ledger.read() is None
        ledger.write("ftjob-canary-1")
    with sync_exclusive.exclusive(connection(), KEY, what="start") as ledger:  # type: ignore[arg-type]
        entry = ledger.read()
        assert entry is not None and entry["id"] == "ftjob-canary-1"

    files = [path for path in state.rglob("*") if path.is_file()]
    folders = [state, *(path for path in state.rglob("*") if path.is_dir())]
    assert {path.suffix for path in files} == {".lock", ".json"}
    if os.name == "posix":
        assert all(stat.S_IMODE(path.stat().st_mode) == 0o700 for path in folders)
        assert all(stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 for path in files)
    for path in files:
        text = path.read_bytes().decode()
        for canary in ("acct-canary", "CANARY", "canary-fingerprint", "services.ai.azure.com"):
            assert canary not in path.name and canary not in text


def test_an_unusable_state_folder_still_serialises_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FOUNDRY_TUNE_STATE_DIR", str(blocker / "state"))
    with sync_exclusive.exclusive(connection(), KEY, what="start") as ledger:  # type: ignore[arg-type]
        ledger.write("ftjob-1")
        assert ledger.read() is None
    assert "FOUNDRY_TUNE_STATE_DIR" in caplog.text

