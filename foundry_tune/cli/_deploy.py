"""``foundry-tune deploy create|list|show|chat|delete|cleanup``: thin commands over ``ft.deployments``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune._table import columns
from foundry_tune.cli._connection import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    connect_from_env,
    report_error,
    run,
)
from foundry_tune.errors import SafetyCheckFailedError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry
    from foundry_tune.deployment import Deployment

__all__ = ["register"]

_OK, _FAILED, _USAGE = EXIT_OK, EXIT_FAILED, EXIT_USAGE


def register(subparsers: Any) -> None:
    """Add the ``deploy`` command and its subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "deploy",
        help="create, list, chat with, delete and clean up model deployments",
        description=(
            "Deployments on the Foundry resource of AZURE_AI_PROJECT_ENDPOINT, through Azure Resource "
            "Manager (needs AZURE_SUBSCRIPTION_ID and AZURE_RESOURCE_GROUP; DefaultAzureCredential)."
        ),
    )
    sub = parser.add_subparsers(dest="deploy_command", metavar="SUBCOMMAND")

    p = sub.add_parser("create", help="deploy a (fine-tuned) model and wait until it answers")
    p.add_argument("model", help="model id, e.g. gpt-4.1-mini-2025-04-14.ft-abc123")
    p.add_argument("--name", help="deployment name (default: derived from the model, so re-runs reuse it)")
    p.add_argument("--sku", default="GlobalStandard",
                   help="GlobalStandard (default), Standard, DataZoneStandard, or Developer "
                        "(sent as DeveloperTier: no hosting fee, 24 h)")
    p.add_argument("--capacity", type=int, help="capacity units (default 50)")
    p.add_argument("--job-id", help="record the fine-tuning job id in the deployment's tags")
    p.add_argument("--no-wait", action="store_true", help="return once ARM accepted the request")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait (default 1800)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_create))

    p = sub.add_parser("list", help="deployments on the resource")
    p.add_argument("--ours", action="store_true", help="only deployments foundry-tune created")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_list))

    p = sub.add_parser("show", help="one deployment")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_show))

    p = sub.add_parser("chat", help="send one prompt to a deployment and print the answer")
    p.add_argument("name")
    p.add_argument("prompt")
    p.add_argument("--system", help="a system message")
    p.set_defaults(handler=_handler(_chat))

    p = sub.add_parser("delete", help="delete a deployment and wait until it is gone",
                       description="Delete a deployment and wait until it is gone. A deployment that is "
                                   "already gone is reported as such, with exit code 0: there is "
                                   "nothing left to bill.")
    p.add_argument("name")
    p.add_argument("--no-wait", action="store_true", help="return once ARM accepted the delete")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_delete))

    p = sub.add_parser("cleanup", help="find (and with --yes delete) deployments foundry-tune created")
    p.add_argument("--older-than", type=float, metavar="HOURS", help="only those created more than HOURS ago")
    p.add_argument("--job-id", help="only those created for this fine-tuning job")
    p.add_argument("--yes", action="store_true", help="delete them (without it: a dry run that lists them)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_cleanup))

    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return _USAGE


def connect() -> Foundry:
    """The connection the commands use (tests replace it)."""
    return connect_from_env(require_deployments=True)


def _handler(command: Command) -> Callable[[argparse.Namespace], int]:
    return lambda args: run("deploy", lambda: connect(), command, args)  # noqa: PLW0108 - late-bound for tests


def _summary(dep: Deployment) -> dict[str, Any]:
    created = dep.info.created_at
    return {
        "name": dep.name,
        "model": dep.model,
        "sku": dep.sku,
        "capacity": dep.capacity,
        "state": dep.provisioning_state,
        "created_by_foundry_tune": dep.created_by_foundry_tune,
        "job_id": dep.job_id,
        "created_at": created.isoformat() if created else None,
        "developer_tier": dep.info.is_developer_tier,
        "expires_at": _iso(dep.info.expires_at),
        "inactivity_deletion_at": _iso(dep.info.inactivity_deletion_at),
        "lifecycle": dep.info.lifecycle_note(),
    }


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _deleted_by_azure(dep: Deployment, now: dt.datetime) -> str:
    """The table's short form of when Azure deletes the deployment by itself."""
    info = dep.info
    if info.expires_at is not None:
        return f"{info.expires_at:%Y-%m-%d %H:%M} UTC (24 h tier)"
    when = info.inactivity_deletion_at
    if when is None:
        return "-"
    if when > now:
        return f"if unused until {when:%Y-%m-%d %H:%M} UTC"
    return "after 15 days unused"


def _table(deployments: list[Deployment], out: TextIO) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    expiry = [_deleted_by_azure(dep, now) for dep in deployments]
    with_expiry = any(e != "-" for e in expiry)  # no column of dashes when nothing expires
    rows = [["NAME", "STATE", "SKU", "OURS", "JOB", "MODEL"] + (["EXPIRY"] if with_expiry else [])]
    for dep, when in zip(deployments, expiry, strict=True):
        rows.append([dep.name or "-", dep.provisioning_state or "-", dep.sku or "-",
                     "yes" if dep.created_by_foundry_tune else "-", dep.job_id or "-", dep.model or "-"]
                    + ([when] if with_expiry else []))
    out.write(columns(rows))


def _create(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    kwargs: dict[str, Any] = {"name": args.name, "sku": args.sku, "wait": not args.no_wait,
                              "timeout": args.timeout, "job_id": args.job_id}
    if args.capacity is not None:
        kwargs["capacity"] = args.capacity
    try:
        dep = ft.deployments.create(args.model, **kwargs)
    except SafetyCheckFailedError as exc:
        return _unsafe(args, exc)
    if args.json:
        out.write(json.dumps(_summary(dep), indent=2) + "\n")
    else:
        ready = "ready" if not args.no_wait else f"requested ({dep.provisioning_state})"
        out.write(f"deployment {dep.name} of {dep.model}: {ready}\n"
                  f"delete it when done: foundry-tune deploy delete {dep.name}\n")
    return _OK


def _unsafe(args: argparse.Namespace, exc: SafetyCheckFailedError) -> int:
    """A model the service refused after its safety evaluation: one line (the model, the harm
    categories, what to do); with ``--json`` one JSON error with ``kind`` and ``categories``."""
    from foundry_tune._core.safety import SafetyFinding, safety_hint

    listed = ", ".join(exc.categories) or "not named"
    line = (f"{args.model} failed the service's safety evaluation and cannot be deployed; "
            f"harm categories: {listed}")
    hint = safety_hint(SafetyFinding(exc.kind, exc.categories), cli=True)  # the CLI way, not Python's
    if args.json:
        report_error("deploy", line, as_json=True, kind=type(exc).__name__, hint=hint,
                     details={"kind": exc.kind, "categories": list(exc.categories), "job_id": exc.job_id,
                              "code": exc.code})
    else:
        report_error("deploy", f"{line}. hint: {hint}", as_json=False)
    return _FAILED


def _list(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    deployments = ft.deployments.list(created_by_foundry_tune=args.ours)
    if args.json:
        out.write(json.dumps([_summary(d) for d in deployments], indent=2) + "\n")
    elif not deployments:
        out.write("no deployments\n")
    else:
        _table(deployments, out)
    return _OK


def _show(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    summary = _summary(ft.deployments.get(args.name))
    if args.json:
        out.write(json.dumps(summary, indent=2) + "\n")
    else:
        for key, value in summary.items():
            if value is not None:
                out.write(f"{key + ':':<26}{value}\n")
    return _OK


def _chat(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    out.write(ft.deployments.get(args.name).chat(args.prompt, system=args.system) + "\n")
    return _OK


def _delete(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    gone = ft.deployments.find_info(args.name) is None
    if not gone:
        ft.deployments.delete(args.name, wait=not args.no_wait)
    if args.json:
        state = "already_gone" if gone else "deletion_requested" if args.no_wait else "deleted"
        out.write(json.dumps({"name": args.name, "result": state}) + "\n")
    elif gone:
        out.write(f"deployment {args.name} is already gone: nothing to delete\n")
    else:
        out.write(f"deployment {args.name} {'deletion requested' if args.no_wait else 'deleted'}\n")
    return _OK


def _cleanup(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    older = args.older_than * 3600 if args.older_than is not None else None
    chosen = ft.deployments.cleanup(older_than=older, job_id=args.job_id, dry_run=not args.yes)
    if args.json:
        out.write(json.dumps({"deleted": args.yes, "deployments": [_summary(d) for d in chosen]},
                             indent=2) + "\n")
        return _OK
    if not chosen:
        out.write("no deployments created by foundry-tune match\n")
        return _OK
    _table(chosen, out)
    if args.yes:
        out.write(f"deleted {len(chosen)} deployment(s)\n")
    else:
        out.write(f"dry run: {len(chosen)} deployment(s) would be deleted; add --yes to delete them\n")
    return _OK
