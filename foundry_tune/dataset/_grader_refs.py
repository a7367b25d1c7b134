"""What a grader needs from the data: the ``{{item.x}}`` fields it reads and whether it reads
``{{sample.output_json}}`` (which only exists when the model answers in JSON)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from foundry_tune.errors import GraderError

__all__ = ["GraderNeeds", "grader_needs", "is_json_response_format"]


@dataclasses.dataclass(frozen=True)
class GraderNeeds:
    """The row fields a grader references and whether it reads the sample's JSON output."""

    item_fields: frozenset[str] = frozenset()
    output_json: bool = False


def grader_needs(grader: object) -> GraderNeeds:
    """Read a grader given as a typed grader, a dict, or the path of a JSON file."""
    item_references = getattr(grader, "item_references", None)
    uses_output_json = getattr(grader, "uses_output_json", None)
    if callable(item_references) and callable(uses_output_json):
        return GraderNeeds(frozenset(item_references()), bool(uses_output_json()))
    if isinstance(grader, (str, Path)):
        grader = _load(Path(grader))
    if not isinstance(grader, Mapping):
        raise GraderError(
            f"a grader must be a grader object, a dict or a JSON file path, got {type(grader).__name__}"
        )
    return _template_references(dict(grader))


def _load(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise GraderError(f"cannot read grader file {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GraderError(f"grader file {path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise GraderError(f"grader file {path} must hold one JSON object")
    return value


def _template_references(grader: dict[str, Any]) -> GraderNeeds:
    from foundry_tune.graders import template_references  # only with a grader: spares the import

    refs = template_references(grader)
    return GraderNeeds(frozenset(refs.item_fields), bool(refs.sample_output_json))


def is_json_response_format(response_format: object) -> bool:
    """Whether a ``response_format`` makes the model answer in JSON (json_schema or json_object)."""
    if hasattr(response_format, "model_dump"):
        response_format = response_format.model_dump()
    return isinstance(response_format, Mapping) and response_format.get("type") in (
        "json_schema",
        "json_object",
    )
