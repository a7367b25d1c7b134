"""Typed graders: the JSON objects Foundry's reinforcement fine-tuning and evals accept.

Every model keeps exactly what it was given (unset optional fields stay absent, unknown extra
keys are kept) so that ``load(...).to_dict()`` gives back the JSON the user already has.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from foundry_tune._redact import MASK, is_secret_name, mask_url, redact_grader_json
from foundry_tune.errors import GraderError
from foundry_tune.graders._bounds import json_problem
from foundry_tune.graders._errors import describe_validation_error
from foundry_tune.graders._formula import FormulaError, check_formula
from foundry_tune.graders._python_source import check_python_source
from foundry_tune.graders._templates import template_references

__all__ = [
    "Endpoint",
    "Grader",
    "GraderMessage",
    "LabelModel",
    "Multi",
    "Python",
    "ScoreModel",
    "StringCheck",
    "SubGrader",
    "TextSimilarity",
    "TextSimilarityMetric",
    "redact_secrets",
]

_log = logging.getLogger("foundry_tune.graders")

Number = StrictInt | StrictFloat


class Grader(BaseModel):
    """Base class of every grader. Use [`foundry_tune.graders.load()`][load] to read one from JSON."""

    model_config = ConfigDict(frozen=True, extra="allow")

    wire_type: ClassVar[str] = ""

    name: str | None = None
    """The grader's name (the service requires one on most top-level graders)."""

    if not TYPE_CHECKING:

        def __init__(self, /, **data: Any) -> None:
            problem = json_problem(data)  # too deep or unsendable numbers: refused before pydantic recurses
            if problem is not None:
                raise GraderError(f"invalid {self.wire_type or 'grader'} grader: {problem}")
            try:
                super().__init__(**data)
            except ValidationError as exc:
                what = f"invalid {self.wire_type or 'grader'} grader"
                raise GraderError(describe_validation_error(exc, what)) from None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            if key is not None and isinstance(value, str) and is_secret_name(key):
                yield key, MASK  # an unknown extra field named like a key or a password
            else:
                yield key, value

    def to_dict(self) -> dict[str, Any]:
        """The wire JSON object, exactly as the service (and the user's grader file) spells it."""
        data = self.model_dump(mode="json", exclude_unset=True)
        data.pop("type", None)
        return {"type": self.wire_type, **data}

    def save(self, path: str | os.PathLike[str], *, include_secrets: bool = False) -> Path:
        """Write the grader as indented JSON. Endpoint header values and URL query strings are masked
        unless ``include_secrets``."""
        data = self.to_dict()
        if not include_secrets:
            redacted = redact_secrets(data)
            if redacted != data:
                _log.warning("endpoint grader header values were masked in %s (include_secrets=False)", path)
            data = redacted
        target = Path(path)
        target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return target

    def item_references(self) -> set[str]:
        """Top-level dataset fields ``x`` referenced as ``{{item.x...}}`` anywhere in the grader."""
        return set(template_references(self.to_dict()).item_fields)

    def uses_output_json(self) -> bool:
        """Whether any template reads ``{{sample.output_json...}}`` (the model must answer in JSON)."""
        return template_references(self.to_dict()).sample_output_json

    def unknown_fields(self) -> list[str]:
        """Keys the grader carries that foundry-tune does not know (often a typo), as dotted paths."""
        return [f"{self.wire_type}.{key}" for key in (self.model_extra or {})]


def mask_url_query(url: str) -> str:
    """``url`` with its password and every query value masked: function keys travel there (``?code=...``)."""
    return mask_url(url, every_value=True)


def redact_secrets(data: Any) -> Any:
    """A copy of grader JSON with every endpoint grader's header values and URL secrets masked."""
    return redact_grader_json(data)


class StringCheck(Grader):
    """Compare ``input`` with ``reference``: ``eq``, ``ne``, ``like`` (contains), ``ilike`` (contains,
    any case). Scores 1.0 or 0.0."""

    wire_type: ClassVar[str] = "string_check"
    type: Literal["string_check"] = "string_check"
    input: str
    reference: str
    operation: Literal["eq", "ne", "like", "ilike"]


TextSimilarityMetric = Literal[
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
]


class TextSimilarity(Grader):
    """Score how similar ``input`` is to ``reference`` with ``evaluation_metric`` (0.0 to 1.0)."""

    wire_type: ClassVar[str] = "text_similarity"
    type: Literal["text_similarity"] = "text_similarity"
    input: str
    reference: str
    evaluation_metric: TextSimilarityMetric
    pass_threshold: Number | None = None


class GraderMessage(BaseModel):
    """One prompt message of a model grader; ``content`` may hold templates."""

    model_config = ConfigDict(frozen=True, extra="allow")

    role: Literal["user", "assistant", "system", "developer"]
    content: str | dict[str, Any] | list[Any]
    type: Literal["message"] | None = None


def _check_messages(messages: list[GraderMessage]) -> list[GraderMessage]:
    if not messages:
        raise ValueError("a model grader needs at least one input message")
    return messages


class ScoreModel(Grader):
    """A model reads the rendered ``input`` messages and answers with a score within ``range``."""

    wire_type: ClassVar[str] = "score_model"
    type: Literal["score_model"] = "score_model"
    model: str
    input: list[GraderMessage]
    range: list[Number] | None = None
    sampling_params: dict[str, Any] | None = None
    pass_threshold: Number | None = None

    _check_input = field_validator("input")(_check_messages)

    @field_validator("range")
    @classmethod
    def _check_range(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (len(value) != 2 or not value[0] < value[1]):
            raise ValueError(f"range must be two numbers [low, high] with low < high, got {value}")
        return value

    @property
    def score_range(self) -> tuple[float, float]:
        """``range`` or the service default ``(0, 1)``."""
        low, high = self.range if self.range is not None else (0.0, 1.0)
        return float(low), float(high)


class LabelModel(Grader):
    """A model picks one of ``labels``; the sample passes when it is one of ``passing_labels``.

    Foundry accepts it for reinforcement fine-tuning only inside a [`Multi`][Multi] grader.
    """

    wire_type: ClassVar[str] = "label_model"
    type: Literal["label_model"] = "label_model"
    model: str
    input: list[GraderMessage]
    labels: list[str]
    passing_labels: list[str]
    sampling_params: dict[str, Any] | None = None

    _check_input = field_validator("input")(_check_messages)

    @model_validator(mode="after")
    def _check_labels(self) -> LabelModel:
        if not self.labels:
            raise ValueError("labels must list at least one label")
        stray = [label for label in self.passing_labels if label not in self.labels]
        if stray:
            raise ValueError(f"passing_labels {stray} are not among labels {self.labels}")
        if not self.passing_labels:
            raise ValueError("passing_labels must list at least one of the labels")
        return self


class Python(Grader):
    """Foundry runs ``source``'s ``grade(sample, item) -> float``; foundry-tune only parses it."""

    wire_type: ClassVar[str] = "python"
    type: Literal["python"] = "python"
    source: str
    image_tag: str | None = None
    pass_threshold: Number | None = None

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        check_python_source(value)
        return value

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **fields: Any) -> Python:
        """Build a Python grader from a ``.py`` file (read as text; nothing is imported)."""
        try:
            source = Path(path).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:  # missing, a folder, unreadable, not UTF-8, a NUL in the name
            raise GraderError(f"cannot read the Python grader source {str(path)!r}: {exc}") from None
        try:
            return cls(source=source, **fields)
        except GraderError as exc:
            raise GraderError(f"{path}: {exc}") from None


class Endpoint(Grader):
    """The agentic-RFT preview's endpoint grader: Foundry POSTs ``{"sample", "item", "trace_id"}`` to
    ``url`` and expects ``{"score": float}`` back. Header values, the URL's password and its query
    values (where function keys travel) are masked in reprs, saved files, logs and the job
    fingerprint (rotating a key finds the same job); the wire keeps them."""

    wire_type: ClassVar[str] = "endpoint"
    type: Literal["endpoint"] = "endpoint"
    url: str
    headers: dict[str, str] | None = None
    rate_limit: StrictInt | None = Field(default=None, ge=1)
    pass_threshold: Number | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("url must be an http(s) URL of the grading endpoint")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            if key == "headers" and isinstance(value, dict):
                yield key, dict.fromkeys(value, MASK)
            elif key == "url" and isinstance(value, str):
                yield key, mask_url_query(value)
            else:
                yield key, value


SubGrader = Annotated[
    StringCheck | TextSimilarity | ScoreModel | LabelModel | Python | Endpoint,
    Field(discriminator="type"),
]
"""The graders a [`Multi`][Multi] grader may combine."""


class Multi(Grader):
    """Run several named graders and combine their scores with ``calculate_output``
    (e.g. ``"0.5 * similarity + 0.5 * exact"``)."""

    wire_type: ClassVar[str] = "multi"
    type: Literal["multi"] = "multi"
    graders: dict[str, SubGrader]
    calculate_output: str
    pass_threshold: Number | None = None

    @field_validator("graders", mode="before")
    @classmethod
    def _graders_by_name(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            raise ValueError(
                "graders must be an object mapping names to graders; the names are the variables of "
                "calculate_output"
            )
        if isinstance(value, dict):
            for key, sub in value.items():
                if isinstance(sub, dict) and sub.get("type") == "multi":
                    raise ValueError(f"graders.{key}: a multi grader cannot contain another multi grader")
        return value

    @model_validator(mode="after")
    def _check_formula(self) -> Multi:
        if not self.graders:
            raise ValueError("graders must hold at least one grader")
        try:
            check_formula(self.calculate_output, self.graders.keys())
        except FormulaError as exc:
            raise ValueError(str(exc)) from None
        return self

    def to_dict(self) -> dict[str, Any]:
        """The wire JSON object; sub-graders are serialized with their own ``to_dict``."""
        data = super().to_dict()
        data["graders"] = {name: sub.to_dict() for name, sub in self.graders.items()}
        return data

    def unknown_fields(self) -> list[str]:
        """Unknown keys of the multi grader and of each sub-grader, as dotted paths."""
        found = super().unknown_fields()
        for name, sub in self.graders.items():
            found.extend(f"multi.graders.{name}.{path.split('.', 1)[1]}" for path in sub.unknown_fields())
        return found
