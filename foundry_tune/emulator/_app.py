"""The Starlette application: routes for every endpoint family, errors in the official shape (ARM's
envelope under ``/subscriptions/``), the background ticker that drives jobs, and
``/_emulator/stats`` and ``/_emulator/health``.

The data plane is served under both path forms the recordings show: ``.../openai/v1/...`` (what
azure-ai-projects 2.x and the openai SDK build) and ``.../openai/...?api-version=...`` (what the
recorded clients called, e.g. ``/api/projects/{project}/openai/fine_tuning/jobs?api-version=
2025-11-15-preview`` and ``/openai/deployments/{name}/chat/completions``), both on the resource
root and under ``/api/projects/{project}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from foundry_tune.emulator import _control, _deployments, _files, _graders_api, _inference, _jobs, _uploads
from foundry_tune.emulator._deployments import all_live
from foundry_tune.emulator._errors import ApiError, as_arm, is_arm_path
from foundry_tune.emulator._file_import import routes as file_import_routes
from foundry_tune.emulator._gate import Gate
from foundry_tune.emulator._http import ctx_of, ok
from foundry_tune.emulator._simulation import JobRunner
from foundry_tune.emulator._state import Context

log = logging.getLogger("foundry_tune.emulator")
TICK_SECONDS = 0.1


async def stats(request: Request) -> Response:
    ctx = ctx_of(request)
    jobs = ctx.store.all("job")
    by_status: dict[str, int] = {}
    for job in jobs:
        by_status[job["status"]] = by_status.get(job["status"], 0) + 1
    c = ctx.counters
    return ok(
        {
            "files": ctx.store.count("file"),
            "jobs": len(jobs),
            "deployments": len(all_live(ctx)),
            "requests": c.requests,
            "faults": c.faults,
            "faults_by_kind": dict(c.by_fault),
            "responses_by_status": dict(c.by_status),
            "jobs_by_status": by_status,
            "uploads": ctx.store.count("upload"),
            "uptime_seconds": round(ctx.uptime(), 3),
        }
    )


async def health(request: Request) -> Response:
    return ok({"status": "ok"})


def _shaped(request: Request, error: ApiError) -> ApiError:
    """``error`` in ARM's envelope on an ARM path, as it is elsewhere."""
    return as_arm(error) if is_arm_path(request.url.path) else error


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _shaped(request, exc).response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return _shaped(
            request,
            ApiError(
                405, f"Method {request.method} is not allowed on {request.url.path}.", code="methodNotAllowed"
            ),
        ).response()
    return _shaped(
        request,
        ApiError(
            exc.status_code,
            f"No such endpoint: {request.method} {request.url.path}.",
            code="notFound" if exc.status_code == 404 else None,
        ),
    ).response()


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    error = _shaped(
        request, ApiError(500, "The emulator failed to process the request.", code="internal_error")
    )
    return JSONResponse(error.body(), status_code=500)


async def _ticker(runner: JobRunner) -> None:
    while True:
        try:
            await asyncio.to_thread(runner.tick)
        except Exception:
            log.exception("job ticker failed; retrying")
        await asyncio.sleep(TICK_SECONDS)


def build_app(ctx: Context) -> Any:
    """The whole emulator as one ASGI app (the Gate wrapped around Starlette)."""
    runner = JobRunner(ctx)
    data_plane = (file_import_routes + _files.routes + _uploads.routes + _jobs.routes + _graders_api.routes
                  + _inference.routes)
    dated_data_plane = data_plane + _inference.legacy_routes  # the ?api-version= form

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx.store.remove_partial_blobs()
        _files.resume_processing(ctx)
        task = asyncio.get_running_loop().create_task(_ticker(runner))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = Starlette(
        routes=[
            Route("/_emulator/stats", stats, methods=["GET"]),
            Route("/_emulator/health", health, methods=["GET"]),
            *_control.routes,  # /_emulator/clock and /_emulator/switches (token required)
            # /openai/v1 before /openai: a Mount matches its whole prefix and never falls through.
            Mount("/openai/v1", routes=data_plane),
            Mount("/openai", routes=dated_data_plane),
            Mount(
                "/api/projects/{project}",
                routes=[
                    Mount("/openai/v1", routes=data_plane),
                    Mount("/openai", routes=dated_data_plane),
                    *_deployments.project_routes,
                ],
            ),
            *_deployments.arm_routes,
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.runner = runner
    return Gate(app, ctx)
