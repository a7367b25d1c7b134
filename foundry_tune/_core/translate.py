"""Translate openai, httpx and azure-identity failures into foundry-tune's error hierarchy.

What crosses over: HTTP status, the service's error code and message, the parameter it names and
the request id. What never does: headers, tokens, keys or request bodies. Messages are also
scrubbed ([`foundry_tune._core.redact`][redact]) of anything that looks like a bearer token, an
``api-key`` value, a JWT, a URL password or key, or an endpoint grader's headers, in case a service
echoes one back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from foundry_tune._core.redact import redact_text
from foundry_tune.errors import (
    AuthenticationError,
    FoundryTuneError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServiceError,
    ServiceUnreachableError,
)

if TYPE_CHECKING:
    import httpx
    import httpx2

__all__ = [
    "UNREACHABLE_CODES",
    "ServiceFailure",
    "is_quota_code",
    "parse_retry_after",
    "request_id_of",
    "scrub",
    "service_failure",
    "translate",
    "unreachable_error",
]

_REQUEST_ID_HEADERS = ("x-request-id", "apim-request-id", "x-ms-request-id")
_MAX_MESSAGE = 1000

Headers = Mapping[str, str]
"""Response headers: a plain mapping, or the httpx / httpx2 ``Headers`` (both are mappings)."""


def scrub(text: str) -> str:
    """Mask anything that looks like a credential in ``text`` (see
    [`redact_text()`][redact_text]) and bound its length."""
    text = redact_text(text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return text


def request_id_of(headers: Headers | None) -> str | None:
    """The service's request id (``x-request-id``, ``apim-request-id`` or ARM's ``x-ms-request-id``)."""
    if headers is None:
        return None
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return None


def parse_retry_after(headers: Headers | None, *, now: float) -> float | None:
    """Seconds the service asks us to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be a number of seconds or an HTTP date (compared with ``now``, a Unix
    time). Returns None when neither header is present or parseable.
    """
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def is_quota_code(code: str | None) -> bool:
    """Whether a service error code means a quota is exhausted (not a transient throttle)."""
    if not code:
        return False
    lowered = code.lower().replace("_", "")
    if "quota" in lowered:
        return True
    # e.g. "DeploymentLimitExceeded"; "rate_limit_exceeded" is a throttle, not a quota
    return "limitexceeded" in lowered and "rate" not in lowered and "request" not in lowered


REFUSED = "connection_refused"
UNRESOLVED = "name_not_resolved"
UNREACHABLE_CODES = frozenset({REFUSED, UNRESOLVED})
"""The codes of a connection that could not even be opened: refused (nothing listens on the port)
or a host name that does not resolve. Worth a short retry only (a service restarting)."""


class ServiceFailure:
    """The facts of one failed HTTP exchange, extracted safely from any client library's error.

    ``target`` is the ``host:port`` the request went to (connection failures only; never a path,
    query or credential)."""

    __slots__ = ("code", "headers", "message", "param", "status", "target")

    def __init__(
        self,
        *,
        status: int | None,
        code: str | None,
        message: str,
        param: str | None,
        headers: Headers | None,
        target: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers
        self.target = target

    @property
    def request_id(self) -> str | None:
        """The service's request id, if it sent one."""
        return request_id_of(self.headers)


def _error_fields(body: object) -> tuple[str | None, str | None, str | None]:
    """(code, message, param) from an OpenAI (``{"error": {...}}`` or inner) or ARM error body."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            code = inner.get("code")
            message = inner.get("message")
            param = inner.get("param")
            return (
                str(code) if code is not None else None,
                str(message) if message else None,
                str(param) if param is not None else None,
            )
        if isinstance(inner, str):
            return None, inner, None
    return None, None, None


def _json_body(response: httpx.Response | httpx2.Response) -> object:
    try:
        response.read()
        return response.json()
    except Exception:
        return None


def service_failure(exc: BaseException) -> ServiceFailure | None:
    """Extract status, code, message and headers from an openai / httpx error; None for others."""
    # The SDKs are imported here, not at module level: they are loaded anyway by the time a
    # request failed, and scoring or reports that import the core stay quick to import.
    import httpx
    import httpx2
    import openai

    if isinstance(exc, openai.APIStatusError):
        code, message, param = _error_fields(exc.body)
        return ServiceFailure(
            status=exc.status_code,
            code=code or (str(exc.code) if exc.code else None),
            message=message or exc.response.reason_phrase or f"HTTP {exc.status_code}",
            param=param,
            headers=exc.response.headers,
        )
    if isinstance(exc, (httpx.HTTPStatusError, httpx2.HTTPStatusError)):
        response = exc.response
        code, message, param = _error_fields(_json_body(response))
        return ServiceFailure(
            status=response.status_code,
            code=code,
            message=message or response.reason_phrase or f"HTTP {response.status_code}",
            param=param,
            headers=response.headers,
        )
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException, httpx2.TimeoutException)):
        return ServiceFailure(status=None, code="timeout", message="the request timed out",
                              param=None, headers=None)
    if isinstance(exc, openai.APIConnectionError):
        return ServiceFailure(status=None, code=_connection_code(exc),
                              message=f"connection failed: {_cause_text(exc)}", param=None, headers=None,
                              target=_target_of(exc))
    if isinstance(exc, (httpx.TransportError, httpx2.TransportError)):
        return ServiceFailure(status=None, code=_connection_code(exc),
                              message=f"connection failed: {type(exc).__name__}: {exc}",
                              param=None, headers=None, target=_target_of(exc))
    return None


def _connection_code(exc: BaseException) -> str:
    """``connection_refused`` / ``name_not_resolved`` when the chain of causes says so."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return REFUSED
        if isinstance(current, OSError) and type(current).__name__ == "gaierror":  # socket.gaierror
            return UNRESOLVED
        current = current.__cause__ or current.__context__
    return "connection_error"


def _target_of(exc: BaseException) -> str | None:
    """``host:port`` of the request that failed (scheme default port when none is given)."""
    try:
        url = exc.request.url  # type: ignore[attr-defined]  # httpx raises RuntimeError when unset
        port = url.port or {"https": 443, "http": 80}.get(url.scheme)
        host = url.host
    except Exception:
        return None
    if not isinstance(host, str) or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def unreachable_error(failure: ServiceFailure, *, what: str, attempts: int) -> ServiceUnreachableError:
    """The error for a connection refused or a host that does not resolve, once retrying stopped."""
    where = failure.target or "the service"
    if failure.code == UNRESOLVED:
        host = where.rsplit(":", 1)[0] if failure.target else "the service's host"
        reason = (f"the host name {host} does not resolve (DNS): is the endpoint right? "
                  "Is the network (or VPN) up?")
    else:
        reason = (f"connection refused by {where}: nothing is listening there. Is the emulator (or "
                  "service) running? Is the endpoint right?")
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return ServiceUnreachableError(f"{what}: cannot connect ({tries}): {reason}", code=failure.code,
                                   target=failure.target)


def _cause_text(exc: BaseException) -> str:
    cause = exc.__cause__
    if cause is None:
        return str(exc)
    return f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__


def _error_class(status: int | None, code: str | None) -> type[ServiceError]:
    if is_quota_code(code):
        return QuotaExceededError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    return ServiceError


def from_failure(failure: ServiceFailure, *, what: str | None = None,
                 retry_after: float | None = None) -> ServiceError:
    """Build the typed error for a [`ServiceFailure`][ServiceFailure]."""
    message = scrub(failure.message)
    if what:
        message = f"{what} failed: {message}"
    cls = _error_class(failure.status, failure.code)
    kwargs: dict[str, Any] = {
        "status": failure.status,
        "code": failure.code,
        "param": failure.param,
        "request_id": failure.request_id,
    }
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


def translate(exc: BaseException, *, what: str | None = None) -> FoundryTuneError:
    """Map an openai, httpx, httpx2 or azure-identity failure to a [`FoundryTuneError`][FoundryTuneError].

    A FoundryTuneError is returned unchanged. Anything else becomes a plain FoundryTuneError that
    names the exception type. ``what`` (e.g. ``"create deployment 'x'"``) prefixes the message.
    """
    if isinstance(exc, FoundryTuneError):
        return exc
    failure = service_failure(exc)
    if failure is not None:
        import time

        retry_after = parse_retry_after(failure.headers, now=time.time()) if failure.status == 429 else None
        return from_failure(failure, what=what, retry_after=retry_after)
    from azure.core.exceptions import ClientAuthenticationError

    if isinstance(exc, ClientAuthenticationError):
        first_line = (str(exc.message or exc) or type(exc).__name__).splitlines()[0]
        message = f"could not get a token: {scrub(first_line)}"
        return AuthenticationError(f"{what} failed: {message}" if what else message)
    text = scrub(f"{type(exc).__name__}: {exc}")
    return FoundryTuneError(f"{what} failed: {text}" if what else text)
