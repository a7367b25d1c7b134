"""Ask the service's grader ``validate`` endpoint about a Reinforcement grader before any upload."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from foundry_tune.errors import GraderError, NotFoundError, ServiceError

if TYPE_CHECKING:
    from foundry_tune.methods import TuningMethod

__all__ = ["grader_to_check", "handle_failure", "rejected"]

_log = logging.getLogger("foundry_tune.job")

WHAT = "validate the grader with the service"


def grader_to_check(method: TuningMethod) -> dict[str, Any] | None:
    """The wire grader the service should validate, or None when the method has no grader."""
    grader = getattr(method, "grader", None)
    return None if grader is None else dict(grader.to_dict())


def rejected(exc: ServiceError) -> GraderError | None:
    """The GraderError for a 4xx answer of the validate endpoint (a rejection), else None."""
    if exc.status is None or not 400 <= exc.status < 500 or exc.status in (401, 403, 404, 408, 409, 429):
        return None
    return GraderError(f"the service rejected the grader: {exc.message}")



def handle_failure(exc: ServiceError) -> str:
    """Raise what a failed validate call means; when the service simply has no such endpoint, return
    the note to show instead.

    The grader API is an alpha API: a region or resource without it answers 404. The grader was
    already checked locally, so the job can still start; the service checks it again on create.
    """
    if isinstance(exc, NotFoundError) or exc.status == 404:
        note = "the service has no grader validate endpoint; the grader was checked locally only"
        _log.warning(note)
        return note
    raise (rejected(exc) or exc) from exc
