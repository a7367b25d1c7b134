"""The emulator's command-line options, shared by ``foundry-tune emulator`` and
``python -m foundry_tune.emulator`` (standard library only, so ``--help`` works without the extra)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

PARENT_PID_ENV = "FOUNDRY_TUNE_EMULATOR_PARENT_PID"
"""Set by [`Emulator`][Emulator]: the server stops when that process is gone."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every emulator option to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder for the SQLite state and blobs; reuse it to restart where you stopped "
        "(default: a temporary folder, removed on exit)",
    )
    parser.add_argument(
        "--job-duration",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="simulated seconds from job creation to success (default 20)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="share of requests (0..1) that meet an injected fault (default 0)",
    )
    parser.add_argument(
        "--fault-seed",
        type=int,
        default=0,
        metavar="N",
        help="seed that makes the injected faults reproducible (default 0)",
    )
    parser.add_argument(
        "--token",
        # From the environment by default, so that the token stays out of `ps` listings.
        default=os.environ.get("FOUNDRY_TUNE_EMULATOR_TOKEN") or None,
        metavar="T",
        help="require exactly this api-key / Bearer token (default: $FOUNDRY_TUNE_EMULATOR_TOKEN, "
        "else any non-empty one)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve https with a certificate made at start (its CA path is in the JSON line)",
    )
    parser.add_argument(
        "--deployment-ready-delay",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long a new deployment answers 404 DeploymentNotFound after Succeeded (default 2)",
    )
    parser.add_argument(
        "--deployment-provision-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long a deployment stays Creating (its ARM operation Running); a delete half (default 1)",
    )
    parser.add_argument(
        "--flavor",
        choices=("azure", "openai"),
        default="azure",
        help="answer as the recorded Azure service (default) or as the OpenAI spec describes "
        "(validating_files/queued statuses, structured metrics events)",
    )
    parser.add_argument(
        "--drop-metadata",
        action="store_true",
        help="accept a job's metadata but leave it out of every answer (no Azure recording shows it back)",
    )
    parser.add_argument(
        "--slow-seconds",
        type=float,
        default=1.5,
        metavar="SECONDS",
        help="delay of an injected slow answer (default 1.5)",
    )


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject impossible values with a usage error."""
    if not 0.0 <= args.fault_rate <= 1.0:
        parser.error("--fault-rate must be between 0 and 1")
    if args.job_duration <= 0:
        parser.error("--job-duration must be positive")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.token is not None and not args.token.strip():
        parser.error("--token must not be empty")
