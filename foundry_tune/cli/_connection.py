"""How the network commands connect, and how they turn library errors into exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TextIO

from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "Command", "connect_from_env", "run"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

Command = Callable[["Foundry", argparse.Namespace, TextIO], int]


def connect_from_env(*, require_deployments: bool = False) -> Foundry:
    """``Foundry.from_env()``: Azure with ``DefaultAzureCredential``, or a running emulator when
    the endpoint is on loopback (see ``foundry-tune emulator``)."""
    from foundry_tune.client import Foundry

    return Foundry.from_env(require_deployments=require_deployments)


def run(
    prog: str,
    connect: Callable[[], AbstractContextManager[Foundry]],
    command: Command,
    args: argparse.Namespace,
) -> int:
    """Run ``command`` on a fresh connection; errors become one line on stderr and exit code 1."""
    try:
        with connect() as ft:
            return command(ft, args, sys.stdout)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except FoundryTuneError as exc:
        print(f"foundry-tune {prog}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
