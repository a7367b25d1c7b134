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
from foundry_tune._core.lifecycle import (
    developer_expires_at,
    inactivity_deletion_at,
    inactivity_note,
    is_developer_sku,
    is_fine_tuned_model,
    parse_time,
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
        """When it was created: foundry-tune's creation tag, else ARM's ``systemData.createdAt``
        (deployments made elsewhere), if known."""
        value = self.tags.get(TAG_CREATED_AT)
        if value:
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
            else:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
        return parse_time(_mapping(self.raw.get("systemData")).get("createdAt"))

    @property
    def is_developer_tier(self) -> bool:
        """Whether it is a Developer-tier deployment (no hosting fee, deleted 24 hours after creation)."""
        return is_developer_sku(self.sku)

    @property
    def is_fine_tuned(self) -> bool:
        """Whether it serves a fine-tuned model or checkpoint (``<base>.ft-<id>``)."""
        return is_fine_tuned_model(self.model)

    @property
    def expires_at(self) -> dt.datetime | None:
        """When Azure deletes it whatever its use: 24 hours after creation for the Developer tier;
        None for other tiers (or when the creation time is unknown)."""
        return developer_expires_at(self.sku, self.created_at)

    @property
    def inactivity_deletion_at(self) -> dt.datetime | None:
        """For a fine-tuned deployment, the earliest time Azure deletes it for inactivity (15 days
        without calls): 15 days after creation. foundry-tune does not see calls, and each call
        pushes the date back, so this is a lower bound. None for base-model deployments or an
        unknown creation time."""
        return inactivity_deletion_at(self.created_at) if self.is_fine_tuned else None

    def lifecycle_note(self, now: dt.datetime | None = None) -> str | None:
        """The deletion rules that apply to this deployment, in words (the 24-hour expiry of the
        Developer tier, the 15-day inactivity rule of fine-tuned deployments), or None when neither
        applies. ``now`` defaults to the current UTC time."""
        now = now or dt.datetime.now(dt.timezone.utc)
        notes = []
        expires = self.expires_at
        if expires is not None:
            verb = "expires" if expires > now else "expired"
            notes.append(f"{verb} {expires.strftime('%Y-%m-%d %H:%M UTC')} (Developer tier: 24 hours)")
        elif self.is_developer_tier:
            notes.append("expires 24 hours after creation (Developer tier; creation time unknown)")
        if self.is_fine_tuned and not self.is_developer_tier:  # 24 hours come long before 15 days
            notes.append(inactivity_note(self.created_at, now=now))
        return "; ".join(notes) or None

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
