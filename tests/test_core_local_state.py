"""Where the local start state lives and what its files are called and hold (no I/O)."""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath, PureWindowsPath

import pytest

from foundry_tune._core.local_state import (
    entry_name,
    ledger_entry,
    ledger_file_usable,
    ledger_job_usable,
    ledger_text,
    state_dir,
)
from foundry_tune.errors import ConfigurationError

HOME = "/home/ada"


@pytest.mark.parametrize(
    ("env", "os_name", "home", "expected"),
    [
        ({}, "posix", HOME, PurePosixPath("/home/ada/.cache/foundry-tune")),
        ({"XDG_CACHE_HOME": "/var/cache/ada"}, "posix", HOME, PurePosixPath("/var/cache/ada/foundry-tune")),
        ({"XDG_CACHE_HOME": "relative/cache"}, "posix", HOME, PurePosixPath("/home/ada/.cache/foundry-tune")),
        ({"XDG_CACHE_HOME": "  "}, "posix", HOME, PurePosixPath("/home/ada/.cache/foundry-tune")),
        ({"FOUNDRY_TUNE_STATE_DIR": "/srv/ft", "XDG_CACHE_HOME": "/x"}, "posix", HOME,
         PurePosixPath("/srv/ft")),
        ({"FOUNDRY_TUNE_STATE_DIR": "/srv/ft"}, "posix", "", PurePosixPath("/srv/ft")),
        ({"LOCALAPPDATA": r"C:\Users\ada\AppData\Local"}, "nt", r"C:\Users\ada",
         PureWindowsPath(r"C:\Users\ada\AppData\Local\foundry-tune")),
        ({}, "nt", r"C:\Users\ada", PureWindowsPath(r"C:\Users\ada\AppData\Local\foundry-tune")),
        ({"XDG_CACHE_HOME": "/x", "LOCALAPPDATA": r"D:\cache"}, "nt", r"C:\Users\ada",
         PureWindowsPath(r"D:\cache\foundry-tune")),
        ({"FOUNDRY_TUNE_STATE_DIR": r"E:\state"}, "nt", r"C:\Users\ada", PureWindowsPath(r"E:\state")),
    ],
)
def test_state_dir(env: dict[str, str], os_name: str, home: str, expected: object) -> None:
    assert state_dir(env, home=home, os_name=os_name) == expected


def test_state_dir_without_any_home_asks_for_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="FOUNDRY_TUNE_STATE_DIR"):
        state_dir({}, home="", os_name="posix")


ENDPOINT = "https://acct.services.ai.azure.com/api/projects/p?sig=SECRET-SIG"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((ENDPOINT, "job:abc"), (ENDPOINT, "job:abd")),
        ((ENDPOINT, "job:abc"), (ENDPOINT.replace("acct", "other"), "job:abc")),
        ((ENDPOINT, "job:abc"), (ENDPOINT, "file:abc")),
        (("ab", "c"), ("a", "bc")),  # the parts are length-prefixed, not just joined
    ],
)
def test_entry_names_differ_for_different_endpoints_or_keys(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert entry_name(*a) != entry_name(*b)


def test_entry_name_is_a_stable_hex_digest_naming_nothing() -> None:
    name = entry_name(ENDPOINT, "job:abc")
    assert name == entry_name(ENDPOINT, "job:abc")
    assert re.fullmatch(r"[0-9a-f]{64}", name)


def test_ledger_text_round_trips_and_names_only_the_id() -> None:
    text = ledger_text("ftjob-1", 1700000000.5)
    assert ledger_entry(text) == {"id": "ftjob-1", "created_at": 1700000000.5}
    sized = ledger_text("file-1", 1.0, size=42)
    assert ledger_entry(sized) == {"id": "file-1", "created_at": 1.0, "bytes": 42}
    assert "acct" not in text and "SECRET" not in text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",  # torn
        "[]",
        '"ftjob-1"',
        '{"created_at": 1}',
        '{"id": "", "created_at": 1}',
        '{"id": 7, "created_at": 1}',
        '{"id": "ftjob-1\\n", "created_at": 1}',
        '{"id": "ftjob-1"}',
        '{"id": "ftjob-1", "created_at": true}',
        '{"id": "ftjob-1", "created_at": "now"}',
        '{"id": "ftjob-1", "created_at": NaN}',
        '{"id": "ftjob-1", "created_at": 1, "bytes": -1}',
        '{"id": "ftjob-1", "created_at": 1, "bytes": 1.5}',
        '{"id": "ftjob-1", "created_at": 1, "bytes": false}',
        "[" * 100_000,  # deep nesting: not an entry, not a RecursionError
        '{"id": "' + "x" * 300 + '", "created_at": 1}',
    ],
)
def test_what_is_not_a_ledger_entry(text: str) -> None:
    assert ledger_entry(text) is None


@pytest.mark.parametrize(
    ("status", "job_fingerprint", "usable"),
    [
        ("running", "fp", True),
        ("queued", "fp", True),
        ("validating_files", None, True),  # a service that drops metadata
        ("succeeded", "fp", True),
        ("failed", "fp", False),
        ("cancelled", "fp", False),
        ("running", "another", False),
        (None, "fp", True),  # an unknown status counts as live, as everywhere in the library
        ("new_thing", None, True),
    ],
)
def test_ledger_job_usable(status: str | None, job_fingerprint: str | None, usable: bool) -> None:
    assert ledger_job_usable(status, job_fingerprint, "fp") is usable


@pytest.mark.parametrize(
    ("status", "purpose", "listed", "usable"),
    [
        ("processed", "fine-tune", 42, True),
        ("uploaded", "fine-tune", 42, True),  # still processing: waited for
        ("pending", "fine-tune", None, True),  # size not listed
        ("processed", "fine-tune", 41, False),
        ("error", "fine-tune", 42, False),
        ("failed", "fine-tune", 42, False),
        ("deleted", "fine-tune", 42, False),
        ("Deleting", "fine-tune", 42, False),
        ("processed", "assistants", 42, False),
    ],
)
def test_ledger_file_usable(status: str, purpose: str, listed: int | None, usable: bool) -> None:
    assert ledger_file_usable(status, purpose, listed, 42) is usable


def test_created_at_keeps_its_precision() -> None:
    entry = ledger_entry(ledger_text("ftjob-1", math.pi))
    assert entry is not None and entry["created_at"] == math.pi
