"""The builder's check right after its job create, without the emulator: a duplicate of its own job
(a create a gateway delivered after the start had given up on it and created again) is cancelled,
whichever of the two came first, and one live job is left and returned.

The fake jobs API of ``test_core_builder_once.py`` gains ``cancel`` and a create that is held: the
job of the first create shows up only later (after the settle window, when the start sent its
create again), either before the second job (``first`` older) or after it.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from foundry_tune._core.fingerprint import FINGERPRINT_KEY
from foundry_tune._sync._builder import FineTuneBuilder
from foundry_tune.methods import Supervised
from tests.test_core_builder_once import FP, FakeJobs
from tests.test_core_once import FakeClock, _failure, _policy


class HeldCreateJobs(FakeJobs):
    """The first create times out and its job appears only when the second create is made: just
    before the second job (``late_first=False``) or just after it (``late_first=True``)."""

    def __init__(self, mode: str, *, late_first: bool) -> None:
        super().__init__(mode, (), ())
        self.late_first = late_first
        self.held: dict[str, Any] | None = None
        self.cancelled: list[str] = []

    def _made(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        metadata = None if self.mode == "drops metadata" else dict(kwargs["metadata"])
        return self._job(f"ftjob-{len(self.jobs) + 1}{'h' if self.held is None else ''}", int(time.time()),
                         kwargs["training_file"], kwargs.get("suffix"), metadata)

    def create(self, **kwargs: Any) -> dict[str, Any]:
        if self.held is None:  # the gateway holds it: the client times out
            self.held = self._made(kwargs)
            raise _failure("timeout_before")
        made = self._made(kwargs)
        self.jobs += [made, self.held] if self.late_first else [self.held, made]
        return dict(made)

    def list(self, *, limit: int = 20, after: str | None = None,
             metadata: dict[str, str] | None = None) -> Any:
        # Newest first in creation order, as the service lists them (the same second for both).
        jobs = list(reversed(self.jobs))
        if metadata and self.mode != "ignores the filter":
            jobs = [j for j in jobs if all((j["metadata"] or {}).get(k) == v for k, v in metadata.items())]
        return SimpleNamespace(data=[dict(j) for j in jobs[:limit]], has_more=len(jobs) > limit)

    def cancel(self, job_id: str) -> dict[str, Any]:
        self.cancelled.append(job_id)
        for job in self.jobs:
            if job["id"] == job_id:
                job["status"] = "cancelled"
        return self.retrieve(job_id)


@pytest.mark.parametrize("mode", ["keeps metadata", "drops metadata"])
@pytest.mark.parametrize("late_first", [False, True], ids=["held-arrives-first", "held-arrives-second"])
def test_a_late_duplicate_of_the_own_create_is_cancelled(mode: str, late_first: bool) -> None:
    jobs = HeldCreateJobs(mode, late_first=late_first)
    ft = SimpleNamespace(openai=SimpleNamespace(fine_tuning=SimpleNamespace(jobs=jobs)),
                         retry=_policy(FakeClock()), endpoint=f"https://fake.test/{mode}")
    # The uploaded file's id (what the create sends): a job's files are compared with it.
    builder = FineTuneBuilder(ft, "gpt-4.1-mini").train_on("file-train").suffix("support")  # type: ignore[arg-type]
    job = builder._create(builder.spec, Supervised(), FP, "file-train", None)
    new = jobs.new()
    assert len(new) == 2  # the hazard happened: the held create and the second one both made a job
    live = [j["id"] for j in new if j["status"] != "cancelled"]
    assert live == [job.id] and len(jobs.cancelled) == 1
    oldest = new[0]["id"]  # the first made, whichever create it came from
    assert job.id == oldest
    if mode == "keeps metadata":
        assert job.fingerprint == FP and FINGERPRINT_KEY in (job.raw.get("metadata") or {})


def test_a_lost_create_that_found_a_cancelled_twin_keeps_the_oldest_live_job() -> None:
    """Metadata dropped, the create's answer lost: the lookup found a job of our inputs that its own
    start elsewhere had already cancelled (the younger of twins). The check keeps the oldest live
    job, the one every racing start keeps, and never cancels it (before: it kept the cancelled job
    and cancelled the live one, leaving none)."""
    from foundry_tune._core.fingerprint import ATTEMPT_KEY
    from foundry_tune._sync._job import Job
    from foundry_tune._sync._twins import keep_oldest

    jobs = HeldCreateJobs("drops metadata", late_first=False)
    now = int(time.time())
    cancelled = jobs._job("ftjob-x", now - 5, "file-train", "support", None, status="cancelled")
    survivor = jobs._job("ftjob-s", now - 2, "file-train", "support", None)
    younger = jobs._job("ftjob-y", now - 1, "file-train", "support", None)
    jobs.jobs = [cancelled, survivor, younger]
    ft = SimpleNamespace(openai=SimpleNamespace(fine_tuning=SimpleNamespace(jobs=jobs)),
                         retry=_policy(FakeClock()), endpoint="https://fake.test/cancelled-twin")
    builder = FineTuneBuilder(ft, "gpt-4.1-mini").train_on("file-train").suffix("support")  # type: ignore[arg-type]
    kwargs = builder.spec.create_kwargs(Supervised(), FP, "attempt", "file-train", None)
    assert kwargs["metadata"][ATTEMPT_KEY] == "attempt"
    kept = keep_oldest(ft, builder.spec, Job(ft, dict(cancelled)), kwargs, lost_since=now - 10)  # type: ignore[arg-type]
    assert kept.id == "ftjob-s" and kept.reused
    assert jobs.cancelled == ["ftjob-y"]  # the younger twin made since the lost create; never the survivor
