"""Read graders from the JSON files (or dicts, or JSON strings) users already have."""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from foundry_tune.errors import GraderError
from foundry_tune.graders._bounds import json_problem, parse_json
from foundry_tune.graders._errors import GRADER_TYPES
from foundry_tune.graders._models import (
    Endpoint,
    Grader,
    LabelModel,
    Multi,
    Python,
    ScoreModel,
    StringCheck,
    TextSimilarity,
)

__all__ = ["GRADER_CLASSES", "GraderSource", "load", "reject_top_level_label_model"]

GRADER_CLASSES: dict[str, type[Grader]] = {
    "string_check": StringCheck,
    "text_similarity": TextSimilarity,
    "score_model": ScoreModel,
    "label_model": LabelModel,
    "python": Python,
    "multi": Multi,
    "endpoint": Endpoint,
}

GraderSource = Grader | Mapping[str, Any] | str | os.PathLike[str]
"""What [`load()`][load] accepts: a grader, a dict, a JSON string, or the path of a JSON file."""

_LABEL_MODEL_TOP_LEVEL = (
    "a label_model grader cannot be used on its own for reinforcement fine-tuning; put it inside a "
    "multi grader (graders={...}, calculate_output=...)"
)


def reject_top_level_label_model(grader: Grader, where: str = "grader") -> None:
    """Raise [`GraderError`][GraderError] when ``grader`` is a bare [`LabelModel`][LabelModel]."""
    if isinstance(grader, LabelModel):
        raise GraderError(f"{where}: {_LABEL_MODEL_TOP_LEVEL}")


def load(source: GraderSource, *, strict: bool = True) -> Grader:
    """Read a grader from a [`Grader`][Grader], a dict, a JSON string, or a path to a JSON file.

    Problems raise [`GraderError`][GraderError] naming the file (when there is one) and
    the field. ``strict`` also rejects keys foundry-tune does not know, which are usually typos
    (``evaluation_metrics``); pass ``strict=False`` to keep them, as when reading a job back from the
    service.
    """
    if isinstance(source, Grader):
        reject_top_level_label_model(source)
        problem = json_problem(source)
        if problem is not None:
            raise GraderError(f"grader: {problem}")
        return source
    where, data = _read(source)
    grader = _from_mapping(data, where)
    if strict:
        _reject_unknown_fields(grader, where)
    return grader


def _read(source: Mapping[str, Any] | str | os.PathLike[str]) -> tuple[str, Any]:
    if isinstance(source, Mapping):
        return "grader", source
    if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
        return "grader JSON", _parse(source, "grader JSON")
    if not isinstance(source, (str, os.PathLike)):
        raise GraderError(
            f"cannot read a grader from {type(source).__name__}: "
            "pass a grader, a dict, a JSON string or a path"
        )
    path = Path(source)
    where = f"grader file {path}"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GraderError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise GraderError(f"{where}: is a directory, not a JSON file") from None
    except UnicodeDecodeError as exc:
        raise GraderError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise GraderError(f"{where}: cannot be read ({exc.strerror})") from None
    except ValueError:  # a NUL character in the path
        raise GraderError(f"grader file {str(path)[:80]!r}: not a usable path (a NUL character)") from None
    return where, _parse(text, where)


def _parse(text: str, where: str) -> Any:
    try:
        return parse_json(text)
    except json.JSONDecodeError as exc:
        raise GraderError(
            f"{where}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # _JSONProblem, and the interpreter's limit on integer digits
        raise GraderError(f"{where}: {exc}") from None


def _from_mapping(data: Any, where: str) -> Grader:
    if not isinstance(data, Mapping):
        raise GraderError(f"{where}: a grader must be a JSON object, got {_json_kind(data)}")
    problem = json_problem(data)
    if problem is not None:
        raise GraderError(f"{where}: {problem}")
    grader_type = data.get("type")
    if grader_type is None:
        raise GraderError(f"{where}: missing 'type' (one of: {', '.join(sorted(GRADER_TYPES))})")
    cls = GRADER_CLASSES.get(grader_type) if isinstance(grader_type, str) else None
    if cls is None:
        raise GraderError(
            f"{where}: unknown grader type {grader_type!r} (one of: {', '.join(sorted(GRADER_TYPES))})"
        )
    if cls is LabelModel:
        raise GraderError(f"{where}: {_LABEL_MODEL_TOP_LEVEL}")
    try:
        return cls(**dict(data))
    except GraderError as exc:
        typos = [_describe_unknown(key, cls) for key in data if key not in cls.model_fields]
        hint = f" (unknown field(s): {', '.join(typos)})" if typos else ""
        raise GraderError(f"{where}: {exc}{hint}") from None


def _describe_unknown(key: str, cls: type[Grader]) -> str:
    close = difflib.get_close_matches(key, list(cls.model_fields), n=1)
    return f"{key!r}, did you mean {close[0]!r}?" if close else repr(key)


def _reject_unknown_fields(grader: Grader, where: str) -> None:
    unknown = grader.unknown_fields()
    if not unknown:
        return
    hints = []
    for path in unknown:
        key = path.rpartition(".")[2]
        cls = _class_for_path(grader, path)
        close = difflib.get_close_matches(key, list(cls.model_fields), n=1) if cls else []
        hints.append(f"{path} (did you mean {close[0]!r}?)" if close else path)
    raise GraderError(
        f"{where}: unknown field(s) {', '.join(hints)}; pass strict=False to keep fields foundry-tune "
        "does not know"
    )


def _class_for_path(grader: Grader, path: str) -> type[Grader] | None:
    parts = path.split(".")
    if len(parts) >= 4 and isinstance(grader, Multi) and parts[1] == "graders":
        sub = grader.graders.get(parts[2])
        return type(sub) if sub is not None else None
    return type(grader)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
