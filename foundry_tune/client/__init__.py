"""The connection to Foundry: settings, credentials, the retry policy, error translation, ARM."""

from foundry_tune._core.arm import DEFAULT_ARM_API_VERSION as DEFAULT_ARM_API_VERSION
from foundry_tune._core.retry import RetryPolicy
from foundry_tune._core.retry import remaining_budget as remaining_budget
from foundry_tune._core.settings import ArmSettings
from foundry_tune._core.translate import translate as translate
from foundry_tune._sync._arm import ArmClient
from foundry_tune._sync._credentials import StaticTokenCredential
from foundry_tune._sync._files import FilesAPI
from foundry_tune._sync._foundry import Foundry
from foundry_tune._sync._models import ModelsAPI

# The `name as name` imports are internal helpers: importable as before, not in __all__ (issue 11).
__all__ = [
    "ArmClient",
    "ArmSettings",
    "FilesAPI",
    "Foundry",
    "ModelsAPI",
    "RetryPolicy",
    "StaticTokenCredential",
]
