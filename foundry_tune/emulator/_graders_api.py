"""The graders endpoints: ``/fine_tuning/alpha/graders/validate`` and ``/run``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundry_tune.emulator._errors import invalid
from foundry_tune.emulator._grading import load_grader, run_grader
from foundry_tune.emulator._http import json_body, ok


async def validate(request: Request) -> Response:
    body = await json_body(request)
    if "grader" not in body:
        raise invalid("'grader' is a required property.", param="grader")
    grader = load_grader(body["grader"])
    return ok({"grader": grader.to_dict()})


async def run(request: Request) -> Response:
    body = await json_body(request)
    if "grader" not in body:
        raise invalid("'grader' is a required property.", param="grader")
    sample = body.get("model_sample")
    if not isinstance(sample, str):
        raise invalid("'model_sample' must be a string.", param="model_sample")
    item = body.get("item") or {}
    if not isinstance(item, dict):
        raise invalid("'item' must be an object.", param="item")
    grader = load_grader(body["grader"])
    return ok(run_grader(grader, sample, item))


routes = [
    Route("/fine_tuning/alpha/graders/validate", validate, methods=["POST"]),
    Route("/fine_tuning/alpha/graders/run", run, methods=["POST"]),
]
