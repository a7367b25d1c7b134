"""Metrics: how one answer is scored against its example.

Every metric maps ``(output, example)`` to a score in ``[0, 1]``. *Binary* metrics (pass/fail)
get a Wilson interval and McNemar's test in the report; continuous ones a bootstrap interval and
the paired sign-flip permutation test. Pass metrics to [`foundry_tune.evaluate()`][evaluate] as objects, by
name
(``"exact_match"``, ``"normalized_match"``, ``"rouge_l"``, ``"bleu"``, ``"json_valid"``,
``"json_match"``, ``"tool_call_match"``, ``"tool_name_match"``), as graders, or as plain callables.

``rouge_l`` and ``bleu`` are the text-similarity grader's ``rouge_l`` and ``bleu``: one
implementation (``foundry_tune.graders._metrics``), so an evaluation and a ``text_similarity``
grader give the same score for the same answer and reference.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import string
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from foundry_tune.errors import ConfigurationError, InvalidParameterError
from foundry_tune.evaluation._examples import Example
from foundry_tune.evaluation._grader_metric import GraderMetric
from foundry_tune.evaluation._tool_calls import call_score, name_score

__all__ = [
    "GraderMetric",
    "Metric",
    "bleu",
    "custom",
    "exact_match",
    "grader",
    "json_match",
    "json_schema",
    "json_valid",
    "normalized_match",
    "rouge_l",
    "tool_call_match",
    "tool_name_match",
]


@dataclasses.dataclass(frozen=True)
class Metric:
    """A named scoring function ``fn(output, example) -> float`` in ``[0, 1]``."""

    name: str
    fn: Callable[[str, Example], float]
    binary: bool = False
    needs_reference: bool = True

    def score(self, output: str, example: Example) -> float:
        """Score one answer."""
        return float(self.fn(output, example))

    def bind(self, connection: object) -> Metric:
        """The metric ready to run on ``connection`` (only service-side graders need one)."""
        return self


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _normalize(text: str) -> str:
    # SQuAD answer normalization: case, punctuation, English articles, whitespace.
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _reference(example: Example) -> str:
    if example.reference is None:  # evaluate() checks this before any request; this is a backstop
        raise InvalidParameterError(f"line {example.line}: the example has no reference answer")
    return example.reference


def exact_match(*, strip: bool = True) -> Metric:
    """1 when the answer equals the reference (surrounding whitespace ignored unless ``strip=False``)."""

    def fn(output: str, example: Example) -> float:
        reference = _reference(example)
        if strip:
            output, reference = output.strip(), reference.strip()
        return float(output == reference)

    return Metric("exact_match", fn, binary=True)


def normalized_match() -> Metric:
    """1 when the answers match after SQuAD normalization (case, punctuation, articles, spaces)."""
    return Metric(
        "normalized_match",
        lambda output, example: float(_normalize(output) == _normalize(_reference(example))),
        binary=True,
    )


def rouge_l() -> Metric:
    """ROUGE-L F1 between the answer and the reference, over lower-cased word tokens.

    The ``text_similarity`` grader's ``rouge_l``: 0.0 when either text has no word token.
    """
    # Imported here: the graders package (and pydantic) loads when a metric is made, not with
    # ``import foundry_tune.evaluation``.
    from foundry_tune.graders._metrics import rouge_l as similarity

    return Metric("rouge_l", lambda output, example: similarity(output, _reference(example)))


def bleu(max_n: int = 4) -> Metric:
    """Sentence BLEU (up to ``max_n``-grams) of the answer against the reference.

    The ``text_similarity`` grader's ``bleu`` (which uses ``max_n=4``): epsilon-0.1 smoothing,
    fewer orders for answers shorter than ``max_n`` words, 0.0 when either text has no word token.
    """
    if max_n < 1:
        raise InvalidParameterError("bleu max_n must be at least 1")
    from foundry_tune.graders._metrics import bleu as similarity

    return Metric("bleu", lambda output, example: similarity(output, _reference(example), max_n))


def _parse_json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False, None


def json_valid() -> Metric:
    """1 when the whole answer parses as JSON."""
    return Metric("json_valid", lambda output, _: float(_parse_json(output)[0]), binary=True,
                  needs_reference=False)


def json_match() -> Metric:
    """1 when the answer parses as JSON equal to the reference's JSON (key order ignored)."""

    def fn(output: str, example: Example) -> float:
        ok, value = _parse_json(output)
        ref_ok, reference = _parse_json(_reference(example))
        return float(ok and ref_ok and value == reference)

    return Metric("json_match", fn, binary=True)


def _bare_schema(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    # Accept a response_format ({"type": "json_schema", "json_schema": {...}}), its inner
    # {"name", "schema", "strict"} object, or the bare JSON Schema.
    if schema.get("type") == "json_schema" and isinstance(schema.get("json_schema"), Mapping):
        schema = schema["json_schema"]
    if "schema" in schema and isinstance(schema["schema"], Mapping) and "name" in schema:
        schema = schema["schema"]
    return schema


def json_schema(schema: Mapping[str, Any], *, name: str = "json_schema") -> Metric:
    """1 when the answer is JSON valid against ``schema`` (needs ``jsonschema``: the ``eval`` extra)."""
    try:
        import jsonschema
    except ModuleNotFoundError:
        raise ConfigurationError(
            "the json_schema metric needs the jsonschema package: pip install 'foundry-tune[eval]'"
        ) from None
    bare = dict(_bare_schema(schema))
    try:
        validator_class = jsonschema.validators.validator_for(bare)
        validator_class.check_schema(bare)
    except jsonschema.SchemaError as exc:
        raise InvalidParameterError(f"the JSON schema is invalid: {exc.message}") from None
    validator = validator_class(bare)

    def fn(output: str, _: Example) -> float:
        ok, value = _parse_json(output)
        return float(ok and validator.is_valid(value))

    return Metric(name, fn, binary=True, needs_reference=False)


def grader(definition: object, *, name: str | None = None) -> GraderMetric:
    """A grader (object, dict or JSON file) as a metric: its score per answer.

    ``string_check`` and ``text_similarity`` (and ``multi`` of those) run locally; model and
    python graders run through the service's grader ``run`` endpoint on the evaluation's connection.
    """
    return GraderMetric.from_definition(definition, name=name)


def custom(fn: Callable[..., float | bool], *, name: str | None = None, binary: bool | None = None) -> Metric:
    """A metric from ``fn(output)``, ``fn(output, reference)`` or ``fn(output, example)``.

    A two-argument function gets the reference text, unless its second parameter is named
    ``example`` (then it gets the `Example`, with ``.reference``, ``.item`` and ``.messages``).
    A function annotated ``-> bool`` is binary unless ``binary=False``.
    """
    label = name or getattr(fn, "__name__", None) or "custom"
    if label == "<lambda>":
        label = "custom"
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        signature = None
    parameters = list(signature.parameters.values()) if signature else []
    if len(parameters) == 1:
        mode = "output"
    elif len(parameters) >= 2 and parameters[1].name == "example":
        mode = "example"
    else:
        mode = "reference"
    returns = signature.return_annotation if signature else None
    is_binary = binary if binary is not None else returns in (bool, "bool")

    def call(output: str, example: Example) -> float:
        if mode == "output":
            return float(fn(output))
        if mode == "example":
            return float(fn(output, example))
        return float(fn(output, _reference(example)))

    return Metric(label, call, binary=is_binary, needs_reference=mode == "reference")


def tool_call_match() -> Metric:
    """1 when the answer makes the reference's tool calls: the same functions with the same parsed
    arguments (key order ignored), in any order, none missing, none extra; malformed arguments
    match nothing. A reference without tool calls scores 1 when the answer calls no tool either."""
    return Metric("tool_call_match", call_score, binary=True)


def tool_name_match() -> Metric:
    """1 when the answer calls the same functions as the reference (in any order, as many times),
    whatever their arguments; 1 when neither calls a tool."""
    return Metric("tool_name_match", name_score, binary=True)


_BY_NAME: dict[str, Callable[[], Metric]] = {
    "exact_match": exact_match,
    "normalized_match": normalized_match,
    "rouge_l": rouge_l,
    "bleu": bleu,
    "json_valid": json_valid,
    "json_match": json_match,
    "tool_call_match": tool_call_match,
    "tool_name_match": tool_name_match,
}


def resolve(spec: object) -> Metric | GraderMetric:
    """A metric from a Metric, a built-in name, a grader (object or dict) or a callable."""
    if isinstance(spec, (Metric, GraderMetric)):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower().replace("-", "_")
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise InvalidParameterError(f"unknown metric {spec!r}; built-in metrics: {', '.join(_BY_NAME)}")
    if isinstance(spec, (Mapping, Path)) or hasattr(spec, "to_dict"):
        return grader(spec)
    if callable(spec):
        return custom(spec)
    raise InvalidParameterError(f"cannot use a {type(spec).__name__} as a metric")
