"""The CLI speaks like a CLI: plain one-line notices, usage errors with exit code 2, errors as JSON
with ``--json``, a deployment already gone said so, a missing extra named in one line, and the
emulator's ``export`` lines for a second shell."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli_helpers import Borrowed, arm_connect
from _cli_helpers import run_cli as _run
from _client_fakes import FakeArm, ScriptedServer

from foundry_tune import Foundry
from foundry_tune._core import billing
from foundry_tune.cli import _deploy, _jobs, main
from foundry_tune.cli._emulator import environment_lines

FT_MODEL = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef0123456789abcdef-speaks"


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    """An in-memory ARM (not an emulator: the hosting-cost notice is shown for real resources)."""
    server = ScriptedServer()
    fake = FakeArm()
    monkeypatch.setattr(_deploy, "connect", arm_connect(server, fake))
    yield fake
    server.close()


# -- the hosting-cost notice ------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True])
def test_the_hosting_cost_notice_is_one_plain_line(
    arm: FakeArm, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    billing._reset_for_tests()
    argv = ["deploy", "create", FT_MODEL, "--name", "notice", "--no-wait"] + (["--json"] if as_json else [])
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "bill a hosting fee for every hour" in lines[0]
    assert "BillingWarning" not in lines[0] or as_json
    assert ".py" not in err and "warnings.warn" not in err
    if as_json:
        assert json.loads(lines[0]) == {"warning": {"type": "BillingWarning", "message": billing.MESSAGE}}
        json.loads(out)  # stdout is still the result alone
    else:
        assert lines[0].startswith("foundry-tune deploy: note: Fine-tuned model deployments bill")


def test_a_developer_deployment_has_no_notice(arm: FakeArm, capsys: pytest.CaptureFixture[str]) -> None:
    billing._reset_for_tests()
    code, _, err = _run(capsys, "deploy", "create", FT_MODEL, "--name", "dev", "--sku", "Developer",
                        "--no-wait")
    assert code == 0 and err == ""


# -- usage errors and JSON errors ----------------------------------------------------------------------


def test_an_unknown_status_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "jobs", "list", "--status", "finished")
    assert code == 2 and out == ""
    assert "invalid choice: 'finished'" in err and "succeeded" in err
    assert err.splitlines()[0].startswith("usage: foundry-tune jobs list")


def test_a_usage_error_with_json_is_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "jobs", "list", "--status", "finished", "--json")
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    error = json.loads(line)["error"]
    assert error["type"] == "UsageError" and "invalid choice: 'finished'" in error["message"]
    assert error["hint"] == "see 'foundry-tune jobs list --help'"


@pytest.mark.emulator
def test_status_filters_accept_any_casing(ft: Foundry, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    code, out, err = _run(capsys, "jobs", "list", "--status", "SUCCEEDED", "--status", "Failed", "--json",
                          "--limit", "100")
    assert code == 0, err
    assert {job["status"] for job in json.loads(out)} <= {"succeeded", "failed"}


@pytest.mark.emulator
def test_library_errors_with_json_are_json_on_stderr(ft: Foundry, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    code, out, err = _run(capsys, "jobs", "show", "ftjob-00000000000000000000000000000000", "--json")
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    error = json.loads(line)["error"]
    assert error["type"].endswith("Error") and "ftjob-00000000000000000000000000000000" in error["message"]
    assert set(error) == {"type", "message", "hint"}

    code, out, err = _run(capsys, "jobs", "show", "ftjob-00000000000000000000000000000000")
    assert code == 1 and out == ""
    assert err.startswith("foundry-tune jobs: error: ") and not err.lstrip().startswith("{")


def test_missing_settings_with_json(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AZURE_AI_PROJECT_ENDPOINT", "FOUNDRY_PROJECT_ENDPOINT", "AZURE_SUBSCRIPTION_ID",
                 "AZURE_RESOURCE_GROUP", "AZURE_AI_ACCOUNT_NAME"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = _run(capsys, "deploy", "list", "--json")
    assert code == 1 and out == ""
    error = json.loads(err)["error"]
    assert error["type"] == "ConfigurationError" and "AZURE_AI_PROJECT_ENDPOINT" in error["message"]


@pytest.mark.parametrize("argv", [
    ["validate", "no-such-file.jsonl", "--json"],
    ["eval", "no-such-file.jsonl", "--base", "gpt-4.1-mini", "--json"],
    ["jobs", "create", "--model", "gpt-4.1-mini", "--training-file", "no-such-file.jsonl", "--json"],
    ["doctor", "--compare", "no-such-file.json", "--json"],
])
def test_every_commands_usage_errors_are_json_with_json(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    error = json.loads(line)["error"]
    assert error["type"] == "UsageError" and "no-such-file" in error["message"]


# -- deleting what is already gone ----------------------------------------------------------------------


@pytest.mark.emulator
def test_deleting_a_deployment_that_is_gone_says_so(ft: Foundry, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_deploy, "connect", lambda: Borrowed(ft))
    code, out, err = _run(capsys, "deploy", "delete", "cli-speaks-never-made")
    assert (code, err) == (0, "")
    assert out == "deployment cli-speaks-never-made is already gone: nothing to delete\n"
    code, out, _ = _run(capsys, "deploy", "delete", "cli-speaks-never-made", "--json")
    assert code == 0 and json.loads(out) == {"name": "cli-speaks-never-made", "result": "already_gone"}


def test_deleting_an_existing_deployment_deletes_it(arm: FakeArm, capsys: pytest.CaptureFixture[str]) -> None:
    arm.add("there", FT_MODEL, tags={"created-by": "foundry-tune"})
    code, out, _ = _run(capsys, "deploy", "delete", "there")
    assert code == 0 and out == "deployment there deleted\n" and arm.deployments == {}
    code, out, _ = _run(capsys, "deploy", "delete", "there")
    assert code == 0 and "already gone" in out


# -- a missing optional extra -------------------------------------------------------------------------------


def _without(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    """Make ``import <package>`` fail as it does where the extra is not installed."""
    for name in list(sys.modules):
        if name in packages or name.startswith(tuple(p + "." for p in packages)):
            monkeypatch.delitem(sys.modules, name)
    for package in packages:
        monkeypatch.setitem(sys.modules, package, None)


def test_the_emulator_command_without_its_extra_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without(monkeypatch, "uvicorn")
    monkeypatch.delitem(sys.modules, "foundry_tune.emulator._server", raising=False)  # imported afresh
    code, out, err = _run(capsys, "emulator", "--port", "0")
    assert code == 1 and out == ""
    assert err == ("foundry-tune emulator: error: this needs the optional package 'uvicorn' of the "
                   "'emulator' extra: pip install 'foundry-tune[emulator]'\n")


def test_the_demo_without_the_emulator_extra_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _without(monkeypatch, "starlette", "uvicorn")
    code, _, err = _run(capsys, "demo", "--out", str(tmp_path / "demo"))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("foundry-tune demo: error: ")
    assert "pip install 'foundry-tune[emulator]'" in lines[0] and "Traceback" not in err


def test_eval_plot_without_the_plot_extra_stops_before_any_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "held-out.jsonl"
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    data.write_text(json.dumps(row) + "\n", encoding="utf-8")
    monkeypatch.setenv("AZURE_AI_PROJECT_ENDPOINT", "http://127.0.0.1:9/api/projects/none")  # nothing listens
    _without(monkeypatch, "matplotlib")
    code, out, err = _run(capsys, "eval", str(data), "--base", "gpt-4.1-mini",
                          "--plot", str(tmp_path / "p.png"))
    assert code == 1 and out == ""
    assert err == ("foundry-tune eval: error: this needs the optional package 'matplotlib' of the 'plot' "
                   "extra: pip install 'foundry-tune[plot]'\n")


def test_any_command_that_meets_a_missing_extra_names_it(
    arm: FakeArm, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def needs_pandas(*args: object, **kwargs: object) -> None:
        import pandas  # noqa: F401

    _without(monkeypatch, "pandas")
    monkeypatch.setattr(_deploy, "_list", lambda ft, args, out: needs_pandas())
    code, out, err = _run(capsys, "deploy", "list", "--json")
    assert code == 1 and out == ""
    error = json.loads(err)["error"]
    assert error == {"type": "MissingExtraError", "hint": "pip install 'foundry-tune[pandas]'",
                     "message": "this needs the optional package 'pandas' of the 'pandas' extra: "
                                "pip install 'foundry-tune[pandas]'"}


def test_an_unrelated_import_error_is_not_called_a_missing_extra(
    arm: FakeArm, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> int:
        raise ModuleNotFoundError("No module named 'not_an_extra'", name="not_an_extra")

    monkeypatch.setattr(_deploy, "_list", broken)
    with pytest.raises(ModuleNotFoundError):
        main(["deploy", "list"])


# -- the emulator's environment for a second shell ----------------------------------------------------------


def test_environment_lines_name_every_setting_and_no_secret() -> None:
    info = {"project_endpoint": "http://0.0.0.0:8123/api/projects/default", "arm_endpoint": "http://0.0.0.0:8123",
            "subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg one",
            "account_name": "emulator", "ca_cert": "/tmp/x/ca.pem", "token_required": True}
    lines = environment_lines(info)
    exports = dict(shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export "))
    assert exports == {
        "AZURE_AI_PROJECT_ENDPOINT": "http://127.0.0.1:8123/api/projects/default",
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_RESOURCE_GROUP": "rg one",
        "AZURE_AI_ACCOUNT_NAME": "emulator",
        "AZURE_ARM_ENDPOINT": "http://127.0.0.1:8123",
        "SSL_CERT_FILE": "/tmp/x/ca.pem",
    }
    assert any("FOUNDRY_TUNE_EMULATOR_TOKEN" in line and line.startswith("#") for line in lines)


@pytest.mark.emulator
def test_the_emulator_prints_the_environment_a_second_shell_needs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("uvicorn")
    token = "speaks-secret-4d2c"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_PROJECT"))}
    env["FOUNDRY_TUNE_EMULATOR_TOKEN"] = token
    process = subprocess.Popen([sys.executable, "-m", "foundry_tune", "emulator", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        lines = []
        while len(lines) < 7:
            lines.append(process.stdout.readline().rstrip("\n"))
        assert lines[0].startswith("# ") and all(line.startswith(("export ", "# ")) for line in lines)
        assert not any(token in line for line in lines)
        exports = dict(shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export "))
        assert exports["AZURE_AI_PROJECT_ENDPOINT"] == info["project_endpoint"]
        # What the lines say is enough for the other commands (the token the shell already has).
        for name in ("AZURE_AI_PROJECT_ENDPOINT", "FOUNDRY_PROJECT_ENDPOINT", "AZURE_SUBSCRIPTION_ID",
                     "AZURE_RESOURCE_GROUP", "AZURE_AI_ACCOUNT_NAME", "AZURE_ARM_ENDPOINT"):
            monkeypatch.delenv(name, raising=False)
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("FOUNDRY_TUNE_EMULATOR_TOKEN", token)
        assert _run(capsys, "deploy", "list", "--json")[:2] == (0, "[]\n")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
