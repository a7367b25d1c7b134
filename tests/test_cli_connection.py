"""The network commands reach a running emulator from a shell, with the token kept out of `ps`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from foundry_tune.client import Foundry, StaticTokenCredential
from foundry_tune.emulator import Emulator, EmulatorInfo

TOKEN = "cli-conn-token-7f3a9c"

# An emulator of this module's own: it needs a token, and the commands must list nothing.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(token=TOKEN, job_duration=2)]


def _env(info: EmulatorInfo, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))}
    env.update(
        AZURE_AI_PROJECT_ENDPOINT=info.project_endpoint,
        AZURE_SUBSCRIPTION_ID=info.subscription_id,
        AZURE_RESOURCE_GROUP=info.resource_group,
        AZURE_AI_ACCOUNT_NAME=info.account_name,
        AZURE_ARM_ENDPOINT=info.arm_endpoint,
    )
    if token is not None:
        env["FOUNDRY_TUNE_EMULATOR_TOKEN"] = token
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foundry_tune", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_the_token_is_not_on_the_emulators_command_line(emulator: Emulator) -> None:
    emu = emulator
    assert emu.pid is not None
    cmdline = Path(f"/proc/{emu.pid}/cmdline").read_bytes().decode(errors="replace")
    assert "foundry_tune.emulator" in cmdline
    assert TOKEN not in cmdline


def test_jobs_and_deploy_commands_reach_a_running_emulator(emulator_info: EmulatorInfo) -> None:
    info = emulator_info
    env = _env(info, TOKEN)
    jobs = _cli(env, "jobs", "list", "--json")
    assert jobs.returncode == 0, jobs.stderr
    assert json.loads(jobs.stdout) == []
    deployments = _cli(env, "deploy", "list", "--json")
    assert deployments.returncode == 0, deployments.stderr
    assert json.loads(deployments.stdout) == []


def test_a_wrong_token_is_one_clear_line_not_a_traceback(emulator_info: EmulatorInfo) -> None:
    info = emulator_info
    result = _cli(_env(info, "not-the-token"), "jobs", "list")
    assert result.returncode == 1
    assert result.stderr.startswith("foundry-tune jobs: error:")
    assert "Traceback" not in result.stderr
    assert "not-the-token" not in result.stderr


def test_from_env_on_loopback_uses_the_emulator_token() -> None:
    env = {"AZURE_AI_PROJECT_ENDPOINT": "http://127.0.0.1:9/api/projects/default",
           "FOUNDRY_TUNE_EMULATOR_TOKEN": TOKEN}
    ft = Foundry.from_env(env)
    try:
        credential = ft._credential
        assert isinstance(credential, StaticTokenCredential)
        assert credential.get_token("https://ai.azure.com/.default").token == TOKEN
        assert TOKEN not in repr(ft)
    finally:
        ft.close()


def test_async_from_env_on_loopback_uses_the_emulator_token() -> None:
    import asyncio

    from foundry_tune.aio import AsyncFoundry, AsyncStaticTokenCredential

    env = {"AZURE_AI_PROJECT_ENDPOINT": "http://127.0.0.1:9/api/projects/default",
           "FOUNDRY_TUNE_EMULATOR_TOKEN": TOKEN}

    async def check() -> None:
        ft = AsyncFoundry.from_env(env)
        try:
            credential = ft._credential
            assert isinstance(credential, AsyncStaticTokenCredential)
            assert (await credential.get_token("https://ai.azure.com/.default")).token == TOKEN
        finally:
            await ft.aclose()

    asyncio.run(check())


def test_a_remote_endpoint_still_signs_in_with_azure_identity() -> None:
    env = {"AZURE_AI_PROJECT_ENDPOINT": "https://contoso.services.ai.azure.com/api/projects/p",
           "FOUNDRY_TUNE_EMULATOR_TOKEN": TOKEN}
    ft = Foundry.from_env(env)
    try:
        assert not isinstance(ft._credential, StaticTokenCredential)
    finally:
        ft.close()
