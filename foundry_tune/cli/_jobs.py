"""``foundry-tune jobs list|show|watch|cancel|pause|resume``: thin commands over ``ft.jobs`` and Job."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune._core.status import WITH_TRAINING_STEPS, JobStatus
from foundry_tune.cli._connection import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    connect_from_env,
    run,
)
from foundry_tune.errors import JobCancelledError, JobFailedError, WaitTimeoutError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry
    from foundry_tune.job import Job

__all__ = ["columns", "register"]

_OK, _FAILED, _USAGE, _INTERRUPTED = EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED


def register(subparsers: Any) -> None:
    """Add the ``jobs`` command and its subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "jobs",
        help="list, inspect, watch and control fine-tuning jobs",
        description="Fine-tuning jobs of the project in AZURE_AI_PROJECT_ENDPOINT (DefaultAzureCredential).",
    )
    sub = parser.add_subparsers(dest="jobs_command", metavar="SUBCOMMAND")

    p = sub.add_parser("list", help="jobs, newest first")
    p.add_argument("--limit", type=int, default=20, help="at most this many jobs (default 20)")
    p.add_argument("--status", action="append", help="only jobs with this status (repeatable)")
    p.add_argument("--suffix", help="only jobs with this suffix")
    p.add_argument("--fingerprint", help="only jobs foundry-tune started with this fingerprint")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_list))

    p = sub.add_parser("show", help="one job: status, model, error and hint, last metrics, checkpoints")
    p.add_argument("job_id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_show))

    p = sub.add_parser("watch", help="follow a job until it ends (Ctrl-C stops watching, not the job)")
    p.add_argument("job_id")
    p.add_argument("--timeout", type=float, help="stop watching after this many seconds (exit 1)")
    p.add_argument("--plain", action="store_true", help="plain log lines instead of a live line")
    p.set_defaults(handler=_handler(_watch))

    for action, text in (("cancel", "cancel a job"), ("pause", "pause a running job"),
                         ("resume", "resume a paused job")):
        p = sub.add_parser(action, help=text)
        p.add_argument("job_id")
        p.set_defaults(handler=_handler(_control), action=action)

    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return _USAGE


def connect() -> Foundry:
    """The connection the commands use (tests replace it)."""
    return connect_from_env()


def _handler(command: Command) -> Callable[[argparse.Namespace], int]:
    return lambda args: run("jobs", lambda: connect(), command, args)  # noqa: PLW0108 - late-bound for tests


def columns(rows: list[list[str]]) -> str:
    """Rows as space-separated columns, each as wide as its widest cell: ids, names and models are
    never cut (Azure job ids are 38 characters, OpenAI's 29, deployment names up to 64)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in rows
    )


def _summary(job: Job) -> dict[str, Any]:
    code, message = job.error
    method = job.method  # recovered from top-level hyperparameters when the body has no method
    training_type = job.training_type
    return {
        "id": job.id,
        "status": job.status.value,
        "model": job.model,
        "fine_tuned_model": job.fine_tuned_model,
        "suffix": job.suffix,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "method": method.kind.value if method is not None else (job.raw.get("method") or {}).get("type"),
        "training_type": training_type.value if training_type is not None else None,
        "fingerprint": job.fingerprint,
        "error": {"code": code, "message": message} if (code or message) else None,
    }


def _list(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    jobs = ft.jobs.list(limit=args.limit, status=args.status, suffix=args.suffix,
                        fingerprint=args.fingerprint)
    if args.json:
        out.write(json.dumps([_summary(j) for j in jobs], indent=2) + "\n")
        return _OK
    if not jobs:
        out.write("no fine-tuning jobs\n")
        return _OK
    rows = [["ID", "STATUS", "METHOD", "TRAINING", "CREATED (UTC)", "MODEL"]]
    for job in jobs:
        row = _summary(job)
        created = job.created_at.strftime("%Y-%m-%d %H:%M") if job.created_at else "-"
        rows.append([job.id or "-", row["status"], row["method"] or "-", row["training_type"] or "-", created,
                     job.fine_tuned_model or job.model or "-"])
    out.write(columns(rows))
    return _OK


def _show(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    from foundry_tune.job import failure_hint

    job = ft.jobs.get(args.job_id)
    summary = _summary(job)
    metrics = job.metrics() if job.status in WITH_TRAINING_STEPS else None
    checkpoints = job.checkpoints() if job.status is JobStatus.SUCCEEDED else []
    summary["last_metrics"] = metrics.last.as_dict() if metrics is not None and metrics.last else None
    summary["checkpoints"] = [{"step": c.step, "model": c.model, "metrics": c.metrics} for c in checkpoints]
    code, message = job.error
    hint = failure_hint(code, message) if (code or message) else None
    summary["hint"] = hint
    if args.json:
        out.write(json.dumps(summary, indent=2) + "\n")
        return _OK
    for key in ("id", "status", "model", "fine_tuned_model", "suffix", "method", "training_type",
                "created_at", "finished_at", "fingerprint"):
        if summary.get(key):
            out.write(f"{key + ':':<18}{summary[key]}\n")
    if code or message:
        out.write(f"{'error:':<18}[{code}] {message}\n")
    if hint:
        out.write(f"{'hint:':<18}{hint}\n")
    if metrics is not None and metrics.last is not None:
        values = ", ".join(f"{k} {v:.4f}" for k, v in metrics.last.as_dict().items()
                           if k != "step" and isinstance(v, float))
        out.write(f"{'last metrics:':<18}step {metrics.last.step}: {values}\n")
    for c in checkpoints:
        out.write(f"{'checkpoint:':<18}step {c.step}: {c.model}\n")
    return _OK


def _watch(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    job = ft.jobs.get(args.job_id)
    try:
        job.wait(timeout=args.timeout, progress="plain" if args.plain else "auto", stream=out)
    except (JobFailedError, JobCancelledError, WaitTimeoutError) as exc:
        out.write(f"{exc}\n")
        return _FAILED
    except KeyboardInterrupt:
        return _INTERRUPTED
    out.write(f"{job.id} succeeded: {job.fine_tuned_model}\n")
    return _OK


def _control(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    job = ft.jobs.get(args.job_id)
    getattr(job, args.action)()
    out.write(f"{job.id}: {job.status.value}\n")
    return _OK
