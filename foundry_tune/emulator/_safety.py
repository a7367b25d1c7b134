"""The service's two safety outcomes, on demand: a job whose training data fails the safety
screening, and a trained model that fails its safety evaluation and cannot be deployed.

Azure's behaviour (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tuning-safety-evaluation):
the data is screened before training, within the data import, and the job fails with
``The provided training data failed RAI checks for harm types: [...]. Please fix the data and try
again.``; the model is evaluated after training, before it is available for deployment, and the
job fails ("a failed fine-tuning job due to safety evaluation", the page's screenshot) with
``This model is unable to be deployed. Model evaluation identified that this fine tuned model scores
above acceptable thresholds for [...]. Please review your training data set and resubmit the job.``
Neither outcome is billed. The error codes, the ``Model Evaluation Failed.`` event (the mirror of the
recorded ``Model Evaluation Passed.``) and ARM's refusal of a deploy of such a model are inference:
no doc or recording shows them.

How a test asks for them:

- a marker in any row of the training (or validation) file: ``[emulator:unsafe-data]`` or
  ``[emulator:unsafe-model]``, optionally with the harm categories the message names,
  ``[emulator:unsafe-data:violence,self_harm]``, ``[emulator:unsafe-model:hate]`` (any spelling
  ``normalise_category`` reads; without categories the docs' sample ones);
- the switch ``safety`` (``POST /_emulator/switches {"safety": "data"}``, ``"model"``, or with
  categories ``"data:sexual"``; ``null`` turns it off): it applies to every job validated while
  it is set.

A data marker (or switch) wins over a model one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from foundry_tune._core.safety import data_safety_message, model_safety_message, normalise_category
from foundry_tune.emulator._control import SWITCH_CHECKS
from foundry_tune.emulator._errors import ApiError, arm_error
from foundry_tune.emulator._files import file_path
from foundry_tune.emulator._state import Context
from foundry_tune.emulator._store import Doc

__all__ = [
    "DATA_CODE",
    "MARKER",
    "MODEL_CODE",
    "REFUSAL_CODE",
    "check_switch",
    "fail_unsafe_model",
    "refuse_unsafe_deploy",
    "screen",
]

MARKER = re.compile(r"\[emulator:unsafe-(data|model)(?::([A-Za-z _,/-]*))?\]", re.I)
"""A row containing ``[emulator:unsafe-data]`` / ``[emulator:unsafe-model]`` (optionally
``:category,category``) makes its job fail that check."""

DATA_CODE = "invalidTrainingFile"
"""The code of a data-safety failure (inference: the code of the other training-data rejections)."""
MODEL_CODE = "modelEvaluationFailed"
"""The code of a model-safety failure (inference)."""
REFUSAL_CODE = "ModelNotDeployable"
"""ARM's code when a deploy of a model that failed its safety evaluation is refused (inference)."""

_DEFAULTS = {
    "data": ("hate_fairness", "self_harm", "violence"),  # the docs' sample message
    "model": ("violence", "self_harm"),
}
_SWITCH = "safety"


def check_switch(key: str, value: Any) -> str | None:
    """Why ``value`` is not a valid value of the ``safety`` switch (``None`` when it is, or for
    another switch)."""
    if key != _SWITCH or value is None:
        return None
    kind = value.partition(":")[0].strip().lower() if isinstance(value, str) else None
    if kind not in _DEFAULTS:
        return ("switch 'safety' must be \"data\" or \"model\" (optionally with harm categories, "
                "\"data:violence,self_harm\"), or null")
    return None


SWITCH_CHECKS.append(check_switch)


def _categories(kind: str, listed: str | None) -> list[str]:
    names = [normalise_category(p) for p in re.split(r"[,/]", listed or "") if p.strip()]
    return list(dict.fromkeys(names)) or list(_DEFAULTS[kind])


def _from_switch(ctx: Context) -> tuple[str, list[str]] | None:
    value: Any = ctx.switches.get(_SWITCH)
    if not isinstance(value, str) or not value:
        return None
    kind, _, listed = value.partition(":")
    kind = kind.strip().lower()
    if kind not in _DEFAULTS:
        return None
    return kind, _categories(kind, listed)


def _from_markers(texts: Iterable[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for text in texts:
        for match in MARKER.finditer(text):
            kind = match.group(1).lower()
            names = _categories(kind, match.group(2))
            found[kind] = list(dict.fromkeys([*found.get(kind, []), *names]))
    return found


def _texts(ctx: Context, job: Doc) -> list[str]:
    texts = []
    for param in ("training_file", "validation_file"):
        doc = ctx.store.get("file", job.get(param) or "")
        if doc is not None:
            path = file_path(ctx, doc)
            if path.is_file():
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return texts


def screen(ctx: Context, job: Doc) -> Doc:
    """The safety screening of a job's data, run once its files passed validation: ``{"error":
    ...}`` when the data fails it; ``{"_unsafe_model": [categories]}`` when the model will fail its
    evaluation after training; else ``{}``."""
    found = _from_markers(_texts(ctx, job))
    switch = _from_switch(ctx)
    if switch is not None:
        found.setdefault(switch[0], switch[1])
    if "data" in found:
        return {"error": {"code": DATA_CODE, "param": "training_file",
                          "message": data_safety_message(found["data"])}}
    if "model" in found:
        return {"_unsafe_model": found["model"]}
    return {}


def fail_unsafe_model(
    ctx: Context,
    job: Doc,
    at: float,
    results_file: str,
    *,
    phase: Callable[[Doc, str], None],
    event: Callable[..., Doc],
) -> bool:
    """At the end of training: fail ``job`` if its model was to fail the safety evaluation (the
    result file stays; no tuned model, no billed tokens). Whether it did. ``phase`` and ``event``
    are the job runner's (passed in: this module is imported by it)."""
    categories = job.get("_unsafe_model")
    if not categories:
        return False
    message = model_safety_message(categories)
    phase(job, "failed")
    job["error"] = {"code": MODEL_CODE, "param": None, "message": message}
    job["finished_at"] = int(at)
    job["_finished_at"] = at
    job["result_files"] = [results_file]
    if "estimated_finish" in job:
        job["estimated_finish"] = None
    ctx.store.put_many("event", [
        event(job["id"], at, "Model Evaluation Failed.", level="error"),
        event(job["id"], at, message, level="error"),
    ], job["id"])
    return True


def refuse_unsafe_deploy(ctx: Context, model_name: str) -> None:
    """Raise ARM's refusal (400) of a deploy of a model, or one of its checkpoints, that failed its
    safety evaluation."""
    for job in ctx.store.all("job"):
        categories = job.get("_unsafe_model")
        if not categories or job.get("status") != "failed":
            continue
        names = {job.get("_ft_model")}
        names.update(c.get("fine_tuned_model_checkpoint") for c in ctx.store.all("checkpoint", job["id"]))
        if model_name in names:
            raise _refusal(categories)


def _refusal(categories: list[str]) -> ApiError:
    return arm_error(400, REFUSAL_CODE, model_safety_message(categories))
