"""``foundry-tune files list|delete|cleanup``: thin commands over ``ft.files``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune._core.lifecycle import MIN_FILE_AGE, parse_age
from foundry_tune._table import columns
from foundry_tune.cli._connection import EXIT_OK, EXIT_USAGE, Command, connect_from_env, run, usage_error
from foundry_tune.cli._now import add_now_option, checking_now

if TYPE_CHECKING:
    from foundry_tune._core.audit import UploadedFile
    from foundry_tune.client import Foundry

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``files`` command and its subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "files",
        help="list, delete and clean up uploaded training files",
        description=("Training files on the resource of AZURE_AI_PROJECT_ENDPOINT. foundry-tune's own "
                     "uploads and URL imports are recognised by their names (<name>.sha256-<32 hex>.jsonl, "
                     "<name>.import-<32 hex>.jsonl); a file a job that has not ended uses is never "
                     "deleted."),
    )
    sub = parser.add_subparsers(dest="files_command", metavar="SUBCOMMAND")

    p = sub.add_parser("list", help="files foundry-tune uploaded, with the jobs that use them")
    p.add_argument("--all", action="store_true",
                   help="every file on the resource, whatever its name or purpose")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_list))

    p = sub.add_parser("delete", help="delete one file unless a live job uses it")
    p.add_argument("file_id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_handler(_delete))

    p = sub.add_parser("cleanup", help="find (and with --yes delete) foundry-tune's files no live job uses")
    p.add_argument("--older-than", metavar="AGE", default=None,
                   help="only files older than AGE, e.g. 7d, 12h, 30m (default 1h: a younger file may "
                        "belong to a start that has not created its job yet)")
    p.add_argument("--yes", action="store_true", help="delete them (without it: a dry run that lists them)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_now_option(p, "the files' ages")
    p.set_defaults(handler=checking_now("files", _handler(_cleanup)))

    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def connect() -> Foundry:
    """The connection the commands use (tests replace it)."""
    return connect_from_env()


def _handler(command: Command) -> Callable[[argparse.Namespace], int]:
    return lambda args: run("files", lambda: connect(), command, args)  # noqa: PLW0108 - late-bound for tests


def _when(f: UploadedFile) -> str:
    return "-" if f.created_at is None else f.created_at.strftime("%Y-%m-%d %H:%M")


def _list(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    files = ft.files.list(all=args.all)
    if args.json:
        out.write(json.dumps([f.to_dict() for f in files], indent=2) + "\n")
    elif not files:
        out.write("no files\n" if args.all else "no files uploaded by foundry-tune\n")
    else:
        rows = [["FILE", "NAME", "BYTES", "CREATED", "PURPOSE", "STATUS", "JOBS", "LIVE"]]
        rows += [[f.id, f.filename, "-" if f.bytes is None else f"{f.bytes:,}", _when(f), f.purpose or "-",
                  f.status or "-", ", ".join(f.used_by) or "-", ", ".join(f.live_jobs) or "-"] for f in files]
        out.write(columns(rows))
    return EXIT_OK


def _delete(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    ft.files.delete(args.file_id)
    if args.json:
        out.write(json.dumps({"id": args.file_id, "result": "deleted"}) + "\n")
    else:
        out.write(f"file {args.file_id} deleted (or already gone)\n")
    return EXIT_OK


def _cleanup(ft: Foundry, args: argparse.Namespace, out: TextIO) -> int:
    if args.older_than is None:
        older = MIN_FILE_AGE
    else:
        try:
            older = parse_age(args.older_than)
        except ValueError as exc:
            return usage_error("files", f"--older-than: {exc}", args)
    report = ft.files.cleanup(older_than=older, dry_run=not args.yes, now=args.now_at)
    if args.json:
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        out.write(str(report))
    return EXIT_OK
