"""Training methods and their hyperparameters: Supervised, DPO and Reinforcement.

Each is a frozen, typed model. Every hyperparameter defaults to ``"auto"`` (the service picks),
is checked locally against the documented limits, and serializes to the wire ``method`` object
that ``fine_tuning.jobs.create`` takes. [`TuningMethod.from_wire()`][TuningMethod.from_wire] reads it back
from a job,
tolerating Azure's ``-1`` for "auto", missing keys and keys it does not know.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from foundry_tune import graders
from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import ModelInfo, known_models, lookup_model
from foundry_tune.errors import GraderError, InvalidParameterError
from foundry_tune.graders._bounds import json_problem, parse_json
from foundry_tune.graders._errors import describe_validation_error

__all__ = ["DPO", "Auto", "ReasoningEffort", "Reinforcement", "Supervised", "TuningMethod"]

_log = logging.getLogger("foundry_tune.methods")

Auto = Literal["auto"]
"""Let the service choose the value."""

ReasoningEffort = Literal["default", "low", "medium", "high"]
"""How hard a reasoning model thinks while it is trained (``"default"`` lets the service choose)."""

_REASONING_EFFORTS: tuple[str, ...] = ("default", "low", "medium", "high")
_METHOD_LABELS = {
    MethodKind.SUPERVISED: "supervised",
    MethodKind.DPO: "DPO",
    MethodKind.REINFORCEMENT: "reinforcement",
}


@dataclasses.dataclass(frozen=True)
class _Limit:
    """A documented range: ``low``/``high`` bounds, ``low_open`` for an exclusive lower bound."""

    integer: bool
    low: float
    high: float | None
    low_open: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        if self.high is None:
            bound = f"> {_fmt(self.low)}" if self.low_open else f">= {_fmt(self.low)}"
            return f"'auto' or {kind} {bound}"
        if self.low_open:
            return f"'auto' or {kind} in ({_fmt(self.low)}, {_fmt(self.high)}]"
        return f"'auto' or {kind} from {_fmt(self.low)} to {_fmt(self.high)}"

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and (self.high is None or value <= self.high)


def _fmt(number: float) -> str:
    if number == int(number):
        return str(int(number))
    return f"{number:.5f}".rstrip("0")


# Azure's API declares whole-number hyperparameters `int32` and the others `float` (32-bit): a
# value past these is refused by the service even where the docs give no upper bound.
_MAX_INT32 = 2**31 - 1
_MAX_FLOAT32 = 3.4028234663852886e38

_LIMITS: dict[str, _Limit] = {
    "n_epochs": _Limit(integer=True, low=1, high=50),
    "batch_size": _Limit(integer=True, low=1, high=256),
    "learning_rate_multiplier": _Limit(integer=False, low=0, high=None, low_open=True),
    "beta": _Limit(integer=False, low=0, high=2, low_open=True),
    "l2_multiplier": _Limit(integer=False, low=0, high=None),
    "compute_multiplier": _Limit(integer=False, low=0.00001, high=10, low_open=True),
    "eval_interval": _Limit(integer=True, low=1, high=None),
    "eval_samples": _Limit(integer=True, low=1, high=None),
}


def show_value(value: Any, width: int = 40) -> str:
    """``repr(value)`` for a message, shortened: a huge integer is described by its size (its
    digits are not even printable past 4,300 of them) and a long repr is cut to ``width``."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        digits = int(value.bit_length() * math.log10(2)) + 1
        sign = "a negative" if value < 0 else "an"
        return f"<{sign} integer of about {digits:,} digits>"
    try:
        text = repr(value)
    except Exception:  # a repr that fails must not hide the real problem
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_number(owner: str, name: str, value: Any) -> int | float | str:
    """``value`` if it is "auto" or inside the documented range, else InvalidParameterError."""
    if isinstance(value, str) and value == "auto":
        return "auto"
    limit = _LIMITS[name]
    shown = show_value(value)
    problem = f"{owner}: {name}={shown} is not allowed; use {limit.describe()}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(problem)
    if limit.integer:
        if isinstance(value, float) and not value.is_integer():  # also nan and inf
            raise InvalidParameterError(problem)
        whole = int(value)
        if whole > _MAX_INT32 and limit.high is None:
            raise InvalidParameterError(
                f"{owner}: {name}={shown} is out of range: the service reads it as a 32-bit integer "
                f"(at most {_MAX_INT32:,}); use {limit.describe()}"
            )
        if not limit.accepts(whole if abs(whole) <= _MAX_INT32 else math.inf if whole > 0 else -math.inf):
            raise InvalidParameterError(f"{owner}: {name}={shown} is out of range; use {limit.describe()}")
        return whole
    try:
        number = float(value)
    except OverflowError:  # an int past any float
        number = math.inf if value > 0 else -math.inf
    if number > _MAX_FLOAT32 and limit.high is None:
        raise InvalidParameterError(
            f"{owner}: {name}={shown} is out of range: the service reads it as a 32-bit float "
            f"(at most {_MAX_FLOAT32:.4g}); use {limit.describe()}"
        )
    if not limit.accepts(number):
        raise InvalidParameterError(f"{owner}: {name}={shown} is out of range; use {limit.describe()}")
    return value


def _check_reasoning_effort(owner: str, value: Any) -> str:
    if value == "auto":
        return "default"
    if not isinstance(value, str) or value not in _REASONING_EFFORTS:
        allowed = ", ".join(repr(v) for v in _REASONING_EFFORTS)
        raise InvalidParameterError(
            f"{owner}: reasoning_effort={show_value(value)} is not allowed; use one of {allowed}"
        )
    return value


class TuningMethod(BaseModel):
    """Base class of the training methods: ``kind`` says which one, ``to_wire()`` gives the wire object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ClassVar[MethodKind]
    _hyperparameters: ClassVar[tuple[str, ...]] = ()

    if not TYPE_CHECKING:

        def __init__(self, /, **data: Any) -> None:
            data = self._prepare(data)
            try:
                super().__init__(**data)
            except ValidationError as exc:
                raise InvalidParameterError(describe_validation_error(exc, type(self).__name__)) from None

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        owner = cls.__name__
        prepared: dict[str, Any] = {}
        for key, value in data.items():
            if key not in cls.model_fields:
                close = difflib.get_close_matches(key, list(cls.model_fields), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                allowed = ", ".join(cls.model_fields)
                raise InvalidParameterError(
                    f"{owner}: unknown parameter {key!r}{hint}; parameters: {allowed}"
                )
            if key in _LIMITS:
                prepared[key] = _check_number(owner, key, value)
            elif key == "reasoning_effort":
                prepared[key] = _check_reasoning_effort(owner, value)
            else:
                prepared[key] = value
        return prepared

    def hyperparameters(self) -> dict[str, Any]:
        """Every hyperparameter with its value, ``"auto"`` included."""
        return {name: getattr(self, name) for name in self._hyperparameters}

    def _wire_hyperparameters(self) -> dict[str, Any]:
        # "auto" is left out: the service then chooses, on OpenAI and on every Azure API version.
        return {
            name: value
            for name, value in self.hyperparameters().items()
            if value != "auto" and not (name == "reasoning_effort" and value == "default")
        }

    def _wire_body(self) -> dict[str, Any]:
        return {"hyperparameters": self._wire_hyperparameters()}

    def to_wire(self) -> dict[str, Any]:
        """The wire ``method``: ``{"type": "supervised", "supervised": {"hyperparameters": {...}}}``."""
        return {"type": self.kind.value, self.kind.value: self._wire_body()}

    def check_model(self, model: str) -> ModelInfo | None:
        """Raise [`InvalidParameterError`][InvalidParameterError] when ``model`` is known not to support this
        method.

        Returns the catalog entry, or ``None`` for a model the catalog does not know (not checked).
        """
        info = lookup_model(model)
        if info is None:
            return None
        if not info.supports(self.kind):
            able = sorted(name for name, entry in known_models().items() if entry.supports(self.kind))
            label = _METHOD_LABELS[self.kind]
            own = ", ".join(_METHOD_LABELS[k] for k in MethodKind if info.supports(k)) or "(none)"
            raise InvalidParameterError(
                f"{model} does not support {label} fine-tuning (Foundry tunes {info.name} with: {own}); "
                f"models that support {label}: {', '.join(able) or '(none)'}"
            )
        return info

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> TuningMethod:
        """Parse the wire ``method`` object (or a whole job, including legacy jobs with top-level
        ``hyperparameters``) back into a method. ``-1`` and ``null`` mean "auto"; unknown keys are
        ignored; a value outside the documented range is read as "auto" and logged."""
        if not isinstance(data, Mapping):
            raise InvalidParameterError(f"a method must be a JSON object, got {type(data).__name__}")
        legacy_hyperparameters: Any = None
        method: Mapping[str, Any] = data
        if isinstance(data.get("method"), Mapping):
            method = data["method"]
            legacy_hyperparameters = data.get("hyperparameters")
        elif "method" in data or ("hyperparameters" in data and "type" not in data):
            method = {}
            legacy_hyperparameters = data.get("hyperparameters")
        kind = _wire_kind(method)
        body = method.get(kind.value)
        body = body if isinstance(body, Mapping) else {}
        hyper = body.get("hyperparameters")
        if not isinstance(hyper, Mapping):
            hyper = legacy_hyperparameters if isinstance(legacy_hyperparameters, Mapping) else {}
        target = _CLASSES[kind]
        kwargs = {
            name: _from_wire_value(target.__name__, name, hyper.get(name)) for name in target._hyperparameters
        }
        if target is Reinforcement:
            kwargs.update(_reinforcement_extras(body, hyper))
        result = target(**kwargs)
        if cls is not TuningMethod and not isinstance(result, cls):
            raise InvalidParameterError(f"the wire method is {kind.value!r}, not {cls.kind.value!r}")
        return result


def _wire_kind(method: Mapping[str, Any]) -> MethodKind:
    declared = method.get("type")
    if isinstance(declared, str):
        try:
            return MethodKind(declared.strip().lower())
        except ValueError:
            raise InvalidParameterError(
                f"unknown method type {declared!r} (expected supervised, dpo or reinforcement)"
            ) from None
    for kind in MethodKind:
        if isinstance(method.get(kind.value), Mapping):
            return kind
    return MethodKind.SUPERVISED


def _from_wire_value(owner: str, name: str, value: Any) -> Any:
    if value is None or value in (-1, "auto"):
        return "default" if name == "reasoning_effort" else "auto"
    try:
        if name == "reasoning_effort":
            return _check_reasoning_effort(owner, value)
        return _check_number(owner, name, value)
    except InvalidParameterError as exc:
        _log.warning("reading %s from the service as 'auto': %s", name, exc)
        return "default" if name == "reasoning_effort" else "auto"


def _reinforcement_extras(body: Mapping[str, Any], hyper: Mapping[str, Any]) -> dict[str, Any]:
    grader = body.get("grader")
    if not isinstance(grader, Mapping):
        raise InvalidParameterError("the wire reinforcement method has no grader object")
    extras: dict[str, Any] = {"grader": graders.load(grader, strict=False)}
    response_format = body.get("response_format", hyper.get("response_format"))
    if isinstance(response_format, Mapping):
        extras["response_format"] = response_format
    return extras


class Supervised(TuningMethod):
    """Supervised fine-tuning (SFT) on chat examples."""

    kind: ClassVar[MethodKind] = MethodKind.SUPERVISED
    _hyperparameters: ClassVar[tuple[str, ...]] = ("n_epochs", "batch_size", "learning_rate_multiplier")

    n_epochs: int | Auto = "auto"
    """Passes over the training data: 1 to 50."""
    batch_size: int | Auto = "auto"
    """Examples per batch: 1 to 256."""
    learning_rate_multiplier: float | Auto = "auto"
    """Scale of the learning rate: > 0."""


class DPO(TuningMethod):
    """Direct preference optimization on preferred / non-preferred answer pairs."""

    kind: ClassVar[MethodKind] = MethodKind.DPO
    _hyperparameters: ClassVar[tuple[str, ...]] = (
        "beta",
        "l2_multiplier",
        "n_epochs",
        "batch_size",
        "learning_rate_multiplier",
    )

    beta: float | Auto = "auto"
    """Weight of the penalty between the policy and the reference model: in (0, 2]."""
    l2_multiplier: float | Auto = "auto"
    """Azure's L2 regularization toward the base model: >= 0 (Azure echoes it on DPO jobs;
    OpenAI's API does not know it, so leave it "auto" there)."""
    n_epochs: int | Auto = "auto"
    """Passes over the training data: 1 to 50."""
    batch_size: int | Auto = "auto"
    """Examples per batch: 1 to 256."""
    learning_rate_multiplier: float | Auto = "auto"
    """Scale of the learning rate: > 0."""


def _load_json_argument(owner: str, name: str, value: str | os.PathLike[str]) -> Any:
    if isinstance(value, str) and value.lstrip().startswith("{"):
        text, where = value, f"{name} JSON"
    else:
        path = Path(value)
        where = f"{name} file {path}"
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise InvalidParameterError(f"{owner}: {where} cannot be read ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise InvalidParameterError(f"{owner}: {where} is not UTF-8 text (byte {exc.start})") from None
        except ValueError:  # a NUL character in the path
            raise InvalidParameterError(f"{owner}: {name} is neither JSON nor a usable path") from None
    try:
        return parse_json(text)
    except json.JSONDecodeError as exc:
        raise InvalidParameterError(
            f"{owner}: {where} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # nested too deeply, NaN, an integer past 64 bits
        raise InvalidParameterError(f"{owner}: {where}: {exc}") from None


def _normalize_response_format(owner: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        value = _load_json_argument(owner, "response_format", value)
    shape = (
        'use {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}} '
        'or the bare json_schema object {"name": ..., "schema": {...}}'
    )
    if not isinstance(value, Mapping):
        raise InvalidParameterError(f"{owner}: response_format must be a JSON object; {shape}")
    problem = json_problem(value)
    if problem is not None:
        raise InvalidParameterError(f"{owner}: response_format: {problem}")
    if value.get("type") == "json_schema":
        wrapped = dict(value)
    elif "schema" in value and "type" not in value:
        wrapped = {"type": "json_schema", "json_schema": dict(value)}
    else:
        raise InvalidParameterError(f"{owner}: response_format has an unexpected shape; {shape}")
    schema = wrapped.get("json_schema")
    if not isinstance(schema, Mapping):
        raise InvalidParameterError(f"{owner}: response_format.json_schema must be an object; {shape}")
    if not isinstance(schema.get("name"), str) or not schema.get("name"):
        raise InvalidParameterError(f"{owner}: response_format.json_schema needs a 'name'")
    if not isinstance(schema.get("schema"), Mapping):
        raise InvalidParameterError(f"{owner}: response_format.json_schema needs a 'schema' object")
    return wrapped


class Reinforcement(TuningMethod):
    """Reinforcement fine-tuning (RFT) of a reasoning model, rewarded by ``grader``.

    ``grader`` may be a grader object, a dict, a JSON string or a path to a grader JSON file.
    ``response_format`` takes ``{"type": "json_schema", "json_schema": {...}}``, the bare
    ``json_schema`` object (it is wrapped), a JSON string or a path to either.
    """

    kind: ClassVar[MethodKind] = MethodKind.REINFORCEMENT
    _hyperparameters: ClassVar[tuple[str, ...]] = (
        "reasoning_effort",
        "compute_multiplier",
        "eval_interval",
        "eval_samples",
        "n_epochs",
        "batch_size",
        "learning_rate_multiplier",
    )

    grader: graders.Grader
    """How each sampled answer is scored."""
    response_format: dict[str, Any] | None = None
    """Structured-output schema the model answers with (graders read it as ``sample.output_json``)."""
    reasoning_effort: ReasoningEffort = "default"
    """low, medium, high, or default (the service chooses)."""
    compute_multiplier: float | Auto = "auto"
    """Compute spent exploring per step: in (0.00001, 10]."""
    eval_interval: int | Auto = "auto"
    """Training steps between evaluations: >= 1."""
    eval_samples: int | Auto = "auto"
    """Samples generated per evaluation step: >= 1."""
    n_epochs: int | Auto = "auto"
    """Passes over the training data: 1 to 50."""
    batch_size: int | Auto = "auto"
    """Examples per batch: 1 to 256."""
    learning_rate_multiplier: float | Auto = "auto"
    """Scale of the learning rate: > 0."""

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        prepared = super()._prepare(data)
        owner = cls.__name__
        if prepared.get("grader") is None:
            raise InvalidParameterError(f"{owner}: a grader is required (see foundry_tune.graders)")
        grader = prepared["grader"]
        if not isinstance(grader, (graders.Grader, Mapping, str, os.PathLike)):
            raise GraderError(
                f"{owner}: grader must be a grader, a dict, a JSON string or a path, "
                f"not {type(grader).__name__}"
            )
        if isinstance(grader, graders.Grader):
            graders.reject_top_level_label_model(grader, f"{owner}: grader")
        grader = graders.load(grader)  # a grader object is checked too (nesting, numbers)
        prepared["grader"] = grader
        prepared["response_format"] = _normalize_response_format(owner, prepared.get("response_format"))
        return prepared

    def _wire_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"grader": self.grader.to_dict()}
        if self.response_format is not None:
            body["response_format"] = self.response_format
        body["hyperparameters"] = self._wire_hyperparameters()
        return body


_CLASSES: dict[MethodKind, type[TuningMethod]] = {
    MethodKind.SUPERVISED: Supervised,
    MethodKind.DPO: DPO,
    MethodKind.REINFORCEMENT: Reinforcement,
}
