"""``foundry-tune audit``: tuned models, deployments and files, with expiry, hourly cost and what is
safe to delete (a thin command over ``ft.audit()``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune.cli._connection import EXIT_OK, connect_from_env, run
from foundry_tune.cli._now import add_now_option, checking_now

if TYPE_CHECKING:
    from foundry_tune.client import Foundry

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``audit`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit",
        help="what the resource holds that bills or counts against a limit, and what is safe to delete",
        description=("Tuned models (with retirement dates), deployments (with expiry, inactivity deletion "
                     "and hourly cost) and uploaded files (with the jobs that use them) on the resource of "
                     "AZURE_AI_PROJECT_ENDPOINT, and what is safe to delete with the command that deletes "
                     "it. Read-only. Deployments need AZURE_SUBSCRIPTION_ID and AZURE_RESOURCE_GROUP; "
                     "without them the report says they were not listed."),
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_now_option(parser, "ages, expiry and hours up")
    parser.set_defaults(handler=checking_now(
        "audit", lambda args: run("audit", lambda: connect(), _audit, args)))  # noqa: PLW0108


def connect() -> Foundry:
    """The connection the command uses (tests replace it)."""
    return connect_from_env()


def _audit(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    report = ft.audit(now=args.now_at)
    out.write(report.to_json() + "\n" if args.json else str(report))
    return EXIT_OK
