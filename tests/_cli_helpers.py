"""Running the CLI in-process in tests: a borrowed connection, a fake ARM connection, one call."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from _client_fakes import FakeArm, FakeClock, ScriptedServer

from foundry_tune import Foundry, RetryPolicy
from foundry_tune.cli import main
from foundry_tune.client import StaticTokenCredential


class Borrowed:
    """Lends a test's connection to one command without closing it (``with connect() as ft``)."""

    def __init__(self, ft: Foundry) -> None:
        self.ft = ft

    def __enter__(self) -> Foundry:
        return self.ft

    def __exit__(self, *exc: object) -> None:
        return None


def arm_connect(server: ScriptedServer, arm: FakeArm) -> Callable[[], Foundry]:
    """A ``connect()`` for the deploy commands: the data plane on ``server``, ARM in memory."""
    clock = FakeClock()

    def connect() -> Foundry:
        return Foundry(server.url + "/api/projects/p", StaticTokenCredential("t"), subscription_id="s",
                       resource_group="r", account_name="a",
                       retry=RetryPolicy(sleep=clock.sleep, clock=clock),
                       arm_transport=httpx.MockTransport(arm.handler))

    return connect


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``foundry-tune argv...``: the exit code (argparse's usage exits included), stdout, stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
