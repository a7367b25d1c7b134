"""Inference on deployments: chat completions and responses (see ``_answers`` for what is said)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from foundry_tune.catalog import lookup_model
from foundry_tune.emulator._answers import (
    Reply,
    ToolRequest,
    base_reply,
    is_training_prompt,
    text_of,
    tuned_reply,
    words,
)
from foundry_tune.emulator._checkpoint_answers import for_checkpoint
from foundry_tune.emulator._deployments import live, provisioning_state, ready_at
from foundry_tune.emulator._errors import ApiError, invalid
from foundry_tune.emulator._files import file_path
from foundry_tune.emulator._http import ctx_of, json_body, ok
from foundry_tune.emulator._lifecycle import record_use
from foundry_tune.emulator._rate_limit import admit
from foundry_tune.emulator._state import Context, new_id

NOT_FOUND_MESSAGE = (
    "The API deployment for this resource does not exist. If you created the deployment within the "
    "last 5 minutes, please wait a moment and try again."
)
"""Azure's answer for a deployment that does not exist or does not serve yet
(``errors/data_deployment_not_found.json``: answered right after ARM reported Succeeded)."""


def _answer(ctx: Context, deployment: str, prompt: str,
            tools: ToolRequest | None = None) -> tuple[str, Reply]:
    """(model name, answer) for a prompt sent to ``deployment`` (offering ``tools``)."""
    doc = live(ctx, deployment)
    if doc is None:
        info = lookup_model(deployment)
        if info is not None and ".ft-" not in deployment:
            return deployment, base_reply(info.name, prompt, tools)
        raise ApiError(404, NOT_FOUND_MESSAGE, code="DeploymentNotFound")
    if provisioning_state(ctx, doc) != "Succeeded" or ctx.now() < ready_at(ctx, doc):
        raise ApiError(404, NOT_FOUND_MESSAGE, code="DeploymentNotFound")
    record_use(ctx, deployment)  # a call restarts the 15 days after which an unused deployment is deleted
    model = doc["model"]["name"]
    if doc["_tuned"]:
        job = ctx.store.get("job", doc["_job"] or "")
        training = ctx.store.get("file", job["training_file"]) if job else None
        if training is not None and (found := tuned_reply(file_path(ctx, training), prompt, tools)):
            trained_on = is_training_prompt(file_path(ctx, training), prompt)
            return model, for_checkpoint(ctx, job, model, prompt, found, memorized=trained_on)
    return model, base_reply(doc.get("_base") or model, prompt, tools)


def tool_request(body: dict[str, Any]) -> ToolRequest | None:
    """The request's ``tools``, ``tool_choice`` and ``parallel_tool_calls``, checked as the service
    does (400 naming the parameter); ``None`` when it offers no function."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if tools is None or tools == []:
        if choice is not None:
            raise invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                          "specified.", param="tool_choice")
        return None
    if not isinstance(tools, list):
        raise invalid("Invalid type for 'tools': expected an array of tool objects.", param="tools")
    offered: list[tuple[str, frozenset[str]]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise invalid(f"Invalid 'tools[{i}]': expected an object with a 'type'.", param=f"tools[{i}]")
        if tool["type"] != "function":
            continue  # a custom or hosted tool: nothing the emulator calls
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise invalid(f"Missing required parameter: 'tools[{i}].function.name'.",
                          param=f"tools[{i}].function.name")
        description = function.get("description") if isinstance(function, dict) else None
        text = f"{name.replace('_', ' ')} {description if isinstance(description, str) else ''}"
        offered.append((name, words(text)))
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise invalid("Invalid type for 'parallel_tool_calls': expected a boolean.",
                      param="parallel_tool_calls")
    if choice is None or choice in ("auto", "none", "required"):
        return ToolRequest(tuple(offered), choice or "auto", None, parallel)
    forced = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    name = forced.get("name") if isinstance(forced, dict) else None
    if not isinstance(name, str):
        raise invalid("Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or "
                      "{'type': 'function', 'function': {'name': ...}}.", param="tool_choice")
    if name not in {n for n, _ in offered}:
        raise invalid(f"Invalid value for 'tool_choice': function '{name}' is not one of the 'tools'.",
                      param="tool_choice")
    return ToolRequest(tuple(offered), "function", name, parallel)


_INT32_MAX = 2_147_483_647
_RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}


def check_sampling(body: dict[str, Any], token_keys: tuple[str, ...]) -> None:
    """Refuse (400 naming the parameter) token limits that are not whole numbers from 1 to
    2147483647, and a ``temperature`` outside [0, 2] or ``top_p`` outside [0, 1], as the service does."""
    for key in token_keys:
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _INT32_MAX:
            raise invalid(f"'{key}' must be an integer from 1 to {_INT32_MAX}.", param=key)
    for key, (low, high) in _RANGES.items():
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise invalid(f"'{key}' must be a number from {low:g} to {high:g}.", param=key)


def _limit(text: str, max_tokens: object) -> tuple[str, str]:
    if isinstance(max_tokens, int) and max_tokens > 0:
        parts = text.split()
        if len(parts) > max_tokens:
            return " ".join(parts[:max_tokens]), "length"
    return text, "stop"


def _count(text: str) -> int:
    return max(1, len(text.split()))


def _charged(body: dict[str, Any], prompt_tokens: int, token_keys: tuple[str, ...]) -> int:
    """The tokens a request counts against a rate limit: its prompt's and the most it may answer."""
    most = next((body[key] for key in token_keys if isinstance(body.get(key), int)), 0)
    return prompt_tokens + most


async def chat_completions(request: Request) -> Response:
    ctx = ctx_of(request)
    body = await json_body(request)
    deployment = request.path_params.get("deployment") or body.get("model")
    if not isinstance(deployment, str) or not deployment:
        raise invalid("'model' is a required property.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' must be a non-empty list.", param="messages")
    check_sampling(body, ("max_tokens", "max_completion_tokens"))
    tools = tool_request(body)
    if tools is not None and tools.choice == "auto" and isinstance(messages[-1], dict) and (
            messages[-1].get("role") == "tool"):
        # The calls were answered: the model answers in words now (an agent loop ends) unless forced.
        tools = dataclasses.replace(tools, choice="none")
    users = [text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    prompt = users[-1] if users else ""
    prompt_tokens = sum(_count(text_of(m.get("content"))) for m in messages if isinstance(m, dict))
    limits = admit(ctx, deployment, _charged(body, prompt_tokens, ("max_completion_tokens", "max_tokens")))
    model, reply = _answer(ctx, deployment, prompt, tools)
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.calls:
        # As OpenAI answers a call: no text (content null), the calls, finish_reason "tool_calls".
        calls = reply.tool_calls()
        message.update(content=reply.text or None, tool_calls=calls)
        finish = "tool_calls"
        completion_tokens = sum(_count(f"{n} {a}") for n, a in reply.calls)
    else:
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        message["content"], finish = _limit(reply.text, limit)
        completion_tokens = _count(message["content"])
    if body.get("stream"):
        return StreamingResponse(_chat_chunks(model, message, finish, int(ctx.now())),
                                 media_type="text/event-stream", headers=limits)
    return ok(
        {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(ctx.now()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
        headers=limits,
    )


async def _chat_chunks(model: str, message: dict[str, Any], finish: str, created: int) -> AsyncIterator[str]:
    """The answer as ``chat.completion.chunk`` server-sent events: text a word at a time; each tool
    call as its id and name, then its arguments (the deltas the openai SDK accumulates)."""
    ident = new_id("chatcmpl-")

    def chunk(delta: dict[str, Any], reason: str | None) -> str:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}],
        }
        return f"data: {json.dumps(body)}\n\n"

    calls = message.get("tool_calls") or []
    yield chunk({"role": "assistant", "content": None if calls and not message["content"] else ""}, None)
    if message["content"]:
        for i, word in enumerate(message["content"].split(" ")):
            yield chunk({"content": word if i == 0 else " " + word}, None)
    for index, call in enumerate(calls):
        function = call["function"]
        head = {"index": index, "id": call["id"], "type": "function",
                "function": {"name": function["name"], "arguments": ""}}
        yield chunk({"tool_calls": [head]}, None)
        rest = {"index": index, "function": {"arguments": function["arguments"]}}
        yield chunk({"tool_calls": [rest]}, None)
    yield chunk({}, finish)
    yield "data: [DONE]\n\n"


def _response_prompt(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        users = [
            text_of(m.get("content")) for m in raw if isinstance(m, dict) and m.get("role", "user") == "user"
        ]
        return users[-1] if users else ""
    raise invalid("'input' must be a string or a list of messages.", param="input")


async def responses(request: Request) -> Response:
    ctx = ctx_of(request)
    body = await json_body(request)
    deployment = body.get("model")
    if not isinstance(deployment, str) or not deployment:
        raise invalid("'model' is a required property.", param="model")
    if body.get("stream"):
        raise invalid("The emulator does not stream; call without stream=True.", param="stream")
    check_sampling(body, ("max_output_tokens",))
    prompt = _response_prompt(body.get("input", ""))
    limits = admit(ctx, deployment, _charged(body, _count(prompt), ("max_output_tokens",)))
    model, reply = _answer(ctx, deployment, prompt)
    answer, finish = _limit(reply.text, body.get("max_output_tokens"))
    now = int(ctx.now())
    return ok(
        {
            "id": new_id("resp_"),
            "object": "response",
            "created_at": now,
            "status": "completed" if finish == "stop" else "incomplete",
            "incomplete_details": None if finish == "stop" else {"reason": "max_output_tokens"},
            "error": None,
            "instructions": body.get("instructions"),
            "metadata": body.get("metadata") or {},
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": new_id("msg_"),
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": answer, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "temperature": body.get("temperature", 1.0),
            "top_p": body.get("top_p", 1.0),
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": _count(prompt),
                "output_tokens": _count(answer),
                "total_tokens": _count(prompt) + _count(answer),
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        },
        headers=limits,
    )


routes = [
    Route("/chat/completions", chat_completions, methods=["POST"]),
    Route("/responses", responses, methods=["POST"]),
]
legacy_routes = [
    Route("/deployments/{deployment}/chat/completions", chat_completions, methods=["POST"]),
]
