"""Masking secrets in everything foundry-tune prints: reprs, error messages and log lines.

One set of rules (the URL and grader rules come from [`foundry_tune._redact`][_redact], where
the graders use them for their own reprs and saved files):

- an endpoint grader's header values and every value of its URL's query (``?code=`` function keys);
- the password of any URL (``https://user:pass@host``) and the value of any secret-looking query
  parameter in any URL (``sig``, ``code``, ``key``, ``token``, ``api-key``, ``access_token``,
  ``password``, ``secret``...);
- bearer tokens, ``api-key`` / ``Authorization`` values, JWTs, and the value of any secret-looking
  key in JSON or Python-repr text.

What goes on the wire is never masked: these functions make copies for people and logs.
[`install_log_redaction()`][install_log_redaction] puts a [`RedactingFilter`][RedactingFilter] on
foundry-tune's loggers and on the
HTTP clients' (``httpx``, ``httpx2``, ``httpcore``, ``openai``, ``azure``), which print request URLs
and, at DEBUG, request options.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

from foundry_tune._redact import MASK, is_secret_name, is_secret_param, mask_url, redact_grader_json

__all__ = [
    "LOGGERS",
    "MASK",
    "RedactingFilter",
    "install_log_redaction",
    "is_secret_name",
    "is_secret_param",
    "mask_url",
    "redact_grader_json",
    "redact_json",
    "redact_text",
]

LOGGERS = ("foundry_tune", "httpx", "httpx2", "httpcore", "httpcore2", "openai", "azure", "urllib3",
           "uvicorn")
"""Logger name prefixes whose records are masked once [`install_log_redaction()`][install_log_redaction]
ran."""

_REDACTED = "<redacted>"
_TOKEN_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
]
# (the look-behinds keep every pattern linear: a match may only start where a run of its characters does)
_URL = re.compile(r"(?i)(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]{0,30}://[^\s'\"<>\\`]+")
_QUERY_ITEM = re.compile(r"([?&;])([A-Za-z0-9_.\-]+)=([^&\s'\"#<>;]+)")
_QUOTED_PAIR = re.compile(r"""(["'])([A-Za-z0-9_.\-]+)\1(\s*:\s*)(["'])((?:\\.|(?!\4)[^\\])*)\4""")
_HEADERS_BLOCK = re.compile(r"""(?i)(["']?headers["']?\s*[:=]\s*\{)([^{}]*)(\})""")
# ``x-functions-key=...``, ``client_secret: ...``: an unquoted secret-looking name and its value.
# Only the name is consumed (the value is looked ahead at), so that in ``error: api_key=...`` the
# value of ``error`` does not swallow the ``api_key`` that follows.
_NAMED_VALUE = re.compile(r"(?<![\w\-])([\w\-]+)[\"']?\s*[:=]\s*[\"']?(?=[^\s\"',;}&<>()\[\]])")
_VALUE = re.compile(r"[^\s\"',;}&<>()\[\]]+")
_NOT_SECRET_VALUE = re.compile(r"(?i)^(?:[-+]?\d+(?:\.\d+)?|true|false|null|none|\*+|<redacted>)$")
_HEADER_VALUE = re.compile(r"""(["'][^"']*["']\s*:\s*)(["'])((?:\\.|(?!\2)[^\\])*)\2""")


def _mask_url_match(match: re.Match[str]) -> str:
    return mask_url(match.group(0))


def _mask_query_item(match: re.Match[str]) -> str:
    sep, name, value = match.groups()
    return f"{sep}{name}={MASK}" if is_secret_param(name) and value != MASK else match.group(0)


def _mask_quoted_pair(match: re.Match[str]) -> str:
    quote, key, colon, vquote, value = match.groups()
    if not is_secret_name(key) or value in ("", MASK):
        return match.group(0)
    return f"{quote}{key}{quote}{colon}{vquote}{MASK}{vquote}"


def _mask_headers_block(match: re.Match[str]) -> str:
    head, body, tail = match.groups()
    return head + _HEADER_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}", body) + tail


def _mask_named_values(text: str) -> str:
    pieces: list[str] = []
    done = 0
    for match in _NAMED_VALUE.finditer(text):
        start = match.end()
        if start < done or not is_secret_name(match.group(1)):
            continue
        found = _VALUE.match(text, start)
        value = found.group(0) if found else ""
        if not value or _NOT_SECRET_VALUE.match(value):
            continue
        pieces += [text[done:start], MASK]
        done = start + len(value)
    return "".join([*pieces, text[done:]]) if pieces else text


def redact_text(text: str) -> str:
    """``text`` with every secret the rules above recognize masked (any length; see also
    [`foundry_tune._core.translate.scrub()`][translate.scrub], which also bounds the length)."""
    if not text:
        return text
    text = _URL.sub(_mask_url_match, text)
    text = _QUERY_ITEM.sub(_mask_query_item, text)
    text = _HEADERS_BLOCK.sub(_mask_headers_block, text)
    text = _QUOTED_PAIR.sub(_mask_quoted_pair, text)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(r"\1" + _REDACTED if pattern.groups else _REDACTED, text)
    return _mask_named_values(text)


def redact_json(data: Any) -> Any:
    """A masked copy of a JSON-like value (dicts, lists, strings) for printing or logging: endpoint
    graders as in [`redact_grader_json()`][redact_grader_json], every ``headers`` mapping's secret-looking
    entries,
    string values under secret-looking keys, and secrets inside any other string."""
    if isinstance(data, Mapping):
        data = redact_grader_json(dict(data))
        out: dict[Any, Any] = {}
        for key, value in data.items():
            name = str(key)
            if isinstance(value, str) and is_secret_name(name):
                out[key] = MASK
            elif name.lower() == "url" and isinstance(value, str):
                out[key] = mask_url(value)
            elif name.lower() == "content_url" and isinstance(value, str):  # a file import's SAS URL
                out[key] = mask_url(value, every_value=True)
            else:
                out[key] = redact_json(value)
        return out
    if isinstance(data, tuple):
        return tuple(redact_json(v) for v in data)
    if isinstance(data, list):
        return [redact_json(v) for v in data]
    if isinstance(data, str):
        return redact_text(data)
    return data


def _redact_arg(value: Any) -> Any:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, (Mapping, list, tuple, str)):
        return redact_json(value)
    try:
        text = str(value)
    except Exception:
        return value
    masked = redact_text(text)
    return value if masked == text else masked


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback; never drops a record.

    A record with nothing to mask is left as it is. Otherwise its message is formatted with masked
    arguments (mappings and lists masked by structure, as the openai client's request options),
    masked again as text, and stored with no arguments left.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask ``record`` in place; always keep it."""
        try:
            self._mask(record)
        except Exception:  # masking must never break the caller's logging
            record.msg, record.args = "(log record withheld: it could not be masked)", ()
            record.exc_info, record.exc_text = None, None
        return True

    @staticmethod
    def _mask(record: logging.LogRecord) -> None:
        try:
            original = record.getMessage()
        except Exception:  # a broken format: logging reports it; mask the parts
            original = None
        if original is not None:
            args: Any = record.args
            if isinstance(args, Mapping):
                args = redact_json(args)
            elif isinstance(args, tuple):
                args = tuple(_redact_arg(a) for a in args)
            try:
                text = str(record.msg) % args if args else str(record.msg)
            except Exception:
                text = original
            text = redact_text(text)
            if text != original:
                record.msg, record.args = text, ()
        else:
            record.msg = redact_text(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(_redact_arg(a) for a in record.args)
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact_text(text.rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)


_FILTER = RedactingFilter()
_KNOWN_LOGGERS = (
    "foundry_tune", "foundry_tune.job", "foundry_tune.deployment", "foundry_tune.retry",
    "foundry_tune.paging", "foundry_tune.graders", "foundry_tune.methods", "foundry_tune.doctor",
    "foundry_tune.emulator", "httpx", "httpx2", "httpcore.connection", "httpcore.http11",
    "httpcore.http2", "httpcore.proxy", "httpcore.socks", "httpcore2.connection", "httpcore2.http11",
    "httpcore2.http2", "httpcore2.proxy", "httpcore2.socks", "openai", "openai._base_client",
    "azure", "azure.core.pipeline.policies.http_logging_policy", "azure.identity",
    "urllib3.connectionpool", "uvicorn", "uvicorn.error", "uvicorn.access",
)


def install_log_redaction() -> None:
    """Put the masking filter on foundry-tune's and the HTTP clients' loggers (idempotent).

    A logger filter sees only the records logged on that very logger, so the filter goes on every
    known emitting logger and on every existing logger under [`LOGGERS`][LOGGERS]; calling this again
    (each connection does) covers loggers created since.
    """
    names = set(_KNOWN_LOGGERS)
    names.update(name for name in list(logging.root.manager.loggerDict)
                 if name.split(".", 1)[0] in LOGGERS)
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(_FILTER)


# Every connection imports this module (error translation does), so the loggers are masked from
# the first connection on; each connection may call install_log_redaction() again to cover loggers
# created since.
install_log_redaction()
