"""ARM failures on deployments, mapped to the typed deployment errors with Azure's code and message."""

from __future__ import annotations

from foundry_tune._core.translate import is_quota_code
from foundry_tune.errors import (
    AuthenticationError,
    DeploymentError,
    DeploymentNotFoundError,
    DeploymentQuotaError,
    FoundryTuneError,
    NameInUseError,
    PermissionDeniedError,
    RateLimitError,
    RetryBudgetExceededError,
    ServiceError,
)

__all__ = ["deployment_error", "is_name_in_use_code"]

_PERMISSION_CODES = frozenset({"authorizationfailed", "linkedauthorizationfailed", "forbidden"})


def is_name_in_use_code(code: str | None) -> bool:
    """Whether an ARM error code says the deployment name is taken."""
    lowered = (code or "").lower()
    return "inuse" in lowered or "alreadyexists" in lowered or lowered == "conflict"


def deployment_error(exc: FoundryTuneError, *, name: str) -> FoundryTuneError:
    """Re-type a translated ARM error about deployment ``name``; others pass through unchanged."""
    if not isinstance(exc, ServiceError) or isinstance(
        exc, (RetryBudgetExceededError, RateLimitError, AuthenticationError, DeploymentError)
    ):
        return exc

    def typed(cls: type[ServiceError], message: str) -> ServiceError:
        return cls(message, status=exc.status, code=exc.code, param=exc.param, request_id=exc.request_id)

    code = (exc.code or "").lower()
    if is_quota_code(exc.code) or "quota" in exc.message.lower():
        return typed(DeploymentQuotaError,
                     f"no quota left for deployment {name!r}: {exc.message}. Delete an unused deployment "
                     "(ft.deployments.list()) or request more quota.")
    if exc.status == 403 or code in _PERMISSION_CODES:
        return typed(PermissionDeniedError,
                     f"not allowed to manage deployment {name!r}: {exc.message}. Creating deployments needs "
                     "a role such as 'Cognitive Services Contributor' on the Foundry resource.")
    if is_name_in_use_code(exc.code) and exc.status in (400, 409):
        return typed(NameInUseError, f"deployment name {name!r} is in use: {exc.message}")
    if exc.status == 404:
        return typed(DeploymentNotFoundError, f"deployment {name!r} not found: {exc.message}")
    if exc.status is not None and 400 <= exc.status < 500:
        return typed(DeploymentError, exc.message)
    return exc
