"""Graders as evaluation metrics: computed locally where that is exact, on the service otherwise."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from foundry_tune.errors import ConfigurationError, GraderError
from foundry_tune.evaluation._examples import Example

__all__ = ["LOCAL_GRADER_TYPES", "GraderMetric"]

LOCAL_GRADER_TYPES = frozenset({"string_check", "text_similarity"})
"""Grader types whose score foundry-tune computes exactly, without a service call."""


def _is_local(definition: Mapping[str, Any]) -> bool:
    kind = definition.get("type")
    if kind == "multi":
        subs = definition.get("graders") or {}
        values = subs.values() if isinstance(subs, Mapping) else subs
        return all(isinstance(g, Mapping) and _is_local(g) for g in values)
    return kind in LOCAL_GRADER_TYPES


def _load_definition(definition: object) -> tuple[Mapping[str, Any], Any]:
    """The grader's wire dict and the grader object ``graders.run_locally`` accepts."""
    from foundry_tune import graders

    if isinstance(definition, graders.Grader):
        grader = definition
    elif isinstance(definition, (str, Path, Mapping)):
        grader = graders.load(definition if isinstance(definition, (str, Path)) else dict(definition))
    else:
        raise GraderError(f"cannot use a {type(definition).__name__} as a grader")
    wire: Mapping[str, Any] = grader.to_dict()
    return wire, grader


@dataclasses.dataclass(frozen=True)
class GraderMetric:
    """A grader's score as a metric (see [`foundry_tune.evaluation.metrics.grader()`][metrics.grader])."""

    name: str
    definition: Mapping[str, Any]
    grader: Any = dataclasses.field(repr=False)
    local: bool
    binary: bool
    connection: object | None = dataclasses.field(default=None, repr=False)
    needs_reference: bool = False

    @classmethod
    def from_definition(cls, definition: object, *, name: str | None = None) -> GraderMetric:
        """Build from a grader object, its dict, or a JSON file."""
        wire, grader = _load_definition(definition)
        kind = wire.get("type")
        if not isinstance(kind, str):
            raise GraderError("a grader needs a 'type'")
        label = name or str(wire.get("name") or kind)
        return cls(label, wire, grader, _is_local(wire), kind == "string_check")

    def bind(self, connection: object) -> GraderMetric:
        """This metric running its service-side graders on ``connection``."""
        return dataclasses.replace(self, connection=connection)

    def check_runnable(self) -> None:
        """Fail before any request when a service-side grader has no connection to run on."""
        if not self.local and self.connection is None:
            raise ConfigurationError(
                f"the {self.definition.get('type')} grader {self.name!r} runs on the service: "
                "pass a Foundry connection to evaluate()"
            )

    def score(self, output: str, example: Example) -> float:
        """The grader's score for one answer (``sample.output_text`` / ``output_json``).

        A service-side grader blocks on its connection, which must then be a ``Foundry``: one
        bound to an ``AsyncFoundry`` is scored by ``foundry_tune.aio.evaluate()``.
        """
        if self.local:
            from foundry_tune.graders import run_locally

            return float(run_locally(self.grader, output, dict(example.item)).score)
        # The request is written once, in the evaluation runner; score() blocks, so it takes the
        # runner's blocking flavour, imported here so that async evaluations never load it (the
        # one exception of contract "evaluation-async-flavour", listed in pyproject.toml).
        from foundry_tune._sync import _grading

        hint = ": bind it to a Foundry, or score it with foundry_tune.aio.evaluate()"
        return float(_grading.score_on_service(self, output, example, hint=hint))
