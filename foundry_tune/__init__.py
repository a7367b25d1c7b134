"""foundry-tune: fine-tuning on Microsoft Foundry, as dependable as calling a function.

The public surface is re-exported here; submodules starting with ``_`` are private.
"""

from foundry_tune import graders
from foundry_tune._method_kind import MethodKind
from foundry_tune._version import __version__
from foundry_tune.catalog import ModelInfo, Price, known_models, lookup_model, set_price
from foundry_tune.client import Foundry, RetryPolicy
from foundry_tune.deployment import Deployment
from foundry_tune.errors import (
    AuthenticationError,
    ConfigurationError,
    DatasetError,
    DatasetValidationError,
    DeploymentError,
    DeploymentQuotaError,
    FoundryTuneError,
    GraderError,
    InvalidParameterError,
    JobCancelledError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServiceError,
    UploadError,
    WaitTimeoutError,
)
from foundry_tune.methods import DPO, Reinforcement, Supervised, TuningMethod

__all__ = [
    "DPO",
    "AuthenticationError",
    "ConfigurationError",
    "DatasetError",
    "DatasetValidationError",
    "Deployment",
    "DeploymentError",
    "DeploymentQuotaError",
    "Foundry",
    "FoundryTuneError",
    "GraderError",
    "InvalidParameterError",
    "JobCancelledError",
    "JobFailedError",
    "MethodKind",
    "ModelInfo",
    "NotFoundError",
    "PermissionDeniedError",
    "Price",
    "QuotaExceededError",
    "RateLimitError",
    "Reinforcement",
    "RetryPolicy",
    "ServiceError",
    "Supervised",
    "TuningMethod",
    "UploadError",
    "WaitTimeoutError",
    "__version__",
    "graders",
    "known_models",
    "lookup_model",
    "set_price",
]
