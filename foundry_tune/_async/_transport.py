"""The HTTP clients of a connection: one design for the OpenAI data plane (``httpx2``, which the
openai SDK requires) and ARM (``httpx``), built from one [`Trust`][Trust].

Every request runs under the time bound of the code that sends it (a retry policy's budget, a
wait's timeout: [`remaining_budget()`][remaining_budget]), over the whole exchange. The
connection pool of each stack (``httpcore`` under ``httpx``, ``httpcore2`` under ``httpx2``) is
built here on a *deadline-aware network backend*: every connect, TLS handshake, write and read
gets at most the seconds left, and fails with the stack's timeout error once none are left. So a
service that trickles a body one byte at a time, stalls before its headers or hangs after them
cannot carry a call past its bound: a per-read timeout alone never trips on a trickle. Only public
``httpcore`` / ``httpx`` API is used (``network_backend=``, the pool and proxy classes, the
exception names); a transport given by the caller (tests, custom proxies) gets its timeouts capped
when the request starts, as before.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import ModuleType
from typing import Any

import httpcore
import httpcore2
import httpx
import httpx2

from foundry_tune._async import _flavour
from foundry_tune._core.pacing import Pacing
from foundry_tune._core.retry import clamp_timeouts, remaining_budget
from foundry_tune._core.trust import MAX_CONNECTIONS, MAX_KEEPALIVE_CONNECTIONS, Trust

__all__ = ["AsyncBudgetTransport", "DeadlineTransport", "arm_transport", "openai_http_client", "pacing_hook"]

_KEEPALIVE_EXPIRY = 5.0  # httpx's default
# httpcore(2) exception -> httpx(2) exception of the same name (what httpx's own transport maps).
_MAPPED = (
    "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException",
    "ConnectError", "ReadError", "WriteError", "NetworkError", "ProxyError", "UnsupportedProtocol",
    "LocalProtocolError", "RemoteProtocolError", "ProtocolError",
)
_OUT_OF_TIME = "the call's time bound ran out"


def _time_left(core: ModuleType, timeout: float | None, error: str) -> float | None:
    """``timeout`` capped at the seconds left in the running bound; ``core.<error>`` when none are."""
    left = remaining_budget()
    if left is None:
        return timeout
    if left <= 0:
        raise getattr(core, error)(_OUT_OF_TIME)
    return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """A network stream whose every read, write and TLS handshake keeps the running time bound."""

    def __init__(self, inner: Any, core: ModuleType) -> None:
        self._inner = inner
        self._core = core

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = await self._inner.read(max_bytes, _time_left(self._core, timeout, "ReadTimeout"))
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _time_left(self._core, timeout, "WriteTimeout"))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> _DeadlineStream:
        timeout = _time_left(self._core, timeout, "ConnectTimeout")
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _DeadlineStream(inner, self._core)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend:
    """Wraps the flavour's network backend: connections that keep the running time bound."""

    def __init__(self, inner: Any, core: ModuleType) -> None:
        self._inner = inner
        self._core = core

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Any = None,
    ) -> _DeadlineStream:
        timeout = _time_left(self._core, timeout, "ConnectTimeout")
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options)
        return _DeadlineStream(stream, self._core)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> _DeadlineStream:
        timeout = _time_left(self._core, timeout, "ConnectTimeout")
        stream = await self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)
        return _DeadlineStream(stream, self._core)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream, httpx2.AsyncByteStream):
    """A response body from the pool, its failures raised as the stack's (``httpx``/``httpx2``) errors."""

    def __init__(self, inner: Any, errors: _Errors) -> None:
        self._inner = inner
        self._errors = errors

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with self._errors.mapped():
            async for part in self._inner:
                yield part

    async def aclose(self) -> None:
        with self._errors.mapped():
            await self._inner.aclose()


class _Errors:
    """Raises an ``httpcore(2)`` error as the ``httpx(2)`` error of the same name."""

    def __init__(self, core: ModuleType, http: ModuleType) -> None:
        self._table = {getattr(core, name): getattr(http, name) for name in _MAPPED
                       if hasattr(core, name) and hasattr(http, name)}

    @contextlib.contextmanager
    def mapped(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            for cls in type(exc).__mro__:
                target = self._table.get(cls)
                if target is not None:
                    raise target(str(exc)) from exc
            raise


def _ssl_context(trust: Trust) -> ssl.SSLContext:
    context = trust.ssl_context()
    if context is not False:
        assert isinstance(context, ssl.SSLContext)
        return context
    unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verify=False: what httpx builds for it
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    return unverified


class DeadlineTransport(httpx.AsyncBaseTransport, httpx2.AsyncBaseTransport):
    """An ``httpx`` (``core=httpcore``) or ``httpx2`` (``core=httpcore2``) transport whose requests
    keep the running time bound over the whole exchange (see the module docs)."""

    def __init__(self, http: ModuleType, core: ModuleType, *, endpoint: str, trust: Trust) -> None:
        self._http = http
        self._core = core
        self._errors = _Errors(core, http)
        pool_class, proxy_class, backend = _flavour.httpcore_classes(core)
        options: dict[str, Any] = {
            "ssl_context": _ssl_context(trust),
            "max_connections": MAX_CONNECTIONS,
            "max_keepalive_connections": MAX_KEEPALIVE_CONNECTIONS,
            "keepalive_expiry": _KEEPALIVE_EXPIRY,
            "network_backend": _DeadlineBackend(backend, core),
        }
        proxy_url = trust.proxy_for(endpoint)
        if proxy_url is None:
            self._pool = pool_class(**options)
            return
        proxy = http.Proxy(url=proxy_url)
        if proxy.url.scheme not in ("http", "https"):
            raise ValueError(f"unsupported proxy scheme {proxy.url.scheme!r}")
        self._pool = proxy_class(
            proxy_url=core.URL(scheme=proxy.url.raw_scheme, host=proxy.url.raw_host, port=proxy.url.port,
                               target=proxy.url.raw_path),
            proxy_auth=proxy.raw_auth, proxy_headers=proxy.headers.raw, proxy_ssl_context=proxy.ssl_context,
            **options,
        )

    async def handle_async_request(self, request: Any) -> Any:
        """Send ``request`` through the pool, within the running time bound."""
        clamp_timeouts(request.extensions)  # the pool wait has no per-read hook: cap it up front
        url = request.url
        sent = self._core.Request(
            method=request.method,
            url=self._core.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with self._errors.mapped():
            response = await self._pool.handle_async_request(sent)
        return self._http.Response(status_code=response.status, headers=response.headers,
                                   stream=_ResponseStream(response.stream, self._errors),
                                   extensions=response.extensions)

    async def aclose(self) -> None:
        """Close the pool and its connections."""
        await self._pool.aclose()


class AsyncBudgetTransport(httpx.AsyncBaseTransport, httpx2.AsyncBaseTransport):
    """Wraps a caller's ``httpx`` or ``httpx2`` transport and caps each request's timeouts at the
    time left when it starts (a caller's transport has no network backend of ours to do better)."""

    def __init__(self, inner: httpx.AsyncBaseTransport | httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: Any) -> Any:
        """Send ``request`` with timeouts no longer than the remaining budget."""
        clamp_timeouts(request.extensions)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


def _deadline_transport(http: ModuleType, core: ModuleType, *, endpoint: str, trust: Trust) -> Any:
    """A [`DeadlineTransport`][DeadlineTransport], or (a SOCKS proxy, which it does not build) the stack's own
    transport with its timeouts capped up front."""
    try:
        return DeadlineTransport(http, core, endpoint=endpoint, trust=trust)
    except ValueError:
        inner = http.AsyncHTTPTransport(
            verify=trust.ssl_context(), proxy=trust.proxy_for(endpoint),
            limits=http.Limits(max_connections=MAX_CONNECTIONS,
                               max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS),
        )
        return AsyncBudgetTransport(inner)


def openai_http_client(
    *, endpoint: str, timeout: float, trust: Trust, on_response: ResponseHook | None = None
) -> httpx2.AsyncClient:
    """The ``httpx2`` client the openai SDK runs on: the connection's trust, our pool limits;
    ``on_response`` (e.g. [`pacing_hook()`][pacing_hook]) sees every answer's headers."""
    transport = _deadline_transport(httpx2, httpcore2, endpoint=endpoint, trust=trust)
    hooks = {"response": [on_response]} if on_response is not None else None
    return httpx2.AsyncClient(transport=transport, timeout=timeout, follow_redirects=True, event_hooks=hooks)


ResponseHook = Callable[[Any], Awaitable[None]]
"""An httpx response event hook (``httpx`` or ``httpx2``)."""


def pacing_hook(pacing: Pacing, clock: Callable[[], float]) -> ResponseHook:
    """A response event hook that feeds every answer's headers to ``pacing`` (Retry-After and the
    rate-limit headers, [`Pacing`][Pacing]), stamped with ``clock()``: the connection's retry clock.
    The answer's status and its request's path go along: ``pacing`` reads ``Retry-After`` only on a
    throttling answer and skips inference answers."""

    async def observe(response: Any) -> None:
        try:
            path: str | None = response.request.url.path
        except (AttributeError, RuntimeError):  # a response built without its request
            path = None
        pacing.observe(response.headers, clock(), status=response.status_code, path=path)

    return observe


def arm_transport(
    *, endpoint: str, trust: Trust, inner: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncBaseTransport:
    """The ARM client's transport: ``inner`` (tests, custom proxies) with its timeouts capped, or
    one built from the trust that keeps the time bound over the whole exchange."""
    if inner is None:
        built: httpx.AsyncBaseTransport = _deadline_transport(httpx, httpcore, endpoint=endpoint, trust=trust)
        return built
    return AsyncBudgetTransport(inner)
