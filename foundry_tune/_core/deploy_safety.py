"""A deployment the service refused because the model failed its safety evaluation, as the typed
model-safety error, whoever asked for it (``job.deploy()``, ``ft.deployments.create()``, the CLI).
No I/O."""

from __future__ import annotations

import re

from foundry_tune._core.safety import safety_refusal
from foundry_tune.errors import FoundryTuneError

__all__ = ["job_of_model", "refused_deploy"]

# Azure names a tuned model (and its checkpoints) after the job: job ``ftjob-<32 hex>`` makes
# ``gpt-4.1-mini-2025-04-14.ft-<32 hex>[-suffix][:ckpt-step-N]`` (/work/shared/data/azure-recordings).
_AZURE_TUNED = re.compile(r"\.ft-([0-9a-f]{32})(?![0-9a-f])")


def job_of_model(model: str) -> str | None:
    """The id of the job that trained ``model``, when its Azure name says it (``...ft-<hex>`` ->
    ``ftjob-<hex>``); ``None`` for a base model or a name in another form."""
    match = _AZURE_TUNED.search(model)
    return f"ftjob-{match.group(1)}" if match else None


def refused_deploy(exc: FoundryTuneError, *, model: str, job_id: str | None) -> FoundryTuneError:
    """What a deploy of ``model`` raises when the service refused it: the model-safety
    [`SafetyCheckFailedError`][SafetyCheckFailedError] (``kind`` ``"model"``, the harm categories,
    a hint) when the refusal says the model failed its safety evaluation, else ``exc`` itself. The
    error's ``job_id`` is ``job_id``, else the job the model's name points at, else the model."""
    return safety_refusal(job_id or job_of_model(model) or model, exc) or exc
