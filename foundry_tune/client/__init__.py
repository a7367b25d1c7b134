"""The connection to Foundry: settings, credentials, the retry policy, error translation, ARM."""

from foundry_tune.client._arm import DEFAULT_ARM_API_VERSION, ArmClient
from foundry_tune.client._credentials import StaticTokenCredential
from foundry_tune.client._errors import translate
from foundry_tune.client._foundry import Foundry
from foundry_tune.client._retry import RetryPolicy, remaining_budget
from foundry_tune.client._settings import ArmSettings

__all__ = [
    "DEFAULT_ARM_API_VERSION",
    "ArmClient",
    "ArmSettings",
    "Foundry",
    "RetryPolicy",
    "StaticTokenCredential",
    "remaining_budget",
    "translate",
]
