"""`Deployment.chat()` reads text or, with `message=True`, the whole message; an answer that only
calls tools is a typed error in text mode (a silent `""` read as "the model said nothing").

Scripted answers (no emulator, no samples): the end-to-end twin is `tests/_async/test_tool_calls.py`.
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _client_fakes import FakeArm, FakeClock, Reply, ScriptedServer, chat_completion

from foundry_tune import Foundry, RetryPolicy
from foundry_tune._core import billing as _billing
from foundry_tune.client import StaticTokenCredential
from foundry_tune.deployment import BillingWarning, Deployment
from foundry_tune.errors import FoundryTuneError, ToolCallsAnswerError

FT_MODEL = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef"
CHAT = "/api/projects/p/openai/v1/chat/completions"
TOOLS = [{"type": "function", "function": {"name": "get_current_stock_price",
                                           "parameters": {"type": "object", "properties": {}}}}]


def answer(content: str | None, *calls: dict[str, Any]) -> dict[str, Any]:
    body = chat_completion()
    body["choices"][0]["message"] = {"role": "assistant", "content": content,
                                     **({"tool_calls": list(calls)} if calls else {})}
    body["choices"][0]["finish_reason"] = "tool_calls" if calls else "stop"
    return body


def function_call(name: str, arguments: str = "{}") -> dict[str, Any]:
    return {"id": f"call_{name}", "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def deployment(server: ScriptedServer) -> Iterator[Deployment]:
    clock = FakeClock()
    retry = RetryPolicy(sleep=clock.sleep, clock=clock, rng=lambda: 0.0)
    ft = Foundry(server.url + "/api/projects/p", StaticTokenCredential("token"), subscription_id="sub",
                 resource_group="rg", account_name="acct", retry=retry,
                 arm_transport=httpx.MockTransport(FakeArm().handler))
    _billing._reset_for_tests()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BillingWarning)
        yield ft.deployments.create(FT_MODEL, "inf", ready_check=False)
    ft.close()


@pytest.mark.parametrize("content", [None, ""])
def test_text_mode_refuses_an_answer_that_only_calls_tools(
        server: ScriptedServer, deployment: Deployment, content: str | None) -> None:
    server.default[CHAT] = Reply(200, answer(content, function_call("get_current_stock_price", '{"s": "X"}'),
                                             function_call("get_news")))
    with pytest.raises(ToolCallsAnswerError) as info:
        deployment.chat("price of X?", tools=TOOLS)
    err = info.value
    assert isinstance(err, FoundryTuneError)
    assert err.tool_names == ("get_current_stock_price", "get_news")
    text = str(err)
    assert "'inf'" in text and "get_current_stock_price, get_news" in text
    assert "chat(..., message=True)" in text and "chat_message()" in text
    # the paid answer rides on the error, and survives pickling (process pools, logs)
    assert [c.function.name for c in err.answer.tool_calls] == ["get_current_stock_price", "get_news"]
    again = pickle.loads(pickle.dumps(err))
    assert again.tool_names == err.tool_names and again.answer == err.answer
    assert len(server.seen) == 1


def test_message_mode_returns_the_tool_calls_and_sends_the_tools(
        server: ScriptedServer, deployment: Deployment) -> None:
    server.default[CHAT] = Reply(200, answer(None, function_call("get_current_stock_price", '{"s": "X"}')))
    message = deployment.chat("price of X?", tools=TOOLS, tool_choice="required", message=True)
    assert message.content is None and message.tool_calls
    [call] = message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_current_stock_price"
    assert json.loads(call.function.arguments) == {"s": "X"}
    sent = json.loads(server.seen[-1].body)
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "required" and sent["model"] == "inf"
    assert deployment.chat_message("price of X?", tools=TOOLS) == message  # the explicit spelling


def test_text_answers_are_unchanged(server: ScriptedServer, deployment: Deployment) -> None:
    server.default[CHAT] = Reply(200, answer("42 dollars"))
    assert deployment.chat("price of X?", tools=TOOLS) == "42 dollars"
    assert deployment.chat("price of X?", message=False) == "42 dollars"
    assert deployment.chat("price of X?", message=True).content == "42 dollars"
    server.default[CHAT] = Reply(200, answer(""))  # an empty answer without tool calls stays ""
    assert deployment.chat("say nothing") == ""
    # text beside tool calls: the text is the answer in text mode; the calls are in message mode
    both = answer("Let me look that up.", function_call("get_current_stock_price"))
    server.default[CHAT] = Reply(200, both)
    assert deployment.chat("price of X?", tools=TOOLS) == "Let me look that up."
    assert deployment.chat("price of X?", tools=TOOLS, message=True).tool_calls
