"""``foundry-tune emulator``: run the local Foundry emulator in the foreground.

It prints one JSON line with the endpoints once it listens, then the ``export`` lines a second
shell needs to point ``Foundry.from_env()`` (and so every ``foundry-tune`` command) at it, then
serves until Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from foundry_tune.emulator._options import add_arguments, check

__all__ = ["environment_lines", "register"]

_TOKEN_VARIABLE = "FOUNDRY_TUNE_EMULATOR_TOKEN"  # noqa: S105 - a variable name, not a secret


def register(subparsers: Any) -> None:
    """Add the ``emulator`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulator",
        help="run the local Foundry emulator (files, fine-tuning, deployments, inference) over HTTP",
        description=(
            "Serve the Foundry fine-tuning wire contract locally, so the unmodified openai and "
            "azure-ai-projects clients work without Azure. Prints one JSON line with "
            "project_endpoint, openai_base_url, arm_endpoint, subscription_id, resource_group and "
            "account_name once listening, then the 'export' lines another shell needs to point "
            "foundry-tune at it (the token, if one is required, is never printed). Needs the "
            "'emulator' extra: pip install 'foundry-tune[emulator]'."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(handler=_run, parser=parser)


def environment_lines(info: Mapping[str, Any]) -> list[str]:
    """The shell lines that point ``Foundry.from_env()`` at the emulator described by ``info`` (its
    JSON line). A required token is named, never printed: the second shell sets it itself."""
    def reachable(url: str) -> str:
        # An emulator listening on every interface is reached on loopback (plain http is only
        # accepted there).
        for wildcard in ("//0.0.0.0:", "//[::]:"):
            url = url.replace(wildcard, "//127.0.0.1:")
        return url

    variables = {
        "AZURE_AI_PROJECT_ENDPOINT": reachable(str(info["project_endpoint"])),
        "AZURE_SUBSCRIPTION_ID": info["subscription_id"],
        "AZURE_RESOURCE_GROUP": info["resource_group"],
        "AZURE_AI_ACCOUNT_NAME": info["account_name"],
        "AZURE_ARM_ENDPOINT": reachable(str(info["arm_endpoint"])),
    }
    lines = ["# in another shell, to use this emulator with foundry-tune (Foundry.from_env()):"]
    lines += [f"export {name}={shlex.quote(str(value))}" for name, value in variables.items()]
    if info.get("ca_cert"):
        lines.append("# --tls: trust the emulator's certificate (this replaces the system CAs in that shell)")
        lines.append(f"export SSL_CERT_FILE={shlex.quote(str(info['ca_cert']))}")
    if info.get("token_required"):
        lines.append(f"# it requires the token it was started with: set {_TOKEN_VARIABLE} to it there "
                     "too (not printed here)")
    return lines


class _AfterTheJsonLine:
    """Stdout for the server: passes everything through, and once the JSON line is complete
    writes the environment lines after it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending: str | None = ""

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if self._pending is not None:
            self._pending += text
            if "\n" in self._pending:
                first = self._pending.split("\n", 1)[0]
                self._pending = None
                try:
                    info = json.loads(first)
                except ValueError:
                    return written
                if isinstance(info, dict) and "project_endpoint" in info:
                    self._stream.write("".join(line + "\n" for line in environment_lines(info)))
                    self._stream.flush()
        return written

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _run(args: argparse.Namespace) -> int:
    check(args.parser, args)
    from foundry_tune.emulator._server import run  # the 'emulator' extra: main() reports it missing

    stdout = sys.stdout
    sys.stdout = _AfterTheJsonLine(stdout)
    try:
        return run(args)
    finally:
        sys.stdout = stdout
