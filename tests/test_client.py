"""Foundry: settings from the environment, https enforcement, reprs without secrets, one retry policy."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from _client_fakes import FakeClock, Reply, ScriptedServer

from foundry_tune import Foundry, RetryPolicy
from foundry_tune.client import StaticTokenCredential
from foundry_tune.errors import ConfigurationError, RetryBudgetExceededError

SECRET = "tok-7f3a9c-super-secret-value"
REMOTE = "https://contoso-ai.services.ai.azure.com/api/projects/proj1"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


def test_from_env_lists_every_missing_setting_in_one_error():
    with pytest.raises(ConfigurationError) as info:
        Foundry.from_env({})
    text = str(info.value)
    for name in ("AZURE_AI_PROJECT_ENDPOINT", "FOUNDRY_PROJECT_ENDPOINT", "AZURE_SUBSCRIPTION_ID",
                 "AZURE_RESOURCE_GROUP", "AZURE_AI_ACCOUNT_NAME"):
        assert name in text


def test_from_env_requires_deployment_settings_only_when_asked():
    env = {"AZURE_AI_PROJECT_ENDPOINT": REMOTE}
    with Foundry.from_env(env, credential=StaticTokenCredential(SECRET)) as ft:
        assert ft.endpoint == REMOTE
        assert ft.arm_settings.account_name == "contoso-ai"  # from the endpoint's host
        # ARM settings are checked, all at once, when deployments are first used
        with pytest.raises(ConfigurationError) as info:
            ft.deployments.list()
        assert "AZURE_SUBSCRIPTION_ID" in str(info.value) and "AZURE_RESOURCE_GROUP" in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        Foundry.from_env(env, credential=StaticTokenCredential(SECRET), require_deployments=True)
    assert "AZURE_SUBSCRIPTION_ID" in str(info.value) and "AZURE_RESOURCE_GROUP" in str(info.value)
    assert "AZURE_AI_PROJECT_ENDPOINT" not in str(info.value)


def test_from_env_reads_every_setting():
    env = {
        "FOUNDRY_PROJECT_ENDPOINT": REMOTE,
        "AZURE_SUBSCRIPTION_ID": "sub-1",
        "AZURE_RESOURCE_GROUP": "rg-1",
        "AZURE_AI_ACCOUNT_NAME": "other-account",
        "AZURE_ARM_ENDPOINT": "https://management.usgovcloudapi.net",
    }
    with Foundry.from_env(env, credential=StaticTokenCredential(SECRET), require_deployments=True) as ft:
        s = ft.arm_settings
        assert (s.subscription_id, s.resource_group, s.account_name) == ("sub-1", "rg-1", "other-account")
        assert ft.arm.endpoint == "https://management.usgovcloudapi.net"
        assert ft.arm.account_path == ("/subscriptions/sub-1/resourceGroups/rg-1/providers/"
                                       "Microsoft.CognitiveServices/accounts/other-account")


def test_from_env_defaults_to_default_azure_credential():
    from azure.identity import DefaultAzureCredential

    with Foundry.from_env({"AZURE_AI_PROJECT_ENDPOINT": REMOTE}) as ft:
        assert isinstance(ft.credential, DefaultAzureCredential)


@pytest.mark.parametrize("url", [
    "http://contoso.services.ai.azure.com/api/projects/p",
    "http://10.0.0.5:8080/api/projects/p",
    "ftp://127.0.0.1/api/projects/p",
    "not a url",
])
def test_plain_http_to_a_remote_host_is_refused(url):
    with pytest.raises(ConfigurationError):
        Foundry(url, StaticTokenCredential(SECRET))


def test_plain_http_arm_endpoint_is_refused():
    with pytest.raises(ConfigurationError, match="ARM endpoint"):
        Foundry(REMOTE, StaticTokenCredential(SECRET), arm_endpoint="http://management.example.com")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_plain_http_to_loopback_is_allowed(host):
    with Foundry(f"http://{host}:9/api/projects/p", StaticTokenCredential(SECRET)) as ft:
        assert ft.endpoint.startswith("http://")


def test_repr_shows_the_endpoint_never_the_token():
    cred = StaticTokenCredential(SECRET)
    with Foundry(REMOTE, cred, subscription_id="s", resource_group="r") as ft:
        text = repr(ft) + repr(cred) + repr(ft.retry) + repr(ft.arm) + repr(ft.deployments)
        assert REMOTE in repr(ft)
        assert SECRET not in text
        assert "contoso-ai" in repr(ft)


def test_project_client_uses_our_token_and_no_sdk_retries(server):
    busy = Reply(503, {"error": {"code": "busy", "message": "x"}})
    server.default["/api/projects/p/openai/v1/models"] = busy
    clock = FakeClock()
    retry = RetryPolicy(max_attempts=3, sleep=clock.sleep, clock=clock)
    with Foundry(server.url + "/api/projects/p", StaticTokenCredential(SECRET), retry=retry) as ft:
        assert ft.openai.max_retries == 0
        assert str(ft.openai.base_url).startswith(server.url + "/api/projects/p/openai/v1")
        with pytest.raises(RetryBudgetExceededError) as info:
            ft.retry.call(ft.openai.models.list, what="list models")
    # exactly our three attempts reached the server: the SDK added none of its own
    assert server.hits("/api/projects/p/openai/v1/models") == 3
    assert server.seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def test_from_openai_client_switches_sdk_retries_off(server):
    server.default["/openai/v1/models"] = Reply(200, {"object": "list", "data": []})
    original = openai.OpenAI(api_key="key-123", base_url=server.url + "/openai/v1", max_retries=5)
    ft = Foundry.from_openai_client(original, subscription_id="s", resource_group="r", account_name="acct")
    assert ft.openai.max_retries == 0
    assert original.max_retries == 5
    assert ft.retry.call(ft.openai.models.list, what="list").data == []
    assert server.seen[0].headers["authorization"] == "Bearer key-123"
    assert "key-123" not in repr(ft)
    assert ft.arm_settings.account_name == "acct"
    ft.close()


def test_from_openai_client_refuses_remote_http():
    client = openai.OpenAI(api_key="k", base_url="http://example.com/openai/v1")
    with pytest.raises(ConfigurationError):
        Foundry.from_openai_client(client)


def test_account_is_derived_from_resource_hosts():
    client = openai.OpenAI(api_key="k", base_url="https://myres.openai.azure.com/openai/v1")
    with Foundry.from_openai_client(client, credential=StaticTokenCredential(SECRET)) as ft:
        assert ft.arm_settings.account_name == "myres"


def test_close_is_idempotent_and_context_manager_closes():
    ft = Foundry(REMOTE, StaticTokenCredential(SECRET))
    with ft:
        pass
    ft.close()
    assert ft.openai.is_closed()


def test_static_token_credential_returns_its_token_for_any_scope():
    cred = StaticTokenCredential(SECRET)
    assert cred.get_token("https://management.azure.com/.default").token == SECRET
    assert cred.get_token_info("https://ai.azure.com/.default").token == SECRET
    assert SECRET not in repr(cred)
