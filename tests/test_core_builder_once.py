"""The builder's own job create, under every scripted interleaving, without the emulator.

``FineTuneBuilder._create`` tags the job with the fingerprint and a fresh attempt id and, after an
ambiguous failure, looks the job up by both; on a service that drops job metadata it falls back to
recognising the job by what the request made (``created_by_request``). A fake in-memory jobs API
(create, list with a metadata filter, retrieve) answers from a script; whatever the script, one job
is created and ``_create`` returns it, or a refused create raises the typed error and none exists.
"""

from __future__ import annotations

import builtins
import itertools
import time
from types import SimpleNamespace
from typing import Any

import pytest

from foundry_tune._core.fingerprint import ATTEMPT_KEY, FINGERPRINT_KEY
from foundry_tune._sync._builder import FineTuneBuilder
from foundry_tune.errors import RetryBudgetExceededError, ServiceError
from foundry_tune.methods import Supervised
from tests.test_core_once import CREATE_OUTCOMES, REFUSED, TOOK_EFFECT, FakeClock, _failure, _policy

FP = "fp-1"
MODES = ("keeps metadata", "drops metadata", "ignores the filter")
"""How the service treats job metadata: stores it and filters by it; accepts and drops it (some
Azure API versions); stores it but ignores the ``metadata[k]=v`` list filter."""


class FakeJobs:
    """``fine_tuning.jobs``: ``create`` and ``list`` answer from their scripts (then succeed)."""

    def __init__(self, mode: str, creates: tuple[str, ...], lookups: tuple[str, ...]) -> None:
        self.mode = mode
        self.creates = list(creates)
        self.lookups = list(lookups)
        self.lost = 0
        self.failed_lookups_after_lost = 0
        now = int(time.time())
        keep = mode != "drops metadata"
        # Earlier jobs a wrong lookup could return: same fingerprint from another attempt (a
        # failed run an hour ago), and another job on the same training file today.
        self.jobs: list[dict[str, Any]] = [
            self._job("ftjob-old", now - 3600, "file-train", "support",
                      {FINGERPRINT_KEY: FP, ATTEMPT_KEY: "earlier"} if keep else None, status="failed"),
            self._job("ftjob-other", now - 60, "file-train", "other", None),
        ]
        self.preexisting = {j["id"] for j in self.jobs}

    @staticmethod
    def _job(job_id: str, created_at: int, training_file: str, suffix: str | None,
             metadata: dict[str, str] | None, status: str = "queued") -> dict[str, Any]:
        return {"id": job_id, "object": "fine_tuning.job", "model": "gpt-4.1-mini", "created_at": created_at,
                "training_file": training_file, "validation_file": None, "suffix": suffix,
                "metadata": metadata, "status": status}

    def create(self, **kwargs: Any) -> dict[str, Any]:
        outcome = self.creates.pop(0) if self.creates else "ok"
        if outcome in TOOK_EFFECT:
            metadata = None if self.mode == "drops metadata" else dict(kwargs["metadata"])
            self.jobs.append(self._job(f"ftjob-{len(self.jobs) + 1}", int(time.time()),
                                       kwargs["training_file"], kwargs.get("suffix"), metadata))
        if outcome == "ok":
            return dict(self.jobs[-1])
        self.lost += outcome in TOOK_EFFECT
        raise _failure(outcome)

    def list(self, *, limit: int = 20, after: str | None = None,
             metadata: dict[str, str] | None = None) -> Any:
        outcome = self.lookups.pop(0) if self.lookups else "ok"
        if outcome != "ok":
            self.failed_lookups_after_lost += self.lost > 0
            raise _failure(outcome)
        jobs = sorted(self.jobs, key=lambda j: j["created_at"], reverse=True)
        if metadata and self.mode != "ignores the filter":
            jobs = [j for j in jobs if all((j["metadata"] or {}).get(k) == v for k, v in metadata.items())]
        if after is not None:
            jobs = jobs[[j["id"] for j in jobs].index(after) + 1:]
        page = jobs[:limit]
        return SimpleNamespace(data=[dict(j) for j in page], has_more=len(jobs) > limit)

    def retrieve(self, job_id: str) -> dict[str, Any]:
        return dict(next(j for j in self.jobs if j["id"] == job_id))

    def new(self) -> builtins.list[dict[str, Any]]:
        """The jobs this create made."""
        return [j for j in self.jobs if j["id"] not in self.preexisting]


def _create(jobs: FakeJobs) -> Any:
    ft = SimpleNamespace(openai=SimpleNamespace(fine_tuning=SimpleNamespace(jobs=jobs)),
                         retry=_policy(FakeClock()))
    builder = FineTuneBuilder(ft, "gpt-4.1-mini").suffix("support")  # type: ignore[arg-type]
    return builder._create(builder.spec, Supervised(), FP, "file-train", None)


@pytest.mark.parametrize("mode", MODES)
def test_the_builder_creates_one_job_and_returns_it_whatever_the_service_answers(mode: str) -> None:
    bad: list[str] = []
    cases = reached = refused = 0
    for n in (1, 2):
        for creates in itertools.product((*CREATE_OUTCOMES, REFUSED), repeat=n):
            for lookups in ((), ("503",), ("timeout",), ("503", "timeout")):
                jobs = FakeJobs(mode, creates, lookups)
                case = f"{mode}: creates={creates} lookups={lookups}"
                try:
                    job = _create(jobs)
                except ServiceError as exc:
                    if exc.status != 400 or isinstance(exc, RetryBudgetExceededError) or jobs.new():
                        bad.append(f"{case}: {type(exc).__name__} {exc} with {len(jobs.new())} new jobs")
                    refused += 1
                else:
                    new = jobs.new()
                    if len(new) != 1 or job.id != new[0]["id"]:
                        bad.append(f"{case}: {len(new)} new jobs {[j['id'] for j in new]}, returned {job.id}")
                cases += 1
                reached += jobs.failed_lookups_after_lost > 0
    assert not bad, f"{len(bad)} of {cases} scripts went wrong, e.g. {bad[:3]}"
    # The table reaches lookups failing after a lost create, and refused creates.
    assert reached > 20 and refused > 10, (reached, refused)
