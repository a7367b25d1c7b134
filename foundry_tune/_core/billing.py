"""The one-time reminder that hosting a fine-tuned model costs money by the hour."""

from __future__ import annotations

import logging
import threading
import warnings

from foundry_tune._core.deployment_body import DEVELOPER_SKU, normalize_sku

__all__ = ["BillingWarning", "warn_hosting_cost_once"]

log = logging.getLogger("foundry_tune.deployment")

_lock = threading.Lock()
_state = {"warned": False}

MESSAGE = (
    "Fine-tuned model deployments bill a hosting fee for every hour they exist, used or not, and "
    "Azure deletes them after 15 days without calls. Delete them when done (Deployment.delete(), a "
    "`with` block, or ft.deployments.cleanup()). For trials, sku=\"DeveloperTier\" (or \"Developer\") has no "
    "hosting fee (24 h lifetime)."
)


class BillingWarning(UserWarning):
    """Shown once per process when foundry-tune creates a billable deployment."""


def warn_hosting_cost_once(sku: str) -> bool:
    """Warn (once per process) that a deployment bills by the hour; never for the Developer tier
    (``DeveloperTier``, ``Developer``, any casing). True if it warned."""
    if normalize_sku(sku) == DEVELOPER_SKU:
        return False
    with _lock:
        if _state["warned"]:
            return False
        _state["warned"] = True
    log.info("billing reminder shown: %s", MESSAGE)
    warnings.warn(MESSAGE, BillingWarning, stacklevel=4)
    return True


def _reset_for_tests() -> None:
    with _lock:
        _state["warned"] = False
