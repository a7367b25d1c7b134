"""``foundry-tune spend``: what is billing now and what it has cost so far (``ft.spend()``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune.cli._connection import EXIT_OK, connect_from_env, run
from foundry_tune.cli._now import add_now_option, checking_now

if TYPE_CHECKING:
    from foundry_tune.client import Foundry

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``spend`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "spend",
        help="what is billing now (deployments by the hour, running jobs) and what it has cost so far",
        description=(
            "Live deployments of fine-tuned models with their hourly rate and hours up, live fine-tuning "
            "jobs with their estimate (reinforcement jobs: training hours x hourly rate so far), and the "
            "totals, at list prices. Project from AZURE_AI_PROJECT_ENDPOINT; deployments are listed "
            "through Azure Resource Manager when AZURE_SUBSCRIPTION_ID and AZURE_RESOURCE_GROUP are set "
            "(else the report says they were not listed). Inference and grader tokens are not counted."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_now_option(parser, "hours up and training time")
    parser.set_defaults(handler=checking_now(
        "spend", lambda args: run("spend", lambda: connect(), _spend, args)))  # noqa: PLW0108


def connect() -> Foundry:
    """The connection the command uses (tests replace it)."""
    return connect_from_env()


def _spend(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    report = ft.spend(now=args.now_at)
    if args.json:
        out.write(report.to_json() + "\n")
        return EXIT_OK
    out.write(report.to_text())
    return EXIT_OK
