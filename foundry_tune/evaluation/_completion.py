"""What one request returned: :class:`Completion` (the runner's completers build it with
:func:`completion_from_response`)."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Completion", "completion_from_response"]


@dataclasses.dataclass(frozen=True)
class Completion:
    """The answer text, its token usage (``None`` when the service did not report it) and latency."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency: float
    """Seconds taken by the attempt that succeeded (time spent on retried attempts excluded)."""


def completion_from_response(response: Any, latency: float) -> Completion:
    """A :class:`Completion` from a chat completion response (sync or async client)."""
    choices = getattr(response, "choices", None) or []
    text = ""
    if choices:
        message = choices[0].message
        text = message.content or ""
        if not text and getattr(message, "tool_calls", None):
            text = str([c.model_dump() for c in message.tool_calls])
    usage = getattr(response, "usage", None)
    return Completion(
        text=text,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        latency=latency,
    )
