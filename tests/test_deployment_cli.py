"""``foundry-tune deploy``: a thin layer over ft.deployments (in-memory ARM, real loopback HTTP)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import pytest
from _cli_helpers import arm_connect
from _client_fakes import FakeArm, Reply, ScriptedServer, chat_completion

from foundry_tune.cli import _deploy, main
from foundry_tune.deployment import BillingWarning

FT_MODEL = "gpt-4.1-mini-2025-04-14.ft-abc"


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    server = ScriptedServer()
    server.default["/api/projects/p/openai/v1/chat/completions"] = Reply(200, chat_completion("cli answer"))
    fake = FakeArm()
    monkeypatch.setattr(_deploy, "connect", arm_connect(server, fake))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BillingWarning)
        yield fake
    server.close()


def test_create_list_chat_delete(arm, capsys):
    assert main(["deploy", "create", FT_MODEL, "--name", "cli-dep", "--capacity", "5", "--job-id", "j1"]) == 0
    assert "cli-dep" in capsys.readouterr().out
    assert json.loads(arm.puts()[0].content)["sku"]["capacity"] == 5

    assert main(["deploy", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "cli-dep" and listed[0]["job_id"] == "j1"
    assert listed[0]["created_by_foundry_tune"] is True

    assert main(["deploy", "chat", "cli-dep", "hello"]) == 0
    assert capsys.readouterr().out.strip() == "cli answer"

    assert main(["deploy", "delete", "cli-dep"]) == 0
    assert arm.deployments == {}


def test_cleanup_is_a_dry_run_without_yes(arm, capsys):
    arm.add("mine", FT_MODEL, tags={"created-by": "foundry-tune"})
    arm.add("theirs", "gpt-4o")
    assert main(["deploy", "cleanup"]) == 0
    out = capsys.readouterr().out
    assert "mine" in out and "theirs" not in out and "dry run" in out
    assert set(arm.deployments) == {"mine", "theirs"}
    assert main(["deploy", "cleanup", "--yes"]) == 0
    assert set(arm.deployments) == {"theirs"}


def test_errors_exit_1_with_a_message(arm, capsys):
    arm.add("taken", "gpt-4o")
    assert main(["deploy", "create", FT_MODEL, "--name", "taken"]) == 1
    assert "already used by model" in capsys.readouterr().err
    assert main(["deploy", "show", "missing"]) == 1


def test_no_subcommand_is_a_usage_error(arm):
    assert main(["deploy"]) == 2


def test_missing_settings_are_listed(monkeypatch, capsys):
    for name in ("AZURE_AI_PROJECT_ENDPOINT", "FOUNDRY_PROJECT_ENDPOINT", "AZURE_SUBSCRIPTION_ID",
                 "AZURE_RESOURCE_GROUP", "AZURE_AI_ACCOUNT_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert main(["deploy", "list"]) == 1
    err = capsys.readouterr().err
    assert "AZURE_AI_PROJECT_ENDPOINT" in err and "AZURE_SUBSCRIPTION_ID" in err
