"""The status sets job decisions share (``foundry_tune._core.status``), table-driven."""

from __future__ import annotations

import pytest

from foundry_tune._core.status import WITH_TRAINING_STEPS, JobStatus

TABLE = [
    ("validating_files", False),
    ("pending", False),
    ("queued", False),
    ("running", True),
    ("pausing", True),
    ("paused", True),
    ("resuming", True),
    ("cancelling", False),
    ("succeeded", True),
    ("Succeeded", True),  # the service's spelling does not matter
    ("failed", False),
    ("cancelled", False),
    ("some_future_status", False),  # unknown: live, but nothing says it trained
]


@pytest.mark.parametrize(("status", "has_steps"), TABLE)
def test_which_statuses_have_training_steps(status: str, has_steps: bool) -> None:
    assert (JobStatus(status) in WITH_TRAINING_STEPS) is has_steps


def test_every_documented_status_is_in_the_table() -> None:
    assert set(JobStatus.__members__.values()) <= {JobStatus(status) for status, _ in TABLE}
