"""``foundry-tune jobs create|list|show|checkpoints|watch|cancel|pause|resume``: thin commands over
``ft.fine_tune()``, ``ft.jobs`` and Job."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune._core.settings import progress_from_env
from foundry_tune._core.status import WITH_TRAINING_STEPS, JobStatus
from foundry_tune._table import columns
from foundry_tune.cli._connection import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    connect_from_env,
    run,
    usage_error,
)
from foundry_tune.cli._jobfile import HYPERPARAMETER_FLAGS, METHOD_NAMES, JobFileError, JobRequest, Setting
from foundry_tune.errors import (
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    SafetyCheckFailedError,
    SpendLimitReachedError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune._core.plan import Plan
    from foundry_tune.client import Foundry
    from foundry_tune.job import Job

__all__ = ["register"]

_OK, _FAILED, _USAGE, _INTERRUPTED = EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED


def register(subparsers: Any) -> None:
    """Add the ``jobs`` command and its subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "jobs",
        help="list, inspect, watch and control fine-tuning jobs",
        description="Fine-tuning jobs of the project in AZURE_AI_PROJECT_ENDPOINT (DefaultAzureCredential).",
    )
    sub = parser.add_subparsers(dest="jobs_command", metavar="SUBCOMMAND")

    _register_create(sub)

    p = sub.add_parser("list", help="jobs, newest first")
    p.add_argument("--limit", type=int, default=20, help="at most this many jobs (default 20)")
    p.add_argument("--status", action="append", type=str.lower, choices=[s.value for s in JobStatus],
                   metavar="STATUS",
                   help="only jobs with this status (repeatable): " + ", ".join(s.value for s in JobStatus))
    p.add_argument("--suffix", help="only jobs with this suffix")
    p.add_argument("--fingerprint", help="only jobs foundry-tune started with this fingerprint")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_list))

    p = sub.add_parser("show", help="one job: status, model, error and hint, last metrics, checkpoints")
    p.add_argument("job_id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_show))

    p = sub.add_parser("checkpoints", help="a job's checkpoints with their metrics, and the best one")
    p.add_argument("job_id")
    p.add_argument("--metric", default="valid_loss",
                   help="the metric that picks the best (default valid_loss: the full-validation figure "
                        "where there is one)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_checkpoints))

    p = sub.add_parser(
        "watch", help="follow one job, or several, until they end (Ctrl-C stops watching, not the jobs)",
        description=(
            "Follow one job until it ends (exit 0 if it succeeded, 1 otherwise), or several: those are "
            "watched together at the cost of one listing of the project's jobs per look (not one "
            "request per job), with one line per status change per job and a table (or with --json "
            "a JSON list, in the order given) when they all ended; exit 0 only if every one succeeded. "
            "A job that disappears while watched (not found any more) is shown as 'gone' (exit 1)."))
    p.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="the job to follow (or several)")
    p.add_argument("--timeout", type=float, help="stop watching after this many seconds (exit 1)")
    p.add_argument("--plain", action="store_true", help="plain log lines instead of a live line")
    p.add_argument("--json", action="store_true",
                   help="no progress; print the job as JSON when it ends, or a list of jobs for several "
                        "(a safety failure's error has kind and categories)")
    p.add_argument("--max-cost", type=_usd, metavar="USD",
                   help="reinforcement, one job id only: pause the job once its training cost reaches USD "
                        "while watching (default: the cap 'jobs create --max-cost' recorded for it; "
                        "recorded caps are watched only when the job is watched alone)")
    p.set_defaults(handler=_watch_handler)

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
        "error": _error(code, message),
    }


def _error(code: str | None, message: str | None) -> dict[str, Any] | None:
    """A job's error for JSON; a safety failure's also has ``kind`` (data / model) and ``categories``."""
    from foundry_tune._core.safety import parse_safety_failure

    if not (code or message):
        return None
    error: dict[str, Any] = {"code": code, "message": message}
    finding = parse_safety_failure(code, message)
    if finding is not None:
        error.update(kind=finding.kind, categories=list(finding.categories))
    return error


def _hint(code: str | None, message: str | None) -> str | None:
    """What to do about a job's error: the safety hint for a safety failure, else the usual one."""
    from foundry_tune._core.safety import parse_safety_failure, safety_hint
    from foundry_tune.job import failure_hint

    finding = parse_safety_failure(code, message)
    return safety_hint(finding, cli=True) if finding is not None else failure_hint(code, message)


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
    job = ft.jobs.get(args.job_id)
    summary = _summary(job)
    metrics = job.metrics() if job.status in WITH_TRAINING_STEPS else None
    checkpoints = job.checkpoints() if job.status is JobStatus.SUCCEEDED else []
    summary["last_metrics"] = metrics.last.as_dict() if metrics is not None and metrics.last else None
    summary["checkpoints"] = [{"step": c.step, "model": c.model, "metrics": c.metrics} for c in checkpoints]
    code, message = job.error
    hint = _hint(code, message) if (code or message) else None
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


def _checkpoints(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    from foundry_tune._core.checkpoints import resolve_metric
    from foundry_tune.errors import CheckpointMetricError

    checkpoints = ft.jobs.get(args.job_id).checkpoints()
    try:
        best = checkpoints.best(args.metric) if checkpoints else None
        why = None
    except CheckpointMetricError as exc:
        best, why = None, str(exc)
    if args.json:
        out.write(json.dumps({**checkpoints.to_dict(), "metric": args.metric,
                              "best": best.to_dict() if best else None}, indent=2) + "\n")
        return _OK
    out.write(checkpoints.to_text() + "\n")
    if best is not None:
        key = resolve_metric(checkpoints, args.metric) or args.metric
        out.write(f"best by {key}: step {best.step} ({key} {best.metrics[key]:.4f}): {best.model}\n")
    elif why is not None and checkpoints:
        out.write(f"no best by {args.metric}: {why}\n")
    return _OK


def _watch_handler(args: argparse.Namespace) -> int:
    args.job_ids = list(dict.fromkeys(args.job_ids))  # an id given twice is one job
    if len(args.job_ids) > 1 and args.max_cost is not None:
        return usage_error(
            "jobs", "--max-cost watches one job: give one job id (a cap per job: run "
                    "'foundry-tune jobs watch ID --max-cost USD' for each reinforcement job)", args)
    return run("jobs", lambda: connect(), _watch, args)  # noqa: PLW0108 - late-bound for tests


def _watch(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    if len(args.job_ids) > 1:
        return _watch_many(ft, args, out)
    job = ft.jobs.get(args.job_ids[0])
    if args.json:
        return _wait_json(job, args, out)
    return _follow(job, args, out)


def _watch_many(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    """Wait for several jobs with one listing per look: a line per status change per job, then a
    table (or a JSON list); exit 0 only when every job succeeded. A job that disappeared while
    watched is shown with the status ``gone`` and a line saying so (exit 1)."""
    from foundry_tune._core.watch_many import GONE, GONE_WHY, StatusLines

    quiet = args.json or (not args.plain and progress_from_env() == "off")
    lines = StatusLines()
    noted: list[bool] = []

    def show(jobs: list[Job]) -> None:
        if not noted:
            noted.append(True)
            _note_unwatched_caps(jobs)
        if not quiet:
            for line in lines.changes([(job.id, job.status.value, job.error[0]) for job in jobs]):
                out.write(line + "\n")
            out.flush()

    gone: set[str] = set()
    try:
        jobs = ft.jobs.wait_all(args.job_ids, timeout=args.timeout, progress=show)
    except JobNotFoundError as exc:  # the others ended; these disappeared while watched
        jobs, gone = exc.jobs, set(exc.job_ids)
    except WaitTimeoutError as exc:
        if args.json:
            raise  # one JSON error on stderr, as for one job
        out.write(f"{exc}\n")
        return _FAILED
    except KeyboardInterrupt:
        return _INTERRUPTED
    all_succeeded = not gone and all(job.status is JobStatus.SUCCEEDED for job in jobs)
    if args.json:
        out.write(json.dumps([_summary(job) | {"hint": _hint(*job.error)}
                              | ({"status": GONE, "gone": GONE_WHY} if job.id in gone else {})
                              for job in jobs], indent=2) + "\n")
        return _OK if all_succeeded else _FAILED
    rows = [["ID", "STATUS", "FINE-TUNED MODEL", "ERROR"]]
    for job in jobs:
        code, message = job.error
        error = f"[{code}] {message}" if (code or message) else "-"
        status = GONE if job.id in gone else job.status.value
        rows.append([job.id, status, job.fine_tuned_model or "-", error])
    out.write("\n" + columns(rows))
    for job_id in dict.fromkeys(job.id for job in jobs if job.id in gone):
        out.write(f"{job_id}: gone: {GONE_WHY}\n")
    for job in jobs:
        hint = _hint(*job.error) if any(job.error) else None
        if hint:
            out.write(f"{job.id}: hint: {hint}\n")
    return _OK if all_succeeded else _FAILED


def _note_unwatched_caps(jobs: list[Job]) -> None:
    """Say on stderr which live reinforcement jobs have a recorded spend cap that a watch of
    several jobs does not enforce (never dropped silently)."""
    for job in jobs:
        cap = _watched_cap(job, job.max_cost)
        if cap is not None and not job.status.is_terminal:
            sys.stderr.write(f"foundry-tune jobs: note: max_cost ${cap:,.2f} of reinforcement job {job.id} "
                             "is watched only when the job is watched alone: run 'foundry-tune jobs "
                             f"watch {job.id}' to pause it there\n")


def _wait_json(job: Job, args: argparse.Namespace, out: TextIO) -> int:
    """Wait for ``job`` without progress; print it as JSON (a spend cap: the error on stderr)."""
    try:
        job.wait(timeout=args.timeout, progress=False, raise_on_failure=False,
                 max_cost=getattr(args, "max_cost", None))
    except SpendLimitReachedError as exc:
        return _spend_limit(job, exc, args)
    out.write(json.dumps(_summary(job) | {"hint": _hint(*job.error)}, indent=2) + "\n")
    return _OK if job.status is JobStatus.SUCCEEDED else _FAILED


def _spend_limit(job: Job, exc: SpendLimitReachedError, args: argparse.Namespace) -> int:
    """Report a spend cap reached while waiting, with what to do as ``foundry-tune`` commands."""
    from foundry_tune._core.spend import cap_cli_hint
    from foundry_tune.cli._connection import report_error

    paused = job.status in (JobStatus.PAUSING, JobStatus.PAUSED)
    hint = cap_cli_hint(job.id, service=exc.by == "service", paused=paused)
    details = {"job_id": job.id, "by": exc.by, "cap": exc.cap, "accrued": exc.accrued, "paused": paused}
    report_error("jobs", exc.message, as_json=bool(getattr(args, "json", False)),
                 kind=type(exc).__name__, hint=hint, details=details)
    return _FAILED


def _follow(job: Job, args: argparse.Namespace, out: TextIO) -> int:
    """Wait for ``job`` with progress on ``out``; the exit code says how it ended."""
    try:
        job.wait(timeout=args.timeout, progress="plain" if args.plain else "auto", stream=out,
                 max_cost=getattr(args, "max_cost", None))
    except SpendLimitReachedError as exc:
        return _spend_limit(job, exc, args)
    except SafetyCheckFailedError as exc:  # one line: which check, the harm categories, what to do
        from foundry_tune._core.safety import SafetyFinding, safety_hint, safety_line

        finding = SafetyFinding(exc.kind, exc.categories)  # the hint names the CLI way to screen
        out.write(f"{safety_line(job.id, finding)}. hint: {safety_hint(finding, cli=True)}\n")
        return _FAILED
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


# -- jobs create -----------------------------------------------------------------------------------



def _whole_or_auto(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {text!r}") from None


def _number_or_auto(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _usd(text: str) -> float:
    from foundry_tune._core.start_checks import check_max_cost
    from foundry_tune.errors import InvalidParameterError

    try:
        cap = check_max_cost(float(text))
    except (ValueError, InvalidParameterError):
        cap = None
    if cap is None:
        raise argparse.ArgumentTypeError(f"expected a number of USD >= 0, got {text!r}")
    return cap


def _register_create(sub: Any) -> None:
    p = sub.add_parser(
        "create",
        help="start a fine-tuning job from flags or a job file (once: a repeat returns the same job)",
        description=(
            "Validate the data, upload each file once and create the job once, as "
            "ft.fine_tune(...).start() does: running the same command twice returns the first job "
            "(matched by fingerprint) instead of starting and billing a second one. The job is "
            "described by --file JOB.yaml (the Azure Developer CLI fine-tuning extension's shape: "
            "model, training_file, validation_file, method: {type, <type>: {hyperparameters}}, suffix, "
            "seed, metadata, extra_body: {trainingType}; relative paths are read from the job file's "
            "folder), by flags, or both: flags override the file. --dry-run prints what would happen "
            "and the cost estimate, and uploads and starts nothing. Exit codes: 0 started (or found), "
            "1 failure (invalid data, service error, a --wait that ends in failure), 2 usage error "
            "(a bad flag or job file: nothing is uploaded)."
        ),
    )
    p.add_argument("--file", "-f", type=Path, metavar="JOB.yaml", help="a YAML job file")
    p.add_argument("--model", help="base model, e.g. gpt-4.1-mini")
    p.add_argument("--training-file", metavar="PATH|FILE_ID",
                   help="training data: a JSONL path or an uploaded file id")
    p.add_argument("--validation-file", metavar="PATH|FILE_ID", help="validation data (required for rft)")
    p.add_argument("--method", type=str.lower, choices=sorted(METHOD_NAMES),
                   help="sft/supervised (default), dpo, or rft/reinforcement (needs --grader)")
    hyper = p.add_argument_group("hyperparameters ('auto', the default, lets the service choose)")
    hyper.add_argument("--epochs", type=_whole_or_auto, metavar="N", help="passes over the data: 1-50")
    hyper.add_argument("--batch-size", type=_whole_or_auto, metavar="N", help="examples per batch: 1-256")
    hyper.add_argument("--learning-rate-multiplier", type=_number_or_auto, metavar="X", help="> 0")
    hyper.add_argument("--beta", type=_number_or_auto, metavar="X", help="dpo: in (0, 2]")
    hyper.add_argument("--l2-multiplier", type=_number_or_auto, metavar="X", help="dpo (Azure): >= 0")
    hyper.add_argument("--compute-multiplier", type=_number_or_auto, metavar="X",
                       help="rft: in (0.00001, 10]")
    hyper.add_argument("--eval-interval", type=_whole_or_auto, metavar="N",
                       help="rft: steps between evaluations")
    hyper.add_argument("--eval-samples", type=_whole_or_auto, metavar="N", help="rft: samples per evaluation")
    hyper.add_argument("--reasoning-effort", choices=["default", "low", "medium", "high"], help="rft")
    p.add_argument("--grader", type=Path, metavar="GRADER.json", help="rft: the grader")
    p.add_argument("--response-format", type=Path, metavar="FORMAT.json", help="rft: a response_format")
    p.add_argument("--suffix", help="suffix of the tuned model's name (letters, digits, - and _)")
    p.add_argument("--seed", type=int, help="seed for reproducible training")
    p.add_argument("--training-type", metavar="TYPE",
                   help="Standard, GlobalStandard, DataZone or Developer (default: the service's)")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE", help="a tag (repeatable)")
    p.add_argument("--max-cost", type=_usd, metavar="USD",
                   help="refuse to start (before any upload) when the estimated training cost is over USD or "
                        "cannot be estimated; reinforcement: the cap is recorded and watched only while "
                        "something waits on the job (--wait, or 'foundry-tune jobs watch ID'), which "
                        "pauses it there (job file key max_cost)")
    p.add_argument("--force-new", action="store_true",
                   help="start a new job even if an identical one exists (bills again)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan and cost estimate; upload and start nothing")
    p.add_argument("--wait", action="store_true", help="follow the job until it ends (Ctrl-C stops watching)")
    p.add_argument("--timeout", type=float,
                   help="with --wait: stop watching after this many seconds (exit 1)")
    p.add_argument("--plain", action="store_true", help="with --wait: plain log lines instead of a live line")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_create_handler)


def _flag_source(value: str, flag: str) -> str | Path:
    from foundry_tune._core.file_import import looks_like_url
    from foundry_tune._core.spec import is_file_id

    if is_file_id(value) or looks_like_url(value):
        return value  # a URL is imported by the service (its SAS query is never shown)
    path = Path(value).expanduser()
    if not path.is_file():
        raise JobFileError(f"{flag}: {'not a file' if path.exists() else 'no such file'}: {value}")
    return path


def _flag_json(path: Path, flag: str) -> Path:
    if not path.is_file():
        raise JobFileError(f"{flag}: {'not a file' if path.exists() else 'no such file'}: {path}")
    return path


def _flag_request(args: argparse.Namespace) -> JobRequest:
    """What the flags say about the job (each value remembers its flag)."""
    request = JobRequest()
    if args.model is not None:
        request.model = Setting(args.model, "--model")
    if args.training_file is not None:
        request.training = Setting(_flag_source(args.training_file, "--training-file"), "--training-file")
    if args.validation_file is not None:
        source = _flag_source(args.validation_file, "--validation-file")
        request.validation = Setting(source, "--validation-file")
    if args.method is not None:
        request.method = Setting(METHOD_NAMES[args.method], "--method")
    for name, flag in HYPERPARAMETER_FLAGS.items():
        value = getattr(args, flag.removeprefix("--").replace("-", "_"))
        if value is not None:
            request.hyperparameters[name] = Setting(value, flag)
    if args.grader is not None:
        request.grader = Setting(_flag_json(args.grader, "--grader"), "--grader")
    if args.response_format is not None:
        request.response_format = Setting(_flag_json(args.response_format, "--response-format"),
                                          "--response-format")
    for name in ("suffix", "seed"):
        if getattr(args, name) is not None:
            setattr(request, name, Setting(getattr(args, name), f"--{name}"))
    if args.training_type is not None:
        request.training_type = Setting(args.training_type, "--training-type")
    if getattr(args, "max_cost", None) is not None:
        request.max_cost = Setting(args.max_cost, "--max-cost")
    for pair in args.metadata:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise JobFileError(f"--metadata: expected KEY=VALUE, got {pair!r}")
        request.metadata[key] = Setting(value, "--metadata")
    return request


def _request(args: argparse.Namespace) -> JobRequest:
    """The job file's settings with the flags over them, checked without the service."""
    from foundry_tune._core.spec import JobSpec
    from foundry_tune.cli._jobfile import describe, load_job_file
    from foundry_tune.errors import FoundryTuneError

    flags = _flag_request(args)
    request = flags.over(load_job_file(args.file)) if args.file is not None else flags
    in_file = f" (or model: in {args.file})" if args.file is not None else ""
    if request.model is None:
        raise JobFileError(f"no model: give --model{in_file}")
    if request.training is None:
        in_file = in_file.replace("model:", "training_file:")
        raise JobFileError(f"no training data: give --training-file{in_file}")
    try:
        spec = JobSpec(request.model.value)
    except FoundryTuneError as exc:
        raise JobFileError(f"{request.model.where}: {exc}") from None
    spec = describe(spec, request)
    try:  # the model, the method and the training type fit together; reinforcement has validation data
        spec.check_static(spec.method_or_default())
    except FoundryTuneError as exc:
        raise JobFileError(str(exc)) from None
    return request


def _create_handler(args: argparse.Namespace) -> int:
    if (args.timeout is not None or args.plain) and not args.wait:
        return usage_error("jobs", "--timeout and --plain go with --wait", args)
    if args.dry_run and (args.wait or args.force_new):
        return usage_error("jobs", "--dry-run starts nothing: it does not go with --wait or --force-new",
                           args)
    try:
        args.request = _request(args)
    except JobFileError as exc:
        return usage_error("jobs", str(exc), args)
    return run("jobs", lambda: connect(), _create, args)  # noqa: PLW0108 - late-bound for tests


def _create(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    from foundry_tune.cli._jobfile import describe

    request: JobRequest = args.request
    assert request.model is not None
    builder = describe(ft.fine_tune(request.model.value), request)
    if args.dry_run:
        from foundry_tune._core.start_checks import warn_if_retiring

        warn_if_retiring(request.model.value)  # what start() would warn about (shown once, on stderr)
        plan = builder.plan()
        if args.json:
            out.write(json.dumps(_plan_dict(plan), indent=2, ensure_ascii=False) + "\n")
        else:
            out.write(f"{plan}\n")
            if plan.valid:
                out.write("dry run: nothing was uploaded or started; run it without --dry-run to start\n")
            else:
                out.write("the data would not train: see 'foundry-tune validate' for every problem\n")
        return _OK if plan.valid else _FAILED

    quiet = args.json or progress_from_env() == "off"  # the step lines are progress output too

    def say(line: str) -> None:
        if not quiet:
            out.write(line.replace("start(force_new=True)", "--force-new") + "\n")
            out.flush()

    cap = request.max_cost.value if request.max_cost is not None else None
    job = builder.start(force_new=args.force_new, on_progress=say, max_cost=cap)
    watched_cap = _watched_cap(job, cap)
    if watched_cap is not None and not args.wait:
        # Never dropped silently: a reinforcement cap is enforced only by something that waits.
        sys.stderr.write(f"foundry-tune jobs: note: max_cost ${watched_cap:,.2f} of reinforcement job "
                         f"{job.id} is watched only while something waits on it: run 'foundry-tune jobs "
                         f"watch {job.id}' (it uses the recorded cap) to pause the job there; until then "
                         "it trains and bills with no cap but the service's $5,000\n")
    if args.json:
        if args.wait:
            try:
                job.wait(timeout=args.timeout, progress=False, raise_on_failure=False)
            except SpendLimitReachedError as exc:
                return _spend_limit(job, exc, args)
        summary = _summary(job)
        summary["reused"] = job.reused
        summary["max_cost"] = job.max_cost
        code, message = job.error
        if code or message:
            summary["hint"] = _hint(code, message)
        out.write(json.dumps(summary, indent=2) + "\n")
        return _OK if not args.wait or job.status is JobStatus.SUCCEEDED else _FAILED
    if not args.wait:
        out.write(f"follow it: foundry-tune jobs watch {job.id}\n")
        return _OK
    return _follow(job, args, out)


def _watched_cap(job: Job, cap: float | None) -> float | None:
    """``cap`` when it is a reinforcement job's spend cap (watched by a wait), else ``None``."""
    from foundry_tune._method_kind import MethodKind

    method = job.method
    return cap if cap is not None and method is not None and method.kind is MethodKind.REINFORCEMENT else None


def _plan_dict(plan: Plan) -> dict[str, Any]:
    """The plan as JSON (an endpoint grader's keys masked, as ``str(plan)`` does)."""
    from foundry_tune._core.redact import redact_json

    return {
        "model": plan.model,
        "method": redact_json(plan.method),
        "training_type": plan.training_type.value if plan.training_type is not None else None,
        "suffix": plan.suffix,
        "seed": plan.seed,
        "metadata": plan.metadata,
        "fingerprint": plan.fingerprint,
        "valid": plan.valid,
        "creates_job": plan.creates_job,
        "existing_job_id": plan.existing_job_id,
        "checks_grader": plan.checks_grader,
        "files": [dataclasses.asdict(f) for f in plan.files],
        "validation": [report.to_dict() for report in plan.reports],
        "estimate": plan.estimate.to_dict() if plan.estimate is not None else None,
    }
