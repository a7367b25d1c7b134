"""Connection settings: where the project and its Azure resource are, read from arguments or the
environment, checked before anything is sent (https for remote hosts, every missing setting
reported at once)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from foundry_tune._redact import mask_url
from foundry_tune.errors import ConfigurationError

if TYPE_CHECKING:
    import ssl

# ipaddress, ssl and the log redaction (logging) are imported where used: every command reads
# FOUNDRY_TUNE_PROGRESS from here, and `foundry-tune validate` needs none of them.

__all__ = [
    "DEFAULT_ARM_ENDPOINT",
    "ENDPOINT_VARS",
    "PROGRESS_VAR",
    "ArmSettings",
    "ProgressMode",
    "account_from_host",
    "arm_settings_from_env",
    "check_endpoint",
    "endpoint_from_env",
    "is_loopback",
    "progress_from_env",
    "settings_from_env",
    "ssl_verify",
]

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
ENDPOINT_VARS = ("AZURE_AI_PROJECT_ENDPOINT", "FOUNDRY_PROJECT_ENDPOINT")
_ACCOUNT_HOST_SUFFIXES = (
    ".services.ai.azure.com",
    ".cognitiveservices.azure.com",
    ".openai.azure.com",
)


@dataclasses.dataclass(frozen=True)
class ArmSettings:
    """Where deployments live in Azure Resource Manager. Every field is needed to deploy."""

    subscription_id: str | None
    resource_group: str | None
    account_name: str | None
    endpoint: str = DEFAULT_ARM_ENDPOINT

    @classmethod
    def resolve(
        cls,
        subscription_id: str | None,
        resource_group: str | None,
        account_name: str | None,
        endpoint: str | None,
        *,
        data_endpoint: str,
    ) -> ArmSettings:
        """Settings from arguments: the account defaults to the data endpoint's host, the ARM
        endpoint to the public cloud (and must be https unless on loopback)."""
        return cls(
            subscription_id=subscription_id,
            resource_group=resource_group,
            account_name=account_name or account_from_host(data_endpoint),
            endpoint=check_endpoint(endpoint or DEFAULT_ARM_ENDPOINT, what="ARM endpoint"),
        )

    def missing(self) -> list[str]:
        """The unset settings, named by their environment variables."""
        names = []
        if not self.subscription_id:
            names.append("AZURE_SUBSCRIPTION_ID (subscription_id=)")
        if not self.resource_group:
            names.append("AZURE_RESOURCE_GROUP (resource_group=)")
        if not self.account_name:
            names.append(
                "AZURE_AI_ACCOUNT_NAME (account_name=; derived from a *.services.ai.azure.com endpoint)"
            )
        return names

    def require(self) -> None:
        """Raise one [`ConfigurationError`][ConfigurationError] naming every missing setting."""
        missing = self.missing()
        if missing:
            raise ConfigurationError(
                "deployments need Azure Resource Manager settings that are not set: " + "; ".join(missing)
            )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (plain http is only allowed there)."""
    if host.lower() == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, *, what: str) -> str:
    """Return ``url`` without a trailing slash if it is https, or http to a loopback host."""
    if not isinstance(url, str):
        raise ConfigurationError(f"{what} must be an http(s) URL string, got {type(url).__name__}")
    url = url.strip()
    shown = mask_url(url)  # a password or a ?sig= key in the URL never reaches the message
    import httpx  # here, not at the top: `foundry-tune validate` never needs it (70 ms of imports)

    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        _ = parts.port
        httpx.URL(url)  # what the HTTP clients will be given must parse there too
    except (ValueError, httpx.InvalidURL) as exc:  # e.g. an unclosed "[" or a port that is no number
        from foundry_tune._core.redact import redact_text

        raise ConfigurationError(f"{what} is not a valid URL ({redact_text(str(exc))}): {shown!r}") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ConfigurationError(f"{what} must be an http(s) URL, got {shown!r}")
    if parts.scheme == "http" and not is_loopback(hostname):
        raise ConfigurationError(
            f"{what} {shown!r} uses plain http to a remote host; credentials would travel unencrypted. "
            "Use https (plain http is only accepted for localhost / 127.0.0.1)."
        )
    return url.rstrip("/")


def account_from_host(url: str) -> str | None:
    """The Foundry / Azure OpenAI account name in an endpoint's host, e.g. ``myacct`` in
    ``https://myacct.services.ai.azure.com/api/projects/p``."""
    host = (urlsplit(url).hostname or "").lower()
    for suffix in _ACCOUNT_HOST_SUFFIXES:
        if host.endswith(suffix) and len(host) > len(suffix):
            return host[: -len(suffix)]
    return None


def endpoint_from_env(env: Mapping[str, str]) -> str | None:
    """The project endpoint from ``AZURE_AI_PROJECT_ENDPOINT`` or ``FOUNDRY_PROJECT_ENDPOINT``."""
    for name in ENDPOINT_VARS:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def arm_settings_from_env(
    env: Mapping[str, str] | None = None, *, endpoint: str | None = None
) -> ArmSettings:
    """ARM settings from the environment; the account falls back to the endpoint's host."""
    env = os.environ if env is None else env
    account = env.get("AZURE_AI_ACCOUNT_NAME", "").strip()
    if not account and endpoint:
        account = account_from_host(endpoint) or ""
    return ArmSettings(
        subscription_id=env.get("AZURE_SUBSCRIPTION_ID", "").strip() or None,
        resource_group=env.get("AZURE_RESOURCE_GROUP", "").strip() or None,
        account_name=account or None,
        endpoint=env.get("AZURE_ARM_ENDPOINT", "").strip() or DEFAULT_ARM_ENDPOINT,
    )


def ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """``verify`` for httpx clients: a CA bundle path becomes an SSL context trusting it."""
    if isinstance(verify, str):
        import ssl

        return ssl.create_default_context(cafile=verify)
    return verify


def settings_from_env(
    env: Mapping[str, str] | None = None, *, require_deployments: bool = False
) -> tuple[str, ArmSettings]:
    """The project endpoint and ARM settings from the environment (``Foundry.from_env`` and
    ``AsyncFoundry.from_env``). A missing endpoint raises one [`ConfigurationError`][ConfigurationError] that
    also
    lists the missing deployment settings; with ``require_deployments`` those are required too."""
    env = os.environ if env is None else env
    endpoint = endpoint_from_env(env)
    arm = arm_settings_from_env(env, endpoint=endpoint)
    missing_arm = arm.missing()
    if endpoint is None or (require_deployments and missing_arm):
        lines = []
        if endpoint is None:
            lines.append(f"{' or '.join(ENDPOINT_VARS)}: the project endpoint, "
                         "https://<account>.services.ai.azure.com/api/projects/<project>")
        lines += [f"{name}{'' if require_deployments else ' (needed for deployments)'}"
                  for name in missing_arm]
        raise ConfigurationError("missing settings:\n  - " + "\n  - ".join(lines))
    return endpoint, arm


PROGRESS_VAR = "FOUNDRY_TUNE_PROGRESS"
"""The environment variable that turns progress output off or forces one display."""

ProgressMode = Literal["auto", "off", "plain", "terminal", "notebook"]

_PROGRESS_WORDS: dict[str, ProgressMode] = {
    "": "auto", "auto": "auto", "on": "auto", "1": "auto", "true": "auto", "yes": "auto",
    "off": "off", "0": "off", "false": "off", "none": "off", "no": "off",
    "plain": "plain", "terminal": "terminal", "live": "terminal", "notebook": "notebook",
}


def progress_from_env(env: Mapping[str, str] | None = None) -> ProgressMode:
    """The progress display ``FOUNDRY_TUNE_PROGRESS`` asks for (case-insensitive).

    ``off`` (or ``0``, ``false``, ``no``, ``none``) shows no progress; ``plain`` (log lines),
    ``terminal`` (or ``live``: a line redrawn in place) and ``notebook`` force that display;
    ``auto`` (or unset, empty, ``1``, ``true``, ``yes``, ``on``) picks one by environment. Any
    other value raises a `ConfigurationError` naming the variable.
    """
    env = os.environ if env is None else env
    raw = env.get(PROGRESS_VAR, "")
    mode = _PROGRESS_WORDS.get(raw.strip().lower())
    if mode is None:
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise ConfigurationError(
            f"{PROGRESS_VAR}={shown!r} is not a progress setting: use off (or 0, false, no, none), "
            "auto (or 1, true, yes, on), plain, terminal (or live) or notebook")
    return mode
