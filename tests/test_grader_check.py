"""What a failed call to the service's grader validate endpoint means for ``start()``."""

from __future__ import annotations

import pytest

from foundry_tune._core.grader_check import handle_failure
from foundry_tune.errors import GraderError, NotFoundError, RateLimitError, ServiceError


def test_a_rejection_is_a_grader_error_with_the_services_message() -> None:
    with pytest.raises(GraderError, match="the service rejected the grader: bad formula"):
        handle_failure(ServiceError("bad formula", status=400, code="invalid_grader"))


def test_a_service_without_the_alpha_endpoint_lets_the_job_start_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="foundry_tune.job"):
        note = handle_failure(NotFoundError("Resource not found", status=404))
    assert "checked locally only" in note
    assert "checked locally only" in caplog.text


def test_throttling_stays_a_typed_service_error() -> None:
    err = RateLimitError("slow down", status=429, retry_after=999)
    with pytest.raises(RateLimitError):
        handle_failure(err)
