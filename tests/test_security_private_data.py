"""The emulator's data folder is private to its user: folders 0700, files 0600 (it holds uploaded
training data, job requests with their graders' keys, and a TLS private key)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._demo_data import demo_records
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.methods import Supervised

pytestmark = [pytest.mark.skipif(os.name != "posix", reason="POSIX file modes"),
              pytest.mark.filterwarnings("ignore::foundry_tune._core.billing.BillingWarning")]


def loose_modes(root: Path) -> list[str]:
    """Every path under ``root`` (and ``root``) that anyone but its owner may read or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        if mode & 0o077 or (path.is_dir() and mode != expected):
            found.append(f"{path.relative_to(root)}: {oct(mode)}")
    return found


@pytest.mark.emulator
def test_everything_the_emulator_writes_is_private(make_foundry: Callable[..., Foundry],
                                                   tmp_path: Path) -> None:
    data_dir = tmp_path / "emulator-data"
    ft = make_foundry(data_dir=data_dir, tls=True, job_duration=0.5)
    train = Dataset.from_records(demo_records(12, seed=5), name="private.jsonl")
    job = ft.fine_tune("gpt-4.1-mini").train_on(train).method(Supervised(n_epochs=1)).start()
    job.wait(timeout=60, progress=False, poll=0.2)
    written = {p.name for p in data_dir.rglob("*")}
    assert {"blobs", "emulator.sqlite3", "emulator.log", "server-key.pem"} <= written
    assert any(p.is_file() for p in (data_dir / "blobs").iterdir())  # the uploaded bytes
    assert loose_modes(data_dir) == []


def test_the_store_and_the_certificates_are_private_in_any_process(tmp_path: Path) -> None:
    # In this test process the umask is the user's (often 022): the modes are set explicitly.
    from foundry_tune.emulator._store import Store
    from foundry_tune.emulator._tls import make_certificates

    previous = os.umask(0o022)
    try:
        store = Store(tmp_path / "state")
        store.put("file", {"id": "file-1"})
        store.close()
        make_certificates(tmp_path / "state" / "tls", "127.0.0.1")
    finally:
        os.umask(previous)
    root = tmp_path / "state"
    key = root / "tls" / "server-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "emulator.sqlite3").stat().st_mode) == 0o600
    for folder in (root, root / "blobs", root / "tls"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
