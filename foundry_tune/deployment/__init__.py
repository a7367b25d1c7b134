"""Deployments: create a model deployment through ARM, wait until it answers, chat, delete."""

from foundry_tune.deployment._api import DEFAULT_CAPACITY, DEFAULT_SKU, DeploymentsAPI
from foundry_tune.deployment._billing import BillingWarning
from foundry_tune.deployment._body import default_name
from foundry_tune.deployment._deployment import Deployment
from foundry_tune.deployment._info import DeploymentInfo

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_SKU",
    "BillingWarning",
    "Deployment",
    "DeploymentInfo",
    "DeploymentsAPI",
    "default_name",
]
