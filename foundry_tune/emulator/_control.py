"""Control routes a test drives the emulator with: its clock and its switches.

- ``GET /_emulator/clock`` -> ``{"now": epoch seconds, "offset_seconds": ...}``;
  ``POST /_emulator/clock`` with ``{"advance_seconds": n}`` (or ``seconds`` / ``minutes`` /
  ``hours`` / ``days``, added up) moves the clock forward, lets every job catch up at once, and
  answers the new clock. A negative, non-finite or non-numeric amount, or an unknown key, is a 400.
- ``GET /_emulator/switches`` -> the switches; ``POST /_emulator/switches`` merges a JSON object
  into them (``null`` removes a key) and answers them all. Unknown keys are kept, for any emulator
  part to read from ``ctx.switches``; the values of known ones are checked (see
  [`SWITCH_CHECKS`][SWITCH_CHECKS]).

Unlike ``/_emulator/stats`` and ``/_emulator/health`` these change the service, so they need the
same token as every other route (an ``api-key`` header or a Bearer token; with ``--token``, that
one). They are never faulted or counted as traffic.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundry_tune.emulator._clock import ClockError
from foundry_tune.emulator._errors import invalid
from foundry_tune.emulator._gate import Gate
from foundry_tune.emulator._http import ctx_of, json_body, ok
from foundry_tune.emulator._lifecycle import check_switch
from foundry_tune.emulator._state import Context

_UNITS = {"advance_seconds": 1.0, "seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}

SWITCH_CHECKS: list[Callable[[str, Any], str | None]] = [check_switch]
"""Checks of switch values: each returns why a ``(key, value)`` is refused, or ``None``. An
emulator part with switches of its own may append one."""


def _authorize(request: Request) -> None:
    # The Gate lets /_emulator/* through untouched; these routes change the service, so they make
    # the check every other route gets.
    denied = Gate(request.app, ctx_of(request))._auth_error(dict(request.scope))
    if denied is not None:
        raise denied


def clock_body(ctx: Context) -> dict[str, float]:
    """What the clock routes answer."""
    return {"now": ctx.now(), "offset_seconds": ctx.clock.offset}


def advance_of(body: dict[str, Any]) -> float:
    """The seconds a ``POST /_emulator/clock`` body asks for (400 when it is not a valid request)."""
    unknown = sorted(set(body) - set(_UNITS))
    if unknown:
        key = unknown[0]
        raise invalid(f"Unknown key '{key}': send advance_seconds, seconds, minutes, hours or days.",
                      param=key)
    if not body:
        raise invalid("Say how far to advance the clock: advance_seconds, seconds, minutes, hours or days.")
    total = 0.0
    for key, value in body.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise invalid(f"'{key}' must be a number.", param=key)
        if value < 0:
            raise invalid(f"'{key}' must not be negative: the clock only moves forward.", param=key)
        total += value * _UNITS[key]
    return total


async def _catch_up(request: Request) -> None:
    """Run the job runner's tick now, so the next request sees where the clock puts every job."""
    await asyncio.to_thread(request.app.state.runner.tick)


async def get_clock(request: Request) -> Response:
    _authorize(request)
    return ok(clock_body(ctx_of(request)))


async def post_clock(request: Request) -> Response:
    _authorize(request)
    ctx = ctx_of(request)
    seconds = advance_of(await json_body(request))
    try:
        ctx.clock.advance(seconds)
    except ClockError as exc:
        raise invalid(f"{exc}.") from None
    await _catch_up(request)
    return ok(clock_body(ctx))


def shown_switches(switches: dict[str, Any]) -> dict[str, Any]:
    """The switches as the routes answer them: every ``secret`` (a webhook target's) masked."""

    def shown(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "********" if k == "secret" else shown(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shown(v) for v in value]
        return value

    return {key: shown(value) for key, value in switches.items()}


async def get_switches(request: Request) -> Response:
    _authorize(request)
    return ok(shown_switches(dict(ctx_of(request).switches)))


async def post_switches(request: Request) -> Response:
    _authorize(request)
    ctx = ctx_of(request)
    body = await json_body(request)
    for key, value in body.items():
        for check in SWITCH_CHECKS:
            problem = check(key, value)
            if problem is not None:
                raise invalid(f"Invalid value: {problem}.", param=key)
    await _catch_up(request)  # what was due before the change happens under the old switches
    switches = ctx.set_switches(body)
    await _catch_up(request)
    return ok(shown_switches(switches))


routes = [
    Route("/_emulator/clock", get_clock, methods=["GET"]),
    Route("/_emulator/clock", post_clock, methods=["POST"]),
    Route("/_emulator/switches", get_switches, methods=["GET"]),
    Route("/_emulator/switches", post_switches, methods=["POST"]),
]
