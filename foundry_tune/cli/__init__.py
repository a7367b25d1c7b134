"""The ``foundry-tune`` command line: thin commands over the public API.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module's
handler returns the process exit code (0 ok, 1 failure, 2 usage error).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from foundry_tune._version import __version__

__all__ = ["main"]

# Subcommand modules, imported lazily so that `foundry-tune validate` never loads the emulator.
_COMMANDS = {
    "validate": "foundry_tune.cli._validate",
    "emulator": "foundry_tune.cli._emulator",
    "demo": "foundry_tune.cli._demo",
    "jobs": "foundry_tune.cli._jobs",
    "deploy": "foundry_tune.cli._deploy",
    "eval": "foundry_tune.cli._eval",
    "doctor": "foundry_tune.cli._doctor",
}


def _build_parser(only: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``foundry-tune`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = _build_parser(command if command in _COMMANDS else None)
    args = parser.parse_args(args_list)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
