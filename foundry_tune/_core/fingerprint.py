"""The job fingerprint: what makes two ``start()`` calls "the same job"."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from foundry_tune._core.redact import redact_grader_json

__all__ = ["ATTEMPT_KEY", "FINGERPRINT_KEY", "RESERVED_PREFIX", "fingerprint"]

FINGERPRINT_KEY = "foundry_tune_fingerprint"
"""Job metadata key holding the fingerprint; ``start()`` looks jobs up by it."""

ATTEMPT_KEY = "foundry_tune_attempt"
"""Job metadata key holding a random id per ``start()`` call, used to reconcile an ambiguous create."""

RESERVED_PREFIX = "foundry_tune_"

_VERSION = "v1"


def fingerprint(
    *,
    model: str,
    training: str,
    validation: str | None,
    method: Mapping[str, Any],
    suffix: str | None,
    seed: int | None,
    training_type: str | None,
) -> str:
    """A stable hex digest of everything that defines a training run.

    ``training`` / ``validation`` are content hashes (``sha256:<hex>``) or remote file ids
    (``file:<id>``). Key order in ``method`` does not matter; the digest is versioned so that a
    future change of the recipe never matches an old job by accident. An endpoint grader's
    secrets (header values, URL password and query values) are hashed as a fixed mask: rotating
    a key finds the same job, while header names, the host and the path still count.
    """
    payload = {
        "v": _VERSION,
        "model": model,
        "training": training,
        "validation": validation,
        "method": redact_grader_json(dict(method)),
        "suffix": suffix,
        "seed": seed,
        "training_type": training_type,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return "ftfp1-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]
