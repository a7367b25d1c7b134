"""What to evaluate: a model or deployment, and the prompt it gets."""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from foundry_tune.errors import InvalidParameterError
from foundry_tune.evaluation._examples import Example, Message, few_shot_messages

__all__ = ["PromptTemplate", "Target"]


class _RowFields(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise InvalidParameterError(f"the prompt template uses {{{key}}}, which the row does not have")


@dataclasses.dataclass(frozen=True)
class PromptTemplate:
    """How an example becomes the messages one target is sent.

    The default sends the row's own conversation unchanged (what a fine-tuned model was trained
    on). ``system`` replaces the row's system message (or adds one); ``few_shot`` inserts
    example turns after it; ``user`` rewrites the last user message with a ``str.format``
    template in which ``{input}`` is that message's text and ``{field}`` any top-level row field.
    """

    system: str | None = None
    few_shot: Sequence[object] = ()
    user: str | None = None
    drop_system: bool = False

    def __post_init__(self) -> None:
        if self.user is not None:
            for _, field, _, _ in string.Formatter().parse(self.user):
                if field is not None and not field.isidentifier():
                    raise InvalidParameterError(f"prompt template field {{{field}}} is not a plain name")
        object.__setattr__(self, "few_shot", tuple(self.few_shot))
        few_shot_messages(self.few_shot)  # fail now, not on the first request

    def render(self, example: Example) -> list[Message]:
        """The messages for ``example``."""
        messages = [dict(m) for m in example.messages]
        system = [m for m in messages if m.get("role") in ("system", "developer")]
        rest = [m for m in messages if m.get("role") not in ("system", "developer")]
        if self.drop_system:
            system = []
        if self.system is not None:
            system = [{"role": "system", "content": self.system}]
        if self.user is not None:
            fields = _RowFields({k: v for k, v in example.item.items() if k.isidentifier()})
            fields["input"] = example.input
            content = self.user.format_map(fields)
            last_user = max((i for i, m in enumerate(rest) if m.get("role") == "user"), default=None)
            if last_user is None:
                rest.append({"role": "user", "content": content})
            else:
                rest[last_user] = {"role": "user", "content": content}
        return system + few_shot_messages(self.few_shot) + rest


Renderer = Callable[[Example], list[Message]]


def _deployment_name_and_model(obj: object) -> tuple[str, str | None] | None:
    name = getattr(obj, "name", None)
    if isinstance(name, str) and not isinstance(obj, str):
        model = getattr(obj, "model", None)
        return name, model if isinstance(model, str) else None
    return None


class Target:
    """A model to evaluate: a deployment (object or name) or any model name the connection serves.

    ``name`` labels its column in the report. The prompt is a [`PromptTemplate`][PromptTemplate] (or a
    callable ``example -> messages``); ``system``, ``few_shot`` and ``user`` are shortcuts that
    build one. ``params`` go into every chat completion request (``temperature``, ``max_tokens``...).
    ``price_model`` names the catalog model used for the cost estimate and ``tuned`` whether to
    charge fine-tuned prices; both are inferred from the deployment's model id when possible.
    """

    def __init__(
        self,
        model: object,
        *,
        name: str | None = None,
        prompt: PromptTemplate | Renderer | None = None,
        system: str | None = None,
        few_shot: Sequence[object] = (),
        user: str | None = None,
        params: Mapping[str, Any] | None = None,
        price_model: str | None = None,
        tuned: bool | None = None,
    ) -> None:
        deployment = _deployment_name_and_model(model)
        if deployment is not None:
            self.model, underlying = deployment
            self.deployment: object | None = model
        elif isinstance(model, str) and model.strip():
            self.model, underlying, self.deployment = model, None, None
        else:
            raise InvalidParameterError("a target is a deployment or a non-empty model name")
        if prompt is not None and (system is not None or few_shot or user is not None):
            raise InvalidParameterError("give either prompt= or the system/few_shot/user shortcuts, not both")
        if prompt is None:
            prompt = PromptTemplate(system=system, few_shot=few_shot, user=user)
        self.prompt: PromptTemplate | Renderer = prompt
        self.name = name or self.model
        self.params: dict[str, Any] = dict(params or {})
        self.price_model = price_model or underlying or self.model
        self.tuned = _looks_tuned(self.price_model) if tuned is None else tuned

    def render(self, example: Example) -> list[Message]:
        """The messages this target is sent for ``example``."""
        if isinstance(self.prompt, PromptTemplate):
            return self.prompt.render(example)
        return list(self.prompt(example))

    def with_name(self, name: str) -> Target:
        """A copy labelled ``name``."""
        copy = object.__new__(Target)
        copy.__dict__.update(self.__dict__)
        copy.name = name
        return copy

    def __repr__(self) -> str:
        return f"Target({self.model!r}, name={self.name!r})"


def for_example(target: Target, example: Example) -> Target:
    """``target`` as it is asked ``example``: the row's request parameters (``tools``,
    ``tool_choice``, ``parallel_tool_calls``) under the target's own ``params``, which win."""
    if not example.params:
        return target
    copy = target.with_name(target.name)
    copy.params = {**example.params, **target.params}
    return copy


def _looks_tuned(model: str) -> bool:
    return ".ft-" in model or ":ft-" in model or model.startswith("ft:")


def as_target(value: object, name: str | None = None) -> Target:
    """A Target from a Target, a deployment or a model name (labelled ``name`` when given)."""
    target = value if isinstance(value, Target) else Target(value)
    return target.with_name(name) if name is not None else target
