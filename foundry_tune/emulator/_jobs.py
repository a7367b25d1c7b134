"""The fine-tuning jobs API: create, list, retrieve, cancel, pause, resume, events, checkpoints."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import ModelInfo
from foundry_tune.emulator._errors import ApiError, invalid, not_found
from foundry_tune.emulator._http import ctx_of, id_list, int_param, json_body, ok, page_after, public
from foundry_tune.emulator._job_request import (
    check_integrations,
    check_metadata,
    check_method,
    check_model,
    check_seed,
    check_suffix,
    check_training_type,
)
from foundry_tune.emulator._simulation import (
    ACTIVE,
    WAITING,
    JobRunner,
    estimated_finish,
    event,
    phase_of,
    set_phase,
    status_of,
)
from foundry_tune.emulator._state import Context, new_id
from foundry_tune.emulator._store import Doc

_VALIDATING_SHARE = 0.15
_TRANSITION_SHARE = 0.05  # pausing -> paused and resuming -> running take 5% of a job (2 s at most)
_MAX_TRANSITION = 2.0
_RECORDED_ORDER = (  # key order of the recorded Azure job bodies (recordings/*.json)
    "hyperparameters",
    "additionalParameters",
    "seed",
    "method",
    "trainingType",
    "status",
    "model",
    "fine_tuned_model",
    "training_file",
    "validation_file",
    "result_files",
    "finished_at",
    "trained_tokens",
    "estimated_finish",
    "suffix",
    "metadata",
    "integrations",
    "error",
    "id",
    "created_at",
    "object",
)
_EVENT_ORDER = ("id", "created_at", "level", "message", "type", "object")
_HP_ORDER = {  # hyperparameter key order and creation-time defaults, as recorded
    MethodKind.SUPERVISED: ("n_epochs", "batch_size", "learning_rate_multiplier"),
    MethodKind.DPO: ("beta", "l2_multiplier", "n_epochs", "batch_size", "learning_rate_multiplier"),
    MethodKind.REINFORCEMENT: (
        "eval_interval",
        "eval_samples",
        "compute_multiplier",
        "reasoning_effort",
        "n_epochs",
        "batch_size",
        "learning_rate_multiplier",
    ),
}
# Unset values Azure fills in at creation (list_jobs_page1_head.json: a DPO job created with only
# n_epochs/batch_size/learning_rate_multiplier echoes beta 0.1 and l2_multiplier 0; an RFT job
# without compute_multiplier echoes 1); everything else unset is echoed as -1 (notebooks/sarcasm_*).
_AZURE_DEFAULTS: dict[str, Any] = {
    "beta": 0.1,
    "l2_multiplier": 0,
    "compute_multiplier": 1,
    "reasoning_effort": "default",
}


def runner_of(request: Request) -> JobRunner:
    """The app's job runner."""
    runner: JobRunner = request.app.state.runner
    return runner


def _file_param(ctx: Context, body: dict[str, Any], param: str, required: bool) -> str | None:
    file_id = body.get(param)
    if file_id is None:
        if required:
            raise invalid(f"'{param}' is a required property.", param=param)
        return None
    if not isinstance(file_id, str):
        raise invalid(f"'{param}' must be a file id.", param=param)
    doc = ctx.store.get("file", file_id)
    if doc is None:
        raise invalid(f"Invalid file '{file_id}': no such file.", param=param, code="invalidFile")
    if doc["purpose"] != "fine-tune":
        raise invalid(
            f"File '{file_id}' was not uploaded with purpose 'fine-tune'.", param=param, code="invalidFile"
        )
    return file_id


def _check_quota(ctx: Context) -> None:
    jobs = ctx.store.all("job")
    waiting = sum(1 for j in jobs if phase_of(j) in WAITING)
    if len(jobs) >= ctx.config.max_jobs or waiting >= ctx.config.max_queued_jobs:
        raise ApiError(
            429,
            f"This resource already has {waiting} queued jobs and {len(jobs)} jobs in total (limits: "
            f"{ctx.config.max_queued_jobs} queued, {ctx.config.max_jobs} total). Wait for jobs to finish "
            "or delete old ones.",
            code="quotaExceeded",
        )


def _echoed_model(info: ModelInfo) -> str:
    """The base model as a job body names it: dated for OpenAI models
    (``gpt-4.1-2025-04-14``), the bare name for open models (``Ministral-3B``, as recorded)."""
    return f"{info.name}-{info.version}" if info.deployment_format == "OpenAI" else info.name


def _azure_hyperparameters(kind: MethodKind, hp: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters as Azure echoes them: recorded key order, unset ones as ``-1`` (or the
    service's default where the recordings show one)."""
    out: dict[str, Any] = {}
    for key in _HP_ORDER[kind]:
        value = hp.get(key, "auto")
        out[key] = _AZURE_DEFAULTS.get(key, -1) if value in ("auto", "default") else value
    return out


def render_job(job: Doc, ctx: Context) -> Doc:
    """The wire body of a stored job in the configured flavour."""
    drop_metadata = ctx.config.drop_metadata
    if ctx.config.flavor == "openai":
        body = public(job)
        if drop_metadata:
            body.pop("metadata", None)
        return body
    kind = MethodKind(job["_kind"])
    hp = _azure_hyperparameters(kind, job["_resolved"] if job.get("_hp_final") else job["_hp"])
    values: Doc = {**public(job)}
    values["additionalParameters"] = {"completionOverride": "True"}
    # Top-level hyperparameters only for supervised jobs; `method` only when the request sent one.
    values["hyperparameters"] = hp if kind is MethodKind.SUPERVISED else None
    if job.get("_method_sent"):
        section: Doc = {"hyperparameters": hp}
        extra = job["method"][kind.value]
        for key in ("grader", "response_format"):
            if key in extra:
                section[key] = extra[key]
        values["method"] = {"type": kind.value, kind.value: section}
    else:
        values["method"] = None
    if drop_metadata:
        values["metadata"] = None
    if not values.get("result_files"):
        values["result_files"] = None
    body = {key: values[key] for key in _RECORDED_ORDER if values.get(key) is not None}
    return body


async def create_job(request: Request) -> Response:
    ctx = ctx_of(request)
    azure = ctx.config.flavor != "openai"
    body = await json_body(request)
    kind, method = check_method(body)
    info = check_model(body.get("model"), kind)
    training_type = check_training_type(body, info)
    suffix = check_suffix(body.get("suffix"))
    metadata = check_metadata(body.get("metadata"))
    seed = check_seed(body.get("seed"))
    integrations = check_integrations(body.get("integrations"))
    training_file = _file_param(ctx, body, "training_file", True)
    validation_file = _file_param(ctx, body, "validation_file", False)
    if kind is MethodKind.REINFORCEMENT and validation_file is None:
        raise invalid("A reinforcement job needs a 'validation_file'.", param="validation_file")
    base = _echoed_model(info)
    job_id = new_id("ftjob-")
    # The model id carries the job's hex, then the suffix (notebooks/chart_job_succeeded.json).
    ft_model = f"{base}.ft-{job_id.removeprefix('ftjob-')}" + (f"-{suffix}" if suffix else "")
    now = ctx.now()
    duration = ctx.config.job_duration
    hp = method[kind.value]["hyperparameters"]
    job: Doc = {
        "id": job_id,
        "object": "fine_tuning.job",
        "created_at": int(now),
        "error": None,
        "estimated_finish": int(now + duration) if azure else None,
        "fine_tuned_model": None,
        "finished_at": None,
        "hyperparameters": {k: hp[k] for k in ("n_epochs", "batch_size", "learning_rate_multiplier")},
        "integrations": integrations,
        "metadata": metadata,
        "method": method,
        "model": base,
        "organization_id": "org-emulator",
        "result_files": [],
        "seed": seed if seed is not None else secrets.randbelow(2_147_483_647),
        "status": "",
        "suffix": suffix,
        "trained_tokens": None,
        "training_file": training_file,
        "validation_file": validation_file,
        "trainingType": training_type.echo if azure else training_type.value,
        "_kind": kind.value,
        "_hp": dict(hp),
        "_method_sent": body.get("method") is not None,
        "_ft_model": ft_model,
        "_validate_until": now + duration * _VALIDATING_SHARE,
        "_run_duration": duration * (1 - _VALIDATING_SHARE),
    }
    if not azure:
        job["user_provided_suffix"] = suffix
    set_phase(job, "validating", ctx.config.flavor)
    if azure:
        first = [event(job_id, now, "Job enqueued. Waiting for jobs ahead to complete.")]
    else:
        first = [
            event(job_id, now, f"Created fine-tuning job: {job_id}"),
            event(job_id, now, "Validating training file."),
        ]
    with runner_of(request).lock:
        _check_quota(ctx)
        ctx.store.put("job", job)
        ctx.store.put_many("event", first, job_id)
    return ok(render_job(job, ctx), status=201 if azure else 200)


def _get_job(ctx: Context, job_id: str) -> Doc:
    doc = ctx.store.get("job", job_id)
    if doc is None:
        raise not_found("Fine-tuning job", job_id)
    return doc


def _metadata_filter(request: Request) -> tuple[dict[str, str], bool]:
    wanted = {}
    for key, value in request.query_params.multi_items():
        if key.startswith("metadata[") and key.endswith("]"):
            wanted[key[len("metadata[") : -1]] = value
    return wanted, request.query_params.get("metadata") == "null"


async def list_jobs(request: Request) -> Response:
    ctx = ctx_of(request)
    jobs = ctx.store.all("job", newest_first=True)
    wanted, only_null = _metadata_filter(request)
    if only_null:
        jobs = [j for j in jobs if not j.get("metadata")]
    for key, value in wanted.items():
        jobs = [j for j in jobs if (j.get("metadata") or {}).get(key) == value]
    page, more = page_after(jobs, request.query_params.get("after"), int_param(request, "limit", 20))
    data = [render_job(j, ctx) for j in page]
    if ctx.config.flavor == "openai":
        return ok({"object": "list", "data": data, "has_more": more})
    return ok({"has_more": more, "data": data, "object": "list"})  # list_jobs_page1_head.json


async def retrieve_job(request: Request) -> Response:
    ctx = ctx_of(request)
    return ok(render_job(_get_job(ctx, request.path_params["job_id"]), ctx))


def _control(
    request: Request,
    allowed: set[str],
    action: str,
    code: str,
    change: Callable[[Doc, float, Context], str | None],
) -> Response:
    """Apply ``change`` (which returns the event message, if any) to a job whose phase is in
    ``allowed``."""
    ctx = ctx_of(request)
    with runner_of(request).lock:
        job = _get_job(ctx, request.path_params["job_id"])
        if phase_of(job) not in allowed:
            allowed_statuses = sorted({status_of(p, ctx.config.flavor) for p in allowed})
            raise invalid(
                f"Job '{job['id']}' is {job['status']} and cannot be {action} "
                f"(only a job that is {' or '.join(allowed_statuses)}).",
                code=code,
            )
        now = ctx.now()
        message = change(job, now, ctx)
        ctx.store.put("job", job)
        if message is not None:
            ctx.store.put("event", event(job["id"], now, message), job["id"])
    return ok(render_job(job, ctx))


def _transition(ctx: Context) -> float:
    return min(_MAX_TRANSITION, ctx.config.job_duration * _TRANSITION_SHARE)


def _cancel(job: Doc, now: float, ctx: Context) -> str | None:
    set_phase(job, "cancelled", ctx.config.flavor)
    job.pop("_transition_until", None)
    job.update(finished_at=int(now), _finished_at=now)
    if ctx.config.flavor == "openai":
        job["estimated_finish"] = None
        return "Job cancelled."
    return None  # Azure's recorded events show no cancellation line


def _pause(job: Doc, now: float, ctx: Context) -> str | None:
    job["_paused_at"] = now  # the training clock stops now
    if ctx.config.flavor == "openai":
        set_phase(job, "paused", "openai")
        return "Job paused."
    set_phase(job, "pausing", "azure")  # recordings/pause_job.json; `paused` on a later tick
    job["_transition_until"] = now + _transition(ctx)
    return None


def _resume(job: Doc, now: float, ctx: Context) -> str | None:
    if ctx.config.flavor == "openai":
        set_phase(job, "running", "openai")
        job["_paused_total"] += now - job.pop("_paused_at")
        job["estimated_finish"] = estimated_finish(job)
        return "Job resumed."
    set_phase(job, "resuming", "azure")  # recordings/resume_job.json; `running` on a later tick
    job["_transition_until"] = now + _transition(ctx)
    return None


async def cancel_job(request: Request) -> Response:
    return _control(request, set(WAITING | ACTIVE), "cancelled", "jobNotCancellable", _cancel)


async def pause_job(request: Request) -> Response:
    return _control(request, {"running"}, "paused", "jobNotPausable", _pause)


async def resume_job(request: Request) -> Response:
    return _control(request, {"paused"}, "resumed", "jobNotResumable", _resume)


def _children(
    ctx: Context, kind: str, job_id: str, request: Request, default_limit: int
) -> tuple[list[Doc], bool]:
    after = request.query_params.get("after")
    found = ctx.store.page(kind, job_id, after, int_param(request, "limit", default_limit))
    if found is None:
        raise invalid(f"Unknown pagination cursor '{after}'.", param="after")
    return found


async def list_events(request: Request) -> Response:
    ctx = ctx_of(request)
    job = _get_job(ctx, request.path_params["job_id"])
    page, more = _children(ctx, "event", job["id"], request, 20)
    if ctx.config.flavor == "openai":
        return ok({"object": "list", "data": [public(e) for e in page], "has_more": more})
    # Azure's events carry no `data` and list in this key order (sft_create_cancel_events.json)
    data = [{key: e[key] for key in _EVENT_ORDER} for e in page]
    return ok({"has_more": more, "data": data, "object": "list"})


async def list_checkpoints(request: Request) -> Response:
    ctx = ctx_of(request)
    job = _get_job(ctx, request.path_params["job_id"])
    page, more = _children(ctx, "checkpoint", job["id"], request, 10)
    if ctx.config.flavor == "openai":
        return ok(id_list([public(c) for c in page], more))
    # Azure's list has no first_id / last_id (recordings/list_checkpoints.json)
    return ok({"has_more": more, "data": [public(c) for c in page], "object": "list"})


def finetuned_models(ctx: Context) -> dict[str, Doc]:
    """Every deployable fine-tuned model (final models and kept checkpoints) -> its job."""
    models: dict[str, Doc] = {}
    for job in ctx.store.all("job"):
        if job["status"] == "succeeded":
            models[job["fine_tuned_model"]] = job
            for ckpt in ctx.store.all("checkpoint", job["id"]):
                models[ckpt["fine_tuned_model_checkpoint"]] = job
        elif job.get("_cap_paused_at") is not None:  # paused at the $5,000 cap: "a deployable checkpoint"
            for ckpt in ctx.store.all("checkpoint", job["id"]):
                models[ckpt["fine_tuned_model_checkpoint"]] = job
    return models


def active_job_count(ctx: Context) -> int:
    """Jobs that hold or wait for the training slot."""
    return sum(1 for j in ctx.store.all("job") if phase_of(j) in ACTIVE | WAITING)


routes = [
    Route("/fine_tuning/jobs", create_job, methods=["POST"]),
    Route("/fine_tuning/jobs", list_jobs, methods=["GET"]),
    Route("/fine_tuning/jobs/{job_id}", retrieve_job, methods=["GET"]),
    Route("/fine_tuning/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
    Route("/fine_tuning/jobs/{job_id}/pause", pause_job, methods=["POST"]),
    Route("/fine_tuning/jobs/{job_id}/resume", resume_job, methods=["POST"]),
    Route("/fine_tuning/jobs/{job_id}/events", list_events, methods=["GET"]),
    Route("/fine_tuning/jobs/{job_id}/checkpoints", list_checkpoints, methods=["GET"]),
]
