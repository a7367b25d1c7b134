"""Graders through the library's own ``foundry_tune.graders`` (load, check, run locally)."""

from __future__ import annotations

import math
import time
from typing import Any

from foundry_tune import graders
from foundry_tune.emulator._errors import invalid
from foundry_tune.errors import FoundryTuneError


def load_grader(raw: object, param: str = "grader") -> graders.Grader:
    """Parse and check a wire grader (400 in the service's shape when it is invalid).

    A python grader's source is parsed, never executed. A grader too deep or too large to parse
    (a formula of 100,000 unary minuses, deeply nested python source, a number no float holds) is a
    400 too, whatever error the parser raised for it.
    """
    if not isinstance(raw, dict):
        raise invalid("'grader' must be an object.", param=param)
    try:
        return graders.load(raw)
    except FoundryTuneError as exc:
        raise invalid(f"Invalid grader: {exc}", param=param, code="invalid_grader") from None
    except (RecursionError, MemoryError):
        raise invalid(
            "Invalid grader: it is nested too deeply to parse (formula or python source).",
            param=param,
            code="invalid_grader",
        ) from None
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise invalid(f"Invalid grader: {_brief(exc)}", param=param, code="invalid_grader") from None


def _brief(exc: Exception, limit: int = 300) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _errors(simulated: bool, flags: Any = ()) -> dict[str, Any]:
    """The service's ``errors`` block: every flag false except those the local run raised."""
    errors: dict[str, Any] = {
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
        "model_grader_server_error_details": "simulated score (emulator)" if simulated else None,
    }
    for flag in flags if isinstance(flags, list) else ():
        if errors.get(flag) is False:
            errors[flag] = True
    return errors


def run_grader(grader: graders.Grader, model_sample: str, item: dict[str, Any]) -> dict[str, Any]:
    """Run ``grader`` on one sample and answer in the ``RunGraderResponse`` shape."""
    started = time.perf_counter()
    try:
        result = graders.run_locally(grader, model_sample, item)
        score = float(result.score)
    except FoundryTuneError as exc:
        raise invalid(f"The grader cannot run: {exc}", param="grader", code="invalid_grader") from None
    except (RecursionError, MemoryError):
        raise invalid(
            "The grader cannot run: it is nested too deeply.", param="grader", code="invalid_grader"
        ) from None
    except (ArithmeticError, ValueError, TypeError) as exc:
        message = f"The grader cannot run: {_brief(exc)}"
        raise invalid(message, param="grader", code="invalid_grader") from None
    subs = result.details.get("sub_results")
    sub_rewards = {str(k): getattr(v, "score", v) for k, v in subs.items()} if isinstance(subs, dict) else {}
    for value in (score, *sub_rewards.values()):
        if isinstance(value, float) and not math.isfinite(value):
            raise invalid(
                f"The grader's score is {value}, not a finite number: check its 'range' and formula.",
                param="grader",
                code="invalid_grader",
            )
    wire = grader.to_dict()
    name = str(wire.get("name", "grader"))
    return {
        "reward": score,
        "metadata": {
            "name": name,
            "type": str(wire.get("type", "")),
            "errors": _errors(bool(result.details.get("simulated")), result.details.get("errors")),
            "execution_time": time.perf_counter() - started,
            "scores": {name: score},
            "token_usage": None,
            "sampled_model_name": None,
        },
        "sub_rewards": sub_rewards,
        "model_grader_token_usage_per_model": {},
    }
