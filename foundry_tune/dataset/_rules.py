"""Per-method rules for one example (one JSONL line), and method detection from a row's shape.

Each ``check_*`` function returns the example's [`Findings`][Findings]; codes are prefixed with the
method's short name (``sft.``, ``dpo.``, ``rft.``) so a tool can tell them apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from foundry_tune._method_kind import MethodKind
from foundry_tune.dataset._findings import Findings, describe_type
from foundry_tune.dataset._messages import (
    MISSING,
    MessageRules,
    check_functions,
    check_messages,
    check_parallel_tool_calls,
    check_tools,
    has_output,
)

__all__ = ["SFT_ROLES", "ExampleRules", "detect_method", "rules_for"]

ExampleRules = Callable[[dict[str, Any]], Findings]

_CHAT_ROLES = SFT_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_RFT_ROLES = ("developer", "user", "assistant", "tool", "system")
_SFT_KEYS = ("messages", "tools", "functions", "parallel_tool_calls")
_DPO_KEYS = ("input", "preferred_output", "non_preferred_output")
_DPO_INPUT_KEYS = ("messages", "tools", "parallel_tool_calls")


def rules_for(method: MethodKind, *, images: bool = True, model: str | None = None) -> ExampleRules:
    """The checker for one example of ``method``.

    ``images=False`` refuses image parts (a model without vision)."""
    if method is MethodKind.SUPERVISED:
        chat = MessageRules(_CHAT_ROLES, images, model)
        return lambda record: check_sft(record, chat)
    if method is MethodKind.DPO:
        chat = MessageRules(_CHAT_ROLES, images, model)
        return lambda record: check_dpo(record, chat)
    rft = MessageRules(_RFT_ROLES, images, model)
    return lambda record: check_rft(record, rft)


def _unknown_keys(
    record: dict[str, Any], allowed: tuple[str, ...], what: str, code: str, out: Findings
) -> None:
    unknown = [key for key in record if key not in allowed]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        out.error(
            code,
            f"unknown key{'s' if len(unknown) > 1 else ''} {names}: {what} has only "
            f"{', '.join(allowed)}; remove {'them' if len(unknown) > 1 else 'it'}",
        )


def check_sft(record: dict[str, Any], rules: MessageRules) -> Findings:
    """Supervised (chat) example: ``{"messages": [...], "tools"?, "functions"?, "parallel_tool_calls"?}``."""
    out = Findings("sft")
    _unknown_keys(record, _SFT_KEYS, "a supervised example", "unknown_key", out)
    messages = check_messages(record.get("messages", MISSING), "messages", rules, out)
    check_tools(record.get("tools", MISSING), "tools", out)
    check_functions(record.get("functions", MISSING), out)
    check_parallel_tool_calls(record.get("parallel_tool_calls", MISSING), "parallel_tool_calls", out)
    if messages is None:
        return out
    assistants = [m for m in messages if m.get("role") == "assistant"]
    if not assistants:
        out.error(
            "assistant_missing",
            "no assistant message: a supervised example needs at least one assistant reply to learn from",
        )
        return out
    if all(m.get("weight", 1) == 0 for m in assistants):
        out.error(
            "no_trainable_assistant",
            "every assistant message has weight 0, so nothing would be learned: set weight 1 on at least one",
        )
    last = record["messages"][-1]
    if isinstance(last, dict) and last.get("role") != "assistant":
        out.error(
            "last_not_assistant",
            f"the last message is {last.get('role')!r}: a supervised example must end with the "
            "assistant reply it teaches",
        )
    return out


def check_dpo(record: dict[str, Any], rules: MessageRules) -> Findings:
    """Preference example: ``{"input": {"messages": [...]}, "preferred_output": [msg],
    "non_preferred_output": [msg]}``."""
    out = Findings("dpo")
    _unknown_keys(record, _DPO_KEYS, "a DPO example", "unknown_key", out)
    call_ids: set[str] = set()
    given = record.get("input", MISSING)
    if given is MISSING:
        out.error(
            "input_missing",
            'no \'input\': a DPO example is {"input": {"messages": [...]}, "preferred_output": [...], '
            '"non_preferred_output": [...]}',
        )
    elif not isinstance(given, dict):
        out.error("input_invalid", f"'input' must be an object with 'messages', got {describe_type(given)}")
    else:
        _unknown_keys(given, _DPO_INPUT_KEYS, "'input'", "input_unknown_key", out)
        check_messages(given.get("messages", MISSING), "input.messages", rules, out, call_ids)
        check_tools(given.get("tools", MISSING), "input.tools", out)
        check_parallel_tool_calls(given.get("parallel_tool_calls", MISSING), "input.parallel_tool_calls", out)
    outputs = [
        _check_output(record, key, rules, out, call_ids)
        for key in ("preferred_output", "non_preferred_output")
    ]
    preferred, non_preferred = outputs
    if preferred is not None and non_preferred is not None and _same(preferred, non_preferred):
        out.error(
            "identical_outputs",
            "preferred_output and non_preferred_output are identical, so the pair teaches no preference: "
            "make them differ or drop the example",
        )
    return out


def _check_output(
    record: dict[str, Any], key: str, rules: MessageRules, out: Findings, call_ids: set[str]
) -> list[dict[str, Any]] | None:
    value = record.get(key, MISSING)
    if value is MISSING:
        out.error(f"{key}_missing", f"no '{key}': give it as an array holding one assistant message")
        return None
    if not isinstance(value, list) or len(value) != 1:
        shown = f"{len(value)} messages" if isinstance(value, list) else describe_type(value)
        out.error("output_invalid", f"'{key}' must be an array holding exactly one message, got {shown}")
        return None
    message = value[0]
    if isinstance(message, dict) and message.get("role") not in ("assistant", "tool"):
        out.error(
            "output_role",
            f"{key}[0] has role {message.get('role')!r}: outputs must be assistant (or tool) messages",
        )
        return None
    output_rules = MessageRules(("assistant", "tool"), rules.images, rules.model)
    good = check_messages(value, key, output_rules, out, set(call_ids))
    if not good:
        return None
    if not has_output(good[0]):
        out.error("output_empty", f"{key}[0] is empty: give the text (or tool call) of this answer")
        return None
    return good


def _same(a: object, b: object) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def check_rft(record: dict[str, Any], rules: MessageRules) -> Findings:
    """Reinforcement example: ``{"messages": [..., user], "tools"?, **fields for graders}``."""
    out = Findings("rft")
    messages = check_messages(record.get("messages", MISSING), "messages", rules, out)
    check_tools(record.get("tools", MISSING), "tools", out)
    if messages is None:
        return out
    if any(m.get("role") == "system" for m in messages):
        out.warning(
            "system_role",
            "reinforcement fine-tuning models (o-series) take instructions as 'developer' messages: "
            "rename the 'system' role to 'developer'",
        )
    last = record["messages"][-1]
    if isinstance(last, dict) and last.get("role") not in ("user", "developer"):
        out.error(
            "last_not_user",
            f"the last message is {last.get('role')!r}: a reinforcement example ends with the user (or "
            "developer) turn the model answers; the reference answer goes in another field for the grader",
        )
    return out


def detect_method(record: dict[str, Any]) -> MethodKind | None:
    """Which method a row's shape belongs to, or None when it looks like no training example."""
    if isinstance(record.get("input"), dict) or "preferred_output" in record:
        return MethodKind.DPO
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1].get("role")
    if last in ("user", "developer"):
        return MethodKind.REINFORCEMENT
    if last in ("assistant", "tool", "function", "system"):
        return MethodKind.SUPERVISED
    return None
