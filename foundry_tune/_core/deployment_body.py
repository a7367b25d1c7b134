"""The ARM deployment resource: names, tags and the PUT body Azure expects."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from foundry_tune.catalog import lookup_model
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "TAG_CREATED_AT",
    "TAG_CREATED_BY",
    "TAG_CREATED_BY_VALUE",
    "TAG_JOB_ID",
    "build_body",
    "default_name",
    "infer_format",
    "normalize_sku",
    "validate_model",
    "validate_name",
]

TAG_CREATED_BY = "created-by"
TAG_CREATED_BY_VALUE = "foundry-tune"
TAG_JOB_ID = "foundry-tune-job-id"
TAG_CREATED_AT = "foundry-tune-created-at"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # fullmatch: "$" would let a final "\n" in
_MAX_NAME = 64
_MAX_CAPACITY = 2**31 - 1  # ARM's sku.capacity is a 32-bit integer


def validate_name(name: str) -> str:
    """Check a deployment name: 1-64 characters, letters, digits, ``_``, ``.`` and ``-``."""
    if not isinstance(name, str):
        raise InvalidParameterError(f"deployment name must be a string, not {type(name).__name__}")
    if not _NAME.fullmatch(name):
        shown = repr(name) if len(name) <= 80 else f"{name[:60]!r}... ({len(name):,} characters)"
        raise InvalidParameterError(
            f"deployment name {shown} is invalid: use 1-64 characters (letters, digits, '_', '.', '-'), "
            "starting with a letter or digit, with no whitespace or newline"
        )
    return name


def validate_model(model: str) -> str:
    """Check the model to deploy: a non-empty name with no surrounding whitespace or control character."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidParameterError(f"model must be a non-empty model id, got {type(model).__name__}")
    if model != model.strip() or not model.isprintable():
        raise InvalidParameterError(
            f"model {model[:80]!r} has whitespace around it or a control character (a trailing newline?): "
            f"use {model.strip()[:80]!r}"
        )
    return model


def default_name(model: str) -> str:
    """A deterministic deployment name for ``model``, so a repeated deploy reuses the same deployment.

    ``gpt-4.1-mini-2025-04-14.ft-0a1b2c`` becomes ``gpt-4.1-mini-2025-04-14-ft-0a1b2c``; names
    longer than 64 characters keep a hash of the full model id.
    """
    validate_model(model)
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", model.replace(".ft-", "-ft-").replace(":", "-")).strip("-._")
    base = base or "model"
    if len(base) <= _MAX_NAME:
        return base
    digest = hashlib.sha256(model.encode()).hexdigest()[:10]
    return f"{base[: _MAX_NAME - 11].rstrip('-._')}-{digest}"


def infer_format(model: str) -> str:
    """The ARM ``model.format`` for a (fine-tuned) model id: the catalog's format of its base model
    (``Ministral-3B.ft-...`` -> ``Mistral AI``, ``gpt-oss-20b.ft-...`` -> ``OpenAI-OSS``,
    ``gpt-4.1-mini-2025-04-14.ft-...`` -> ``OpenAI``).

    Models foundry-tune does not know (and checkpoint ids) are sent as ``OpenAI``; pass
    ``model_format=`` to override.
    """
    info = lookup_model(model)
    return info.deployment_format if info is not None else "OpenAI"


DEVELOPER_SKU = "DeveloperTier"
"""The Developer deployment SKU as Azure names it (what the real requests sent)."""

_SKUS = {name.lower(): name for name in (
    "Standard", "GlobalStandard", "DataZoneStandard", DEVELOPER_SKU, "ProvisionedManaged",
    "GlobalProvisionedManaged", "DataZoneProvisionedManaged", "GlobalBatch", "DataZoneBatch",
)}
_SKU_ALIASES = {"developer": DEVELOPER_SKU, "global": "GlobalStandard", "datazone": "DataZoneStandard"}


def normalize_sku(sku: str) -> str:
    """Azure's spelling of a deployment SKU, accepted in any casing: ``Developer`` /
    ``developertier`` -> ``DeveloperTier``, ``globalstandard`` -> ``GlobalStandard``. A SKU
    foundry-tune does not know is passed through unchanged."""
    if not isinstance(sku, str) or not sku.strip():
        raise InvalidParameterError(f"sku must be a non-empty SKU name such as 'GlobalStandard', got {sku!r}")
    key = re.sub(r"[\s_-]+", "", sku).lower()
    return _SKU_ALIASES.get(key) or _SKUS.get(key) or sku.strip()


def build_body(
    model: str,
    *,
    sku: str,
    capacity: int,
    tags: Mapping[str, str],
    model_version: str = "1",
    model_format: str | None = None,
) -> dict[str, Any]:
    """The PUT body of ``Microsoft.CognitiveServices/accounts/deployments``. ``sku`` is normalized
    (``Developer`` is sent as ``DeveloperTier``, see :func:`normalize_sku`) and ``model.format``
    defaults to the catalog's format of the model's family (:func:`infer_format`)."""
    validate_model(model)
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise InvalidParameterError(f"capacity must be a whole number >= 1, got {type(capacity).__name__}")
    if not 1 <= capacity <= _MAX_CAPACITY:
        shown = capacity if capacity.bit_length() <= 64 else "<a huge integer>"
        raise InvalidParameterError(f"capacity must be from 1 to {_MAX_CAPACITY:,}, got {shown}")
    return {
        "sku": {"name": normalize_sku(sku), "capacity": capacity},
        "properties": {
            "model": {"format": model_format or infer_format(model), "name": model, "version": model_version},
        },
        "tags": dict(tags),
    }
