"""One trust configuration for every HTTP client of a connection.

The OpenAI data plane (on ``httpx2``, which the openai SDK uses) and ARM (on ``httpx``) are built
from the same [`Trust`][Trust]: the same CA bundle and the same proxy, so that behind a corporate
TLS-inspecting proxy training calls and deployment calls work, or fail, together. The pool limits
are foundry-tune's own, not copied from an SDK's private module.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from foundry_tune._redact import mask_url
from foundry_tune.errors import ConfigurationError

__all__ = ["CA_BUNDLE_VARS", "MAX_CONNECTIONS", "MAX_KEEPALIVE_CONNECTIONS", "Trust"]

MAX_CONNECTIONS = 100
"""At most this many open connections per client."""
MAX_KEEPALIVE_CONNECTIONS = 20
"""At most this many idle connections kept for reuse per client."""
CA_BUNDLE_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""Environment variables naming a CA bundle, read (in this order) when ``verify=True``."""


@dataclasses.dataclass(frozen=True)
class Trust:
    """What every HTTP client of one connection trusts and goes through.

    ``verify``: ``True`` (the system's CA store, or the bundle named by ``SSL_CERT_FILE``,
    ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``), ``False``, or a CA bundle path. ``proxy``: a proxy
    URL for every host; ``None`` reads ``HTTPS_PROXY`` / ``ALL_PROXY`` (and ``NO_PROXY``) from the
    environment, as curl and requests do.
    """

    verify: bool | str = True
    proxy: str | None = None
    env: Mapping[str, str] | None = dataclasses.field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        proxy = None if self.proxy is None else mask_url(self.proxy)
        return f"Trust(verify={self.verify!r}, proxy={proxy!r})"

    def ca_bundle(self) -> str | None:
        """The CA bundle path in force, if any."""
        if isinstance(self.verify, str):
            return self.verify
        if self.verify is False:
            return None
        environ = os.environ if self.env is None else self.env
        return next((environ[name] for name in CA_BUNDLE_VARS if environ.get(name)), None)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """``verify`` for an httpx or httpx2 transport: an SSL context, or ``False``."""
        if self.verify is False:
            return False
        bundle = self.ca_bundle()
        try:
            return ssl.create_default_context(cafile=bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load the CA bundle {bundle!r}: {exc}") from exc

    def proxy_for(self, url: str) -> str | None:
        """The proxy to reach ``url`` through, or ``None`` to connect directly."""
        if self.proxy is not None:
            return self.proxy
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        environ = os.environ if self.env is None else self.env
        proxies = {key.lower()[:-6]: value for key, value in environ.items()
                   if key.lower().endswith("_proxy") and value}
        proxy = proxies.get(scheme) or proxies.get("all")
        if proxy is None or _bypassed(host, proxies.get("no", "")):
            return None
        return proxy


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``host`` is listed in ``NO_PROXY``: ``*``, the host itself, or a domain it is in
    (``example.com`` and ``.example.com`` both cover ``api.example.com``); ports are ignored."""
    host = host.lower().rstrip(".")
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if entry.startswith("[") and "]" in entry:  # [::1]:8080
            entry = entry[1:entry.index("]")]
        elif entry.count(":") == 1:
            entry = entry.split(":")[0]
        entry = entry.strip(".")
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False
