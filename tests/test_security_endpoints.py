"""Plain http is refused for every host but this machine, through every way of connecting, before
any credential is asked for or sent."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from foundry_tune._sync._credentials import StaticTokenCredential
from foundry_tune.client import Foundry
from foundry_tune.errors import ConfigurationError

REMOTE_HTTP = [
    "http://contoso.services.ai.azure.com/api/projects/p",
    "http://10.0.0.5/api/projects/p",
    "http://127.0.0.1.nip.io/api/projects/p",  # looks local, resolves anywhere
    "http://localhost.example.com/api/projects/p",
    "http://127.0.0.1@evil.example.com/api/projects/p",  # userinfo trick: the host is evil.example.com
    "http://0.0.0.0/api/projects/p",  # every interface, not loopback
    "HTTP://CONTOSO.services.ai.azure.com/api/projects/p",
]
LOOPBACK_HTTP = ["http://127.0.0.1:8080/api/projects/p", "http://localhost:1/api/projects/p",
                 "http://[::1]:9/api/projects/p", "http://127.3.4.5/api/projects/p"]


class CountingCredential:
    """Fails the test if a token is ever asked for."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("a token was requested for a refused endpoint")

    get_token_info = get_token


@pytest.mark.parametrize("url", REMOTE_HTTP)
def test_foundry_refuses_remote_plain_http(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Foundry(url, CountingCredential())  # type: ignore[arg-type]
    assert "https" in str(info.value) and "plain http" in str(info.value)


@pytest.mark.parametrize("url", REMOTE_HTTP)
def test_arm_endpoint_refuses_remote_plain_http(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Foundry("https://acct.services.ai.azure.com/api/projects/p", CountingCredential(),  # type: ignore[arg-type]
                arm_endpoint=url.split("/api/", maxsplit=1)[0])


@pytest.mark.parametrize("url", REMOTE_HTTP)
def test_from_env_refuses_remote_plain_http(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Foundry.from_env({"AZURE_AI_PROJECT_ENDPOINT": url}, credential=CountingCredential())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Foundry.from_env({"AZURE_AI_PROJECT_ENDPOINT": "https://a.services.ai.azure.com/api/projects/p",
                          "AZURE_ARM_ENDPOINT": url.split("/api/", maxsplit=1)[0]},
                         credential=CountingCredential())  # type: ignore[arg-type]


@pytest.mark.parametrize("url", REMOTE_HTTP)
def test_from_openai_client_refuses_remote_plain_http(url: str) -> None:
    client = openai.OpenAI(api_key="k", base_url=url.split("/api/", maxsplit=1)[0] + "/openai/v1")
    with pytest.raises(ConfigurationError):
        Foundry.from_openai_client(client)


@pytest.mark.parametrize("url", LOOPBACK_HTTP)
def test_loopback_plain_http_is_allowed(url: str) -> None:
    with Foundry(url, StaticTokenCredential("t"), arm_endpoint=url.split("/api/", maxsplit=1)[0]) as ft:
        assert ft.endpoint == url
