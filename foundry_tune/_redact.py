"""The masking rules for secrets in URLs and in grader JSON.

They sit at the bottom of the package, below the graders and the datasets, because those mask
their own reprs, saved files and errors with them; [`foundry_tune._core.redact`][_core.redact] builds the
text and log masking of the rest of the library on the same rules.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

__all__ = ["MASK", "is_secret_name", "is_secret_param", "mask_url", "redact_grader_json"]

MASK = "********"
"""What a masked value is replaced with (also what the job fingerprint hashes instead of a secret)."""

_SECRET_NAME = re.compile("key|token|secret|passw|auth|credential|cookie|signature", re.IGNORECASE)
# Query parameters that are secrets although their names do not say so: Azure Functions' ``code``,
# SAS signatures (``sig``), and a few other spellings.
_SECRET_PARAMS = frozenset({"code", "sig", "pwd", "pass", "sas", "session", "sessionid"})


def is_secret_name(name: str) -> bool:
    """Whether a header or JSON key named ``name`` may carry a secret (``api-key``,
    ``Authorization``, ``access_token``, ``x-functions-key``, ``password``, ``client_secret``...)."""
    return bool(_SECRET_NAME.search(name))


def is_secret_param(name: str) -> bool:
    """Whether a URL query parameter named ``name`` may carry a secret: a secret-looking name
    ([`is_secret_name()`][is_secret_name]) or one of ``code``, ``sig``, ``pwd``, ``pass``, ``sas``,
    ``session``."""
    return name.strip().lower() in _SECRET_PARAMS or is_secret_name(name)


def _mask_query(query: str, *, every_value: bool) -> str:
    parts = []
    for item in query.split("&"):
        name, sep, value = item.partition("=")
        if sep and value and (every_value or is_secret_param(name)):
            value = MASK
        elif not sep and every_value and name:
            name = MASK  # a bare ``?secret``: the whole item may be the key
        parts.append(f"{name}{sep}{value}")
    return "&".join(parts)


def _mask_netloc(parts: SplitResult) -> str:
    netloc = parts.netloc
    if "@" not in netloc:
        return netloc
    userinfo, _, host = netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"


def mask_url(url: str, *, every_value: bool = False) -> str:
    """``url`` with its password (``https://user:pass@host``) and secret query values masked.

    A query value is secret when its name looks like one (see [`is_secret_param()`][is_secret_param]), or
    always
    with ``every_value`` (an endpoint grader's URL, where function keys travel as ``?code=``).
    Parameter names, the host and the path stay readable. A URL that cannot be parsed keeps only
    what precedes its query and any ``@``.
    """
    try:
        parts = urlsplit(url)
        netloc = _mask_netloc(parts)
    except ValueError:
        head = url.split("?", 1)[0]
        if "@" in head:
            head = MASK + "@" + head.rsplit("@", 1)[1]
        return head + ("?" + MASK if "?" in url else "")
    query, fragment = parts.query, parts.fragment
    if query:
        query = _mask_query(query, every_value=every_value)
    if "=" in fragment:
        fragment = _mask_query(fragment, every_value=every_value)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_grader_json(data: Any) -> Any:
    """A copy of grader (or method) JSON where every endpoint grader's header values and URL
    secrets (password, every query value) are masked; anything else is returned as it is."""
    if isinstance(data, dict):
        endpoint = data.get("type") == "endpoint"
        out: dict[Any, Any] = {}
        for key, value in data.items():
            if endpoint and key == "headers" and isinstance(value, dict):
                out[key] = dict.fromkeys(value, MASK)
            elif endpoint and key == "url" and isinstance(value, str):
                out[key] = mask_url(value, every_value=True)
            else:
                out[key] = redact_grader_json(value)
        return out
    if isinstance(data, (list, tuple)):
        return [redact_grader_json(v) for v in data]
    return data
