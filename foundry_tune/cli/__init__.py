"""The ``foundry-tune`` command line: thin commands over the public API.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module's
handler returns the process exit code (0 ok, 1 failure, 2 usage error, 130 Ctrl-C).

What every command shares is done here, in [`main()`][main]: usage errors (``--json`` makes them one
JSON object on stderr, see ``foundry_tune.cli._connection``), foundry-tune's Python warnings (such
as the hosting-cost notice) shown as one plain line on stderr instead of a warning with a source
path, and a missing optional extra reported as one line naming the extra to install.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import contextvars
import importlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from foundry_tune._core.settings import progress_from_env
from foundry_tune._version import __version__
from foundry_tune.cli._connection import EXIT_FAILED, EXIT_USAGE, error_json, report_error, usage_error
from foundry_tune.errors import ConfigurationError

__all__ = ["console", "main"]

# Subcommand modules, imported lazily so that `foundry-tune validate` never loads the emulator.
_COMMANDS = {
    "validate": "foundry_tune.cli._validate",
    "emulator": "foundry_tune.cli._emulator",
    "demo": "foundry_tune.cli._demo",
    "jobs": "foundry_tune.cli._jobs",
    "deploy": "foundry_tune.cli._deploy",
    "eval": "foundry_tune.cli._eval",
    "doctor": "foundry_tune.cli._doctor",
    "files": "foundry_tune.cli._files",
    "audit": "foundry_tune.cli._audit",
    "spend": "foundry_tune.cli._spend",
}

_OPTIONAL_EXTRAS: dict[str, str] = {
    "starlette": "emulator",
    "uvicorn": "emulator",
    "cryptography": "emulator",
    "matplotlib": "plot",
    "pandas": "pandas",
    "datasets": "hf",
    "jsonschema": "eval",
    "aiohttp": "aio",
}
"""The top-level packages of foundry-tune's optional extras (``pip install 'foundry-tune[extra]'``)."""

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_json_errors: contextvars.ContextVar[bool] = contextvars.ContextVar("foundry_tune_cli_json", default=False)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one JSON object on stderr when ``--json`` was given
    (exit code 2 either way)."""

    def error(self, message: str) -> NoReturn:
        if _json_errors.get():
            sys.stderr.write(error_json("UsageError", f"{self.prog}: {message}",
                                        f"see '{self.prog} --help'") + "\n")
            self.exit(EXIT_USAGE)
        super().error(message)


def _build_parser(only: str | None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="foundry-tune",
        description="Fine-tuning on Microsoft Foundry: validate, train, watch, deploy, compare.",
    )
    parser.add_argument("--version", action="version", version=f"foundry-tune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in _COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"see 'foundry-tune {name} --help'")
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def _missing_extra(exc: ImportError) -> str | None:
    """The extra to install when ``exc`` is the import of an optional package failing, else None."""
    name = (exc.name or "").split(".")[0]
    return _OPTIONAL_EXTRAS.get(name)


def _plain_warnings(prog: str, as_json: bool, stream: TextIO) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints foundry-tune's own warnings as one line (or one JSON
    object) and leaves any other library's to Python."""
    previous = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        ours = category.__module__.startswith("foundry_tune") or str(filename).startswith(_PACKAGE_DIR)
        if not ours:
            previous(message, category, filename, lineno, file, line)
            return
        text = " ".join(str(message).split())
        if as_json:
            stream.write(json.dumps({"warning": {"type": category.__name__, "message": text}},
                                    ensure_ascii=False) + "\n")
        else:
            label = "note" if category.__name__ == "BillingWarning" else "warning"
            stream.write(f"foundry-tune {prog}: {label}: {text}\n")

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``foundry-tune`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = _command(args_list)
    token = _json_errors.set("--json" in args_list)
    try:
        parser = _build_parser(command if command in _COMMANDS else None)
        args = parser.parse_args(args_list)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return EXIT_USAGE
        return _run(handler, args, command or "")
    finally:
        _json_errors.reset(token)


def console() -> NoReturn:
    """The ``foundry-tune`` console script: [`main()`][main], then the process exits.

    After ``validate``, it exits without the interpreter's teardown, which would free one by one
    the objects of the pass and the tokenizer's tables (about 50 ms, a twentieth of validating
    90 MB): exit handlers run, the logs and the output are flushed, then the process ends, as
    mypy ends its runs."""
    code = main()
    if _command(sys.argv[1:]) == "validate":
        _exit_at_once(code)
    sys.exit(code)


def _command(args: Sequence[str]) -> str | None:
    """The command named by the arguments: the first that is not an option."""
    return next((a for a in args if not a.startswith("-")), None)


def _exit_at_once(code: int) -> NoReturn:
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone away (| head), a stream closed
            stream.flush()
    os._exit(code)


def _run(handler: Callable[[argparse.Namespace], int], args: Any, prog: str) -> int:
    as_json = bool(getattr(args, "json", False))
    try:  # a bad FOUNDRY_TUNE_PROGRESS is a usage error before any command uploads or starts anything
        progress_from_env()
    except ConfigurationError as exc:
        return usage_error(prog, str(exc), args)
    with warnings.catch_warnings():
        warnings.showwarning = _plain_warnings(prog, as_json, sys.stderr)
        try:
            code: int = handler(args)
        except ImportError as exc:
            extra = _missing_extra(exc)
            if extra is None:
                raise
            install = f"pip install 'foundry-tune[{extra}]'"
            report_error(prog, f"this needs the optional package {exc.name!r} of the {extra!r} extra: "
                         f"{install}", as_json=as_json, kind="MissingExtraError", hint=install)
            return EXIT_FAILED
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
