"""Checks of a ``POST /fine_tuning/jobs`` body, as the service makes them, before anything is created."""

from __future__ import annotations

import re
from typing import Any

from foundry_tune import graders
from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import ModelInfo, TrainingType, lookup_model, parse_training_type
from foundry_tune.emulator._errors import invalid
from foundry_tune.emulator._grading import load_grader
from foundry_tune.errors import InvalidParameterError
from foundry_tune.methods import DPO, Reinforcement, Supervised, TuningMethod

_SUFFIX = re.compile(r"[A-Za-z0-9_-]{1,64}")  # fullmatch: "$" would let a final newline through
_METHODS: dict[MethodKind, type[TuningMethod]] = {
    MethodKind.SUPERVISED: Supervised,
    MethodKind.DPO: DPO,
    MethodKind.REINFORCEMENT: Reinforcement,
}


def check_hyperparameters(
    kind: MethodKind, hp: object, param: str, grader: graders.Grader | None = None
) -> dict[str, Any]:
    """Range-check a hyperparameters object with the library's own method classes; return every
    hyperparameter (``auto`` where not given)."""
    if hp is None:
        hp = {}
    if not isinstance(hp, dict):
        raise invalid("'hyperparameters' must be an object.", param=param)
    if "grader" in hp or "response_format" in hp:
        raise invalid("'hyperparameters' holds numbers only.", param=param)
    extra: dict[str, Any] = {"grader": grader} if kind is MethodKind.REINFORCEMENT else {}
    hp = dict(hp)
    l2 = hp.pop("l2_multiplier", None) if kind is MethodKind.DPO else None
    if l2 is not None and (isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0):
        raise invalid("Invalid hyperparameters: l2_multiplier must be a number >= 0.", param=param)
    try:
        method = _METHODS[kind](**hp, **extra)
    except InvalidParameterError as exc:
        raise invalid(f"Invalid hyperparameters: {exc}.", param=param) from None
    except (ArithmeticError, ValueError, TypeError):  # e.g. a number no float holds
        raise invalid("Invalid hyperparameters: a value is out of range.", param=param) from None
    out = method.hyperparameters()
    if l2 is not None:  # Azure's DPO regularization (recordings/list_jobs_page1_head.json)
        out["l2_multiplier"] = l2
    return out


def check_method(body: dict[str, Any]) -> tuple[MethodKind, dict[str, Any]]:
    """The job's method kind and its normalized wire ``method`` object."""
    method = body.get("method")
    if method is None:
        hp = check_hyperparameters(MethodKind.SUPERVISED, body.get("hyperparameters"), "hyperparameters")
        return MethodKind.SUPERVISED, {"type": "supervised", "supervised": {"hyperparameters": hp}}
    if not isinstance(method, dict):
        raise invalid("'method' must be an object.", param="method")
    try:
        kind = MethodKind(method.get("type"))
    except ValueError:
        raise invalid(
            f"Invalid method type {method.get('type')!r}: use supervised, dpo or reinforcement.",
            "method.type",
        ) from None
    section = method.get(kind.value) or {}
    if not isinstance(section, dict):
        raise invalid(f"'method.{kind.value}' must be an object.", param=f"method.{kind.value}")
    param = f"method.{kind.value}.hyperparameters"
    grader = None
    if kind is MethodKind.REINFORCEMENT:
        if "grader" not in section:
            raise invalid(
                "A reinforcement job needs 'method.reinforcement.grader'.", "method.reinforcement.grader"
            )
        grader = load_grader(section["grader"], "method.reinforcement.grader")
    hp = check_hyperparameters(kind, section.get("hyperparameters"), param, grader)
    out: dict[str, Any] = {"hyperparameters": hp}
    if grader is not None:
        out["grader"] = grader.to_dict()
        if section.get("response_format") is not None:
            out["response_format"] = section["response_format"]
    return kind, {"type": kind.value, kind.value: out}


def check_model(model: object, kind: MethodKind) -> ModelInfo:
    """The base model, which must support ``kind`` (the service's allow-list)."""
    if not isinstance(model, str) or not model:
        raise invalid("'model' is a required property.", param="model")
    info = lookup_model(model)
    if info is None:
        raise invalid(
            f"The specified base model '{model}' does not support fine-tuning.", "model", "invalidModel"
        )
    if not info.supports(kind):
        raise invalid(
            f"The base model '{model}' does not support the {kind.value} fine-tuning method.",
            "model",
            "invalidModel",
        )
    return info


def check_training_type(body: dict[str, Any], info: ModelInfo) -> TrainingType:
    """Azure's ``trainingType`` in any spelling the service accepted (``Standard``,
    ``globalstandard``, ``developerTier``, ...). Omitted, it is ``Standard``, the service's default
    (a model without Standard training then answers "Standard TrainingType is not supported", as
    users reported on Microsoft Q&A 12233799). A type the model does not train with is refused."""
    raw = body.get("trainingType", body.get("training_type"))
    if raw is None:
        training_type = TrainingType.STANDARD
    else:
        try:
            training_type = parse_training_type(str(raw))
        except InvalidParameterError:
            raise invalid(
                f"Invalid trainingType {raw!r}: use Standard, GlobalStandard, DataZone or Developer.",
                "trainingType",
            ) from None
    if not info.supports_training_type(training_type):
        raise invalid(
            f"{training_type.value} TrainingType is not supported for base model '{info.name}'.",
            "trainingType",
            "invalidTrainingType",
        )
    return training_type


def check_suffix(suffix: object) -> str | None:
    """1-64 characters of letters, digits, ``-`` and ``_`` (no dots)."""
    if suffix is None:
        return None
    if not isinstance(suffix, str) or not _SUFFIX.fullmatch(suffix):
        raise invalid(
            "'suffix' must be 1 to 64 characters of letters, digits, '-' and '_' (no dots or spaces).",
            "suffix",
        )
    return suffix


def check_metadata(metadata: object) -> dict[str, str] | None:
    """Up to 16 string pairs, keys up to 64 and values up to 512 characters."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise invalid("'metadata' must be an object of string pairs.", param="metadata")
    if len(metadata) > 16:
        raise invalid("'metadata' can hold at most 16 key-value pairs.", param="metadata")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise invalid(f"metadata value for '{key}' must be a string.", param=f"metadata.{key}")
        if len(key) > 64:
            raise invalid("metadata keys can be at most 64 characters.", param="metadata")
        if len(value) > 512:
            raise invalid(f"metadata value for '{key}' exceeds 512 characters.", param=f"metadata.{key}")
    return dict(metadata)


def check_seed(seed: object) -> int | None:
    """An integer in ``[0, 2147483647]``."""
    if seed is None:
        return None
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 2_147_483_647:
        raise invalid("'seed' must be an integer between 0 and 2147483647.", param="seed")
    return seed


def check_integrations(integrations: object) -> list[dict[str, Any]] | None:
    """Up to 5 ``wandb`` integrations, each with a project."""
    if integrations is None:
        return None
    if not isinstance(integrations, list) or len(integrations) > 5:
        raise invalid("'integrations' must be a list of at most 5 integrations.", param="integrations")
    for i, item in enumerate(integrations):
        ok = isinstance(item, dict) and item.get("type") == "wandb" and isinstance(item.get("wandb"), dict)
        if not ok or not isinstance(item["wandb"].get("project"), str):
            raise invalid(
                "Each integration must be {'type': 'wandb', 'wandb': {'project': ...}}.", f"integrations[{i}]"
            )
    return list(integrations)
