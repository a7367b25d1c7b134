"""ARM deployments (``PUT/PATCH/GET/DELETE .../accounts/{account}/deployments/{name}`` and list)
and the project endpoint's read-only deployments API that ``AIProjectClient.deployments`` calls.

As recorded (``recordings/deploy_and_infer_oai_sft.json``, ``deploy_oss_ministral.json``): a PUT of
a new deployment answers 201 with ``provisioningState: Creating`` and an ``Azure-AsyncOperation``
header whose operation (see `._operations`) runs for ``deployment_provision_delay`` seconds;
the deployment reads ``Creating`` until it ends, then ``Succeeded`` (or ``Failed``). An update PUT
answers 200, as does a PATCH of its capacity or tags. A DELETE answers 202 with
``Azure-AsyncOperation`` and ``Location``; the deployment reads ``Deleting`` until that operation
ends, then 404 (a DELETE of a missing one answers 204). After ``Succeeded`` inference answers 404
``DeploymentNotFound`` for ``deployment_ready_delay`` seconds, as the real data plane does for a
while after provisioning. Every time is stored with the deployment, so a restarted emulator
carries on where it stopped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundry_tune.catalog import ModelInfo, lookup_model
from foundry_tune.emulator import _operations
from foundry_tune.emulator._errors import ApiError, arm_error
from foundry_tune.emulator._http import ctx_of, json_body, ok
from foundry_tune.emulator._jobs import finetuned_models
from foundry_tune.emulator._lifecycle import expired
from foundry_tune.emulator._safety import refuse_unsafe_deploy
from foundry_tune.emulator._state import Context
from foundry_tune.emulator._store import Doc

ARM_PREFIX = (
    "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.CognitiveServices"
    "/accounts/{account}/deployments"
)
_DELETE_SHARE = 0.5
_INT32_MAX = 2_147_483_647
FAIL_TAG = ("foundry-tune-emulator", "fail-provisioning")
"""A deployment tagged with this key and value fails to provision (an emulator-only switch to try
the ``Failed`` path of a client)."""
_OPENAI = "OpenAI"
_OPENAI_CAPABILITIES = {
    "chatCompletion": "true",
    "area": "US",
    "responses": "true",
    "agentsV2": "true",
    "assistants": "true",
}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _provisioned_at(ctx: Context, doc: Doc) -> float:
    return float(doc.get("_provisioned_at", doc["_created_at"] + ctx.config.deployment_provision_delay))


def provisioning_state(ctx: Context, doc: Doc) -> str:
    """Where a deployment is in its lifecycle now: Creating, Succeeded, Failed or Deleting."""
    if "_deleting_at" in doc:
        return "Deleting"
    if ctx.now() < _provisioned_at(ctx, doc):
        return "Creating"
    return str(doc.get("_outcome", "Succeeded"))


def ready_at(ctx: Context, doc: Doc) -> float:
    """When the deployment starts answering inference."""
    return _provisioned_at(ctx, doc) + ctx.config.deployment_ready_delay


def _gone_at(ctx: Context, doc: Doc) -> float | None:
    since = doc.get("_deleting_at")
    if since is None:
        return None
    return float(doc.get("_gone_at", since + ctx.config.deployment_provision_delay * _DELETE_SHARE))


def live(ctx: Context, name: str) -> Doc | None:
    """The deployment called ``name`` unless it is gone (a finished delete is applied here)."""
    doc = ctx.store.get("deployment", name)
    if doc is None:
        return None
    gone = _gone_at(ctx, doc)
    if gone is not None and ctx.now() >= gone:
        ctx.store.delete("deployment", name)
        return None
    if expired(ctx, doc):  # the service deleted it: Developer tier after 24 h, 15 days without a call
        ctx.store.delete("deployment", name)
        return None
    return doc


def all_live(ctx: Context) -> list[Doc]:
    """Every deployment that still exists."""
    return [d for d in (live(ctx, doc["id"]) for doc in ctx.store.all("deployment")) if d is not None]


def _expected_format(info: ModelInfo | None) -> str:
    """The ``model.format`` Azure accepts for a model (its catalog entry's, else OpenAI's)."""
    return info.deployment_format if info is not None else _OPENAI


def _header_overrides(doc: Doc) -> dict[str, str]:
    """What Azure adds to an open-model deployment (``deploy_oss_ministral.json``)."""
    family = doc["model"]["format"].split()[0].lower() or "model"
    digest = hashlib.sha256(doc["model"]["name"].encode()).hexdigest()[:32]
    return {
        "azureml-maas-model": f"azureml://registries/azureml-{family}-ipp-ft-{_operations.LOCATION}"
        f"/models/rp-{digest}/versions/1",
        "x-ms-model-mesh-model-name": doc.get("_base") or doc["model"]["name"],
    }


def arm_view(ctx: Context, doc: Doc) -> Doc:
    """The ARM resource body, keys as recorded."""
    c = ctx.config
    capacity = doc["sku"]["capacity"]
    is_openai = doc["model"]["format"].lower() == _OPENAI.lower()
    props: Doc = {
        "model": doc["model"],
        "versionUpgradeOption": doc.get("_upgrade", "NoAutoUpgrade"),
        "currentCapacity": capacity,
        "capabilities": dict(_OPENAI_CAPABILITIES) if is_openai else {"chatCompletion": "true"},
        "provisioningState": provisioning_state(ctx, doc),
        "rateLimits": [
            {"key": "request", "renewalPeriod": 60, "count": capacity},
            {"key": "token", "renewalPeriod": 60, "count": capacity * 1000},
        ],
    }
    if doc.get("_rai_policy"):
        props["raiPolicyName"] = doc["_rai_policy"]
    if not is_openai:
        props["headerOverrides"] = _header_overrides(doc)
    body: Doc = {
        "id": f"/subscriptions/{c.subscription_id}/resourceGroups/{c.resource_group}/providers/"
        f"Microsoft.CognitiveServices/accounts/{c.account_name}/deployments/{doc['id']}",
        "type": "Microsoft.CognitiveServices/accounts/deployments",
        "name": doc["id"],
        "sku": doc["sku"],
    }
    if doc.get("tags"):
        body["tags"] = doc["tags"]
    body["properties"] = props
    body["systemData"] = {
        "createdBy": "emulator",
        "createdByType": "User",
        "createdAt": _iso(doc["_created_at"]),
        "lastModifiedBy": "emulator",
        "lastModifiedByType": "User",
        "lastModifiedAt": _iso(doc.get("_modified_at") or doc["_created_at"]),
    }
    body["etag"] = _etag(doc)
    return body


def _etag(doc: Doc) -> str:
    return f'"{doc["_etag"]}"'


def final_resource(ctx: Context, op: Doc) -> Doc | None:
    """What a finished operation's ``Location`` answers: the deployment after a create, nothing
    after a delete."""
    if op["_action"] != "create":
        return None
    doc = live(ctx, op["_target"])
    return None if doc is None else arm_view(ctx, doc)


def _check_scope(request: Request) -> None:
    _operations.check_subscription(request)
    c = ctx_of(request).config
    p = request.path_params
    if p["group"].lower() != c.resource_group.lower():
        raise arm_error(404, "ResourceGroupNotFound", f"Resource group '{p['group']}' could not be found.")
    if p["account"].lower() != c.account_name.lower():
        raise arm_error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.CognitiveServices/accounts/{p['account']}' was not found.",
        )


def _not_found(name: str) -> ApiError:
    return arm_error(404, "DeploymentNotFound", f"The deployment '{name}' could not be found.")


_MAX_TAGS = 50


def _check_tags(tags: object) -> None:
    """ARM's tag rules: an object of at most 50 string pairs, names up to 512 and values up to 256
    characters."""
    if tags is None:
        return
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise arm_error(400, "InvalidRequestContent", "'tags' must be an object of string values.")
    if len(tags) > _MAX_TAGS:
        raise arm_error(400, "InvalidRequestContent", f"A resource can hold at most {_MAX_TAGS} tags.")
    if any(len(k) > 512 or len(v) > 256 for k, v in tags.items()):
        raise arm_error(
            400, "InvalidRequestContent", "Tag names can be at most 512 and values 256 characters long."
        )


def _check_body(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    _check_tags(body.get("tags"))
    sku = body.get("sku")
    props = body.get("properties")
    model = props.get("model") if isinstance(props, dict) else None
    if not isinstance(sku, dict) or not isinstance(sku.get("name"), str):
        raise arm_error(400, "InvalidRequestContent", "The deployment needs 'sku' with a 'name'.")
    capacity = sku.get("capacity", 1)
    # ARM's Sku.capacity is an int32 (the Microsoft.CognitiveServices REST spec).
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= _INT32_MAX:
        raise arm_error(
            400, "InvalidCapacity", f"'sku.capacity' must be a positive integer (at most {_INT32_MAX})."
        )
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise arm_error(
            400, "InvalidRequestContent", "The deployment needs 'properties.model' with a 'name'."
        )
    return {"name": sku["name"], "capacity": capacity}, {
        "format": str(model.get("format", _OPENAI)),
        "name": model["name"],
        "version": str(model.get("version", "1")),
    }


def _unsupported(model: dict[str, Any]) -> ApiError:
    return arm_error(
        400,
        "DeploymentModelNotSupported",
        f"The model 'Format:{model['format']},Name:{model['name']},Version:{model['version']}' "
        "of account deployment is not supported.",
    )


def _start_create(request: Request, doc: Doc) -> Doc:
    """Stamp ``doc`` with a new provisioning run and start its operation."""
    ctx = ctx_of(request)
    fails = (doc.get("tags") or {}).get(FAIL_TAG[0]) == FAIL_TAG[1]
    delay = ctx.config.deployment_provision_delay
    op = _operations.start(
        ctx,
        "create",
        doc["id"],
        duration=delay,
        outcome="Failed" if fails else "Succeeded",
        error={
            "code": "InternalServerError",
            "message": f"The deployment '{doc['id']}' failed to provision (the emulator was asked to, "
            f"with the tag '{FAIL_TAG[0]}: {FAIL_TAG[1]}').",
        }
        if fails
        else None,
        api_version=request.query_params["api-version"],
    )
    doc.update(
        _provisioned_at=op["_end"], _outcome=op["_outcome"], _op=op["id"], _etag=str(uuid.uuid4())
    )
    return op


def _answer(request: Request, doc: Doc, status: int, op: Doc | None) -> Response:
    ctx = ctx_of(request)
    headers = {"ETag": _etag(doc)}
    if op is not None:
        headers.update(_operations.headers(request, op))
    return ok(arm_view(ctx, doc), status=status, headers=headers)


async def put_deployment(request: Request) -> Response:
    _check_scope(request)
    ctx = ctx_of(request)
    name = request.path_params["name"]
    body = await json_body(request)
    sku, model = _check_body(body)
    props = body["properties"]
    tuned = finetuned_models(ctx)
    is_tuned = model["name"] in tuned
    if not is_tuned:  # a model that failed its safety evaluation: refused, as the service would
        refuse_unsafe_deploy(ctx, model["name"])
    base = lookup_model(str(tuned[model["name"]]["model"])) if is_tuned else lookup_model(model["name"])
    if not is_tuned and (base is None or ".ft-" in model["name"] or ":ft-" in model["name"]):
        raise _unsupported(model)
    if model["format"].lower() != _expected_format(base).lower():
        raise _unsupported(model)
    existing = live(ctx, name)
    now = ctx.now()
    if existing is not None:
        if "_deleting_at" in existing:
            raise arm_error(
                409,
                "RequestConflict",
                f"Another operation is being performed on the deployment '{name}' (it is being "
                "deleted). Please try again later.",
            )
        if existing["model"]["name"] != model["name"]:
            raise arm_error(
                409,
                "DeploymentNameInUse",
                f"The deployment name '{name}' is already in use by model '{existing['model']['name']}'.",
            )
        existing["sku"] = sku
        existing["tags"] = body.get("tags") or existing.get("tags") or {}
        existing["_modified_at"] = now
        op = _start_create(request, existing) if provisioning_state(ctx, existing) == "Failed" else None
        if op is None:
            existing["_etag"] = str(uuid.uuid4())
        ctx.store.put("deployment", existing)
        return _answer(request, existing, 200, op)
    if is_tuned:
        count = sum(1 for d in all_live(ctx) if d["_tuned"])
        if count >= ctx.config.max_finetuned_deployments:
            raise arm_error(
                400,
                "InsufficientQuota",
                f"This resource already has {count} fine-tuned model deployments, the quota is "
                f"{ctx.config.max_finetuned_deployments}. Delete one before deploying another.",
            )
    doc: Doc = {
        "id": name,
        "sku": sku,
        "model": model,
        "tags": body.get("tags") or {},
        "_created_at": now,
        "_tuned": is_tuned,
        "_job": tuned[model["name"]]["id"] if is_tuned else None,
        "_base": (base.name if base else None),
        "_upgrade": str(props.get("versionUpgradeOption") or "NoAutoUpgrade"),
        "_rai_policy": props.get("raiPolicyName"),
    }
    op = _start_create(request, doc)
    ctx.store.put("deployment", doc)
    return _answer(request, doc, 201, op)


async def patch_deployment(request: Request) -> Response:
    """``begin_update``: a new capacity (or SKU) and tags for an existing deployment, answered 200."""
    _check_scope(request)
    ctx = ctx_of(request)
    name = request.path_params["name"]
    body = await json_body(request)
    doc = live(ctx, name)
    if doc is None:
        raise _not_found(name)
    if "_deleting_at" in doc:
        raise arm_error(409, "RequestConflict", f"Another operation is being performed on '{name}'.")
    _check_tags(body.get("tags"))
    sku = body.get("sku")
    if isinstance(sku, dict):
        merged, _ = _check_body({"sku": {**doc["sku"], **sku}, "properties": {"model": doc["model"]}})
        doc["sku"] = merged
    if isinstance(body.get("tags"), dict):
        doc["tags"] = body["tags"]
    doc.update(_modified_at=ctx.now(), _etag=str(uuid.uuid4()))
    ctx.store.put("deployment", doc)
    return _answer(request, doc, 200, None)


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
    op = ctx.store.get("operation", doc.get("_delete_op") or "")
    if op is None:
        now = ctx.now()
        _operations.cancel(ctx, doc.get("_op"), "The deployment was deleted before it finished provisioning.")
        duration = ctx.config.deployment_provision_delay * _DELETE_SHARE
        op = _operations.start(
            ctx, "delete", doc["id"], duration=duration, api_version=request.query_params["api-version"]
        )
        doc.update(_deleting_at=now, _gone_at=op["_end"], _delete_op=op["id"])
        ctx.store.put("deployment", doc)
    return Response(status_code=202, headers=_operations.headers(request, op))


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
        name = request.path_params["name"]
        raise ApiError(404, f"The deployment '{name}' could not be found.", code="DeploymentNotFound")
    return ok(project_view(doc))


arm_routes = [
    Route(ARM_PREFIX, list_deployments, methods=["GET"]),
    Route(ARM_PREFIX + "/{name}", put_deployment, methods=["PUT"]),
    Route(ARM_PREFIX + "/{name}", get_deployment, methods=["GET"]),
    Route(ARM_PREFIX + "/{name}", patch_deployment, methods=["PATCH"]),
    Route(ARM_PREFIX + "/{name}", delete_deployment, methods=["DELETE"]),
    *_operations.routes(final_resource),
]

project_routes = [
    Route("/deployments", project_list, methods=["GET"]),
    Route("/deployments/{name}", project_get, methods=["GET"]),
]
