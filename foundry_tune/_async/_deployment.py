"""``AsyncDeployment``: one model deployment, to wait on until it answers, chat with, refresh and delete."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

import openai
from openai.types.chat import ChatCompletionMessage, ChatCompletionMessageFunctionToolCall

from foundry_tune._async import _flavour
from foundry_tune._async._calls import safe_call
from foundry_tune._core.deployment_errors import deployment_error
from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.deployment_state import (
    CREATE_TIMEOUT,
    DELETE_TIMEOUT,
    PROBE_MAX_TOKENS,
    PROBE_MESSAGES,
    DeploymentState,
    Readiness,
    ThrottleCount,
    arm_recheck_due,
    as_messages,
    deleted_while_waiting,
    operation_done,
    provisioned,
    provisioning_schedule,
    readiness_of,
    readiness_schedule,
    retry_hint,
)
from foundry_tune._core.polling import Deadline, PollSchedule
from foundry_tune._core.retry import time_bound
from foundry_tune._core.translate import translate
from foundry_tune.errors import (
    FoundryTuneError,
    RetryBudgetExceededError,
    ToolCallsAnswerError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune._async._deployments import AsyncDeploymentsAPI
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["STOP_CHECK", "AsyncDeployment", "wait_until"]

log = logging.getLogger("foundry_tune.deployment")

STOP_CHECK = 0.25
"""Seconds between two looks at a wait's ``stop`` condition while it sleeps."""


async def wait_until(
    ft: AsyncFoundry,
    check: Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    what: str,
    schedule: PollSchedule,
    stop: Callable[[], bool] | None = None,
) -> None:
    """Call ``check`` until it returns True, sleeping on ``schedule`` (with the connection's retry
    clock and sleep) in between; [`WaitTimeoutError`][WaitTimeoutError] once ``timeout`` seconds passed.
    ``stop``: asked between looks and every [`STOP_CHECK`][STOP_CHECK] seconds of a sleep; once it
    answers True the wait ends with an interruption (Ctrl-C's ``KeyboardInterrupt`` in the blocking
    flavour, a cancellation in the async one)."""
    clock = ft.retry.clock
    deadline = Deadline.after(timeout, clock())
    while True:
        try:
            with time_bound(deadline.at, clock):  # a look that hangs or trickles ends with the wait
                if await check():
                    return
        except RetryBudgetExceededError:
            if not deadline.passed(clock()):
                raise
        remaining = deadline.remaining(clock())
        if remaining is not None and remaining <= 0:
            raise WaitTimeoutError(
                f"{what}: still waiting after {timeout:g}s (nothing was cancelled or deleted)"
            )
        pause = schedule.next(remaining=remaining)
        if stop is None:
            await ft.retry.sleep(pause)
            continue
        # In short steps, so that a wait told to stop ends within STOP_CHECK seconds.
        until = clock() + pause
        while not stop() and clock() < until:
            await ft.retry.sleep(min(STOP_CHECK, max(0.0, until - clock())))
        if stop():
            raise _flavour.INTERRUPTS[0]


def _text_of(answer: ChatCompletionMessage, deployment: str) -> str:
    """The answer's text; [`ToolCallsAnswerError`][ToolCallsAnswerError] when it only calls tools
    (its `""` would read as an empty answer)."""
    if answer.content or not answer.tool_calls:
        return answer.content or ""
    tool_names = tuple(
        call.function.name if isinstance(call, ChatCompletionMessageFunctionToolCall) else call.custom.name
        for call in answer.tool_calls
    )
    raise ToolCallsAnswerError(
        f"deployment {deployment!r}: the answer called tools ({', '.join(tool_names)}) and has no text: "
        "use chat(..., message=True) or chat_message() to read them (this error's `answer` holds them)",
        answer=answer,
        tool_names=tool_names,
    )


class AsyncDeployment(DeploymentState):
    """A model deployment on the Foundry resource.

    ``chat()`` and ``responses()`` call it through the OpenAI client; ``delete()`` removes it and
    waits until it is gone. Used as a context manager it is deleted when the block exits, also
    when the block raises.
    """

    def __init__(self, api: AsyncDeploymentsAPI, info: DeploymentInfo, *,
                 operation: str | None = None) -> None:
        self._api = api
        self._info = info
        self._operation = operation

    @property
    def _ft(self) -> AsyncFoundry:
        return self._api.ft

    async def refresh(self) -> AsyncDeployment:
        """Re-read the deployment from ARM; returns self."""
        self._info = await self._api.get_info(self.name)
        return self

    # -- waiting -----------------------------------------------------------------------------

    async def wait(self, *, timeout: float = CREATE_TIMEOUT, ready_check: bool = True) -> AsyncDeployment:
        """Wait until provisioning succeeded and (with ``ready_check``) the deployment answers.

        Right after ``ft.deployments.create`` it follows the ``Azure-AsyncOperation`` that ARM
        answered the PUT with (as azure-mgmt-core does), then reads the deployment once more;
        otherwise it polls the deployment's ``provisioningState``. Raises
        [`DeploymentError`][DeploymentError] with Azure's code and message if provisioning fails,
        [`DeploymentNotFoundError`][DeploymentNotFoundError] if the deployment is deleted while it
        waits (the readiness check reads ARM again at its first "not ready" answer and every few
        after it), and [`WaitTimeoutError`][WaitTimeoutError] after ``timeout`` seconds (the
        deployment is left as it is).
        """
        return await self._wait(timeout=timeout, ready_check=ready_check)

    async def _wait(self, *, timeout: float = CREATE_TIMEOUT, ready_check: bool = True,
                    stop: Callable[[], bool] | None = None) -> AsyncDeployment:
        """``wait()``, ending with an interruption soon after ``stop()`` answers True (see
        [`wait_until()`][wait_until])."""
        clock = self._ft.retry.clock
        started = clock()
        await wait_until(self._ft, self._provisioned, timeout=timeout, stop=stop,
                         what=f"provisioning of deployment {self.name!r}", schedule=provisioning_schedule())
        if ready_check:
            count = ThrottleCount()
            not_ready = 0

            async def answers() -> bool:
                nonlocal not_ready
                if count.ready(await self._probe()):
                    return True
                not_ready += 1
                if arm_recheck_due(not_ready):
                    info = await self._api.find_info(self.name)
                    deleted_while_waiting(info, self.name)
                    if info is not None:
                        self._info = info
                return False

            remaining = max(1.0, timeout - (clock() - started))
            await wait_until(self._ft, answers, timeout=remaining, what=f"deployment {self.name!r} to answer",
                             schedule=readiness_schedule(), stop=stop)
        return self

    async def _provisioned(self) -> bool:
        if self._operation is not None:
            try:
                body = await self._ft.arm.operation(self._operation,
                                                    what=f"status of deployment {self.name!r}")
            except FoundryTuneError as exc:
                raise deployment_error(exc, name=self.name) from exc
            if not operation_done(body, name=self.name, action="provisioning", hint=retry_hint(self.name)):
                return False
            self._operation = None
        if not self._info.succeeded:
            await self.refresh()
        return provisioned(self._info)

    async def _probe(self) -> Readiness:
        """One readiness check: a tiny chat call (see [`readiness_of()`][readiness_of] for what answers
        mean)."""
        try:
            await self._ft.openai.chat.completions.create(
                model=self.name,
                messages=PROBE_MESSAGES,  # type: ignore[arg-type]
                max_completion_tokens=PROBE_MAX_TOKENS,
            )
        except openai.APIStatusError as exc:
            readiness = readiness_of(exc.status_code, exc.code)
            if readiness == "refused":
                raise translate(exc, what=f"readiness check of deployment {self.name!r}") from exc
            log.debug("deployment %s answered HTTP %s %s to a readiness check", self.name,
                      exc.status_code, exc.code)
            return readiness
        except openai.APIConnectionError:
            return readiness_of(None)
        return "ready"

    # -- inference ---------------------------------------------------------------------------

    @overload
    async def chat(
        self,
        prompt_or_messages: str | Iterable[Mapping[str, Any]],
        *,
        system: str | None = None,
        tools: Iterable[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        message: Literal[False] = False,
        **kwargs: Any,
    ) -> str: ...

    @overload
    async def chat(
        self,
        prompt_or_messages: str | Iterable[Mapping[str, Any]],
        *,
        system: str | None = None,
        tools: Iterable[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        message: Literal[True],
        **kwargs: Any,
    ) -> ChatCompletionMessage: ...

    @overload
    async def chat(
        self,
        prompt_or_messages: str | Iterable[Mapping[str, Any]],
        *,
        system: str | None = None,
        tools: Iterable[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        message: bool,
        **kwargs: Any,
    ) -> str | ChatCompletionMessage: ...

    async def chat(
        self,
        prompt_or_messages: str | Iterable[Mapping[str, Any]],
        *,
        system: str | None = None,
        tools: Iterable[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        message: bool = False,
        **kwargs: Any,
    ) -> str | ChatCompletionMessage:
        """Chat completion with this deployment; returns the answer's text (the whole message with
        `message=True`).

        Takes a prompt string or a list of messages; `system` prepends a system message; `tools`
        and `tool_choice` offer functions the model may call (as in `chat_message()`); other
        keyword arguments go to `openai.chat.completions.create` (`temperature`, `max_tokens`...).

        With `message=True` the result is openai's whole `ChatCompletionMessage`, tool calls
        included: `chat(..., message=True)` is `chat_message(...)`. An answer that only calls
        tools has no text: `chat()` then raises `ToolCallsAnswerError` (its `answer` is the
        message, so nothing is asked twice) instead of returning `""`.
        """
        answer = await self.chat_message(
            prompt_or_messages, system=system, tools=tools, tool_choice=tool_choice, **kwargs
        )
        return answer if message else _text_of(answer, self.name)

    async def chat_message(
        self,
        prompt_or_messages: str | Iterable[Mapping[str, Any]],
        *,
        system: str | None = None,
        tools: Iterable[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> ChatCompletionMessage:
        """Chat completion with this deployment; returns the whole assistant message
        (`chat(..., message=True)` is the same call).

        Takes what `chat()` takes: `tools` are the functions the model may call (chat-completions
        definitions, `{"type": "function", "function": {"name", "description", "parameters"}}`),
        `tool_choice` is `"auto"`, `"none"`, `"required"` or
        `{"type": "function", "function": {"name": ...}}`. The result is openai's
        `ChatCompletionMessage`: `content` (`None` when the model only calls tools) and
        `tool_calls`, each with `function.name` and `function.arguments` (a JSON string as the
        model wrote it: `json.loads()` it and check it before calling anything).
        """
        messages = as_messages(prompt_or_messages, system)
        if tools is not None:
            kwargs["tools"] = [dict(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice if isinstance(tool_choice, str) else dict(tool_choice)
        completion = await safe_call(
            self._ft,
            lambda: self._ft.openai.chat.completions.create(model=self.name, messages=messages, **kwargs),  # type: ignore[arg-type]
            what=f"chat with deployment {self.name!r}",
        )
        if not completion.choices:
            return ChatCompletionMessage(role="assistant", content="")
        return completion.choices[0].message

    async def responses(self, input: str | list[Any], **kwargs: Any) -> str:
        """Responses API call with this deployment; returns ``output_text``."""
        response = await safe_call(
            self._ft,
            lambda: self._ft.openai.responses.create(model=self.name, input=input, **kwargs),
            what=f"responses call to deployment {self.name!r}",
        )
        return str(response.output_text)

    # -- removal -----------------------------------------------------------------------------

    async def delete(self, *, wait: bool = True, timeout: float = DELETE_TIMEOUT) -> None:
        """Delete the deployment; with ``wait`` return only once ARM no longer lists it."""
        await self._api.delete(self.name, wait=wait, timeout=timeout)

    async def __aenter__(self) -> AsyncDeployment:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.delete()
            return
        try:
            await self.delete()
        except Exception:
            # The block's own error matters more; the failed delete is logged for cleanup later.
            log.exception("could not delete deployment %r after the block raised; "
                          "run ft.deployments.cleanup(dry_run=False) to remove leftovers", self.name)
