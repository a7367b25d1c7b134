"""Foundation behaviour users rely on: the package imports, the CLI answers, errors render."""

from __future__ import annotations

import pickle

import pytest

import foundry_tune
from foundry_tune import MethodKind, lookup_model
from foundry_tune._method_kind import parse_method_kind
from foundry_tune.cli import main
from foundry_tune.errors import InvalidParameterError, ServiceError


def test_version_is_exposed() -> None:
    assert foundry_tune.__version__.count(".") >= 2


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert foundry_tune.__version__ in capsys.readouterr().out


def test_cli_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [("sft", MethodKind.SUPERVISED), ("DPO", MethodKind.DPO), ("reinforcement", MethodKind.REINFORCEMENT)],
)
def test_method_names(name: str, expected: MethodKind) -> None:
    assert parse_method_kind(name) is expected


def test_unknown_method_names_the_choices() -> None:
    with pytest.raises(InvalidParameterError, match="'sft'"):
        parse_method_kind("ppo")


@pytest.mark.parametrize(
    ("name", "base", "limit"),
    [
        ("gpt-4.1-mini", "gpt-4.1-mini", 65_536),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano", 32_768),
        ("gpt-35-turbo-0125", "gpt-35-turbo", 16_385),
        ("gpt-4o-2024-08-06.ft-abc123", "gpt-4o", 65_536),
    ],
)
def test_model_lookup_tolerates_versions(name: str, base: str, limit: int) -> None:
    info = lookup_model(name)
    assert info is not None and info.name == base and info.max_example_tokens == limit


def test_service_error_keeps_fields_through_pickle() -> None:
    err = ServiceError("too many requests", status=429, code="rate_limit", request_id="req-1")
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.status, clone.code, clone.request_id) == (429, "rate_limit", "req-1")
    assert "req-1" in str(clone)


def test_every_public_name_resolves() -> None:
    missing = [name for name in foundry_tune.__all__ if getattr(foundry_tune, name, None) is None]
    assert missing == []


def test_importing_the_dataset_layer_does_not_load_the_sdks() -> None:
    import subprocess
    import sys

    code = (
        "import sys, foundry_tune.dataset, foundry_tune.cli._validate\n"
        "mods = ('openai', 'azure.ai.projects', 'azure.identity', 'httpx2')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
