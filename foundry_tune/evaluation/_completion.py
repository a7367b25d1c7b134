"""What one request returned: `Completion` (the runner's completers build it with
[`completion_from_response()`][completion_from_response])."""

from __future__ import annotations

import dataclasses
from typing import Any

from foundry_tune.evaluation._tool_calls import calls_text

__all__ = ["Completion", "completion_from_response"]


@dataclasses.dataclass(frozen=True)
class Completion:
    """The answer text, its token usage (``None`` when the service did not report it) and latency.

    An answer that calls tools is scored as the JSON list of its calls, each
    ``{"id", "type": "function", "function": {"name", "arguments"}}`` as the service sent it (its
    text, if any, is not scored): a completer of your own reports tool calls the same way.
    """

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency: float
    """Seconds taken by the attempt that succeeded (time spent on retried attempts excluded)."""


def completion_from_response(response: Any, latency: float) -> Completion:
    """A `Completion` from a chat completion response (sync or async client)."""
    choices = getattr(response, "choices", None) or []
    text = ""
    if choices:
        message = choices[0].message
        text = message.content or ""
        calls = getattr(message, "tool_calls", None)
        if calls:
            text = calls_text([c.model_dump(mode="json", exclude_none=True) for c in calls])
    usage = getattr(response, "usage", None)
    return Completion(
        text=text,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        latency=latency,
    )
