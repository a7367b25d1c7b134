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
    "legacy_default_name",
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


# A fine-tuned model id on Azure: ``<base>-<date>.ft-<job hex>[-<suffix>][:ckpt-step-<n>]``; on
# OpenAI: ``ft:<base>-<date>:<org>:<suffix>:<id>[:ckpt-step-<n>]``.
_AZURE_TUNED = re.compile(
    r"(?P<base>[^:]+?)\.ft-(?P<id>[0-9a-f]{32}|[A-Za-z0-9]+?)(?:-(?P<suffix>[^:]+))?(?::ckpt-step-(?P<step>\d+))?"
)
_OPENAI_TUNED = re.compile(
    r"ft:(?P<base>[^:]+):[^:]*:(?P<suffix>[^:]*):(?P<id>[^:]+?)(?::ckpt-step-(?P<step>\d+))?"
)
_JOB_HEX = re.compile(r"[0-9a-f]{32}")
_DATE = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_SHORT_ID = 8


def _name_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-._")


def default_name(model: str) -> str:
    """A deterministic, readable deployment name for ``model``, so a repeated deploy reuses the
    same deployment.

    For a fine-tuned model it is the base model without its date, the job's suffix, the first 8
    characters of the job's id and, for a checkpoint, its step:
    ``gpt-4.1-mini-2025-04-14.ft-0a1b2c3d4e5f...-support`` becomes ``gpt-4.1-mini-support-0a1b2c3d``
    (``gpt-4.1-mini-ft-0a1b2c3d`` without a suffix, ``...-0a1b2c3d-step80`` for ``:ckpt-step-80``).
    Names stay within Azure's 64 characters (letters, digits, ``_``, ``.``, ``-``): a long suffix is
    shortened, never the id part. Other model ids are used as they are, made safe, with a hash of
    the full id when they must be shortened.
    """
    validate_model(model)
    tuned = _AZURE_TUNED.fullmatch(model) or _OPENAI_TUNED.fullmatch(model)
    if tuned is not None:
        base = _name_safe(_DATE.sub("", tuned["base"])) or "model"
        suffix = _name_safe(tuned["suffix"] or "") or "ft"
        job_hex = tuned["id"]
        # Azure's 32 random hex digits: their first 8 name the job readably (ftjob-<hex>); any other
        # id longer than that is replaced by a hash of the whole model id, which stays unique.
        if len(job_hex) > _SHORT_ID and not _JOB_HEX.fullmatch(job_hex):
            job_hex = hashlib.sha256(model.encode()).hexdigest()
        short = _name_safe(job_hex[:_SHORT_ID]) or hashlib.sha256(model.encode()).hexdigest()[:_SHORT_ID]
        tail = f"-{short}" + (f"-step{tuned['step']}" if tuned["step"] else "")
        room = _MAX_NAME - len(tail)
        head = f"{base}-{suffix}"
        if len(head) > room:
            head = head[:room].rstrip("-._")
        return f"{head}{tail}"
    return _safe_name(model.replace(":", "-"), model)


def legacy_default_name(model: str) -> str:
    """The name foundry-tune 0.x derived for ``model`` before names kept the job's suffix
    (``gpt-4.1-mini-2025-04-14.ft-0a1b2c`` -> ``gpt-4.1-mini-2025-04-14-ft-0a1b2c``): a deployment
    made under it is reused rather than created again under the new name."""
    validate_model(model)
    return _safe_name(model.replace(".ft-", "-ft-").replace(":", "-"), model)


def _safe_name(text: str, model: str) -> str:
    base = _name_safe(text) or "model"
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
    (``Developer`` is sent as ``DeveloperTier``, see [`normalize_sku()`][normalize_sku]) and ``model.format``
    defaults to the catalog's format of the model's family ([`infer_format()`][infer_format])."""
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
