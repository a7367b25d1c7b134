"""Chaos soak: N complete fine-tuning workflows against an emulator that injects faults.

    python benchmarks/chaos.py                      # N=30, --fault-rate 0.2, the documented run
    python benchmarks/chaos.py -n 6 --json out.json # a quick run, with a machine-readable report

Each workflow is what a user does: validate the data, start a job (upload + create), wait for it,
deploy the tuned model, chat with it, delete the deployment. Workflows mix SFT, DPO and RFT and
run a few at a time, against ``foundry-tune emulator --fault-rate R --fault-seed S``, which answers
a share R of requests with 429 (with Retry-After), 500 or 503, answers slowly, or drops the
connection **after** the request took effect (the case that makes naive clients create twice).

The emulator's ``/_emulator/stats`` is read before and after. The report says how many workflows
completed, how many faults were injected, how many files, jobs and deployments were created
against how many were expected, how many duplicates exist (two files with the same content, two
jobs with the same fingerprint, two deployments for one job), and how many deployments were left
behind. The run exits 1 unless every workflow completed with zero duplicates and nothing left.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from foundry_tune._demo_data import demo_records
from foundry_tune.client import Foundry, RetryPolicy
from foundry_tune.dataset import Dataset
from foundry_tune.graders import StringCheck
from foundry_tune.methods import DPO, Reinforcement, Supervised, TuningMethod

KINDS = ("sft", "dpo", "rft")
FILES_PER_WORKFLOW = 3  # training + validation uploads, and the job's result file
WAIT_SECONDS = 600.0


@dataclasses.dataclass
class WorkflowResult:
    """What one workflow did."""

    index: int
    kind: str
    ok: bool = False
    job_id: str | None = None
    deployment: str | None = None
    answer: str | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclasses.dataclass
class ChaosReport:
    """The figures of one chaos run."""

    workflows: int
    completed: int
    fault_rate: float
    fault_seed: int
    faults_injected: int
    faults_by_kind: dict[str, int]
    requests: int
    retries_logged: int
    files_created: int
    files_expected: int
    jobs_created: int
    jobs_expected: int
    deployments_created: int
    deployments_expected: int
    duplicate_files: int
    duplicate_jobs: int
    duplicate_deployments: int
    deployments_left: int
    seconds: float
    failures: list[str]

    @property
    def passed(self) -> bool:
        """Every workflow completed, nothing was duplicated and nothing was left behind."""
        return (
            self.completed == self.workflows
            and self.duplicate_files == self.duplicate_jobs == self.duplicate_deployments == 0
            and self.deployments_left == 0
            and self.files_created == self.files_expected
            and self.jobs_created == self.jobs_expected
            and self.deployments_created == self.deployments_expected
        )

    def to_text(self) -> str:
        """A human-readable summary."""
        rows = [
            ("workflows completed", f"{self.completed}/{self.workflows}"),
            ("fault rate / seed", f"{self.fault_rate:g} / {self.fault_seed}"),
            ("requests served", str(self.requests)),
            ("faults injected", f"{self.faults_injected} {dict(sorted(self.faults_by_kind.items()))}"),
            ("retries logged by the client", str(self.retries_logged)),
            ("files created / expected", f"{self.files_created} / {self.files_expected}"),
            ("jobs created / expected", f"{self.jobs_created} / {self.jobs_expected}"),
            ("deployments created / expected", f"{self.deployments_created} / {self.deployments_expected}"),
            ("duplicate files / jobs / deployments",
             f"{self.duplicate_files} / {self.duplicate_jobs} / {self.duplicate_deployments}"),
            ("deployments left behind", str(self.deployments_left)),
            ("wall time", f"{self.seconds:.0f} s"),
            ("verdict", "PASS" if self.passed else "FAIL"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"{k:<{width}}  {v}" for k, v in rows]
        lines += [f"  failure: {f}" for f in self.failures]
        return "\n".join(lines)


class _RetryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock2:
            self.count += 1


def _rft_rows(n: int, offset: int) -> Iterator[dict[str, Any]]:
    for i in range(offset, offset + n):
        a, b = i % 17 + 2, i % 13 + 3
        yield {"messages": [{"role": "user", "content": f"What is {a} times {b} (case {i})? Number only."}],
               "answer": str(a * b)}


def _dpo_rows(n: int, seed: int) -> Iterator[dict[str, Any]]:
    for row in demo_records(n, seed=seed):
        system, user, assistant = row["messages"]
        yield {
            "input": {"messages": [system, user]},
            "preferred_output": [assistant],
            "non_preferred_output": [{"role": "assistant", "content": f"Please check our website ({seed})."}],
        }


def workflow_inputs(index: int) -> tuple[str, str, Dataset, Dataset, TuningMethod, str]:
    """(kind, model, training, validation, method, prompt) of workflow ``index``: distinct data per
    workflow, so that each one rightly creates its own files and job."""
    kind = KINDS[index % len(KINDS)]
    seed = 1000 + index
    if kind == "sft":
        rows = list(demo_records(22, seed=seed))
        prompt = rows[0]["messages"][1]["content"]
        return (kind, "gpt-4.1-mini", Dataset.from_records(rows[:12], name=f"chaos-{index}-sft.jsonl"),
                Dataset.from_records(rows[12:], name=f"chaos-{index}-sft-val.jsonl"),
                Supervised(n_epochs=1), prompt)
    if kind == "dpo":
        rows = list(_dpo_rows(21, seed))
        prompt = rows[0]["input"]["messages"][1]["content"]
        return (kind, "gpt-4.1-mini", Dataset.from_records(rows[:11], name=f"chaos-{index}-dpo.jsonl"),
                Dataset.from_records(rows[11:], name=f"chaos-{index}-dpo-val.jsonl"),
                DPO(beta=0.1, n_epochs=1), prompt)
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    base = index * 100
    return (kind, "o4-mini", Dataset.from_records(_rft_rows(12, base), name=f"chaos-{index}-rft.jsonl"),
            Dataset.from_records(_rft_rows(10, base + 50), name=f"chaos-{index}-rft-val.jsonl"),
            Reinforcement(grader=grader, reasoning_effort="low", n_epochs=1),
            "What is 3 times 4? Number only.")


def run_workflow(ft: Foundry, index: int) -> WorkflowResult:
    """validate -> start (upload + create) -> wait -> deploy -> chat -> delete."""
    kind, model, train, validation, method, prompt = workflow_inputs(index)
    result = WorkflowResult(index, kind)
    started = time.monotonic()
    try:
        for data in (train, validation):
            report = data.validate(method, model=model)
            if not report.valid:
                raise AssertionError(f"workflow {index}: generated data is invalid: {report.summary()}")
        job = (ft.fine_tune(model).train_on(train).validate_on(validation).method(method)
               .suffix(f"chaos-{index}").seed(index).training_type("GlobalStandard").start())
        result.job_id = job.id
        job.wait(timeout=WAIT_SECONDS, progress=False)
        with job.deploy(capacity=1) as deployment:
            result.deployment = deployment.name
            result.answer = deployment.chat(prompt)
            mine = [d for d in ft.deployments.list(created_by_foundry_tune=True) if d.job_id == job.id]
            if len(mine) != 1:
                raise AssertionError(f"workflow {index}: {len(mine)} deployments for job {job.id}")
        result.ok = True
    except Exception as exc:
        result.error = f"workflow {index} ({kind}): {type(exc).__name__}: {exc}"
        logging.getLogger("chaos").debug("workflow %d failed:\n%s", index, traceback.format_exc())
    result.seconds = time.monotonic() - started
    return result


def _stats(url: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(url, timeout=30).json()
    return data


def _duplicates(ft: Foundry, job_ids: set[str]) -> tuple[int, int, int]:
    """(duplicate files, duplicate jobs, duplicate deployments), read from the service itself
    with the fault-free emulator routes' help: a clean client that retries generously."""
    names = collections.Counter(
        f.filename for f in ft.retry.call(lambda: list(ft.openai.files.list(purpose="fine-tune")),
                                          what="list files")
    )
    duplicate_files = sum(n - 1 for n in names.values() if n > 1)
    jobs = ft.retry.call(lambda: list(ft.openai.fine_tuning.jobs.list(limit=100)), what="list jobs")
    prints = collections.Counter((j.metadata or {}).get("foundry_tune_fingerprint") for j in jobs)
    prints.pop(None, None)
    duplicate_jobs = sum(n - 1 for n in prints.values() if n > 1)
    per_job = collections.Counter(d.job_id for d in ft.deployments.list(created_by_foundry_tune=True))
    duplicate_deployments = sum(n - 1 for job, n in per_job.items() if job in job_ids and n > 1)
    return duplicate_files, duplicate_jobs, duplicate_deployments


def run_chaos(
    n: int = 30,
    *,
    fault_rate: float = 0.2,
    fault_seed: int = 1,
    job_duration: float = 1.0,
    concurrency: int = 3,
    data_dir: str | Path | None = None,
    retry: str = "fast",
) -> ChaosReport:
    """Run ``n`` workflows against a fresh faulty emulator and return the figures."""
    counter = _RetryCounter()
    retry_log = logging.getLogger("foundry_tune.retry")
    retry_log.addHandler(counter)
    level = retry_log.level
    retry_log.setLevel(logging.WARNING)  # count retries even when the root logger is quieter
    # "fast": quicker backoff keeps the soak short; "default": exactly what users get.
    policy = RetryPolicy() if retry == "default" else RetryPolicy(
        max_attempts=10, initial_backoff=0.2, max_backoff=2.0, total_timeout=120.0)
    started = time.monotonic()
    try:
        with Foundry.emulator(
            retry=policy,
            job_duration=job_duration,
            fault_rate=fault_rate,
            fault_seed=fault_seed,
            deployment_ready_delay=0.3,
            deployment_provision_delay=0.3,
            slow_seconds=0.5,
            data_dir=data_dir,
        ) as ft:
            emulator = ft.emulator_instance
            assert emulator is not None
            stats_url = emulator.info.stats_url
            before = _stats(stats_url)
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="chaos") as pool:
                results = list(pool.map(lambda i: run_workflow(ft, i), range(n)))
            after = _stats(stats_url)
            job_ids = {r.job_id for r in results if r.job_id}
            dup_files, dup_jobs, dup_deployments = _duplicates(ft, job_ids)
    finally:
        retry_log.removeHandler(counter)
        retry_log.setLevel(level)
    faults_by_kind = {
        k: int(v) - int((before.get("faults_by_kind") or {}).get(k, 0))
        for k, v in (after.get("faults_by_kind") or {}).items()
    }
    return ChaosReport(
        workflows=n,
        completed=sum(r.ok for r in results),
        fault_rate=fault_rate,
        fault_seed=fault_seed,
        faults_injected=int(after["faults"]) - int(before["faults"]),
        faults_by_kind=faults_by_kind,
        requests=int(after["requests"]) - int(before["requests"]),
        retries_logged=counter.count,
        files_created=int(after["files"]) - int(before["files"]),
        files_expected=FILES_PER_WORKFLOW * n,
        jobs_created=int(after["jobs"]) - int(before["jobs"]),
        jobs_expected=n,
        deployments_created=len({r.deployment for r in results if r.deployment}),
        deployments_expected=n,
        duplicate_files=dup_files,
        duplicate_jobs=dup_jobs,
        duplicate_deployments=dup_deployments,
        deployments_left=int(after["deployments"]) - int(before["deployments"]),
        seconds=time.monotonic() - started,
        failures=[r.error for r in results if r.error],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--workflows", type=int, default=30)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--fault-seed", type=int, default=1)
    parser.add_argument("--job-duration", type=float, default=1.0, help="simulated seconds per job")
    parser.add_argument("--concurrency", type=int, default=3, help="workflows running at once (<= 5: "
                        "the service allows 5 fine-tuned deployments)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--retry", choices=("fast", "default"), default="fast",
                        help="the client's RetryPolicy: 'fast' (0.2 s initial backoff, 10 attempts) or "
                        "the library's default (1 s, 8 attempts)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    parser.add_argument("-v", "--verbose", action="store_true", help="log failures' tracebacks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger().handlers[0].setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    if args.verbose:
        logging.getLogger("chaos").setLevel(logging.DEBUG)
    report = run_chaos(args.workflows, fault_rate=args.fault_rate, fault_seed=args.fault_seed,
                       job_duration=args.job_duration, concurrency=args.concurrency, data_dir=args.data_dir,
                       retry=args.retry)
    print(report.to_text())
    if args.json is not None:
        payload = {**dataclasses.asdict(report), "passed": report.passed}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
