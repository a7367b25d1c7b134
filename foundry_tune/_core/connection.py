"""What ``Foundry`` and ``AsyncFoundry`` share without I/O: how to reach the embedded emulator
(its entry point, the token and options to connect with), and the connection's plain state."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from foundry_tune._core.settings import is_loopback

if TYPE_CHECKING:
    from foundry_tune._core.settings import ArmSettings
    from foundry_tune.emulator import Emulator, EmulatorInfo

__all__ = [
    "EMULATOR_ENTRY_POINTS",
    "EMULATOR_TOKEN",
    "EMULATOR_TOKEN_ENV",
    "ConnectionState",
    "connection_options",
    "loopback_emulator_token",
]

EMULATOR_TOKEN = "foundry-tune-emulator"  # noqa: S105 - the emulator accepts any token
"""The token a connection to an emulator started without ``token=`` presents."""

EMULATOR_TOKEN_ENV = "FOUNDRY_TUNE_EMULATOR_TOKEN"  # noqa: S105 - a variable name, not a secret
"""The environment variable ``Foundry.from_env()`` reads the token of a loopback emulator from."""


def loopback_emulator_token(endpoint: str, env: Mapping[str, str] | None) -> str | None:
    """The token to present when ``endpoint`` is on loopback (the local emulator, where
    ``DefaultAzureCredential`` cannot sign in): ``$FOUNDRY_TUNE_EMULATOR_TOKEN`` or the default one.
    ``None`` for any other host."""
    if not is_loopback(urlsplit(endpoint).hostname or ""):
        return None
    environ = os.environ if env is None else env
    return environ.get(EMULATOR_TOKEN_ENV) or EMULATOR_TOKEN


EMULATOR_ENTRY_POINTS = "foundry_tune.emulators"
"""The entry point group the emulator package declares its starter in (name ``default``)."""


def connection_options(info: EmulatorInfo) -> dict[str, Any]:
    """The constructor arguments (all but the credential) that connect to the emulator ``info``."""
    return {
        "subscription_id": info.subscription_id,
        "resource_group": info.resource_group,
        "account_name": info.account_name,
        "arm_endpoint": info.arm_endpoint,
        "verify": info.ca_cert or True,
    }


class ConnectionState:
    """What ``Foundry`` and ``AsyncFoundry`` both know about their connection, without I/O: where
    deployments live, whether they own an emulator, and a repr that never shows a credential."""

    endpoint: str
    _arm_settings: ArmSettings
    _emulator: Emulator | None

    @property
    def arm_settings(self) -> ArmSettings:
        """Where deployments live in Azure Resource Manager."""
        return self._arm_settings

    @property
    def is_emulator(self) -> bool:
        """Whether this connection talks to an emulator this object started."""
        return self._emulator is not None

    @property
    def emulator_instance(self) -> Emulator | None:
        """The emulator this connection started and owns, if any."""
        return self._emulator

    def __repr__(self) -> str:
        kind = "emulator, " if self._emulator is not None else ""
        account = self._arm_settings.account_name
        return f"{type(self).__name__}({kind}endpoint={self.endpoint!r}, account={account!r})"
