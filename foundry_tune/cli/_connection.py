"""How the network commands connect, and how every command reports an error.

An error is one message on stderr, ``foundry-tune <command>: error: <message>`` (then ``hint: ...``
when there is one). With ``--json`` it is one JSON object on one line of stderr instead,
``{"error": {"type": ..., "message": ..., "hint": ...}}``: stdout only ever carries a result. The
exit code is the same either way: 1 for a failure, 2 for a usage error, 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "connect_from_env",
    "error_json",
    "failure",
    "report_error",
    "run",
    "usage_error",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

Command = Callable[["Foundry", argparse.Namespace, TextIO], int]


def connect_from_env(*, require_deployments: bool = False) -> Foundry:
    """``Foundry.from_env()``: Azure with ``DefaultAzureCredential``, or a running emulator when
    the endpoint is on loopback (see ``foundry-tune emulator``)."""
    from foundry_tune.client import Foundry

    return Foundry.from_env(require_deployments=require_deployments)


def error_json(
    kind: str, message: str, hint: str | None = None, details: dict[str, Any] | None = None
) -> str:
    """The one-line JSON form of an error (what ``--json`` prints on stderr); ``details`` (a safety
    failure's ``kind`` and ``categories``, for one) are added to the error object."""
    error = {"type": kind, "message": message, "hint": hint, **(details or {})}
    return json.dumps({"error": error}, ensure_ascii=False)


def report_error(
    prog: str,
    message: str,
    *,
    as_json: bool,
    kind: str = "Error",
    hint: str | None = None,
    stream: TextIO | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write one error to stderr: a ``foundry-tune <prog>: error:`` line (and ``hint:``), or with
    ``as_json`` one JSON object ([`error_json()`][error_json])."""
    out = sys.stderr if stream is None else stream
    if as_json:
        out.write(error_json(kind, message, hint, details) + "\n")
        return
    out.write(f"foundry-tune {prog}: error: {message}\n")
    if hint and hint not in message:
        out.write(f"hint: {hint}\n")


def usage_error(prog: str, message: str, args: argparse.Namespace | None = None) -> int:
    """Report a usage error (``--json`` aware) and return exit code 2."""
    report_error(prog, message, as_json=bool(getattr(args, "json", False)), kind="UsageError")
    return EXIT_USAGE


def failure(prog: str, exc: FoundryTuneError, args: argparse.Namespace | None = None) -> int:
    """Report a library error (``--json`` aware, typed by its class) and return exit code 1."""
    details = {name: getattr(exc, name) for name in ("kind", "categories") if hasattr(exc, name)}
    report_error(prog, str(exc), as_json=bool(getattr(args, "json", False)), kind=type(exc).__name__,
                 hint=getattr(exc, "hint", None), details=details)
    return EXIT_FAILED


def run(
    prog: str,
    connect: Callable[[], AbstractContextManager[Foundry]],
    command: Command,
    args: argparse.Namespace,
) -> int:
    """Run ``command`` on a fresh connection; errors become one message on stderr and exit code 1."""
    try:
        with connect() as ft:
            return command(ft, args, sys.stdout)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except FoundryTuneError as exc:
        return failure(prog, exc, args)
