"""A recording HTTP proxy for tests: it forwards every request to an upstream server (the
emulator), records each exchange (method, path with its query, status, answer body) and adds the
``headers`` a test sets to every answer, as a service that paces its callers would
(``x-ratelimit-remaining-requests``, ``Retry-After``). Built on
[`DelayingProxy`][tests._delaying_proxy.DelayingProxy] with nothing held.

>>> with PacingProxy("http://127.0.0.1:8000") as proxy:
...     proxy.headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s"}
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

from tests._delaying_proxy import DelayingProxy

__all__ = ["Exchange", "PacingProxy"]


@dataclass(frozen=True)
class Exchange:
    """One forwarded request and its answer."""

    method: str
    path: str
    status: int
    body: bytes

    @property
    def route(self) -> str:
        """The path without its query."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        """The query's parameters (the last value of each)."""
        return {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}


class PacingProxy(DelayingProxy):
    """A threaded proxy in front of ``upstream`` that records every exchange (``exchanges``) and
    adds ``headers`` to every answer."""

    def __init__(self, upstream: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(upstream, delay=0.0, held=lambda method, path: False)
        self.headers = dict(headers or {})
        self.exchanges: list[Exchange] = []
        self._record = threading.Lock()

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        response = super()._forward(method, path, headers, body)
        response.headers.update(self.headers)
        with self._record:
            self.exchanges.append(Exchange(method, path, response.status_code, response.content))
        return response

    def sent(self, method: str, suffix: str) -> list[Exchange]:
        """The recorded exchanges of ``method`` whose path (without query) ends with ``suffix``."""
        with self._record:
            return [e for e in self.exchanges if e.method == method and e.route.rstrip("/").endswith(suffix)]
