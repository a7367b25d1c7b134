"""Starting the embedded emulator for ``Foundry.emulator()`` and ``AsyncFoundry.emulator()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from foundry_tune.errors import ConfigurationError

if TYPE_CHECKING:
    from foundry_tune.emulator import Emulator, EmulatorInfo

__all__ = ["EMULATOR_TOKEN", "connection_options", "start_emulator"]

EMULATOR_TOKEN = "foundry-tune-emulator"  # noqa: S105 - the emulator accepts any token
"""The token a connection to an emulator started without ``token=`` presents."""


def start_emulator(options: dict[str, Any]) -> Emulator:
    """Start an :class:`~foundry_tune.emulator.Emulator` with ``options`` (needs the extra)."""
    try:
        from foundry_tune.emulator import Emulator
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            "the emulator needs the 'emulator' extra: pip install 'foundry-tune[emulator]'"
        ) from exc
    emulator = Emulator(**options)
    emulator.start()
    return emulator


def connection_options(info: EmulatorInfo) -> dict[str, Any]:
    """The constructor arguments (all but the credential) that connect to the emulator ``info``."""
    return {
        "subscription_id": info.subscription_id,
        "resource_group": info.resource_group,
        "account_name": info.account_name,
        "arm_endpoint": info.arm_endpoint,
        "verify": info.ca_cert or True,
    }
