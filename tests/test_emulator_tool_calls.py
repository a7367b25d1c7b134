"""What the emulator's models answer when a request offers tools: a tuned model repeats the calls it
was trained on (only functions on offer, honouring tool_choice and parallel_tool_calls), a base model
calls a tool only when forced to; and tool parameters the service refuses are refused (400)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")

from foundry_tune.emulator._answers import base_reply, tuned_reply
from foundry_tune.emulator._errors import ApiError
from foundry_tune.emulator._inference import tool_request

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city"}},
    {"type": "function", "function": {"name": "get_time", "description": "Local time in a city"}},
]
ROWS = [
    {"messages": [{"role": "user", "content": "What is the weather and the time in Paris?"},
                  {"role": "assistant", "tool_calls": [
                      {"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                      {"id": "call_2", "type": "function",
                       "function": {"name": "get_time", "arguments": '{"city": "Paris"}'}}]}],
     "tools": TOOLS},
    {"messages": [{"role": "user", "content": "Tell me a joke about cats"},
                  {"role": "assistant", "content": "Cats do not do jokes."}]},
    {"messages": [{"role": "user", "content": "Book a table in Rome"},
                  {"role": "assistant", "tool_calls": [
                      {"id": "call_3", "type": "function",
                       "function": {"name": "book_table", "arguments": '{"city": "Rome"}'}}]}]},
]


@pytest.fixture
def training(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def request(**fields: Any) -> Any:
    return tool_request({"tools": TOOLS, **fields})


WEATHER = ("get_weather", '{"city": "Paris"}')
TIME = ("get_time", '{"city": "Paris"}')


def test_a_tuned_model_repeats_the_calls_of_the_nearest_training_prompt(training: Path) -> None:
    reply = tuned_reply(training, "weather and time in Paris please", request())
    assert reply is not None and reply.calls == (WEATHER, TIME) and reply.text == ""
    [first, second] = reply.tool_calls()
    assert first["type"] == "function" and first["function"] == {"name": "get_weather",
                                                                  "arguments": '{"city": "Paris"}'}
    assert first["id"].startswith("call_") and first["id"] != second["id"]
    one = tuned_reply(training, "weather and time in Paris please", request(parallel_tool_calls=False))
    assert one is not None and one.calls == (WEATHER,)
    forced = tuned_reply(training, "weather and time in Paris please",
                         request(tool_choice={"type": "function", "function": {"name": "get_time"}}))
    assert forced is not None and forced.calls == (TIME,)


def test_a_tuned_model_answers_in_words_when_it_cannot_or_should_not_call(training: Path) -> None:
    prompt = "weather and time in Paris please"
    for tools in (None, request(tool_choice="none")):
        reply = tuned_reply(training, prompt, tools)
        assert reply is not None and not reply.calls and reply.text == "Cats do not do jokes."
    joke = tuned_reply(training, "a joke about cats", request())
    assert joke is not None and joke.text == "Cats do not do jokes." and not joke.calls
    # book_table is not on offer: the row that calls it is not an answer
    rome = tuned_reply(training, "Book a table in Rome", request())
    assert rome is not None and not rome.calls
    # nothing shared with a training prompt: no call made up, forced or not (then the base model answers)
    assert tuned_reply(training, "zzz", request(tool_choice="required")) is None
    assert tuned_reply(training, "zzz", request()) == tuned_reply(training, "zzz", None)


def test_a_base_model_calls_a_tool_only_when_forced_with_empty_arguments() -> None:
    assert not base_reply("gpt-4.1-mini", "weather in Paris", request()).calls
    assert not base_reply("gpt-4.1-mini", "weather in Paris", None).calls
    assert base_reply("gpt-4.1-mini", "local time in Oslo", request(tool_choice="required")).calls == (
        ("get_time", "{}"),)  # the offered function sharing the most words with the prompt
    named = request(tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert base_reply("gpt-4.1-mini", "local time in Oslo", named).calls == (("get_weather", "{}"),)


@pytest.mark.parametrize(("body", "param"), [
    ({"tool_choice": "auto"}, "tool_choice"),                        # tool_choice without tools
    ({"tools": {"type": "function"}}, "tools"),
    ({"tools": ["get_weather"]}, "tools[0]"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
    ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"tools": TOOLS, "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
])
def test_tool_parameters_the_service_refuses_are_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as info:
        tool_request(body)
    assert info.value.status == 400 and info.value.param == param


def test_no_tools_is_no_tool_request() -> None:
    assert tool_request({}) is None and tool_request({"tools": []}) is None
    assert tool_request({"tools": [{"type": "custom", "custom": {"name": "x"}}]}) is not None
