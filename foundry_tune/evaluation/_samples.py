"""What a run measured: one [`Sample`][Sample] per target and example."""

from __future__ import annotations

import dataclasses

from foundry_tune.errors import FoundryTuneError

__all__ = ["RunOutcome", "Sample", "describe"]


@dataclasses.dataclass
class Sample:
    """One target's answer to one example, with its scores (``error`` set when the request failed)."""

    line: int
    output: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency: float | None = None
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    error: str | None = None
    metric_errors: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunOutcome:
    """Per target label, one entry per example (``None`` where the run was interrupted first)."""

    samples: dict[str, list[Sample | None]]
    interrupted: bool


def describe(exc: BaseException) -> str:
    """An error as a report shows it: our own errors by their message, others with their type."""
    if isinstance(exc, FoundryTuneError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
