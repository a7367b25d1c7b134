"""``foundry-tune doctor --record FILE | --compare FILE``: record the shapes of a real project's
answers (read-only, nothing that names the project), or compare a record with the emulator."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from foundry_tune.cli._connection import EXIT_FAILED, EXIT_OK, report_error, run, usage_error
from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``doctor`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="record the shapes of your project's answers, or compare a record with the emulator",
        description=(
            "--record FILE makes read-only calls on the project in AZURE_AI_PROJECT_ENDPOINT (list files, "
            "list jobs, one job, its events and checkpoints, list deployments, one deployment) and writes "
            "their shapes: keys, value types and enum values such as status, with every id, name, endpoint, "
            "number and text replaced by a placeholder. --compare FILE makes the same calls on the emulator "
            "(embedded, or --endpoint of a running one) and prints what differs. Exit codes: 0 same, "
            "1 different (or a failure), 2 usage error."
        ),
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", type=Path, metavar="FILE", help="write a record of this project's answers")
    mode.add_argument("--compare", type=Path, metavar="FILE", help="compare a record with the emulator")
    parser.add_argument("--job", metavar="JOB_ID", help="record this job (default: the newest succeeded one)")
    parser.add_argument("--deployment", metavar="NAME",
                        help="record this deployment (default: the one serving the job's model)")
    parser.add_argument("--endpoint", metavar="URL",
                        help="with --compare: the project endpoint of a running emulator "
                             "(default: start an embedded one)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="time bound of the calls, retries included (default 120)")
    parser.add_argument("--json", action="store_true", help="with --compare: print the differences as JSON")
    parser.set_defaults(handler=_run, parser=parser)


def connect(timeout: float) -> Foundry:
    """The connection ``--record`` uses: ``Foundry.from_env()`` with the doctor's time bound."""
    from foundry_tune.client import Foundry, RetryPolicy

    return Foundry.from_env(retry=RetryPolicy(total_timeout=timeout), timeout=min(timeout, 60.0))


def connect_emulator(endpoint: str | None, timeout: float) -> Foundry:
    """The emulator ``--compare`` runs against: a running one at ``endpoint`` (ARM settings from the
    environment; the ARM endpoint is the emulator's root unless it is on loopback too), else an
    embedded one."""
    from foundry_tune.client import Foundry, RetryPolicy

    retry = RetryPolicy(total_timeout=timeout)
    if endpoint is None:
        return Foundry.emulator(retry=retry, job_duration=2.0, deployment_provision_delay=0.2,
                                deployment_ready_delay=0.0)
    env = dict(os.environ)
    env["AZURE_AI_PROJECT_ENDPOINT"] = endpoint
    parts = urlsplit(endpoint)
    if _loopback(endpoint) and not _loopback(env.get("AZURE_ARM_ENDPOINT") or ""):
        env["AZURE_ARM_ENDPOINT"] = f"{parts.scheme}://{parts.netloc}"  # the emulator serves ARM too
    return Foundry.from_env(env, retry=retry, timeout=min(timeout, 60.0))


def _run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.timeout <= 0:
        if not args.json:
            parser.print_usage(sys.stderr)
        return usage_error("doctor", "--timeout must be > 0", args)
    if args.record is not None:
        if args.endpoint is not None or args.json:
            return usage_error("doctor", "--endpoint and --json go with --compare", args)
        if not args.record.parent.is_dir():
            return usage_error("doctor", f"--record: no folder {args.record.parent}", args)
        from foundry_tune.doctor import quiet_wire_logs

        with quiet_wire_logs():  # the HTTP libraries log URLs, which name the project
            return run("doctor", lambda: connect(args.timeout), _record, args)
    if args.job is not None or args.deployment is not None:
        return usage_error("doctor", "--job and --deployment go with --record", args)
    from foundry_tune.doctor import load_record

    try:
        args.recorded = load_record(args.compare.read_text(encoding="utf-8"), source=str(args.compare))
    except OSError as exc:
        return usage_error("doctor", f"cannot read {args.compare}: {exc.strerror}", args)
    except FoundryTuneError as exc:
        return usage_error("doctor", str(exc), args)
    return run("doctor", lambda: connect_emulator(args.endpoint, args.timeout), _compare, args)


def _record(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    from foundry_tune.doctor import record

    document = record(ft, job_id=args.job, deployment=args.deployment, time_bound=args.timeout)
    path: Path = args.record
    try:
        path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        report_error("doctor", f"cannot write {path}: {exc.strerror}", as_json=bool(args.json),
                     kind="OSError")
        return EXIT_FAILED
    for call in document["calls"]:
        outcome = f"skipped: {call['skipped']}" if "skipped" in call else f"status {call['status']}"
        out.write(f"  {call['name']:<17} {call['method']} {call['path']}  {outcome}\n")
    out.write(f"wrote {path}: the shapes of {len(document['calls'])} answers, without ids, names, endpoints "
              "or text. Read it, then attach it to an issue, or run 'foundry-tune doctor --compare "
              f"{path}'.\n")
    return EXIT_OK


def _compare(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    from foundry_tune.doctor import compare, format_comparison, seed_emulator

    seeding = ft.is_emulator or _loopback(ft.endpoint)
    if seeding:
        seed_emulator(ft, timeout=args.timeout,
                      progress=None if args.json else (lambda line: out.write(f"emulator: {line}\n")))
    current, differences = compare(args.recorded, ft, time_bound=args.timeout)
    against = "the embedded emulator" if ft.is_emulator else "the emulator at --endpoint"
    if args.json:
        out.write(json.dumps({"same": not differences, "differences": [d.as_dict() for d in differences]},
                             indent=2) + "\n")
    else:
        out.write(format_comparison(args.recorded, current, differences, against=against))
    return EXIT_OK if not differences else EXIT_FAILED


def _loopback(endpoint: str) -> bool:
    from foundry_tune._core.settings import is_loopback

    return is_loopback(urlsplit(endpoint).hostname or "")
