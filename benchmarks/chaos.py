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

    python benchmarks/chaos.py --concurrent threads --clients 3 --rounds 10 --fault-rate 0.3
    python benchmarks/chaos.py --concurrent all --json race.json   # threads, coroutines, processes, machines
    python benchmarks/chaos.py --concurrent machines --drop-metadata

The concurrent mode races ``--clients`` callers that start the IDENTICAL job at the same instant
(behind a barrier), ``--rounds`` times, each round on fresh data: threads sharing one ``Foundry``,
coroutines of one ``AsyncFoundry`` in ``asyncio.gather``, processes sharing one
``FOUNDRY_TUNE_STATE_DIR`` (one machine), or processes each with their own ("machines": no local
lock can help). Per round it reports the jobs created (live or succeeded, and cancelled duplicates),
the files left per distinct content, how many callers got the same job, how many were told
``reused=True``, the errors and the timings; it exits 1 unless every round left one live job and
one file per content, gave every caller that job and told exactly one ``reused=False`` (and, on
one machine, created no second job at all).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from foundry_tune._core.connection import EMULATOR_TOKEN, connection_options
from foundry_tune._demo_data import demo_records
from foundry_tune.aio import AsyncFoundry, AsyncStaticTokenCredential
from foundry_tune.client import Foundry, RetryPolicy, StaticTokenCredential
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
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
    """Counts the client's retry records (logged at INFO, as the openai SDK logs its retries)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Retrying"):
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


Rows = list[dict[str, Any]]


def workflow_rows(index: int) -> tuple[str, str, Rows, Rows, TuningMethod, str]:
    """(kind, model, training rows, validation rows, method, prompt) of workflow ``index``: distinct
    data per workflow, so that each one rightly creates its own files and job."""
    kind = KINDS[index % len(KINDS)]
    seed = 1000 + index
    if kind == "sft":
        rows = list(demo_records(22, seed=seed))
        return (kind, "gpt-4.1-mini", rows[:12], rows[12:], Supervised(n_epochs=1),
                rows[0]["messages"][1]["content"])
    if kind == "dpo":
        rows = list(_dpo_rows(21, seed))
        return (kind, "gpt-4.1-mini", rows[:11], rows[11:], DPO(beta=0.1, n_epochs=1),
                rows[0]["input"]["messages"][1]["content"])
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    base = index * 100
    return (kind, "o4-mini", list(_rft_rows(12, base)), list(_rft_rows(10, base + 50)),
            Reinforcement(grader=grader, reasoning_effort="low", n_epochs=1),
            "What is 3 times 4? Number only.")


def workflow_inputs(index: int) -> tuple[str, str, Dataset, Dataset, TuningMethod, str]:
    """(kind, model, training, validation, method, prompt) of workflow ``index``, as datasets."""
    kind, model, train, validation, method, prompt = workflow_rows(index)
    return (kind, model, Dataset.from_records(train, name=f"chaos-{index}-{kind}.jsonl"),
            Dataset.from_records(validation, name=f"chaos-{index}-{kind}-val.jsonl"), method, prompt)


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
    retry_log.setLevel(logging.INFO)  # count retries even when the root logger is quieter
    policy = _policy(retry)
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


# --- concurrent mode ------------------------------------------------------------------------------
# N callers start the IDENTICAL job at the same instant, against the faulty emulator. Every round
# uses fresh data (so a fresh fingerprint); the callers build their builders, meet at a barrier and
# call start() together. An observer client then reads from the service what the round made.

CONCURRENT_MODES = ("threads", "coroutines", "processes", "machines")
ROUND_INDEX_BASE = 500  # round r races on workflow_rows(500 + r): data the soak never uses
EXPECTED_CONTENTS = 2  # training and validation file
MAX_SERVICE_JOBS = 100  # the emulator's per-resource job cap (cancelled jobs count)
WORKER_ENV = "FOUNDRY_TUNE_CHAOS_WORKER"
STATE_DIR_ENV = "FOUNDRY_TUNE_STATE_DIR"
_CANCELLED = frozenset({"cancelled", "cancelling"})


@dataclasses.dataclass
class CallerResult:
    """What one caller's ``start()`` returned, and when it was called (wall clock)."""

    caller: int
    job_id: str | None = None
    reused: bool | None = None
    started_at: float = 0.0
    seconds: float = 0.0
    error: str | None = None


@dataclasses.dataclass
class RoundResult:
    """One race: every caller started the identical job at the same instant."""

    round: int
    mode: str
    kind: str
    callers: list[CallerResult]
    jobs_created: int  # new jobs on the service during the round
    jobs_kept: int  # of which live or succeeded: what would train and bill
    jobs_cancelled: int  # of which cancelled (or cancelling): duplicates withdrawn
    jobs_failed: int
    uploads: int  # fine-tune files the round left on the service (a deleted duplicate does not count)
    distinct_contents: int  # distinct SHA-256 among their bytes
    skew_ms: float  # spread of the callers' start() instants

    @property
    def job_ids(self) -> list[str]:
        """The distinct job ids the callers got back."""
        return sorted({c.job_id for c in self.callers if c.job_id})

    @property
    def same_job(self) -> int:
        """How many callers got the job most callers got."""
        counts = collections.Counter(c.job_id for c in self.callers if c.job_id)
        return max(counts.values(), default=0)

    @property
    def reused_true(self) -> int:
        """Callers told ``reused=True``."""
        return sum(c.reused is True for c in self.callers)

    @property
    def errors(self) -> list[str]:
        """The callers' errors."""
        return [f"caller {c.caller}: {c.error}" for c in self.callers if c.error]

    @property
    def slowest(self) -> float:
        """The slowest caller's ``start()``, in seconds."""
        return max((c.seconds for c in self.callers), default=0.0)

    @property
    def passed(self) -> bool:
        """One job trains, one file per distinct content is left, every caller got that job, one
        was told it made it (``reused=False``), nobody failed. On one machine (threads, coroutines,
        processes) no second job is even created; across machines, where no local lock can tell
        the callers apart, a duplicate job may have been created if it was then cancelled."""
        clients = len(self.callers)
        return (
            self.jobs_kept == 1
            and (self.jobs_cancelled == 0 or self.mode == "machines")
            and self.uploads == self.distinct_contents == EXPECTED_CONTENTS
            and self.same_job == clients
            and len(self.job_ids) == 1
            and self.reused_true == clients - 1
            and not self.errors
        )


@dataclasses.dataclass
class ConcurrentReport:
    """The figures of one concurrent chaos run (one sub-mode)."""

    mode: str
    clients: int
    fault_rate: float
    fault_seed: int
    drop_metadata: bool
    job_duration: float
    faults_injected: int
    faults_by_kind: dict[str, int]
    requests: int
    seconds: float
    rounds: list[RoundResult]

    @property
    def passed(self) -> bool:
        """Every round passed."""
        return all(r.passed for r in self.rounds)

    def summary(self) -> dict[str, Any]:
        """Totals over the rounds (the JSON report's ``summary``)."""
        rounds = self.rounds
        seconds = sorted(c.seconds for r in rounds for c in r.callers)
        return {
            "rounds": len(rounds),
            "rounds_passed": sum(r.passed for r in rounds),
            "rounds_with_extra_live_jobs": sum(r.jobs_kept > 1 for r in rounds),
            "jobs_created": sum(r.jobs_created for r in rounds),
            "jobs_kept": sum(r.jobs_kept for r in rounds),
            "jobs_cancelled": sum(r.jobs_cancelled for r in rounds),
            "uploads": sum(r.uploads for r in rounds),
            "distinct_contents": sum(r.distinct_contents for r in rounds),
            "callers": sum(len(r.callers) for r in rounds),
            "callers_same_job": sum(r.same_job for r in rounds),
            "callers_reused_true": sum(r.reused_true for r in rounds),
            "errors": sum(len(r.errors) for r in rounds),
            "start_seconds_median": seconds[len(seconds) // 2] if seconds else 0.0,
            "start_seconds_max": seconds[-1] if seconds else 0.0,
            "skew_ms_max": max((r.skew_ms for r in rounds), default=0.0),
        }

    def to_json(self) -> dict[str, Any]:
        """The machine-readable report."""
        return {**dataclasses.asdict(self), "summary": self.summary(), "passed": self.passed}

    def to_text(self) -> str:
        """A human-readable table, one line per round, and the totals."""
        title = (f"concurrent {self.mode}: {self.clients} callers x {len(self.rounds)} rounds, fault rate "
                 f"{self.fault_rate:g} (seed {self.fault_seed})"
                 + (", metadata dropped" if self.drop_metadata else ""))
        head = ("round", "kind", "jobs", "live", "cancelled", "files/contents", "same job",
                "reused", "errors", "slowest", "skew", "verdict")
        body = [
            (str(r.round), r.kind, str(r.jobs_created), str(r.jobs_kept), str(r.jobs_cancelled),
             f"{r.uploads}/{r.distinct_contents}", f"{r.same_job}/{len(r.callers)}", str(r.reused_true),
             str(len(r.errors)), f"{r.slowest:.1f} s", f"{r.skew_ms:.0f} ms", "PASS" if r.passed else "FAIL")
            for r in self.rounds
        ]
        widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
        lines = [title] + ["  ".join(f"{v:<{w}}" for v, w in zip(row, widths, strict=True))
                           for row in (head, *body)]
        s = self.summary()
        lines += [
            f"rounds passed: {s['rounds_passed']}/{s['rounds']}; rounds with more than one live job: "
            f"{s['rounds_with_extra_live_jobs']}",
            f"jobs created {s['jobs_created']} (live or succeeded {s['jobs_kept']}, cancelled "
            f"{s['jobs_cancelled']}); files left {s['uploads']} for {s['distinct_contents']} distinct "
            "contents",
            f"callers given the same job {s['callers_same_job']}/{s['callers']}; told reused=True "
            f"{s['callers_reused_true']}; errors {s['errors']}",
            f"start() median {s['start_seconds_median']:.1f} s, max {s['start_seconds_max']:.1f} s; "
            f"barrier skew max {s['skew_ms_max']:.0f} ms",
            f"faults injected {self.faults_injected} {dict(sorted(self.faults_by_kind.items()))} over "
            f"{self.requests} requests; wall time {self.seconds:.0f} s",
            f"verdict: {'PASS' if self.passed else 'FAIL'}",
        ]
        lines += [f"  error (round {r.round}) {e}" for r in self.rounds for e in r.errors]
        return "\n".join(lines)


def _policy(retry: str) -> RetryPolicy:
    # "fast": quicker backoff keeps a run short; "default": exactly what users get.
    if retry == "default":
        return RetryPolicy()
    return RetryPolicy(max_attempts=10, initial_backoff=0.2, max_backoff=2.0, total_timeout=120.0)


def _connection_config(info: Any, retry: str) -> dict[str, Any]:
    return {
        "endpoint": info.project_endpoint,
        "token": info.token or EMULATOR_TOKEN,
        "options": connection_options(info),
        "retry": retry,
    }


def _connect(config: dict[str, Any], policy: RetryPolicy | None = None) -> Foundry:
    return Foundry(config["endpoint"], StaticTokenCredential(config["token"]),
                   retry=policy or _policy(config["retry"]), **config["options"])


def _aconnect(config: dict[str, Any]) -> AsyncFoundry:
    return AsyncFoundry(config["endpoint"], AsyncStaticTokenCredential(config["token"]),
                        retry=_policy(config["retry"]), **config["options"])


def write_round_data(root: Path, index: int) -> Path:
    """Write the race's training and validation files under ``root`` (what every caller trains on)."""
    _, _, train, validation, _, _ = workflow_rows(index)
    folder = root / f"round-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("validation.jsonl", validation)):
        (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return folder


def race_builder(ft: Any, index: int, folder: Path) -> Any:
    """The builder each caller makes for the race ``index`` (the same job for everyone); ``ft`` is a
    ``Foundry`` or an ``AsyncFoundry``."""
    _, model, _, _, method, _ = workflow_rows(index)
    return (ft.fine_tune(model).train_on(folder / "train.jsonl").validate_on(folder / "validation.jsonl")
            .method(method).suffix(f"race-{index}").seed(index).training_type("GlobalStandard"))


def _timed(caller: int, start: Any) -> CallerResult:
    result = CallerResult(caller, started_at=time.time())
    began = time.monotonic()
    try:
        job = start()
        result.job_id, result.reused = job.id, bool(job.reused)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - began
    return result


async def _atimed(caller: int, start: Any) -> CallerResult:
    result = CallerResult(caller, started_at=time.time())
    began = time.monotonic()
    try:
        job = await start()
        result.job_id, result.reused = job.id, bool(job.reused)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - began
    return result


class _ThreadRacer:
    """N threads sharing one ``Foundry``."""

    def __init__(self, config: dict[str, Any], clients: int, work: Path) -> None:
        self.clients = clients
        self.ft = _connect(config)

    def race(self, index: int, folder: Path) -> list[CallerResult]:
        barrier = threading.Barrier(self.clients)

        def one(caller: int) -> CallerResult:
            builder = race_builder(self.ft, index, folder)
            barrier.wait(timeout=60)
            return _timed(caller, builder.start)

        with ThreadPoolExecutor(max_workers=self.clients, thread_name_prefix="race") as pool:
            return list(pool.map(one, range(self.clients)))

    def close(self) -> None:
        self.ft.close()


class _CoroutineRacer:
    """N coroutines of one ``AsyncFoundry`` in ``asyncio.gather``, on one event loop for the run."""

    def __init__(self, config: dict[str, Any], clients: int, work: Path) -> None:
        self.clients = clients
        self.loop = asyncio.new_event_loop()
        self.aft = _aconnect(config)

    async def _race(self, index: int, folder: Path) -> list[CallerResult]:
        armed = 0
        go = asyncio.Event()

        async def one(caller: int) -> CallerResult:
            nonlocal armed
            builder = race_builder(self.aft, index, folder)
            armed += 1
            if armed == self.clients:
                go.set()
            await go.wait()
            return await _atimed(caller, builder.start)

        return list(await asyncio.gather(*(one(i) for i in range(self.clients))))

    def race(self, index: int, folder: Path) -> list[CallerResult]:
        return self.loop.run_until_complete(self._race(index, folder))

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.aft.close())
        finally:
            self.loop.close()


class _Worker:
    """One client process (``chaos.py --worker N``), driven by JSON lines on its stdin / stdout."""

    def __init__(self, caller: int, config: dict[str, Any], state_dir: Path, log: Path) -> None:
        self.caller = caller
        self.log = log
        env = {**os.environ, WORKER_ENV: json.dumps(config), STATE_DIR_ENV: str(state_dir)}
        with log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", str(caller)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def receive(self, timeout: float = 300.0) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = ""
        if not line:
            tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
            raise RuntimeError(f"client process {self.caller} did not answer (log {self.log}):\n{tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send({"quit": True})
                self.process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class _ProcessRacer:
    """N client processes; one state folder for all ("processes") or one each ("machines")."""

    def __init__(self, config: dict[str, Any], clients: int, work: Path, *, machines: bool) -> None:
        self.workers: list[_Worker] = []
        try:
            for caller in range(clients):
                state = work / "state" / (f"machine-{caller}" if machines else "shared")
                self.workers.append(_Worker(caller, config, state, work / f"client-{caller}.log"))
            for worker in self.workers:
                worker.receive(timeout=120)  # {"ready": caller}: imported and connected
        except BaseException:
            self.close()
            raise

    def race(self, index: int, folder: Path) -> list[CallerResult]:
        for worker in self.workers:
            worker.send({"index": index, "folder": str(folder)})
        for worker in self.workers:
            worker.receive()  # {"armed": index}: the builder is made
        go_at = time.time() + 0.25  # one wall-clock instant for every process on this machine
        for worker in self.workers:
            worker.send({"go_at": go_at})
        return [CallerResult(**worker.receive()) for worker in self.workers]

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def worker_main(caller: int) -> int:
    """The client process of the "processes" and "machines" sub-modes (``chaos.py --worker N``)."""
    out = sys.stdout
    sys.stdout = sys.stderr  # only the protocol goes to the real stdout

    def say(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    ft = _connect(json.loads(os.environ[WORKER_ENV]))
    say({"ready": caller})
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        message = json.loads(line)
        if message.get("quit"):
            break
        builder = race_builder(ft, int(message["index"]), Path(message["folder"]))
        say({"armed": message["index"]})
        go_at = float(json.loads(sys.stdin.readline())["go_at"])
        time.sleep(max(0.0, go_at - time.time()))
        say(dataclasses.asdict(_timed(caller, builder.start)))
    ft.close()
    return 0


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _service_state(observer: Foundry) -> tuple[dict[str, str], set[str]]:
    """(job id -> status, fine-tune file ids) as the service lists them."""
    jobs = observer.retry.call(lambda: list(observer.openai.fine_tuning.jobs.list(limit=100)),
                               what="list jobs")
    files = observer.retry.call(lambda: list(observer.openai.files.list(purpose="fine-tune")),
                                what="list files")
    return {j.id: str(j.status) for j in jobs}, {f.id for f in files if f.purpose == "fine-tune"}


def _content_hash(observer: Foundry, file_id: str) -> str:
    data = observer.retry.call(lambda: observer.openai.files.content(file_id).read(),
                               what=f"download {file_id}")
    return hashlib.sha256(data).hexdigest()


def _cancel(observer: Foundry, job_id: str) -> None:
    """Cancel a race's job once measured, so that jobs do not pile up in the service's queue."""
    try:
        observer.retry.call(lambda: observer.openai.fine_tuning.jobs.cancel(job_id), what=f"cancel {job_id}")
    except Exception as exc:  # already cancelled, or finished: either way it no longer queues
        logging.getLogger("chaos").debug("cancel %s: %s", job_id, exc)


def run_concurrent(
    mode: str,
    *,
    clients: int = 3,
    rounds: int = 10,
    fault_rate: float = 0.3,
    fault_seed: int = 1,
    drop_metadata: bool = False,
    job_duration: float = 30.0,
    retry: str = "fast",
    data_dir: str | Path | None = None,
) -> ConcurrentReport:
    """Race ``clients`` callers starting the identical job, ``rounds`` times, in sub-mode ``mode``
    (threads, coroutines, processes or machines), against a fresh faulty emulator. ``data_dir``
    keeps the emulator's data, the race data and the client processes' logs (default: a temporary
    folder, removed)."""
    if mode not in CONCURRENT_MODES:
        raise ValueError(f"mode must be one of {', '.join(CONCURRENT_MODES)}, not {mode!r}")
    if clients < 1 or rounds < 1 or clients * rounds > MAX_SERVICE_JOBS - 10:
        raise ValueError(f"need clients >= 1, rounds >= 1 and clients x rounds <= {MAX_SERVICE_JOBS - 10} "
                         "(the emulator caps a resource at 100 jobs)")
    started = time.monotonic()
    results: list[RoundResult] = []
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="foundry-tune-chaos-")))
        else:
            work = Path(data_dir) / f"{mode}{'-drop-metadata' if drop_metadata else ''}"
            work.mkdir(parents=True, exist_ok=False)
        with Emulator(data_dir=work / "emulator", job_duration=job_duration, fault_rate=fault_rate,
                      fault_seed=fault_seed, slow_seconds=0.5, drop_metadata=drop_metadata) as emulator:
            config = _connection_config(emulator.info, retry)
            # The observer retries generously: its reads must not fail where the callers' may.
            observer = _connect(config, RetryPolicy(max_attempts=30, initial_backoff=0.1, max_backoff=1.0,
                                                    total_timeout=120.0))
            # Threads and coroutines get a state folder of their own too (never the user's).
            with _environment(STATE_DIR_ENV, str(work / "state" / "shared")):
                racer: _ThreadRacer | _CoroutineRacer | _ProcessRacer
                if mode == "threads":
                    racer = _ThreadRacer(config, clients, work)
                elif mode == "coroutines":
                    racer = _CoroutineRacer(config, clients, work)
                else:
                    racer = _ProcessRacer(config, clients, work, machines=mode == "machines")
                try:
                    before = emulator.stats()
                    listed, known_files = _service_state(observer)
                    known_jobs = set(listed)
                    for number in range(rounds):
                        index = ROUND_INDEX_BASE + number
                        folder = write_round_data(work / "data", index)
                        callers = racer.race(index, folder)
                        jobs, files = _service_state(observer)
                        new_jobs = {i: s for i, s in jobs.items() if i not in known_jobs}
                        new_files = files - known_files
                        hashes = {_content_hash(observer, f) for f in new_files}
                        instants = [c.started_at for c in callers]
                        results.append(RoundResult(
                            round=number + 1,
                            mode=mode,
                            kind=KINDS[index % len(KINDS)],
                            callers=callers,
                            jobs_created=len(new_jobs),
                            jobs_kept=sum(s not in _CANCELLED and s != "failed" for s in new_jobs.values()),
                            jobs_cancelled=sum(s in _CANCELLED for s in new_jobs.values()),
                            jobs_failed=sum(s == "failed" for s in new_jobs.values()),
                            uploads=len(new_files),
                            distinct_contents=len(hashes),
                            skew_ms=(max(instants) - min(instants)) * 1000,
                        ))
                        for job_id, status in new_jobs.items():
                            if status not in _CANCELLED and status not in ("failed", "succeeded"):
                                _cancel(observer, job_id)
                        known_jobs, known_files = set(jobs), files
                        logging.getLogger("chaos").info("round %d: %s", number + 1, results[-1])
                    after = emulator.stats()
                finally:
                    racer.close()
                    observer.close()
    faults_by_kind = {
        k: int(v) - int((before.get("faults_by_kind") or {}).get(k, 0))
        for k, v in (after.get("faults_by_kind") or {}).items()
    }
    return ConcurrentReport(
        mode=mode,
        clients=clients,
        fault_rate=fault_rate,
        fault_seed=fault_seed,
        drop_metadata=drop_metadata,
        job_duration=job_duration,
        faults_injected=int(after["faults"]) - int(before["faults"]),
        faults_by_kind=faults_by_kind,
        requests=int(after["requests"]) - int(before["requests"]),
        seconds=time.monotonic() - started,
        rounds=results,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--workflows", type=int, default=30)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--fault-seed", type=int, default=1)
    parser.add_argument("--job-duration", type=float, default=None,
                        help="simulated seconds per job (default 1; 30 with --concurrent, whose jobs are "
                        "cancelled once measured)")
    parser.add_argument("--concurrency", type=int, default=3, help="workflows running at once (<= 5: "
                        "the service allows 5 fine-tuned deployments)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the emulator's data here (with --concurrent: also the race data and the "
                        "client processes' logs, one sub-folder per mode)")
    parser.add_argument("--retry", choices=("fast", "default"), default="fast",
                        help="the client's RetryPolicy: 'fast' (0.2 s initial backoff, 10 attempts) or "
                        "the library's default (1 s, 8 attempts)")
    parser.add_argument("--concurrent", choices=(*CONCURRENT_MODES, "all"), default=None,
                        help="instead of the soak, race --clients callers starting the identical job, "
                        "--rounds times: threads sharing one Foundry, coroutines of one AsyncFoundry, "
                        "processes sharing a state folder, or processes each with its own ('machines')")
    parser.add_argument("--clients", type=int, default=3, help="callers per race (--concurrent)")
    parser.add_argument("--rounds", type=int, default=10, help="races, each on fresh data (--concurrent)")
    parser.add_argument("--drop-metadata", action="store_true",
                        help="the emulator never echoes a job's metadata (--concurrent)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    parser.add_argument("-v", "--verbose", action="store_true", help="log failures' tracebacks")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger().handlers[0].setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    if args.verbose:
        logging.getLogger("chaos").setLevel(logging.DEBUG)
    if args.concurrent is not None:
        modes = CONCURRENT_MODES if args.concurrent == "all" else (args.concurrent,)
        reports = []
        for mode in modes:
            reports.append(run_concurrent(
                mode, clients=args.clients, rounds=args.rounds, fault_rate=args.fault_rate,
                fault_seed=args.fault_seed, drop_metadata=args.drop_metadata,
                job_duration=30.0 if args.job_duration is None else args.job_duration, retry=args.retry,
                data_dir=args.data_dir))
            print(reports[-1].to_text(), end="\n\n", flush=True)
        passed = all(r.passed for r in reports)
        if args.json is not None:
            payload: Any = reports[0].to_json() if len(reports) == 1 else {
                "modes": [r.to_json() for r in reports], "passed": passed}
            args.json.write_text(json.dumps(payload, indent=2) + "\n")
        return 0 if passed else 1
    report = run_chaos(args.workflows, fault_rate=args.fault_rate, fault_seed=args.fault_seed,
                       job_duration=1.0 if args.job_duration is None else args.job_duration,
                       concurrency=args.concurrency, data_dir=args.data_dir, retry=args.retry)
    print(report.to_text())
    if args.json is not None:
        payload = {**dataclasses.asdict(report), "passed": report.passed}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
