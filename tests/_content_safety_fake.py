"""A local fake of the Azure AI Content Safety text API, for `Dataset.safety_check()` tests.

It speaks the REST contract the official client (``azure-ai-contentsafety`` 1.0.0) uses:
``POST {endpoint}/contentsafety/text:analyze?api-version=2023-10-01`` (2024-09-01 is accepted too),
the key in ``Ocp-Apim-Subscription-Key`` (or ``Authorization: Bearer <token>``), a body
``{"text", "categories", "outputType", "blocklistNames", "haltOnBlocklistHit"}`` and the answer
``{"blocklistsMatch": [], "categoriesAnalysis": [{"category": "Hate", "severity": 0}, ...]}``.
Errors come in the service's shape, ``{"error": {"code": ..., "message": ...}}``: 401 for a wrong
key, 400 ``InvalidRequestBody`` for text over 10,000 characters, 429 ``TooManyRequests`` (with
``Retry-After``) for the first ``throttle`` calls, and 500 ``InternalError`` for the next ``fail``
(with ``Retry-After`` when ``fail_retry_after`` is set).

Text is scored by words: each category has a word list with the severity (0 to 7) each word scores;
a text's severity is its worst word's. ``FourSeverityLevels`` (the service's default) rounds down
to 0, 2, 4, 6, as the service does. Every request is counted and its text kept (``texts``).

```python
with ContentSafetyFake(key="k") as fake:
    report = data.safety_check(fake.url, "k", out_dir=tmp_path)
```
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
from collections.abc import Mapping
from types import TracebackType

__all__ = ["API_VERSIONS", "CATEGORIES", "DEFAULT_WORDS", "ContentSafetyFake"]

CATEGORIES = ("Hate", "SelfHarm", "Sexual", "Violence")
API_VERSIONS = frozenset({"2023-10-01", "2024-09-01"})
MAX_TEXT = 10_000

DEFAULT_WORDS: Mapping[str, Mapping[str, int]] = {
    "Hate": {"hatewordlow": 2, "hatewordmed": 4, "hatewordhigh": 6},
    "SelfHarm": {"selfharmlow": 2, "selfharmmed": 4, "selfharmhigh": 6},
    "Sexual": {"sexualwordlow": 2, "sexualwordmed": 4, "sexualwordhigh": 6},
    "Violence": {"violencelow": 3, "violencemed": 5, "violencehigh": 7},
}
"""Made-up trigger words (no real sample contains them), one per severity band; Violence scores the
odd levels (3, 5, 7) so that the four-level rounding shows."""

_UNAUTHORIZED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                 "provide a valid key for an active subscription and use a correct regional API endpoint "
                 "for your resource.")


def _error(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


class ContentSafetyFake:
    """The fake service on a free loopback port (``url``), served from a background thread."""

    def __init__(self, *, key: str = "fake-key", token: str | None = None,
                 words: Mapping[str, Mapping[str, int]] = DEFAULT_WORDS,
                 throttle: int = 0, retry_after: str | None = "0", fail: int = 0,
                 fail_retry_after: str | None = None, delay: float = 0.0) -> None:
        self.key = key
        self.token = token
        self.words = {c: {w.lower(): s for w, s in ws.items()} for c, ws in words.items()}
        self.throttle = throttle
        self.retry_after = retry_after
        self.fail = fail
        self.fail_retry_after = fail_retry_after
        self.delay = delay
        """Seconds each analysis takes (to see requests overlap)."""
        self.in_flight = 0
        self.max_in_flight = 0
        """The most requests that were being answered at once."""
        self.requests = 0
        """Every POST to the analyze route, answered or refused."""
        self.analyzed = 0
        """Requests answered with an analysis (200)."""
        self.texts: list[str] = []
        self.bodies: list[dict[str, object]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="content-safety-fake", daemon=True)

    @property
    def url(self) -> str:
        """The endpoint to pass to the client (``http://127.0.0.1:port``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def score(self, text: str) -> dict[str, int]:
        """The eight-level severity of ``text`` in every category."""
        found = set(re.findall(r"[a-z]+", text.lower()))
        return {c: max((s for w, s in self.words.get(c, {}).items() if w in found), default=0)
                for c in CATEGORIES}

    def start(self) -> ContentSafetyFake:
        """Start serving."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ContentSafetyFake:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _answer(self, path: str, headers: Mapping[str, str], body: bytes
                ) -> tuple[int, dict[str, str], dict[str, object]]:
        route, _, query = path.partition("?")
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        if route != "/contentsafety/text:analyze":
            return 404, {}, {"error": {"code": "404", "message": "Resource not found"}}
        with self._lock:
            self.requests += 1
            self.headers.append(dict(headers))
            if self.throttle > 0:
                self.throttle -= 1
                extra = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
                return 429, extra, {"error": {"code": "TooManyRequests", "message": (
                    "Rate limit is exceeded. Try again in 1 seconds.")}}
            if self.fail > 0:
                self.fail -= 1
                extra = {"Retry-After": self.fail_retry_after} if self.fail_retry_after is not None else {}
                return 500, extra, _error("InternalError", "An internal error occurred.")
        lowered = {k.lower(): v for k, v in headers.items()}
        bearer = lowered.get("authorization", "")
        if lowered.get("ocp-apim-subscription-key") != self.key and not (
                self.token is not None and bearer == f"Bearer {self.token}"):
            return 401, {}, {"error": {"code": "401", "message": _UNAUTHORIZED}}
        if params.get("api-version") not in API_VERSIONS:
            return 404, {}, {"error": {"code": "404", "message": "Resource not found"}}
        try:
            request = json.loads(body)
        except ValueError:
            return 400, {}, _error("InvalidRequestBody", "The request body is not JSON.")
        text = request.get("text") if isinstance(request, dict) else None
        if not isinstance(text, str) or not text:
            return 400, {}, {"error": {"code": "InvalidRequestBody",
                                       "message": "The 'text' field is required."}}
        if len(text) > MAX_TEXT:
            return 400, {}, {"error": {"code": "InvalidRequestBody", "message": (
                f"The text is too long: {len(text)} characters, at most {MAX_TEXT} are supported.")}}
        categories = request.get("categories") or list(CATEGORIES)
        output = request.get("outputType") or "FourSeverityLevels"
        if output not in ("FourSeverityLevels", "EightSeverityLevels") or not all(
                c in CATEGORIES for c in categories):
            return 400, {}, _error("InvalidRequestBody", "Invalid outputType or category.")
        scores = self.score(text)
        if output == "FourSeverityLevels":
            scores = {c: s - s % 2 for c, s in scores.items()}
        with self._lock:
            self.analyzed += 1
            self.texts.append(text)
            self.bodies.append(request)
        return 200, {}, {"blocklistsMatch": [],
                         "categoriesAnalysis": [{"category": c, "severity": scores[c]} for c in categories]}

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    time.sleep(fake.delay)
                    status, headers, answer = fake._answer(self.path, dict(self.headers.items()), body)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("apim-request-id", "fake-request-id")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
