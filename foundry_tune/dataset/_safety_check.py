"""`Dataset.safety_check()`: screen every row with Azure AI Content Safety before training.

The text of each row (every message of a chat example, the prompt and both answers of a DPO pair,
a reinforcement prompt and its grader fields) goes to the Content Safety text API of the user's
own resource, through the official client (``azure-ai-contentsafety``, the ``safety`` extra). A row
with a severity at or over its category's threshold is dropped; the others are kept byte for byte.

Why the synchronous client in a thread pool, not the ``aio`` one: [`Dataset`][Dataset] is a
synchronous API at the bottom of the package, and an event loop started inside it fails in a
notebook (whose loop is already running) and would need ``aiohttp`` (another extra). azure-core's
sync clients are thread-safe, and a small pool (``concurrency``) over one connection pool is as
fast as the service lets one resource go (1,000 requests per 10 seconds on F0 and S0:
https://learn.microsoft.com/azure/ai-services/content-safety/overview#query-rates).

Service facts used here (https://learn.microsoft.com/azure/ai-services/content-safety/overview,
https://learn.microsoft.com/azure/ai-services/content-safety/concepts/harm-categories,
https://learn.microsoft.com/azure/ai-services/content-safety/concepts/response-codes):

- one request takes at most 10,000 Unicode code points of text: longer text is split (at
  whitespace where it can) and the row keeps its worst severity over the parts;
- four harm categories, Hate, SelfHarm, Sexual and Violence, scored 0 to 7 with
  ``outputType: EightSeverityLevels`` (the default four-level output rounds these down to 0, 2, 4,
  6, so a threshold of 2, 4 or 6 means the same on either scale);
- ``TooManyRequests`` (HTTP 429) when the resource's rate is exceeded, ``InternalError`` and
  ``ServerBusy`` (5xx) for a retry "after a small period": all retried here, with ``Retry-After``
  honoured, within the ``timeout`` each request is given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import math
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from foundry_tune._redact import mask_url
from foundry_tune.dataset._reader import iter_chunks, parse_line
from foundry_tune.errors import (
    AuthenticationError,
    ConfigurationError,
    DatasetError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryBudgetExceededError,
    ServiceError,
    ServiceUnreachableError,
)

if TYPE_CHECKING:
    from foundry_tune.dataset._dataset import Dataset

__all__ = [
    "CATEGORIES",
    "DEFAULT_THRESHOLD",
    "ENDPOINT_ENV",
    "KEY_ENV",
    "MAX_TEXT_CHARS",
    "DroppedRow",
    "SafetyCheckReport",
    "SafetySettings",
    "chunk_text",
    "parse_settings",
    "row_texts",
    "run_safety_check",
]

CATEGORIES = ("Hate", "SelfHarm", "Sexual", "Violence")
"""The harm categories of the Content Safety text API, in the service's spelling."""

DEFAULT_THRESHOLD = 2
"""Drop a row at severity 2 (Low) or more. The service does not publish the threshold of its own
training-data check; Azure OpenAI's default content filter blocks at Medium (4), so Low leaves a
margin (inference). Pass ``threshold=4`` to screen like that filter."""

MAX_TEXT_CHARS = 10_000
"""The most text one request takes: 10,000 Unicode code points (Python ``len``)."""

ENDPOINT_ENV = "AZURE_CONTENT_SAFETY_ENDPOINT"
"""Read for the endpoint when none is passed."""

KEY_ENV = "AZURE_CONTENT_SAFETY_KEY"
"""Read for the key when no credential is passed."""

_MAX_CONCURRENCY = 32
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_SEVERITY_NAMES = {0: "Safe", 1: "Safe", 2: "Low", 3: "Low", 4: "Medium", 5: "Medium", 6: "High", 7: "High"}
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_UNREACHABLE_BUDGET = 10.0  # a refused connection is retried this long at most: a wrong endpoint, not load
_INSTALL = "pip install 'foundry-tune[safety]'"
_OUTPUT_TYPE = "EightSeverityLevels"
# Message keys that hold no text to screen (identifiers, roles, switches) and image data.
_MESSAGE_SKIP = frozenset({"role", "name", "weight", "tool_call_id", "type", "id"})
_ROW_SKIP = frozenset({"tools", "functions", "parallel_tool_calls", "response_format"})


def _azure(module: str) -> Any:
    """An azure module, imported by name when a check runs. The pure core imports this package (for
    specs and token counts), so a static import here would put a network client under it (the
    ``core-pure`` import contract); only this file's code paths ever load it."""
    return importlib.import_module(module)


def _category_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


_CATEGORY_BY_KEY = {_category_key(c): c for c in CATEGORIES}


def _category(name: object, what: str) -> str:
    canonical = _CATEGORY_BY_KEY.get(_category_key(name)) if isinstance(name, str) else None
    if canonical is None:
        raise InvalidParameterError(f"{what} {name!r:.60} is not a Content Safety category: use one of "
                                    f"{', '.join(CATEGORIES)}")
    return canonical


def _severity_name(severity: int) -> str:
    return f"{_SEVERITY_NAMES.get(severity, '?')} ({severity})"


# -- settings ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SafetySettings:
    """A checked request for a safety check: where, with what, and how strict (the credential is
    kept out of the repr)."""

    endpoint: str
    credential: Any = dataclasses.field(repr=False)
    thresholds: Mapping[str, int]
    out_dir: Path | None
    concurrency: int
    timeout: float

    @property
    def shown_endpoint(self) -> str:
        """The endpoint as reports and errors show it."""
        return mask_url(self.endpoint)


def _endpoint(endpoint: object) -> str:
    if endpoint is None:
        endpoint = os.environ.get(ENDPOINT_ENV) or None
    if endpoint is None:
        raise ConfigurationError(
            "no Content Safety endpoint: pass endpoint='https://<resource>.cognitiveservices.azure.com' "
            f"or set {ENDPOINT_ENV}")
    if not isinstance(endpoint, str) or not endpoint.strip():
        shown = "an empty string" if isinstance(endpoint, str) else type(endpoint).__name__
        raise ConfigurationError(f"the Content Safety endpoint must be a URL such as "
                                 f"'https://<resource>.cognitiveservices.azure.com', got {shown}")
    text = endpoint.strip()
    example = "'https://<resource>.cognitiveservices.azure.com'"
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        host = port = None
    if not parts.scheme or not host:  # not echoed: a key pasted in the wrong argument must not show
        raise ConfigurationError(f"the Content Safety endpoint is not a URL: use one such as {example}")
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    if parts.scheme not in ("https", "http"):
        raise ConfigurationError(f"the Content Safety endpoint {shown!r} must be an https:// URL such as "
                                 f"{example}")
    if parts.scheme == "http" and host.lower() not in _LOOPBACK:
        raise ConfigurationError(f"the Content Safety endpoint {shown!r} uses plain http: the key would "
                                 "travel unencrypted; use https:// (plain http is only for localhost)")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ConfigurationError(f"the Content Safety endpoint {shown!r} must be the resource's URL alone, "
                                 "with no user, query or fragment (the key goes in credential=)")
    path = parts.path.rstrip("/")
    if path.lower().endswith("/contentsafety"):  # the client adds /contentsafety/text:analyze itself
        path = path[: -len("/contentsafety")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _credential(credential: object) -> Any:
    if credential is None:
        credential = os.environ.get(KEY_ENV) or None
        if credential is None:
            raise ConfigurationError(
                "no Content Safety credential: pass credential= (the resource's key, an AzureKeyCredential, "
                f"or a TokenCredential such as DefaultAzureCredential()) or set {KEY_ENV}")
    key_credential = _azure("azure.core.credentials").AzureKeyCredential  # azure-core is a base dependency
    if isinstance(credential, str):
        if not credential.strip():
            raise ConfigurationError("the Content Safety key is empty")
        return key_credential(credential.strip())
    if isinstance(credential, key_credential) or callable(getattr(credential, "get_token", None)):
        return credential
    raise InvalidParameterError(
        "credential must be the resource's key (a string), an azure.core AzureKeyCredential or a "
        f"TokenCredential, got {type(credential).__name__}")


def _threshold_value(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 7:
        raise InvalidParameterError(
            f"{what} must be a severity from 1 to 7 (2 Low, 4 Medium, 6 High: rows at or above it are "
            f"dropped), got {value!r:.60}")
    return value


def _thresholds(threshold: object, categories: object) -> dict[str, int]:
    if categories is None:
        chosen = list(CATEGORIES)
    else:
        if isinstance(categories, str) or not hasattr(categories, "__iter__"):
            raise InvalidParameterError(f"categories must be a list of category names such as "
                                        f"['Hate', 'Violence'], got {categories!r:.60}")
        chosen = []
        for name in cast("Iterable[object]", categories):
            canonical = _category(name, "categories entry")
            if canonical not in chosen:
                chosen.append(canonical)
        if not chosen:
            raise InvalidParameterError("categories is empty: name at least one of " + ", ".join(CATEGORIES))
    if isinstance(threshold, Mapping):
        result = {c: DEFAULT_THRESHOLD for c in chosen}
        for name, value in threshold.items():
            canonical = _category(name, "threshold key")
            if canonical not in chosen:
                raise InvalidParameterError(f"threshold names {canonical}, which categories= leaves out")
            result[canonical] = _threshold_value(value, f"threshold[{name!r}]")
        return result
    value = _threshold_value(threshold, "threshold")
    return {c: value for c in chosen}


def parse_settings(
    endpoint: object,
    credential: object,
    *,
    threshold: object,
    categories: object,
    out_dir: object,
    concurrency: object,
    timeout: object,
) -> SafetySettings:
    """Check every argument of a safety check (before any request); raise
    [`ConfigurationError`][ConfigurationError] for the endpoint or credential and
    [`InvalidParameterError`][InvalidParameterError] for the rest. The key is never in a message."""
    thresholds = _thresholds(threshold, categories)
    if (isinstance(concurrency, bool) or not isinstance(concurrency, int)
            or not 1 <= concurrency <= _MAX_CONCURRENCY):
        raise InvalidParameterError(f"concurrency must be a whole number from 1 to {_MAX_CONCURRENCY}, "
                                    f"got {concurrency!r:.40}")
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout)
            or timeout <= 0):
        raise InvalidParameterError(f"timeout must be a positive number of seconds, got {timeout!r:.40}")
    directory: Path | None = None
    if out_dir is not None:
        if not isinstance(out_dir, (str, os.PathLike)):
            raise InvalidParameterError(f"out_dir must be a directory path, got {type(out_dir).__name__}")
        text = os.fspath(out_dir)
        # A blank or space-padded path is a typo, not a directory the user means to create.
        if not isinstance(text, str) or not text.strip() or text != text.strip() or "\0" in text:
            raise InvalidParameterError(
                f"out_dir must be a directory path without leading or trailing spaces, got {text!r:.60}")
        directory = Path(text)
        if directory.exists() and not directory.is_dir():
            raise InvalidParameterError(f"out_dir {str(directory)!r} exists and is not a directory")
    return SafetySettings(
        endpoint=_endpoint(endpoint),
        credential=_credential(credential),
        thresholds=thresholds,
        out_dir=directory,
        concurrency=concurrency,
        timeout=float(timeout),
    )


# -- the text of a row -----------------------------------------------------------------------


def _strings(value: object, out: list[str]) -> None:
    """Every string inside ``value``, except data URLs (images are not text)."""
    if isinstance(value, str):
        if value.strip() and not value.startswith("data:"):
            out.append(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in ("image_url", "url"):
                _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


def _message_texts(messages: object, out: list[str]) -> None:
    if not isinstance(messages, list):
        _strings(messages, out)
        return
    for message in messages:
        if not isinstance(message, Mapping):
            _strings(message, out)
            continue
        for key, value in message.items():
            if key in _MESSAGE_SKIP:
                continue
            if key in ("tool_calls", "function_call"):
                calls = value if isinstance(value, list) else [value]
                for call in calls:  # the arguments are what the model learns to write
                    function = call.get("function", call) if isinstance(call, Mapping) else None
                    if isinstance(function, Mapping):
                        _strings(function.get("arguments"), out)
                continue
            if key == "content" and isinstance(value, list):
                for part in value:
                    if isinstance(part, Mapping):
                        _strings(part.get("text"), out)
                        _strings(part.get("refusal"), out)
                continue
            _strings(value, out)


def row_texts(record: Mapping[str, Any]) -> list[str]:
    """The text of one row that Content Safety screens, in file order: every message (SFT and RFT
    ``messages``; DPO ``input.messages``, ``preferred_output`` and ``non_preferred_output``) and,
    for any other key (reinforcement grader fields), every string in it. Roles, ids, tool
    definitions and images are not text to screen."""
    out: list[str] = []
    for key, value in record.items():
        if key in _ROW_SKIP:
            continue
        if key in ("messages", "preferred_output", "non_preferred_output"):
            _message_texts(value, out)
        elif key == "input" and isinstance(value, Mapping):
            _message_texts(value.get("messages"), out)
        else:
            _strings(value, out)
    return out


def chunk_text(texts: list[str], limit: int = MAX_TEXT_CHARS) -> list[str]:
    """The texts of a row joined by newlines, cut into parts of at most ``limit`` code points (at
    the last whitespace of a part's second half where there is one)."""
    whole = "\n".join(texts)
    parts: list[str] = []
    start = 0
    while len(whole) - start > limit:
        end = start + limit
        cut = max(whole.rfind(ch, start + limit // 2, end) for ch in ("\n", " ", "\t"))
        if cut <= start:
            cut = end
        else:
            cut += 1  # keep the whitespace with the first part
        parts.append(whole[start:cut])
        start = cut
    if start < len(whole) and whole[start:].strip():
        parts.append(whole[start:])
    return parts


# -- the report --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DroppedRow:
    """One row the check dropped: its line in the source file and what dropped it."""

    line: int
    """The 1-based line in the source file (blank lines count, as an editor shows them)."""
    categories: Mapping[str, int]
    """The categories at or over their threshold, with the row's severity in each (0 to 7)."""
    severities: Mapping[str, int]
    """The row's worst severity in every category screened."""

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready object."""
        return {"line": self.line, "categories": dict(self.categories), "severities": dict(self.severities)}


@dataclasses.dataclass(frozen=True, eq=False)
class SafetyCheckReport:
    """What [`Dataset.safety_check()`][Dataset.safety_check] found and wrote: the rows kept (as a new
    [`Dataset`][Dataset], `kept`), the rows dropped with their line and categories, counts per
    category, and the files written. `print(report)` shows it; `to_dict()` is JSON-ready."""

    source: str
    """The file (or dataset name) that was screened."""
    endpoint: str
    """The Content Safety endpoint used (secrets masked)."""
    thresholds: Mapping[str, int]
    """Each category screened and the severity (0 to 7) at which a row is dropped."""
    examples: int
    """How many rows were screened (blank lines are not rows)."""
    kept: Dataset
    """The rows kept, in file order, each line byte for byte as in the source (line ends ``\\n``, no
    byte order mark)."""
    dropped: tuple[DroppedRow, ...]
    """The rows dropped, in file order; line ``i`` of `dropped_path` is ``dropped[i - 1]``."""
    no_text: int
    """Rows with no text to screen (images only, for one): kept, and counted here."""
    dropped_by_category: Mapping[str, int]
    """How many rows each category dropped (a row over two thresholds counts in both)."""
    severity_counts: Mapping[str, Mapping[int, int]]
    """For each category, how many rows had each worst severity (severity to rows)."""
    requests: int
    """How many texts were analyzed (one per row, more for a row over 10,000 characters)."""
    retries: int
    """How many requests were repeated after throttling (429), a server error or a lost connection."""
    kept_path: Path
    """`kept.jsonl`: the rows kept."""
    dropped_path: Path
    """`dropped.jsonl`: the rows dropped, byte for byte as in the source."""
    report_path: Path
    """`safety_check.json`: this report, with the line and categories of every dropped row."""

    @property
    def kept_count(self) -> int:
        """How many rows were kept."""
        return self.examples - len(self.dropped)

    @property
    def dropped_lines(self) -> tuple[int, ...]:
        """The source line numbers of the dropped rows."""
        return tuple(row.line for row in self.dropped)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready object (what `safety_check.json` holds)."""
        return {
            "source": self.source,
            "endpoint": self.endpoint,
            "thresholds": dict(self.thresholds),
            "examples": self.examples,
            "kept_count": self.kept_count,
            "dropped_count": len(self.dropped),
            "no_text": self.no_text,
            "requests": self.requests,
            "retries": self.retries,
            "dropped_by_category": dict(self.dropped_by_category),
            "severity_counts": {c: {str(s): n for s, n in sorted(counts.items())}
                                for c, counts in self.severity_counts.items()},
            "dropped": [row.to_dict() for row in self.dropped],
            "files": {"kept": str(self.kept_path), "dropped": str(self.dropped_path),
                      "report": str(self.report_path)},
        }

    def to_text(self, limit: int | None = 20) -> str:
        """The report for a terminal: counts, the first ``limit`` dropped lines (None: all), files."""
        bounds = sorted(set(self.thresholds.values()))
        if len(bounds) == 1:
            rule = f"severity {_severity_name(bounds[0])} or more"
        else:
            rule = "severity " + ", ".join(f"{c} {t}" for c, t in self.thresholds.items()) + " or more"
        lines = [
            f"{self.source}: {self.examples:,} rows screened with Azure AI Content Safety: "
            f"{self.kept_count:,} kept, {len(self.dropped):,} dropped ({rule})",
            "rows dropped by category (and rows by worst severity over 0):",
        ]
        width = max(len(c) for c in self.thresholds)
        for category in self.thresholds:
            counts = self.severity_counts.get(category, {})
            spread = ", ".join(f"severity {s}: {n:,}" for s, n in sorted(counts.items()) if s > 0)
            lines.append(f"  {category:<{width}}  {self.dropped_by_category.get(category, 0):,}"
                         + (f"  ({spread})" if spread else ""))
        if self.no_text:
            lines.append(f"rows with no text to screen (kept): {self.no_text:,}")
        if self.dropped:
            lines.append("dropped lines:")
            shown = self.dropped if limit is None else self.dropped[:limit]
            for row in shown:
                why = ", ".join(f"{c} {_severity_name(s)}" for c, s in row.categories.items())
                lines.append(f"  line {row.line}: {why}")
            if len(shown) < len(self.dropped):
                lines.append(f"  ... {len(self.dropped) - len(shown):,} more in {self.report_path}")
        retried = f" ({self.retries:,} retried)" if self.retries else ""
        lines += [
            f"requests: {self.requests:,}{retried}",
            "files:",
            f"  kept:    {self.kept_path}",
            f"  dropped: {self.dropped_path}",
            f"  report:  {self.report_path}",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (f"SafetyCheckReport(source={self.source!r}, examples={self.examples}, "
                f"kept={self.kept_count}, dropped={len(self.dropped)})")


# -- the requests ------------------------------------------------------------------------------


class _Aborted(Exception):
    """Another row failed: stop retrying this one."""


@dataclasses.dataclass
class _Outcome:
    severities: dict[str, int]
    requests: int
    retries: int


def _client(settings: SafetySettings) -> Any:
    """The official client against the user's endpoint, with its own retries off (ours honour the
    time bound) and a connection pool as large as the thread pool."""
    try:
        client_class = _azure("azure.ai.contentsafety").ContentSafetyClient
    except ImportError as exc:
        raise ConfigurationError(
            f"Dataset.safety_check() needs the 'safety' extra ({exc.name or 'azure-ai-contentsafety'} is "
            f"missing): {_INSTALL}") from None
    import requests  # azure-core's own HTTP stack

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=settings.concurrency)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    transport = _azure("azure.core.pipeline.transport").RequestsTransport(session=session, session_owner=True)
    return client_class(settings.endpoint, settings.credential, retry_total=0, transport=transport)


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                seconds = float(value) * scale
            except ValueError:
                continue
            if math.isfinite(seconds) and seconds >= 0:
                return seconds
    return None


def _service_error(exc: Any, endpoint: str) -> ServiceError:
    """The library's error for an answer that is not retried."""
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    detail = (getattr(error, "message", None) or getattr(exc, "message", None) or getattr(exc, "reason", None)
              or "no detail")
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    request_id = headers.get("apim-request-id") or headers.get("x-ms-request-id")
    where = f"Content Safety at {endpoint}"
    if status == 401 or isinstance(exc, _azure("azure.core.exceptions").ClientAuthenticationError):
        return AuthenticationError(f"{where} refused the credential: {detail} (check the key or the "
                                   "identity's 'Cognitive Services User' role)", status=status, code=code,
                                   request_id=request_id)
    if status == 403:
        return PermissionDeniedError(f"{where} denied access: {detail} (the identity needs the "
                                     "'Cognitive Services User' role on the resource)", status=status,
                                     code=code, request_id=request_id)
    if status == 404:
        return NotFoundError(f"{where} has no text analysis route: {detail} (use the resource's "
                             "endpoint, https://<resource>.cognitiveservices.azure.com)", status=status,
                             code=code, request_id=request_id)
    return ServiceError(f"{where} could not analyze a text: {detail}", status=status, code=code,
                        request_id=request_id)


class _Analyzer:
    """Sends texts, retrying throttling, server errors and lost connections within the time bound."""

    def __init__(self, client: Any, settings: SafetySettings, abort: threading.Event) -> None:
        self._client = client
        self._settings = settings
        self._abort = abort
        self._categories = list(settings.thresholds)
        self._token = not hasattr(settings.credential, "key")
        self._loopback_http = settings.endpoint.startswith("http://")
        self._failure: BaseException | None = None
        self._lock = threading.Lock()

    def result(self, future: Future[_Outcome]) -> _Outcome:
        """The outcome of a row, or the first failure of any row (a row stopped because another
        failed raises that failure)."""
        try:
            return future.result()
        except _Aborted:
            with self._lock:
                failure = self._failure
            if failure is None:
                raise
            raise failure from None

    def _call(self, text: str, read_timeout: float) -> dict[str, int]:
        options = _azure("azure.ai.contentsafety.models").AnalyzeTextOptions(
            text=text, categories=self._categories, output_type=_OUTPUT_TYPE)
        extra: dict[str, Any] = {}
        if self._token and self._loopback_http:  # a bearer token over http: only to localhost
            extra["enforce_https"] = False
        result = self._client.analyze_text(options, connection_timeout=min(10.0, read_timeout),
                                           read_timeout=read_timeout, **extra)
        found = {c: 0 for c in self._categories}
        for item in result.categories_analysis or ():
            name = _CATEGORY_BY_KEY.get(_category_key(str(item.category)))
            if name in found:
                found[name] = max(found[name], int(item.severity or 0))
        return found

    def analyze(self, parts: list[str]) -> _Outcome:
        """The worst severity per category over ``parts`` (one request each); the first failure
        stops every other row."""
        try:
            return self._analyze(parts)
        except _Aborted:
            raise
        except BaseException as exc:
            with self._lock:
                if self._failure is None:
                    self._failure = exc
            self._abort.set()
            raise

    def _analyze(self, parts: list[str]) -> _Outcome:
        errors = _azure("azure.core.exceptions")
        worst = {c: 0 for c in self._categories}
        requests = retries = 0
        for text in parts:
            started = time.monotonic()
            deadline = started + self._settings.timeout
            attempt = 0
            while True:
                if self._abort.is_set():
                    raise _Aborted
                left = deadline - time.monotonic()
                try:
                    found = self._call(text, max(1.0, min(60.0, left)))
                    break
                except errors.HttpResponseError as exc:
                    status = getattr(exc, "status_code", None)
                    if status not in _RETRY_STATUS:
                        raise _service_error(exc, self._settings.shown_endpoint) from None
                    failure: BaseException = exc
                    wait = _retry_after(exc)
                except errors.ServiceRequestError as exc:  # no connection: retried only briefly
                    failure, wait = exc, None
                    deadline = min(deadline, started + _UNREACHABLE_BUDGET)
                except errors.ServiceResponseError as exc:  # connection lost or read timed out
                    failure, wait = exc, None
                attempt += 1
                if wait is None:
                    wait = min(0.5 * 2 ** (attempt - 1), 20.0) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
                if time.monotonic() + wait > deadline:
                    raise self._gave_up(failure, attempt, wait) from None
                retries += 1
                if self._abort.wait(wait):
                    raise _Aborted
            requests += 1
            for name, severity in found.items():
                worst[name] = max(worst[name], severity)
        return _Outcome(worst, requests, retries)

    def _gave_up(self, failure: BaseException, attempts: int, wait: float) -> ServiceError:
        errors = _azure("azure.core.exceptions")
        where = f"Content Safety at {self._settings.shown_endpoint}"
        bound = f"{self._settings.timeout:g} s"
        if isinstance(failure, errors.HttpResponseError):
            status = failure.status_code
            if status == 429:
                return RateLimitError(
                    f"{where} kept throttling the check (HTTP 429, {attempts} tries within timeout={bound}): "
                    "try again later, or lower concurrency= or raise timeout=", status=429,
                    code="TooManyRequests", retry_after=wait)
            return RetryBudgetExceededError(
                f"{where} kept failing (HTTP {status}, {attempts} tries within timeout={bound}): try again "
                "later", status=status)
        if isinstance(failure, errors.ServiceRequestError):
            netloc = urlsplit(self._settings.endpoint).netloc
            return ServiceUnreachableError(
                f"{where} cannot be reached ({type(failure).__name__} after {attempts} tries): check the "
                "endpoint and the network", target=netloc, code="connection_refused")
        return RetryBudgetExceededError(
            f"{where} kept dropping the connection ({attempts} tries within timeout={bound}): "
            "try again later")


# -- the run -----------------------------------------------------------------------------------


def _check_lines(open_stream: Callable[[], IO[bytes]], name: str) -> None:
    """Every line must be a JSON object before the first request is sent."""
    with open_stream() as stream:
        for chunk in iter_chunks(stream):
            for line in chunk:
                if line.blank:
                    continue
                problem = line.too_long if line.too_long is not None else parse_line(line.data).message
                if problem is not None:
                    raise DatasetError(f"{name}, line {line.number}: {problem} (validate the file first: "
                                       "nothing was sent to Content Safety)")


def _rows(open_stream: Callable[[], IO[bytes]]) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    with open_stream() as stream:
        for chunk in iter_chunks(stream):
            for line in chunk:
                if not line.blank:
                    record = parse_line(line.data).record
                    if record is not None:
                        yield line.number, line.data, record


def run_safety_check(
    open_stream: Callable[[], IO[bytes]],
    name: str,
    settings: SafetySettings,
    kept_dataset: Callable[[Path], Dataset],
) -> SafetyCheckReport:
    """Screen every row of a JSONL source and write ``kept.jsonl``, ``dropped.jsonl`` and
    ``safety_check.json`` to ``settings.out_dir`` (a new temporary directory when None). Rows are
    sent ``settings.concurrency`` at a time and written in file order; on any failure, nothing is
    left half written."""
    _check_lines(open_stream, name)
    client = _client(settings)
    if settings.out_dir is None:
        import tempfile

        stem = Path(name).stem[:40] or "dataset"
        out_dir = Path(tempfile.mkdtemp(prefix=f"foundry-tune-safety-{stem}-"))
    else:
        out_dir = settings.out_dir
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    paths = {kind: out_dir / file for kind, file in
             (("kept", "kept.jsonl"), ("dropped", "dropped.jsonl"), ("report", "safety_check.json"))}
    partial = {kind: path.with_name(path.name + ".part") for kind, path in paths.items()}
    abort = threading.Event()
    analyzer = _Analyzer(client, settings, abort)
    thresholds = settings.thresholds
    dropped: list[DroppedRow] = []
    by_category = {c: 0 for c in thresholds}
    severity_counts: dict[str, dict[int, int]] = {c: {} for c in thresholds}
    examples = no_text = requests = retries = 0
    pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="foundry-tune-safety")
    window: deque[tuple[int, bytes, Future[_Outcome] | None]] = deque()

    def settle(kept_out: IO[bytes], dropped_out: IO[bytes]) -> None:
        nonlocal requests, retries
        number, data, future = window.popleft()
        outcome = _Outcome({c: 0 for c in thresholds}, 0, 0) if future is None else analyzer.result(future)
        requests += outcome.requests
        retries += outcome.retries
        over = {c: s for c, s in outcome.severities.items() if s >= thresholds[c]}
        for category, severity in outcome.severities.items():
            counts = severity_counts[category]
            counts[severity] = counts.get(severity, 0) + 1
        if over:
            for category in over:
                by_category[category] += 1
            dropped.append(DroppedRow(number, over, dict(outcome.severities)))
            dropped_out.write(data + b"\n")
        else:
            kept_out.write(data + b"\n")

    try:
        with client, open(partial["kept"], "wb") as kept_out, open(partial["dropped"], "wb") as dropped_out:
            try:
                for number, data, record in _rows(open_stream):
                    examples += 1
                    parts = chunk_text(row_texts(record))
                    if not parts:
                        no_text += 1
                    window.append((number, data, pool.submit(analyzer.analyze, parts) if parts else None))
                    while len(window) > settings.concurrency * 4:
                        settle(kept_out, dropped_out)
                while window:
                    settle(kept_out, dropped_out)
            except BaseException:
                abort.set()
                raise
            finally:  # before the client closes: no thread may still be using it
                pool.shutdown(wait=True, cancel_futures=True)
    except BaseException:
        for path in partial.values():
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    os.replace(partial["kept"], paths["kept"])
    os.replace(partial["dropped"], paths["dropped"])
    report = SafetyCheckReport(
        source=name,
        endpoint=settings.shown_endpoint,
        thresholds=dict(thresholds),
        examples=examples,
        kept=kept_dataset(paths["kept"]),
        dropped=tuple(dropped),
        no_text=no_text,
        dropped_by_category=by_category,
        severity_counts=severity_counts,
        requests=requests,
        retries=retries,
        kept_path=paths["kept"],
        dropped_path=paths["dropped"],
        report_path=paths["report"],
    )
    partial["report"].write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    os.replace(partial["report"], paths["report"])
    return report
