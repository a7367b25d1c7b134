"""``--now WHEN`` for the commands that measure ages and hours up (``spend``, ``audit``, ``files
cleanup``): the moment they measure from, e.g. the emulator's clock after ``Emulator.advance()``."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable

from foundry_tune._core.lifecycle import parse_time
from foundry_tune._core.spend import check_now
from foundry_tune.cli._connection import usage_error
from foundry_tune.errors import InvalidParameterError

__all__ = ["add_now_option", "checking_now", "parse_now"]

Handler = Callable[[argparse.Namespace], int]


def parse_now(text: str) -> dt.datetime:
    """A ``--now WHEN`` of the command line as an aware UTC datetime: ISO 8601 (naive meaning UTC,
    e.g. ``2026-03-01T12:00:00Z``) or Unix seconds (what ``Emulator.now()`` returns), between the
    years 2000 and 2200 as ``ft.spend(now=...)`` takes; else
    [`InvalidParameterError`][InvalidParameterError]."""
    stripped = text.strip() if isinstance(text, str) else ""
    try:
        seconds: float | None = float(stripped)
    except ValueError:
        seconds = None
    parsed = parse_time(stripped) if seconds is None else parse_time(seconds)
    if parsed is None:
        raise InvalidParameterError(f"not a time: {text!r:.60} (use ISO 8601, e.g. 2026-03-01T12:00:00Z, "
                                    "or Unix seconds)")
    try:
        check_now(parsed)
    except InvalidParameterError:
        raise InvalidParameterError(f"{text!r:.60} is not between the years 2000 and 2200") from None
    return parsed


def add_now_option(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--now WHEN`` to ``parser``; ``what`` says what is measured from it."""
    parser.add_argument(
        "--now", metavar="WHEN", default=None,
        help=f"measure {what} from WHEN instead of the current time: ISO 8601 (e.g. 2026-03-01T12:00:00Z; "
             "no zone means UTC) or Unix seconds, such as the emulator's clock after Emulator.advance() "
             "(Emulator.now(), or 'now' of GET /_emulator/clock)")


def checking_now(prog: str, handler: Handler) -> Handler:
    """``handler`` run with ``args.now_at`` (the parsed ``--now``, or None), after a usage error
    (exit 2, before any connection) for a ``--now`` that is not a time."""

    def run(args: argparse.Namespace) -> int:
        args.now_at = None
        if args.now is not None:
            try:
                args.now_at = parse_now(args.now)
            except InvalidParameterError as exc:
                return usage_error(prog, f"--now: {exc}", args)
        return handler(args)

    return run
