"""``foundry-tune emulator``: run the local Foundry emulator in the foreground.

It prints one JSON line with the endpoints once it listens, then serves until Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from foundry_tune.emulator._options import add_arguments, check

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``emulator`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulator",
        help="run the local Foundry emulator (files, fine-tuning, deployments, inference) over HTTP",
        description=(
            "Serve the Foundry fine-tuning wire contract locally, so the unmodified openai and "
            "azure-ai-projects clients work without Azure. Prints one JSON line with "
            "project_endpoint, openai_base_url, arm_endpoint, subscription_id, resource_group and "
            "account_name once listening. Needs the 'emulator' extra: pip install 'foundry-tune[emulator]'."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(handler=_run, parser=parser)


def _run(args: argparse.Namespace) -> int:
    check(args.parser, args)
    try:
        from foundry_tune.emulator._server import run
    except ModuleNotFoundError as exc:
        sys.stderr.write(
            f"foundry-tune emulator needs the optional package {exc.name!r}: "
            "pip install 'foundry-tune[emulator]'\n"
        )
        return 1
    return run(args)
