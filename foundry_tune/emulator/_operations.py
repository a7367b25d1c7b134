"""ARM long-running operations, as the recordings show them.

A deployment PUT answers 201 and a DELETE 202, each with an ``Azure-AsyncOperation`` header (and a
``Location`` header) that point at an operation-status resource::

    /subscriptions/{sub}/providers/Microsoft.CognitiveServices/locations/{location}/operationResults/{id}

which answers ``{"id", "name", "status": "Running", "startTime", "percentComplete"}`` until the
operation ends, then ``"Succeeded"`` (or ``"Failed"`` / ``"Canceled"`` with an ``error``) and an
``endTime``. With ``operationResultResponseType=Location`` the same resource follows ARM's
``Location`` protocol instead: 202 while running, then the final resource (200) or nothing (204),
or the operation's error. An operation is a stored document whose start and end times are fixed
when it begins, so its status is derived from the clock and survives a restart.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundry_tune.emulator._errors import arm_error
from foundry_tune.emulator._http import ctx_of, ok
from foundry_tune.emulator._state import Context
from foundry_tune.emulator._store import Doc

__all__ = [
    "LOCATION",
    "OPERATIONS_PATH",
    "cancel",
    "check_subscription",
    "headers",
    "routes",
    "start",
    "status",
]

LOCATION = "local"
"""The region name in operation URLs (Azure puts the account's region there, e.g. ``eastus2``)."""

OPERATIONS_PATH = (
    "/subscriptions/{subscription}/providers/Microsoft.CognitiveServices/locations/{location}"
    "/operationResults/{operation}"
)
_KIND = "operation"
FinalResource = Callable[[Context, Doc], Doc | None]


def _iso_seconds(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def start(
    ctx: Context,
    action: str,
    target: str,
    *,
    duration: float,
    outcome: str = "Succeeded",
    error: dict[str, str] | None = None,
    api_version: str,
) -> Doc:
    """Begin (store) an operation on ``target`` that ends with ``outcome`` after ``duration`` seconds."""
    now = ctx.now()
    doc: Doc = {
        "id": str(uuid.uuid4()),
        "_action": action,
        "_target": target,
        "_start": now,
        "_end": now + max(0.0, duration),
        "_outcome": outcome,
        "_error": error,
        "_api_version": api_version,
    }
    return ctx.store.put(_KIND, doc)


def cancel(ctx: Context, op_id: str | None, message: str) -> None:
    """End a still-running operation now as ``Canceled`` (a deployment deleted while it was created)."""
    doc = ctx.store.get(_KIND, op_id) if op_id else None
    if doc is None or status(ctx, doc) != "Running":
        return
    doc.update(_end=ctx.now(), _outcome="Canceled", _error={"code": "Canceled", "message": message})
    ctx.store.put(_KIND, doc)


def status(ctx: Context, doc: Doc) -> str:
    """``Running`` until the operation's end time, then its outcome."""
    return "Running" if ctx.now() < doc["_end"] else str(doc["_outcome"])


def _resource_id(ctx: Context, doc: Doc) -> str:
    return (
        f"/subscriptions/{ctx.config.subscription_id}/providers/Microsoft.CognitiveServices/locations/"
        f"{LOCATION}/operationResults/{doc['id']}"
    )


def headers(request: Request, doc: Doc) -> dict[str, str]:
    """``Azure-AsyncOperation`` and ``Location`` for ``doc``, on this emulator's own base URL (the
    scheme and host the client called, so https under ``--tls``)."""
    base = str(request.base_url).rstrip("/")
    url = f"{base}{_resource_id(ctx_of(request), doc)}?api-version={quote(doc['_api_version'], safe='')}"
    return {"Azure-AsyncOperation": url, "Location": f"{url}&operationResultResponseType=Location"}


def view(ctx: Context, doc: Doc) -> Doc:
    """The operation-status body, keys as recorded (``percentComplete`` stays 0.0, as Azure's did)."""
    state = status(ctx, doc)
    body: Doc = {
        "id": _resource_id(ctx, doc),
        "name": doc["id"],
        "status": state,
        "startTime": _iso_seconds(doc["_start"]),
    }
    if state != "Running":
        body["endTime"] = _iso_seconds(doc["_end"])
    body["percentComplete"] = 0.0
    if state in {"Failed", "Canceled"} and doc.get("_error"):
        body["error"] = dict(doc["_error"])
    return body


def check_subscription(request: Request) -> None:
    """ARM's first checks of every request: an ``api-version`` and this emulator's subscription."""
    subscription = request.path_params["subscription"]
    if request.query_params.get("api-version") is None:
        raise arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if subscription != ctx_of(request).config.subscription_id:
        raise arm_error(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")


def routes(final_resource: FinalResource) -> list[Route]:
    """The operation-status route; ``final_resource`` gives the body a finished operation's
    ``Location`` answers with (None: 204)."""

    async def get_operation(request: Request) -> Response:
        ctx = ctx_of(request)
        p = request.path_params
        check_subscription(request)
        doc = ctx.store.get(_KIND, p["operation"])
        if doc is None or p["location"].lower() != LOCATION:
            raise arm_error(404, "NotFound", f"The operation '{p['operation']}' could not be found.")
        if request.query_params.get("operationResultResponseType", "").lower() != "location":
            return ok(view(ctx, doc))
        state = status(ctx, doc)
        if state == "Running":
            return Response(status_code=202, headers=headers(request, doc))
        if state != "Succeeded":
            error = doc.get("_error") or {"code": state, "message": f"The operation ended {state}."}
            raise arm_error(409 if state == "Canceled" else 500, error["code"], error["message"])
        final = final_resource(ctx, doc)
        return Response(status_code=204) if final is None else ok(final)

    return [Route(OPERATIONS_PATH, get_operation, methods=["GET"])]
