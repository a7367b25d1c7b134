"""One chat completion for one target and example, through the connection's retry policy."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Protocol

from foundry_tune.evaluation._examples import Message
from foundry_tune.evaluation._targets import Target

__all__ = ["Completer", "Completion", "FoundryCompleter", "completion_from_response"]


@dataclasses.dataclass(frozen=True)
class Completion:
    """The answer text, its token usage (``None`` when the service did not report it) and latency."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency: float
    """Seconds taken by the attempt that succeeded (time spent on retried attempts excluded)."""


class Completer(Protocol):
    """Sends one request; :class:`FoundryCompleter` is the one evaluate() uses."""

    def __call__(self, target: Target, messages: list[Message]) -> Completion: ...


class FoundryCompleter:
    """Chat completions on a Foundry connection (its ``openai`` client and ``retry`` policy)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def __call__(self, target: Target, messages: list[Message]) -> Completion:
        last_start = [0.0]

        def attempt() -> Any:
            last_start[0] = time.perf_counter()
            return self.connection.openai.chat.completions.create(
                model=target.model, messages=messages, **target.params
            )

        response = self.connection.retry.call(attempt, what=f"chat completion on {target.model}")
        return completion_from_response(response, time.perf_counter() - last_start[0])


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
