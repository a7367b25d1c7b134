"""Graders through the library's own ``foundry_tune.graders`` (load, validate, run locally)."""

from __future__ import annotations

import importlib
import json
import time
from typing import Any

from foundry_tune.emulator._errors import invalid

GRADER_TYPES = {"string_check", "text_similarity", "python", "score_model", "multi", "label_model", "endpoint"}


def _graders() -> Any:
    # Imported by name: the graders package is optional at this layer's build time.
    return importlib.import_module("foundry_tune.graders")


def load_grader(raw: object, param: str = "grader") -> Any:
    """Parse and check a wire grader (400 in the service's shape when it is invalid)."""
    if not isinstance(raw, dict):
        raise invalid("'grader' must be an object.", param=param)
    if raw.get("type") not in GRADER_TYPES:
        raise invalid(f"Unknown grader type {raw.get('type')!r}.", param=f"{param}.type")
    try:
        return _graders().load(raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise invalid(f"Invalid grader: {exc}", param=param, code="invalid_grader") from None
    except Exception as exc:
        if type(exc).__name__.endswith("Error") and hasattr(exc, "args"):
            raise invalid(f"Invalid grader: {exc}", param=param, code="invalid_grader") from None
        raise


def run_grader(grader: Any, model_sample: str, item: dict[str, Any]) -> dict[str, Any]:
    """Run ``grader`` on one sample and answer in the ``RunGraderResponse`` shape."""
    try:
        output_json: object = json.loads(model_sample)
    except ValueError:
        output_json = None
    sample = {"output_text": model_sample, "output_json": output_json}
    started = time.perf_counter()
    result = _graders().run_locally(grader, sample, item)
    details = getattr(result, "details", None)
    sub_rewards = dict(details) if isinstance(details, dict) else {}
    wire = grader.to_dict()
    return {
        "reward": float(result.score),
        "metadata": {
            "name": str(wire.get("name", "")),
            "type": str(wire.get("type", "")),
            "errors": {
                "formula_parse_error": False,
                "sample_parse_error": False,
                "truncated_observation_error": False,
                "unresponsive_reward_error": False,
                "invalid_variable_error": False,
                "other_error": False,
                "python_grader_server_error": False,
                "python_grader_server_error_type": None,
                "python_grader_runtime_error": False,
                "python_grader_runtime_error_details": None,
                "model_grader_server_error": False,
                "model_grader_refusal_error": False,
                "model_grader_parse_error": False,
                "model_grader_server_error_details": None,
            },
            "execution_time": time.perf_counter() - started,
            "scores": {str(wire.get("name", "grader")): float(result.score)},
            "token_usage": None,
            "sampled_model_name": None,
        },
        "sub_rewards": sub_rewards,
        "model_grader_token_usage_per_model": {},
    }
