"""One trust configuration: the OpenAI data plane and ARM use the same CA bundle and proxy."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from foundry_tune import ConfigurationError, Foundry, FoundryTuneError
from foundry_tune._core.trust import Trust
from foundry_tune.aio import AsyncFoundry
from foundry_tune.client import StaticTokenCredential
from foundry_tune.emulator import Emulator


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({"HTTPS_PROXY": "http://p:3128"}, "https://acct.services.ai.azure.com/x", "http://p:3128"),
        ({"https_proxy": "http://p:3128"}, "https://management.azure.com/x", "http://p:3128"),
        ({"HTTPS_PROXY": "http://p:3128"}, "http://127.0.0.1:8000/x", None),  # no http proxy set
        ({"HTTP_PROXY": "http://p:1"}, "http://127.0.0.1:8000/x", "http://p:1"),
        ({"ALL_PROXY": "http://all:1"}, "https://management.azure.com/x", "http://all:1"),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "azure.com"}, "https://management.azure.com/x", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".azure.com"}, "https://a.services.ai.azure.com/", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "notazure.com"}, "https://management.azure.com/",
         "http://p:1"),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "localhost, 127.0.0.1:80"}, "https://127.0.0.1:9/", None),
        ({"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}, "https://management.azure.com/", None),
        ({}, "https://management.azure.com/", None),
    ],
)
def test_proxy_choice_follows_the_environment_like_curl(env: dict[str, str], url: str,
                                                         expected: str | None) -> None:
    assert Trust(env=env).proxy_for(url) == expected


def test_an_explicit_proxy_wins_for_every_host() -> None:
    trust = Trust(proxy="http://corp:8080", env={"NO_PROXY": "*"})
    assert trust.proxy_for("https://management.azure.com/") == "http://corp:8080"


@pytest.mark.parametrize(
    ("verify", "env", "expected"),
    [
        ("/etc/corp-ca.pem", {"SSL_CERT_FILE": "/other.pem"}, "/etc/corp-ca.pem"),
        (True, {"SSL_CERT_FILE": "/a.pem", "REQUESTS_CA_BUNDLE": "/b.pem"}, "/a.pem"),
        (True, {"REQUESTS_CA_BUNDLE": "/b.pem"}, "/b.pem"),
        (True, {"CURL_CA_BUNDLE": "/c.pem"}, "/c.pem"),
        (True, {}, None),
        (False, {"SSL_CERT_FILE": "/a.pem"}, None),
    ],
)
def test_ca_bundle_choice(verify: bool | str, env: dict[str, str], expected: str | None) -> None:
    assert Trust(verify, env=env).ca_bundle() == expected


def test_a_missing_ca_bundle_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError, match=r"no-such-ca\.pem"):
        Trust("/nowhere/no-such-ca.pem").ssl_context()


def _connect(info: Any, **kwargs: Any) -> Foundry:
    return Foundry(info.project_endpoint, StaticTokenCredential("t"), subscription_id=info.subscription_id,
                   resource_group=info.resource_group, account_name=info.account_name,
                   arm_endpoint=info.arm_endpoint, **kwargs)


def _both_planes(ft: Foundry) -> tuple[object, object]:
    """One data-plane call (OpenAI files) and one ARM call (deployments), each as result or error."""
    outcomes: list[object] = []
    for call in (lambda: ft.retry.call(ft.openai.files.list, what="list files"),
                 lambda: list(ft.arm.list("/deployments", what="list deployments"))):
        try:
            outcomes.append(call())
        except FoundryTuneError as exc:
            outcomes.append(exc)
    return outcomes[0], outcomes[1]


@pytest.fixture(scope="module")
def tls_emulator() -> Iterator[Any]:
    with Emulator(tls=True) as emulator:
        yield emulator.info


def test_a_ca_bundle_from_the_environment_reaches_both_planes(tls_emulator: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from foundry_tune import RetryPolicy

    quick = RetryPolicy(max_attempts=1, total_timeout=10)
    with _connect(tls_emulator, retry=quick) as ft:  # the emulator's CA is not trusted
        data, arm = _both_planes(ft)
    assert isinstance(data, FoundryTuneError) and isinstance(arm, FoundryTuneError)
    monkeypatch.setenv("SSL_CERT_FILE", tls_emulator.ca_cert)
    with _connect(tls_emulator, retry=quick) as ft:
        data, arm = _both_planes(ft)
    assert not isinstance(data, BaseException), data
    assert arm == []


class _Proxy(http.server.ThreadingHTTPServer):
    seen: list[tuple[str, str]]


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """A forward HTTP proxy that records each request line (absolute-form URL) and relays it."""

    server: _Proxy

    def _relay(self) -> None:
        url = urlsplit(self.path)
        self.server.seen.append((self.command, url.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=30)
        hop = ("proxy-connection", "connection")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
        upstream.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body, headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _relay

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    server = _Proxy(("127.0.0.1", 0), _ProxyHandler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def plain_emulator() -> Iterator[Any]:
    with Emulator() as emulator:
        yield emulator.info


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_environment_proxy_carries_both_planes(plain_emulator: Any, proxy: _Proxy,
                                                    monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    if flavour == "sync":
        with _connect(plain_emulator) as ft:
            data, arm = _both_planes(ft)
        assert not isinstance(data, BaseException) and arm == []
    else:
        import asyncio

        from foundry_tune.aio import AsyncStaticTokenCredential

        async def run() -> None:
            info = plain_emulator
            async with AsyncFoundry(info.project_endpoint, AsyncStaticTokenCredential("t"),
                                    subscription_id=info.subscription_id, resource_group=info.resource_group,
                                    account_name=info.account_name, arm_endpoint=info.arm_endpoint) as aft:
                await aft.retry.call(aft.openai.files.list, what="list files")
                assert [item async for item in aft.arm.list("/deployments", what="list")] == []

        asyncio.run(run())
    paths = [path for _, path in proxy.seen]
    assert any(path.endswith("/files") for path in paths), paths
    assert any("/providers/Microsoft.CognitiveServices/accounts/" in path for path in paths), paths
