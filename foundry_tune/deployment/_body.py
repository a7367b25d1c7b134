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
    "validate_name",
]

TAG_CREATED_BY = "created-by"
TAG_CREATED_BY_VALUE = "foundry-tune"
TAG_JOB_ID = "foundry-tune-job-id"
TAG_CREATED_AT = "foundry-tune-created-at"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MAX_NAME = 64


def validate_name(name: str) -> str:
    """Check a deployment name: 1-64 characters, letters, digits, ``_``, ``.`` and ``-``."""
    if not _NAME.match(name):
        raise InvalidParameterError(
            f"deployment name {name!r} is invalid: use 1-64 characters (letters, digits, '_', '.', '-'), "
            "starting with a letter or digit"
        )
    return name


def default_name(model: str) -> str:
    """A deterministic deployment name for ``model``, so a repeated deploy reuses the same deployment.

    ``gpt-4.1-mini-2025-04-14.ft-0a1b2c`` becomes ``gpt-4.1-mini-2025-04-14-ft-0a1b2c``; names
    longer than 64 characters keep a hash of the full model id.
    """
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", model.replace(".ft-", "-ft-").replace(":", "-")).strip("-._")
    base = base or "model"
    if len(base) <= _MAX_NAME:
        return base
    digest = hashlib.sha256(model.encode()).hexdigest()[:10]
    return f"{base[: _MAX_NAME - 11].rstrip('-._')}-{digest}"


def infer_format(model: str) -> str:
    """The ARM ``model.format`` for a (fine-tuned) model id: ``OpenAI`` for every model in the catalog.

    Models foundry-tune does not know are also sent as ``OpenAI`` (the format of every model Foundry
    fine-tunes through this API); pass ``model_format=`` to override.
    """
    lookup_model(model)  # the catalog only lists OpenAI-format models today
    return "OpenAI"


def build_body(
    model: str,
    *,
    sku: str,
    capacity: int,
    tags: Mapping[str, str],
    model_version: str = "1",
    model_format: str | None = None,
) -> dict[str, Any]:
    """The PUT body of ``Microsoft.CognitiveServices/accounts/deployments``."""
    if capacity < 1:
        raise InvalidParameterError(f"capacity must be >= 1, got {capacity}")
    return {
        "sku": {"name": sku, "capacity": capacity},
        "properties": {
            "model": {"format": model_format or infer_format(model), "name": model, "version": model_version},
        },
        "tags": dict(tags),
    }
