"""Calling a deployment through the OpenAI client (the deployment name is the model)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from foundry_tune.client import Foundry

__all__ = ["as_messages", "chat", "respond"]


def as_messages(prompt_or_messages: str | Iterable[Mapping[str, Any]], system: str | None = None
                ) -> list[dict[str, Any]]:
    """A chat ``messages`` list from a prompt string or an existing list of messages."""
    if isinstance(prompt_or_messages, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt_or_messages}]
    else:
        messages = [dict(m) for m in prompt_or_messages]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def chat(ft: Foundry, deployment: str, prompt_or_messages: str | Iterable[Mapping[str, Any]], *,
         system: str | None = None, **kwargs: Any) -> str:
    """Send a chat completion to ``deployment`` and return the first choice's text."""
    messages = as_messages(prompt_or_messages, system)
    completion = ft.retry.call(
        lambda: ft.openai.chat.completions.create(model=deployment, messages=messages, **kwargs),  # type: ignore[arg-type]
        what=f"chat with deployment {deployment!r}",
    )
    if not completion.choices:
        return ""
    return completion.choices[0].message.content or ""


def respond(ft: Foundry, deployment: str, input: str | list[Any], **kwargs: Any) -> str:
    """Send a Responses API request to ``deployment`` and return its output text."""
    response = ft.retry.call(
        lambda: ft.openai.responses.create(model=deployment, input=input, **kwargs),
        what=f"responses call to deployment {deployment!r}",
    )
    return str(response.output_text)
