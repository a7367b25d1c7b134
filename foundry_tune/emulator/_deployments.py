"""ARM deployments (``PUT/GET/DELETE .../accounts/{account}/deployments/{name}`` and list) and the
project endpoint's read-only deployments API that ``AIProjectClient.deployments`` calls.

``provisioningState`` is derived from the stored creation time: Accepted, then Creating, then
Succeeded; after that the deployment answers inference with ``DeploymentNotReady`` for
``deployment_ready_delay`` seconds, as a real one does for a while after provisioning.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundry_tune.catalog import lookup_model
from foundry_tune.emulator._errors import ApiError
from foundry_tune.emulator._http import ctx_of, json_body, ok
from foundry_tune.emulator._jobs import finetuned_models
from foundry_tune.emulator._state import Context
from foundry_tune.emulator._store import Doc

ARM_PREFIX = (
    "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.CognitiveServices"
    "/accounts/{account}/deployments"
)
_DELETE_SHARE = 0.5


def _arm_error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, message, code=code, type_="arm_error")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def provisioning_state(ctx: Context, doc: Doc) -> str:
    """Where a deployment is in its lifecycle now."""
    now = ctx.now()
    if "_deleting_at" in doc:
        return "Deleting"
    delay = ctx.config.deployment_provision_delay
    age = now - doc["_created_at"]
    if age < delay * 0.3:
        return "Accepted"
    if age < delay:
        return "Creating"
    return "Succeeded"


def ready_at(ctx: Context, doc: Doc) -> float:
    """When the deployment starts answering inference."""
    return (
        float(doc["_created_at"]) + ctx.config.deployment_provision_delay + ctx.config.deployment_ready_delay
    )


def live(ctx: Context, name: str) -> Doc | None:
    """The deployment called ``name`` unless it is gone (a finished delete is applied here)."""
    doc = ctx.store.get("deployment", name)
    deleting_since = doc.get("_deleting_at") if doc is not None else None
    if (
        deleting_since is not None
        and ctx.now() - deleting_since >= ctx.config.deployment_provision_delay * _DELETE_SHARE
    ):
        ctx.store.delete("deployment", name)
        return None
    return doc


def all_live(ctx: Context) -> list[Doc]:
    """Every deployment that still exists."""
    return [d for d in (live(ctx, doc["id"]) for doc in ctx.store.all("deployment")) if d is not None]


def arm_view(ctx: Context, doc: Doc) -> Doc:
    """The ARM resource body."""
    c = ctx.config
    return {
        "id": f"/subscriptions/{c.subscription_id}/resourceGroups/{c.resource_group}/providers/"
        f"Microsoft.CognitiveServices/accounts/{c.account_name}/deployments/{doc['id']}",
        "type": "Microsoft.CognitiveServices/accounts/deployments",
        "name": doc["id"],
        "sku": doc["sku"],
        "tags": doc.get("tags") or {},
        "systemData": {
            "createdAt": _iso(doc["_created_at"]),
            "createdBy": "emulator",
            "lastModifiedAt": _iso(doc["_created_at"]),
        },
        "etag": f'"{doc["_etag"]}"',
        "properties": {
            "model": doc["model"],
            "provisioningState": provisioning_state(ctx, doc),
            "capabilities": {"chatCompletion": "true", "responses": "true"},
            "raiPolicyName": "Microsoft.DefaultV2",
        },
    }


def _check_scope(request: Request) -> None:
    ctx = ctx_of(request)
    c = ctx.config
    p = request.path_params
    if request.query_params.get("api-version") is None:
        raise _arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if p["subscription"] != c.subscription_id:
        raise _arm_error(
            404, "SubscriptionNotFound", f"The subscription '{p['subscription']}' could not be found."
        )
    if p["group"].lower() != c.resource_group.lower():
        raise _arm_error(404, "ResourceGroupNotFound", f"Resource group '{p['group']}' could not be found.")
    if p["account"].lower() != c.account_name.lower():
        raise _arm_error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.CognitiveServices/accounts/{p['account']}' was not found.",
        )


def _not_found(name: str) -> ApiError:
    return _arm_error(404, "DeploymentNotFound", f"The deployment '{name}' could not be found.")


def _check_body(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    sku = body.get("sku")
    props = body.get("properties")
    model = props.get("model") if isinstance(props, dict) else None
    if not isinstance(sku, dict) or not isinstance(sku.get("name"), str):
        raise _arm_error(400, "InvalidRequestContent", "The deployment needs 'sku' with a 'name'.")
    capacity = sku.get("capacity", 1)
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
        raise _arm_error(400, "InvalidCapacity", "'sku.capacity' must be a positive integer.")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise _arm_error(
            400, "InvalidRequestContent", "The deployment needs 'properties.model' with a 'name'."
        )
    fmt = str(model.get("format", "OpenAI"))
    return {"name": sku["name"], "capacity": capacity}, {
        "format": fmt,
        "name": model["name"],
        "version": str(model.get("version", "1")),
    }


async def put_deployment(request: Request) -> Response:
    _check_scope(request)
    ctx = ctx_of(request)
    name = request.path_params["name"]
    body = await json_body(request)
    sku, model = _check_body(body)
    tuned = finetuned_models(ctx)
    base = lookup_model(model["name"])
    is_tuned = model["name"] in tuned
    if not is_tuned and (base is None or ".ft-" in model["name"] or ":ft-" in model["name"]):
        raise _arm_error(
            400,
            "DeploymentModelNotSupported",
            f"The model 'Format:{model['format']},Name:{model['name']},Version:{model['version']}' "
            "of account deployment is not supported.",
        )
    existing = live(ctx, name)
    if existing is not None:
        if existing["model"]["name"] != model["name"] or "_deleting_at" in existing:
            raise _arm_error(
                409,
                "DeploymentNameInUse",
                f"The deployment name '{name}' is already in use by model '{existing['model']['name']}'.",
            )
        existing["sku"] = sku
        existing["tags"] = body.get("tags") or existing.get("tags") or {}
        ctx.store.put("deployment", existing)
        return ok(arm_view(ctx, existing), status=200)
    if is_tuned:
        count = sum(1 for d in all_live(ctx) if d["_tuned"])
        if count >= ctx.config.max_finetuned_deployments:
            raise _arm_error(
                400,
                "InsufficientQuota",
                f"This resource already has {count} fine-tuned model deployments, the quota is "
                f"{ctx.config.max_finetuned_deployments}. Delete one before deploying another.",
            )
    now = ctx.now()
    doc: Doc = {
        "id": name,
        "sku": sku,
        "model": model,
        "tags": body.get("tags") or {},
        "_created_at": now,
        "_etag": f"{int(now * 1000):x}",
        "_tuned": is_tuned,
        "_job": tuned[model["name"]]["id"] if is_tuned else None,
        "_base": (base.name if base else None),
    }
    ctx.store.put("deployment", doc)
    return ok(arm_view(ctx, doc), status=201)


async def get_deployment(request: Request) -> Response:
    _check_scope(request)
    ctx = ctx_of(request)
    doc = live(ctx, request.path_params["name"])
    if doc is None:
        raise _not_found(request.path_params["name"])
    return ok(arm_view(ctx, doc))


async def delete_deployment(request: Request) -> Response:
    _check_scope(request)
    ctx = ctx_of(request)
    doc = live(ctx, request.path_params["name"])
    if doc is None:
        return Response(status_code=204)
    if "_deleting_at" not in doc:
        doc["_deleting_at"] = ctx.now()
        ctx.store.put("deployment", doc)
    return Response(status_code=202)


async def list_deployments(request: Request) -> Response:
    _check_scope(request)
    ctx = ctx_of(request)
    return ok({"value": [arm_view(ctx, d) for d in all_live(ctx)]})


def project_view(doc: Doc) -> Doc:
    """The project endpoint's ``ModelDeployment`` body."""
    return {
        "type": "ModelDeployment",
        "name": doc["id"],
        "modelName": doc["model"]["name"],
        "modelVersion": doc["model"]["version"],
        "modelPublisher": doc["model"]["format"],
        "capabilities": {"chat_completion": "true"},
        "sku": {
            "name": doc["sku"]["name"],
            "capacity": doc["sku"]["capacity"],
            "family": "",
            "size": "",
            "tier": "",
        },
        "connectionName": None,
    }


async def project_list(request: Request) -> Response:
    ctx = ctx_of(request)
    docs = [d for d in all_live(ctx) if provisioning_state(ctx, d) == "Succeeded"]
    name = request.query_params.get("modelName")
    if name:
        docs = [d for d in docs if d["model"]["name"] == name]
    return ok({"value": [project_view(d) for d in docs], "nextLink": None})


async def project_get(request: Request) -> Response:
    ctx = ctx_of(request)
    doc = live(ctx, request.path_params["name"])
    if doc is None or provisioning_state(ctx, doc) != "Succeeded":
        raise _not_found(request.path_params["name"])
    return ok(project_view(doc))


arm_routes = [
    Route(ARM_PREFIX, list_deployments, methods=["GET"]),
    Route(ARM_PREFIX + "/{name}", put_deployment, methods=["PUT"]),
    Route(ARM_PREFIX + "/{name}", get_deployment, methods=["GET"]),
    Route(ARM_PREFIX + "/{name}", delete_deployment, methods=["DELETE"]),
]

project_routes = [
    Route("/deployments", project_list, methods=["GET"]),
    Route("/deployments/{name}", project_get, methods=["GET"]),
]
