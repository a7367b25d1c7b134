"""Run a grader on one sample and one item, locally, without a network or a model.

``string_check`` and ``text_similarity`` (and ``multi`` graders over them) are computed for real.
Graders that need a model or foreign code (``score_model``, ``label_model``, ``python``,
``endpoint``) get a deterministic *simulated* score derived from a SHA-256 of the grader and
its inputs, flagged ``details["simulated"] = True``: the emulator and offline evaluation can run,
and the same inputs always give the same score. Python grader source is never executed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from foundry_tune.errors import GraderError, InvalidParameterError
from foundry_tune.graders._bounds import MAX_JSON_DEPTH, json_problem
from foundry_tune.graders._formula import FormulaError, evaluate_formula
from foundry_tune.graders._loading import GraderSource, load
from foundry_tune.graders._metrics import similarity
from foundry_tune.graders._models import (
    Endpoint,
    Grader,
    GraderMessage,
    LabelModel,
    Multi,
    Python,
    ScoreModel,
    StringCheck,
    TextSimilarity,
    redact_secrets,
)
from foundry_tune.graders._templates import render

__all__ = ["GraderResult", "make_sample", "run_locally"]

_ERROR_FLAGS = (
    "formula_parse_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "other_error",
    "python_grader_server_error",
    "python_grader_runtime_error",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_parse_error",
)


@dataclasses.dataclass(frozen=True)
class GraderResult:
    """The outcome of [`run_locally()`][run_locally].

    ``score``: the reward; ``passed``: ``score >= pass_threshold`` when the grader has a threshold
    (string checks pass on 1.0, label models on a passing label), else ``None``; ``details``: the
    rendered inputs, ``simulated``, ``missing_variables``, ``errors`` and, for multi graders,
    ``sub_results``.
    """

    score: float
    passed: bool | None
    details: dict[str, Any]

    @property
    def simulated(self) -> bool:
        """Whether any part of the score was simulated rather than computed."""
        return bool(self.details.get("simulated"))

    def to_run_response(self, execution_time: float = 0.0) -> dict[str, Any]:
        """The service's ``RunGraderResponse`` JSON for this result (used by the emulator)."""
        errors: dict[str, Any] = dict.fromkeys(_ERROR_FLAGS, False)
        errors.update(
            python_grader_server_error_type=None,
            python_grader_runtime_error_details=None,
            model_grader_server_error_details=None,
        )
        for flag in self.details.get("errors", []):
            errors[flag] = True
        sub = self.details.get("sub_results", {})
        return {
            "reward": self.score,
            "metadata": {
                "name": self.details.get("name") or "",
                "type": self.details.get("type", ""),
                "errors": errors,
                "execution_time": execution_time,
                "scores": {name: result.score for name, result in sub.items()} or {"score": self.score},
                "token_usage": None,
                "sampled_model_name": None,
            },
            "sub_rewards": {name: result.score for name, result in sub.items()},
            "model_grader_token_usage_per_model": {},
        }


def make_sample(sample: Mapping[str, Any] | str) -> dict[str, Any]:
    """The grader ``sample`` namespace: a model answer string becomes ``output_text``, and
    ``output_json`` is filled in when the text is a JSON object or array (as the service does)."""
    if not isinstance(sample, (str, Mapping)):
        raise InvalidParameterError(
            f"sample must be the model's answer as a string or a mapping, not {type(sample).__name__}"
        )
    data: dict[str, Any] = {"output_text": sample} if isinstance(sample, str) else dict(sample)
    text = data.get("output_text")
    if "output_json" not in data and isinstance(text, str):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or JSON nested past what Python reads
            parsed = None
        if isinstance(parsed, (dict, list)):
            data["output_json"] = parsed
    if "output_text" not in data and isinstance(data.get("output_json"), (dict, list)):
        data["output_text"] = json.dumps(data["output_json"], ensure_ascii=False)
    return data


def run_locally(
    grader: GraderSource, sample: Mapping[str, Any] | str, item: Mapping[str, Any] | None = None
) -> GraderResult:
    """Grade one ``sample`` (the model's answer, as a dict or a string) against one dataset ``item``.

    Deterministic: the same grader and inputs always give the same result.
    """
    resolved = _resolve_grader(grader)
    if item is not None and not isinstance(item, Mapping):
        raise InvalidParameterError(f"item must be a mapping (one dataset row), not {type(item).__name__}")
    prepared = make_sample(sample)
    for name, value in (("sample", prepared), ("item", item)):
        problem = json_problem(value, MAX_JSON_DEPTH, numbers=False)
        if problem is not None:
            raise InvalidParameterError(f"{name}: {problem}")
    started = time.perf_counter()
    result = _run(resolved, prepared, dict(item or {}))
    result.details.setdefault("elapsed_s", time.perf_counter() - started)
    return result


def _resolve_grader(grader: GraderSource) -> Grader:
    if isinstance(grader, Grader):
        return grader
    if isinstance(grader, Mapping) and grader.get("type") == "label_model":
        try:
            return LabelModel(**dict(grader))
        except GraderError as exc:
            raise GraderError(f"grader: {exc}") from None
    return load(grader, strict=False)


def _base_details(grader: Grader) -> dict[str, Any]:
    return {"name": grader.name, "type": grader.wire_type, "simulated": False, "errors": []}


def _finish(details: dict[str, Any], missing: list[str]) -> None:
    if missing:
        details["missing_variables"] = sorted(set(missing))
        if "invalid_variable_error" not in details["errors"]:
            details["errors"].append("invalid_variable_error")


def _threshold(score: float, threshold: float | None) -> bool | None:
    return None if threshold is None else score >= threshold


def _run(grader: Grader, sample: dict[str, Any], item: dict[str, Any]) -> GraderResult:
    if isinstance(grader, StringCheck):
        return _string_check(grader, sample, item)
    if isinstance(grader, TextSimilarity):
        return _text_similarity(grader, sample, item)
    if isinstance(grader, Multi):
        return _multi(grader, sample, item)
    return _simulated(grader, sample, item)


def _string_check(grader: StringCheck, sample: dict[str, Any], item: dict[str, Any]) -> GraderResult:
    missing: list[str] = []
    text = render(grader.input, sample, item, missing)
    reference = render(grader.reference, sample, item, missing)
    if grader.operation == "eq":
        ok = text == reference
    elif grader.operation == "ne":
        ok = text != reference
    elif grader.operation == "like":
        ok = reference in text
    else:
        ok = reference.casefold() in text.casefold()
    details = _base_details(grader)
    details.update(input=text, reference=reference, operation=grader.operation)
    _finish(details, missing)
    score = 1.0 if ok else 0.0
    return GraderResult(score=score, passed=ok, details=details)


def _text_similarity(grader: TextSimilarity, sample: dict[str, Any], item: dict[str, Any]) -> GraderResult:
    missing: list[str] = []
    text = render(grader.input, sample, item, missing)
    reference = render(grader.reference, sample, item, missing)
    score = similarity(grader.evaluation_metric, text, reference)
    details = _base_details(grader)
    details.update(input=text, reference=reference, evaluation_metric=grader.evaluation_metric)
    if grader.evaluation_metric == "cosine":
        details["simulated"] = True
    _finish(details, missing)
    return GraderResult(score=score, passed=_threshold(score, grader.pass_threshold), details=details)


def _multi(grader: Multi, sample: dict[str, Any], item: dict[str, Any]) -> GraderResult:
    results = {name: _run(sub, sample, item) for name, sub in grader.graders.items()}
    details = _base_details(grader)
    details["sub_results"] = results
    details["simulated"] = any(r.simulated for r in results.values())
    for result in results.values():
        for flag in result.details.get("errors", []):
            if flag not in details["errors"]:
                details["errors"].append(flag)
    try:
        score = evaluate_formula(grader.calculate_output, {n: r.score for n, r in results.items()})
    except FormulaError as exc:
        details["errors"].append("formula_parse_error")
        details["formula_error"] = str(exc)
        score = 0.0
    return GraderResult(score=score, passed=_threshold(score, grader.pass_threshold), details=details)


def _render_messages(
    messages: list[GraderMessage], sample: dict[str, Any], item: dict[str, Any], missing: list[str]
) -> list[dict[str, Any]]:
    rendered = []
    for message in messages:
        content = _render_any(message.content, sample, item, missing)
        rendered.append({"role": message.role, "content": content})
    return rendered


def _render_any(value: Any, sample: dict[str, Any], item: dict[str, Any], missing: list[str]) -> Any:
    if isinstance(value, str):
        return render(value, sample, item, missing)
    if isinstance(value, dict):
        return {k: _render_any(v, sample, item, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_any(v, sample, item, missing) for v in value]
    return value


def _unit_hash(grader: Grader, sample: dict[str, Any], item: dict[str, Any]) -> float:
    payload = json.dumps(
        {"grader": redact_secrets(grader.to_dict()), "sample": sample, "item": item},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    digest = hashlib.sha256(payload.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _simulated(grader: Grader, sample: dict[str, Any], item: dict[str, Any]) -> GraderResult:
    missing: list[str] = []
    details = _base_details(grader)
    details["simulated"] = True
    unit = _unit_hash(grader, sample, item)
    if isinstance(grader, ScoreModel):
        details["input"] = _render_messages(grader.input, sample, item, missing)
        low, high = grader.score_range
        score = round(low + unit * (high - low), 6)
        passed = _threshold(score, grader.pass_threshold)
    elif isinstance(grader, LabelModel):
        details["input"] = _render_messages(grader.input, sample, item, missing)
        label = grader.labels[min(int(unit * len(grader.labels)), len(grader.labels) - 1)]
        details["label"] = label
        passed = label in grader.passing_labels
        score = 1.0 if passed else 0.0
    elif isinstance(grader, (Python, Endpoint)):
        score = round(unit, 6)
        passed = _threshold(score, grader.pass_threshold)
    else:  # pragma: no cover - every grader class is handled above
        raise GraderError(f"cannot run a {grader.wire_type!r} grader locally")
    _finish(details, missing)
    return GraderResult(score=score, passed=passed, details=details)
