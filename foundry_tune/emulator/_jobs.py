"""The fine-tuning jobs API: create, list, retrieve, cancel, pause, resume, events, checkpoints."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundry_tune._method_kind import MethodKind
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
from foundry_tune.emulator._simulation import ACTIVE, JobRunner, event
from foundry_tune.emulator._state import Context, new_id
from foundry_tune.emulator._store import Doc

_VALIDATING_SHARE = 0.15


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
    waiting = sum(1 for j in jobs if j["status"] in {"validating_files", "queued"})
    if len(jobs) >= ctx.config.max_jobs or waiting >= ctx.config.max_queued_jobs:
        raise ApiError(
            429,
            f"This resource already has {waiting} queued jobs and {len(jobs)} jobs in total (limits: "
            f"{ctx.config.max_queued_jobs} queued, {ctx.config.max_jobs} total). Wait for jobs to finish "
            "or delete old ones.",
            code="quotaExceeded",
        )


async def create_job(request: Request) -> Response:
    ctx = ctx_of(request)
    body = await json_body(request)
    kind, method = check_method(body)
    info = check_model(body.get("model"), kind)
    training_type = check_training_type(body)
    suffix = check_suffix(body.get("suffix"))
    metadata = check_metadata(body.get("metadata"))
    seed = check_seed(body.get("seed"))
    integrations = check_integrations(body.get("integrations"))
    training_file = _file_param(ctx, body, "training_file", True)
    validation_file = _file_param(ctx, body, "validation_file", False)
    if kind is MethodKind.REINFORCEMENT and validation_file is None:
        raise invalid("A reinforcement job needs a 'validation_file'.", param="validation_file")
    base = f"{info.name}-{info.version}"
    ft_model = f"{base}.ft-{secrets.token_hex(16)}" + (f"-{suffix}" if suffix else "")
    now = ctx.now()
    duration = ctx.config.job_duration
    hp = method[kind.value]["hyperparameters"]
    job: Doc = {
        "id": new_id("ftjob-"),
        "object": "fine_tuning.job",
        "created_at": int(now),
        "error": None,
        "estimated_finish": None,
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
        "status": "validating_files",
        "suffix": suffix,
        "user_provided_suffix": suffix,
        "trained_tokens": None,
        "training_file": training_file,
        "validation_file": validation_file,
        "trainingType": training_type,
        "_kind": kind.value,
        "_ft_model": ft_model,
        "_validate_until": now + duration * _VALIDATING_SHARE,
        "_run_duration": duration * (1 - _VALIDATING_SHARE),
    }
    with runner_of(request).lock:
        _check_quota(ctx)
        ctx.store.put("job", job)
        ctx.store.put_many(
            "event",
            [
                event(job["id"], now, f"Created fine-tuning job: {job['id']}"),
                event(job["id"], now, "Validating training file."),
            ],
            job["id"],
        )
    return ok(public(job))


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
    return ok({"object": "list", "data": [public(j) for j in page], "has_more": more})


async def retrieve_job(request: Request) -> Response:
    return ok(public(_get_job(ctx_of(request), request.path_params["job_id"])))


def _control(
    request: Request, allowed: set[str], action: str, code: str, change: Callable[[Doc, float], str]
) -> Response:
    """Apply ``change`` (which returns the event message) to a job whose status is in ``allowed``."""
    ctx = ctx_of(request)
    with runner_of(request).lock:
        job = _get_job(ctx, request.path_params["job_id"])
        if job["status"] not in allowed:
            raise invalid(
                f"Job '{job['id']}' is {job['status']} and cannot be {action} "
                f"(only a job that is {' or '.join(sorted(allowed))}).",
                code=code,
            )
        now = ctx.now()
        message = change(job, now)
        ctx.store.put("job", job)
        ctx.store.put("event", event(job["id"], now, message), job["id"])
    return ok(public(job))


def _cancel(job: Doc, now: float) -> str:
    job.update(status="cancelled", finished_at=int(now), _finished_at=now, estimated_finish=None)
    return "Job cancelled."


def _pause(job: Doc, now: float) -> str:
    job.update(status="paused", _paused_at=now)
    return "Job paused."


def _resume(job: Doc, now: float) -> str:
    job["status"] = "running"
    job["_paused_total"] += now - job.pop("_paused_at")
    job["estimated_finish"] = int(job["_started_at"] + job["_paused_total"] + job["_run_duration"])
    return "Job resumed."


async def cancel_job(request: Request) -> Response:
    return _control(
        request,
        {"validating_files", "queued", "running", "paused"},
        "cancelled",
        "jobNotCancellable",
        _cancel,
    )


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
    return ok({"object": "list", "data": [public(e) for e in page], "has_more": more})


async def list_checkpoints(request: Request) -> Response:
    ctx = ctx_of(request)
    job = _get_job(ctx, request.path_params["job_id"])
    page, more = _children(ctx, "checkpoint", job["id"], request, 10)
    return ok(id_list([public(c) for c in page], more))


def finetuned_models(ctx: Context) -> dict[str, Doc]:
    """Every deployable fine-tuned model (final models and kept checkpoints) -> its job."""
    models: dict[str, Doc] = {}
    for job in ctx.store.all("job"):
        if job["status"] == "succeeded":
            models[job["fine_tuned_model"]] = job
            for ckpt in ctx.store.all("checkpoint", job["id"]):
                models[ckpt["fine_tuned_model_checkpoint"]] = job
    return models


def active_job_count(ctx: Context) -> int:
    """Jobs that hold or wait for the training slot."""
    return sum(1 for j in ctx.store.all("job") if j["status"] in ACTIVE | {"queued", "validating_files"})


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
