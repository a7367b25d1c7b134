"""The typed view of an ARM deployment resource."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from foundry_tune._core.deployment_body import (
    TAG_CREATED_AT,
    TAG_CREATED_BY,
    TAG_CREATED_BY_VALUE,
    TAG_JOB_ID,
)

__all__ = ["FAILED_STATES", "DeploymentInfo"]

FAILED_STATES = frozenset({"failed", "canceled", "cancelled"})


class DeploymentInfo(BaseModel):
    """What ARM says about one deployment. Unknown fields are kept in ``raw``."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: str | None = None
    model_format: str | None = None
    model_version: str | None = None
    sku: str | None = None
    capacity: int | None = None
    provisioning_state: str | None = None
    tags: dict[str, str] = {}
    error_code: str | None = None
    error_message: str | None = None
    raw: dict[str, Any] = {}

    @classmethod
    def from_arm(cls, body: Mapping[str, Any], *, name: str | None = None) -> DeploymentInfo:
        """Parse an ARM deployment resource, tolerating missing keys."""
        props = _mapping(body.get("properties"))
        model = _mapping(props.get("model"))
        sku = _mapping(body.get("sku"))
        error = _mapping(props.get("error") or body.get("error"))
        capacity = sku.get("capacity")
        return cls(
            name=str(body.get("name") or name or ""),
            model=_str(model.get("name")),
            model_format=_str(model.get("format")),
            model_version=_str(model.get("version")),
            sku=_str(sku.get("name")),
            capacity=int(capacity) if isinstance(capacity, (int, float)) else None,
            provisioning_state=_str(props.get("provisioningState")),
            tags={str(k): str(v) for k, v in _mapping(body.get("tags")).items()},
            error_code=_str(error.get("code")),
            error_message=_str(error.get("message")),
            raw=dict(body),
        )

    @property
    def created_by_foundry_tune(self) -> bool:
        """Whether foundry-tune created this deployment (it carries the ``created-by`` tag)."""
        return self.tags.get(TAG_CREATED_BY) == TAG_CREATED_BY_VALUE

    @property
    def job_id(self) -> str | None:
        """The fine-tuning job this deployment serves, if foundry-tune recorded it."""
        return self.tags.get(TAG_JOB_ID)

    @property
    def created_at(self) -> dt.datetime | None:
        """When foundry-tune created it (from its tag), if known."""
        value = self.tags.get(TAG_CREATED_AT)
        if not value:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)

    @property
    def failed(self) -> bool:
        """Whether provisioning ended in Failed or Canceled."""
        return (self.provisioning_state or "").lower() in FAILED_STATES

    @property
    def succeeded(self) -> bool:
        """Whether provisioning succeeded (the deployment may still need a moment to answer)."""
        return (self.provisioning_state or "").lower() == "succeeded"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str | None:
    return None if value is None else str(value)
