"""Rules shared by every method: chat messages, content parts, tool calls and tool definitions."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from foundry_tune.catalog import known_models
from foundry_tune.dataset._findings import Findings, describe_type

__all__ = [
    "MISSING",
    "MessageRules",
    "check_functions",
    "check_messages",
    "check_parallel_tool_calls",
    "check_tools",
    "has_output",
]

MISSING: Any = object()
"""Stands for a key that is absent (as opposed to present with ``null``)."""

_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_MESSAGE_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "weight", "tool_calls", "function_call", "refusal"}),
    "tool": frozenset({"role", "content", "tool_call_id", "name"}),
    "function": frozenset({"role", "content", "name"}),
}


@dataclasses.dataclass(frozen=True)
class MessageRules:
    """What a method accepts in a message list."""

    roles: tuple[str, ...]
    """Allowed roles, in the order error messages list them."""
    images: bool = True
    """Whether image parts are accepted in user messages (False for a model without vision)."""
    model: str | None = None
    """The model name, quoted when images are refused."""


def check_messages(
    messages: object,
    where: str,
    rules: MessageRules,
    out: Findings,
    call_ids: set[str] | None = None,
) -> list[dict[str, Any]] | None:
    """Check a message list; return its well-formed messages, or None when it is not a list.

    ``call_ids`` collects the ids of assistant tool calls, so that a ``tool`` message can be
    checked against a call made earlier (pass the set on to check a continuation).
    """
    if messages is MISSING:
        out.error("messages_missing", f"no '{where}': add a list of chat messages")
        return None
    if not isinstance(messages, list) or not messages:
        shown = "an empty array" if isinstance(messages, list) else describe_type(messages)
        out.error("messages_invalid", f"'{where}' must be a non-empty array of messages, got {shown}")
        return None
    calls = call_ids if call_ids is not None else set()
    good: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        label = f"{where}[{index}]"
        if not isinstance(message, dict):
            out.error(
                "message_invalid",
                f'{label} must be an object like {{"role": "user", "content": "..."}}, '
                f"got {describe_type(message)}",
            )
            continue
        if _check_message(message, label, rules, out, calls):
            good.append(message)
    return good


def _check_message(
    message: dict[str, Any], label: str, rules: MessageRules, out: Findings, calls: set[str]
) -> bool:
    role = message.get("role", MISSING)
    if role is MISSING:
        out.error("role_missing", f"{label} has no 'role': use one of {', '.join(rules.roles)}")
        return False
    if not isinstance(role, str) or role not in rules.roles:
        out.error("role_unknown", f"{label} has role {role!r}: use one of {', '.join(rules.roles)}")
        return False
    label = f"{label} ({role})"
    unknown = sorted(set(message) - _MESSAGE_KEYS[role])
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        out.error(
            "message_unknown_key",
            f"{label} has unknown key{'s' if len(unknown) > 1 else ''} {names}: a {role} message takes "
            f"only {', '.join(sorted(_MESSAGE_KEYS[role]))}",
        )
    if "name" in message and not isinstance(message["name"], str):
        out.error("name_invalid", f"{label}.name must be a string, got {describe_type(message['name'])}")
    if "weight" in message:
        _check_weight(message["weight"], label, role, out)
    if role == "assistant":
        _check_assistant(message, label, rules, out, calls)
    elif role == "tool":
        _check_tool_message(message, label, out, calls)
        _check_content(message, label, ("text",), rules, out)
    elif role == "function":
        content = message.get("content", MISSING)
        if content is MISSING or not (content is None or isinstance(content, str)):
            out.error("content_invalid", f"{label}.content must be a string or null")
        if not isinstance(message.get("name"), str):
            out.error("name_invalid", f"{label} needs the 'name' of the function it answers")
    else:
        parts = ("text", "image_url") if role == "user" else ("text",)
        _check_content(message, label, parts, rules, out)
    return True


def _check_weight(weight: object, label: str, role: str, out: Findings) -> None:
    if role != "assistant":
        out.error(
            "weight_not_assistant",
            f"{label} has a 'weight', but only assistant messages can be weighted: remove it",
        )
    elif type(weight) is not int or weight not in (0, 1):
        out.error(
            "weight_invalid",
            f"{label}.weight is {weight!r}: use 0 (do not train on this message) or 1 (train on it)",
        )


def _check_assistant(
    message: dict[str, Any], label: str, rules: MessageRules, out: Findings, calls: set[str]
) -> None:
    has_calls = "tool_calls" in message and message["tool_calls"] is not None
    if has_calls:
        _check_tool_calls(message["tool_calls"], label, out, calls)
    has_function_call = "function_call" in message and message["function_call"] is not None
    if has_function_call:
        call = message["function_call"]
        if not (
            isinstance(call, dict)
            and isinstance(call.get("name"), str)
            and isinstance(call.get("arguments"), str)
        ):
            out.error(
                "function_call_invalid",
                f'{label}.function_call must be {{"name": str, "arguments": str (JSON)}}',
            )
    content = message.get("content", MISSING)
    if content is MISSING or content is None:
        if not (has_calls or has_function_call):
            out.error(
                "content_missing",
                f"{label} has no 'content' and no 'tool_calls': give the reply the model should learn",
            )
        return
    _check_content(message, label, ("text", "refusal"), rules, out)


def _check_tool_calls(tool_calls: object, label: str, out: Findings, calls: set[str]) -> None:
    if not isinstance(tool_calls, list) or not tool_calls:
        out.error("tool_calls_invalid", f"{label}.tool_calls must be a non-empty array of tool calls")
        return
    for index, call in enumerate(tool_calls):
        where = f"{label}.tool_calls[{index}]"
        if not isinstance(call, dict):
            out.error("tool_calls_invalid", f"{where} must be an object, got {describe_type(call)}")
            continue
        problems = []
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            problems.append("an 'id' string")
        else:
            calls.add(call_id)
        if call.get("type") != "function":
            problems.append('"type": "function"')
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            problems.append("a 'function' with a 'name'")
        elif not isinstance(function.get("arguments"), str):
            problems.append("'function.arguments' as a JSON-encoded string")
        if problems:
            out.error("tool_calls_invalid", f"{where} needs {', '.join(problems)}")


def _check_tool_message(message: dict[str, Any], label: str, out: Findings, calls: set[str]) -> None:
    call_id = message.get("tool_call_id", MISSING)
    if call_id is MISSING or not isinstance(call_id, str):
        out.error("tool_call_id_missing", f"{label} needs the 'tool_call_id' of the call it answers")
    elif call_id not in calls:
        out.error(
            "tool_call_id_unknown",
            f"{label} answers tool_call_id {call_id!r}, but no earlier assistant message made that call",
        )


def _check_content(
    message: dict[str, Any], label: str, parts: Sequence[str], rules: MessageRules, out: Findings
) -> None:
    content = message.get("content", MISSING)
    if content is MISSING:
        out.error("content_missing", f"{label} has no 'content'")
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        shown = "an empty array" if isinstance(content, list) else describe_type(content)
        out.error(
            "content_invalid",
            f"{label}.content must be a string or a non-empty array of content parts, got {shown}",
        )
        return
    for index, part in enumerate(content):
        _check_part(part, f"{label}.content[{index}]", parts, rules, out)


def _check_part(part: object, where: str, parts: Sequence[str], rules: MessageRules, out: Findings) -> None:
    if not isinstance(part, dict):
        out.error("content_part_invalid", f"{where} must be an object, got {describe_type(part)}")
        return
    kind = part.get("type")
    if kind == "image_url" and "image_url" not in parts:
        out.error("image_not_allowed", f"{where} is an image: images are only allowed in user messages")
        return
    if kind not in parts:
        out.error(
            "content_part_invalid",
            f"{where} has type {kind!r}: this message accepts {', '.join(repr(p) for p in parts)} parts "
            "(audio and file parts cannot be used for fine-tuning)",
        )
        return
    if kind == "text":
        if not isinstance(part.get("text"), str):
            out.error("content_part_invalid", f"{where} is a text part without a 'text' string")
    elif kind == "refusal":
        if not isinstance(part.get("refusal"), str):
            out.error("content_part_invalid", f"{where} is a refusal part without a 'refusal' string")
    elif kind == "image_url":
        _check_image(part.get("image_url"), where, rules, out)


def _vision_models() -> list[str]:
    """The catalog's models that can be fine-tuned on images."""
    return [name for name, info in known_models().items() if info.vision]


def _check_image(image: object, where: str, rules: MessageRules, out: Findings) -> None:
    if not rules.images:
        out.error(
            "image_unsupported_model",
            f"{where} is an image, but {rules.model or 'this model'} cannot be fine-tuned on images: "
            f"use a model with vision ({', '.join(_vision_models())}) or remove the image",
        )
        return
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:image/")):
        out.error(
            "image_url_invalid",
            f"{where}.image_url.url must be an https:// URL or a data:image/...;base64 URL",
        )
        return
    detail = image.get("detail", "auto") if isinstance(image, dict) else "auto"
    if detail not in ("auto", "low", "high"):
        out.error("image_url_invalid", f"{where}.image_url.detail is {detail!r}: use auto, low or high")


def has_output(message: dict[str, Any]) -> bool:
    """Whether an assistant or tool message says something (non-empty content or a tool call)."""
    if message.get("tool_calls") or message.get("function_call"):
        return True
    content = message.get("content")
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list):
        return any(
            isinstance(p, dict) and str(p.get("text") or p.get("refusal") or "").strip() for p in content
        )
    return False


def check_tools(tools: object, where: str, out: Findings) -> None:
    """``tools``: an array of ``{"type": "function", "function": {"name": ..., ...}}``."""
    if tools is MISSING:
        return
    if not isinstance(tools, list):
        out.error(
            "tools_invalid", f"'{where}' must be an array of tool definitions, got {describe_type(tools)}"
        )
        return
    for index, tool in enumerate(tools):
        label = f"{where}[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            out.error("tools_invalid", f'{label} must be {{"type": "function", "function": {{...}}}}')
            continue
        _check_function_definition(tool.get("function"), f"{label}.function", "tools_invalid", out)


def check_functions(functions: object, out: Findings) -> None:
    """The deprecated ``functions``: an array of 1 to 128 function definitions."""
    if functions is MISSING:
        return
    if not isinstance(functions, list) or not 1 <= len(functions) <= 128:
        out.error("functions_invalid", "'functions' must be an array of 1 to 128 function definitions")
        return
    for index, function in enumerate(functions):
        _check_function_definition(function, f"functions[{index}]", "functions_invalid", out)


def _check_function_definition(function: object, label: str, code: str, out: Findings) -> None:
    if not isinstance(function, dict):
        out.error(code, f"{label} must be an object with a 'name'")
        return
    name = function.get("name")
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        out.error(code, f"{label}.name {name!r} must be 1-64 characters of a-z, A-Z, 0-9, _ or -")
    if "parameters" in function and not isinstance(function["parameters"], dict):
        out.error(code, f"{label}.parameters must be a JSON Schema object")
    if "description" in function and not isinstance(function["description"], str):
        out.error(code, f"{label}.description must be a string")


def check_parallel_tool_calls(value: object, where: str, out: Findings) -> None:
    """``parallel_tool_calls`` must be a boolean."""
    if value is not MISSING and not isinstance(value, bool):
        out.error("parallel_tool_calls_invalid", f"'{where}' must be true or false")
