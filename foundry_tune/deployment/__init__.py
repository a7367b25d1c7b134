"""Deployments: create a model deployment through ARM, wait until it answers, chat, delete."""

from foundry_tune._core.billing import BillingWarning
from foundry_tune._core.deployment_body import default_name as default_name
from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.deployment_state import DEFAULT_CAPACITY as DEFAULT_CAPACITY
from foundry_tune._core.deployment_state import DEFAULT_SKU as DEFAULT_SKU
from foundry_tune._sync._deployment import Deployment
from foundry_tune._sync._deployments import DeploymentsAPI

# The `name as name` imports are internal helpers: importable as before, not in __all__ (issue 11).
__all__ = [
    "BillingWarning",
    "Deployment",
    "DeploymentInfo",
    "DeploymentsAPI",
]
