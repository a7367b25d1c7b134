"""Tool calls in evaluate(): rows carry their tools to the request, answers' tool calls are scored by
structure (function names and parsed arguments), and a tool-calling test set gets those metrics by
default."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from foundry_tune.evaluation import Completion, Target, evaluate, load_examples, metrics
from foundry_tune.evaluation._completion import completion_from_response
from foundry_tune.evaluation._prepare import DEFAULT_METRICS, TOOL_CALL_METRICS, prepare
from foundry_tune.evaluation._targets import for_example

SAMPLE = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "foundry-samples"
          / "sample-sft-tool-calling" / "stock_toolcall_validation.jsonl")
TOOLS = [{"type": "function", "function": {"name": "get_price", "parameters": {"type": "object"}}},
         {"type": "function", "function": {"name": "get_history", "parameters": {"type": "object"}}}]
USER = {"role": "user", "content": "What is MSFT at?"}


def call(name: str, arguments: str, ident: str = "call_1") -> dict[str, Any]:
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


def row(*calls: dict[str, Any], content: str | None = None, **fields: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"role": "assistant"}
    if calls:
        answer["tool_calls"] = list(calls)
    if content is not None:
        answer["content"] = content
    return {"messages": [USER, answer], "tools": TOOLS, **fields}


def answered(*calls: dict[str, Any]) -> str:
    """An answer's text as the runner scores it (what completion_from_response makes of the calls)."""
    response = ChatCompletion.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls",
                     "message": {"role": "assistant", "content": None, "tool_calls": list(calls)}}],
    })
    return completion_from_response(response, 0.0).text


def scores(output: str, reference_row: dict[str, Any]) -> tuple[float, float]:
    [example] = load_examples([reference_row])
    return (metrics.resolve("tool_call_match").score(output, example),
            metrics.resolve("tool_name_match").score(output, example))


REFERENCE = row(call("get_price", '{"symbol": "MSFT", "period": "1d"}'))


@pytest.mark.parametrize("arguments", [
    '{"symbol": "MSFT", "period": "1d"}',
    '{"period": "1d", "symbol": "MSFT"}',          # key order
    '{ "period" : "1d",\n  "symbol": "MSFT" }',    # whitespace
])
def test_the_same_call_matches_whatever_its_json_layout(arguments: str) -> None:
    assert scores(answered(call("get_price", arguments, ident="call_other")), REFERENCE) == (1.0, 1.0)


@pytest.mark.parametrize(("arguments", "expected"), [
    ('{"symbol": "AAPL", "period": "1d"}', (0.0, 1.0)),   # another value: the name still matches
    ('{"symbol": "MSFT"}', (0.0, 1.0)),                   # a missing argument
    ('{"symbol": "MSFT", "period": "1d", "x": 1}', (0.0, 1.0)),  # an extra argument
    ('{"symbol": "MSFT", "period": ', (0.0, 1.0)),       # malformed JSON: a mismatch, not a crash
    ("not json at all", (0.0, 1.0)),
])
def test_different_or_malformed_arguments_do_not_match(arguments: str, expected: tuple[float, float]) -> None:
    assert scores(answered(call("get_price", arguments)), REFERENCE) == expected


def test_numbers_match_by_value_but_a_boolean_is_not_a_number() -> None:
    reference = row(call("get_price", '{"n": 1, "live": true, "tags": ["a", {"b": 2}]}'))
    assert scores(answered(call("get_price", '{"live": true, "n": 1.0, "tags": ["a", {"b": 2.0}]}')),
                  reference)[0] == 1.0
    assert scores(answered(call("get_price", '{"n": 1, "live": 1, "tags": ["a", {"b": 2}]}')),
                  reference)[0] == 0.0
    assert scores(answered(call("get_price", '{"n": 1, "live": true, "tags": [{"b": 2}, "a"]}')),
                  reference)[0] == 0.0  # list order is part of the value


def test_parallel_calls_match_in_any_order_and_every_call_counts() -> None:
    price = call("get_price", '{"symbol": "MSFT"}')
    history = call("get_history", '{"symbol": "MSFT", "days": 5}')
    reference = row(price, history)
    assert scores(answered(history, price), reference) == (1.0, 1.0)
    assert scores(answered(price), reference) == (0.0, 0.0)                    # a call missing
    assert scores(answered(price, history, price), reference) == (0.0, 0.0)    # a call too many
    assert scores(answered(price, price), reference) == (0.0, 0.0)             # the same call twice
    twice = row(price, call("get_price", '{"symbol": "AAPL"}'))
    assert scores(answered(call("get_price", '{"symbol": "AAPL"}'), price), twice) == (1.0, 1.0)
    assert scores(answered(price, price), twice) == (0.0, 1.0)


def test_a_malformed_reference_argument_matches_nothing() -> None:
    broken = row(call("get_price", "{oops"))
    assert scores(answered(call("get_price", "{oops")), broken) == (0.0, 1.0)


def test_text_answers_and_text_references() -> None:
    text_reference = row(content="Which company do you mean?")
    assert scores("Which company do you mean?", text_reference) == (1.0, 1.0)   # right not to call a tool
    assert scores("Anything else in words.", text_reference) == (1.0, 1.0)
    assert scores(answered(call("get_price", "{}")), text_reference) == (0.0, 0.0)
    assert scores("I would call get_price for MSFT.", REFERENCE) == (0.0, 0.0)
    assert scores("[1, 2, 3]", REFERENCE) == (0.0, 0.0)  # JSON, but no call


def test_a_reference_field_holding_calls_is_compared_as_calls() -> None:
    rows = [{"messages": [USER], "tools": TOOLS,
             "expected": [{"name": "get_price", "arguments": {"symbol": "MSFT"}}]}]
    [example] = load_examples(rows, reference_field="expected")
    metric = metrics.resolve("tool_call_match")
    assert metric.score(answered(call("get_price", '{"symbol":"MSFT"}')), example) == 1.0
    assert metric.score(answered(call("get_price", '{"symbol":"IBM"}')), example) == 0.0


def test_an_answer_with_tool_calls_is_scored_as_the_json_of_its_calls() -> None:
    text = answered(call("get_price", '{"symbol": "MSFT"}', ident="call_9"))
    assert json.loads(text) == [call("get_price", '{"symbol": "MSFT"}', ident="call_9")]


def test_rows_carry_their_tools_and_reference_calls() -> None:
    sft, dpo, text, plain = load_examples([
        row(call("get_price", '{"symbol": "MSFT"}'), tool_choice="required", parallel_tool_calls=False),
        {"input": {"messages": [USER], "tools": TOOLS},
         "preferred_output": [{"role": "assistant", "tool_calls": [call("get_price", "{}")]}],
         "non_preferred_output": [{"role": "assistant", "content": "no"}]},
        row(content="Which one?"),
        {"messages": [USER, {"role": "assistant", "content": "A"}], "tool_choice": "auto"},
    ])
    assert sft.params == {"tools": TOOLS, "tool_choice": "required", "parallel_tool_calls": False}
    assert sft.tool_calls == (call("get_price", '{"symbol": "MSFT"}'),)
    assert sft.reference is not None
    assert json.loads(sft.reference) == [call("get_price", '{"symbol": "MSFT"}')]
    assert dpo.params == {"tools": TOOLS} and dpo.tool_calls == (call("get_price", "{}"),)
    assert text.tool_calls is None and text.reference == "Which one?" and text.params == {"tools": TOOLS}
    assert plain.params == {}  # a tool_choice without tools is not sent


def test_the_row_tools_go_with_the_request_and_the_target_params_win() -> None:
    [example] = load_examples([row(call("get_price", "{}"), tool_choice="auto")])
    target = Target("gpt-4.1-mini", params={"tool_choice": "required", "temperature": 0})
    asked = for_example(target, example)
    assert asked.params == {"tools": TOOLS, "tool_choice": "required", "temperature": 0}
    assert target.params == {"tool_choice": "required", "temperature": 0} and asked.name == target.name
    [plain] = load_examples([{"messages": [USER, {"role": "assistant", "content": "A"}]}])
    assert for_example(target, plain) is target

    seen: list[dict[str, Any]] = []

    def complete(target: Target, messages: Sequence[Any]) -> Completion:
        seen.append(target.params)
        return Completion(text=json.dumps([call("get_price", "{}")]), prompt_tokens=1, completion_tokens=1,
                          latency=0.0)

    report = evaluate({"model": target}, [row(call("get_price", "{}"))], completer=complete, progress=False)
    assert seen == [{"tools": TOOLS, "tool_choice": "required", "temperature": 0}]
    assert report["model"].scores["tool_call_match"].mean == 1.0


def _metric_names(data: object, chosen: object = DEFAULT_METRICS) -> tuple[str, ...]:
    prepared = prepare("gpt-4.1-mini", data, chosen, foundry=None, concurrency=1, limit=None,
                       reference_field=None, confidence=0.95)
    return tuple(m.name for m in prepared.metrics)


def test_the_default_metrics_follow_the_data() -> None:
    assert _metric_names([row(content="Which one?"), row(call("get_price", "{}"))]) == TOOL_CALL_METRICS
    assert _metric_names([row(content="Which one?")]) == DEFAULT_METRICS  # no reference calls a tool
    assert _metric_names([row(call("get_price", "{}"))], ["exact_match"]) == ("exact_match",)  # as asked
    assert _metric_names([row(call("get_price", "{}"))], list(DEFAULT_METRICS)) == DEFAULT_METRICS
    expected = [{"messages": [USER], "tools": TOOLS, "expected": [{"name": "get_price", "arguments": "{}"}]}]
    prepared = prepare("gpt-4.1-mini", expected, DEFAULT_METRICS, foundry=None, concurrency=1, limit=None,
                       reference_field="expected", confidence=0.95)
    assert tuple(m.name for m in prepared.metrics) == TOOL_CALL_METRICS  # calls in a reference field


@pytest.mark.skipif(not SAMPLE.is_file(), reason="shared sample data not available")
def test_the_official_tool_calling_sample_is_a_tool_calling_test_set() -> None:
    examples = load_examples(SAMPLE)
    assert _metric_names(SAMPLE) == TOOL_CALL_METRICS
    with_calls = [e for e in examples if e.tool_calls]
    assert len(with_calls) == 5 and all(e.params["tools"] for e in examples)
    metric = metrics.resolve("tool_call_match")
    for example in with_calls:  # the reference's own calls, re-sent with other ids, match
        again = [{**c, "id": "call_x"} for c in example.tool_calls or ()]
        assert metric.score(json.dumps(again), example) == 1.0
