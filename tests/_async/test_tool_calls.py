"""Tool calling end to end on the emulator, in both flavours: a model tuned on Microsoft's
tool-calling sample answers with tool calls in the chat-completions shape, `chat_message()` (or
`chat(..., message=True)`) returns them, `chat()` refuses to read a tool-only answer as "", and
`evaluate()` sends each row's tools and scores the calls by structure, so the base and the tuned
model are compared on what they call, not on JSON text."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from _emulator_helpers import SAMPLES, SPEC, needs_samples

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune.dataset import Dataset
from foundry_tune.errors import ToolCallsAnswerError
from foundry_tune.evaluation import Target
from foundry_tune.evaluation._async._evaluate import evaluate
from foundry_tune.evaluation._prepare import TOOL_CALL_METRICS

from ._helpers import finish

pytestmark = [
    pytest.mark.emulator,
    needs_samples,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]

TRAINING = SAMPLES / "sample-sft-tool-calling" / "stock_toolcall_training.jsonl"


def training_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TRAINING.read_text(encoding="utf-8").splitlines() if line.strip()]


def calls_of(row: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in row["messages"][-1].get("tool_calls") or []]


async def tuned_job(ft: AsyncFoundry) -> AsyncJob:
    """The job tuned on the sample (started once: later calls get the same job back)."""
    job = await (ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_jsonl(TRAINING))
                 .suffix("toolcalls").training_type("GlobalStandard").start())
    return await finish(job)


@pytest.mark.anyio
async def test_a_model_tuned_on_tool_calls_answers_with_them(ft: AsyncFoundry) -> None:
    rows = training_rows()
    with_calls = next(r for r in rows if calls_of(r))
    with_text = next(r for r in rows if not calls_of(r))
    tools = with_calls["tools"]
    async with await (await tuned_job(ft)).deploy(capacity=1) as deployment:
        message = await deployment.chat_message(with_calls["messages"][:-1], tools=tools)
        assert message.content is None and message.tool_calls
        assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls
                ] == calls_of(with_calls)

        answered = await deployment.chat_message(with_text["messages"][:-1], tools=tools)
        assert answered.content == with_text["messages"][-1]["content"] and not answered.tool_calls
        refused = await deployment.chat_message(with_calls["messages"][:-1], tools=tools, tool_choice="none")
        assert refused.content and not refused.tool_calls
        # Without tools on offer, the tuned model cannot call one: it answers with text.
        assert await deployment.chat(with_calls["messages"][:-1])
        # Once the calls are answered, it answers in words (an agent loop ends).
        turn = message.model_dump(exclude_none=True)
        results = [{"role": "tool", "tool_call_id": c.id, "content": '{"price": 42.0}'}
                   for c in message.tool_calls]
        final = await deployment.chat_message([*with_calls["messages"][:-1], turn, *results], tools=tools)
        assert final.content and not final.tool_calls

        raw = await ft.openai.chat.completions.create(
            model=deployment.name, messages=with_calls["messages"][:-1], tools=tools)
        choice = raw.choices[0]
        assert choice.finish_reason == "tool_calls"
        call = choice.message.model_dump(exclude_none=True)["tool_calls"][0]
        assert call["type"] == "function" and call["id"].startswith("call_")
        assert set(call) == {"id", "type", "function"} and set(call["function"]) == {"name", "arguments"}
        if SPEC.is_file():
            import yaml
            from _openapi import as_json_schema, assert_schema, spec_registry

            registry = spec_registry(as_json_schema(yaml.safe_load(SPEC.read_text(encoding="utf-8"))))
            assert_schema(registry, "ChatCompletionMessageToolCall", call)

        stream = await ft.openai.chat.completions.create(
            model=deployment.name, messages=with_calls["messages"][:-1], tools=tools, stream=True)
        names, arguments, reasons = [], "", []
        async for chunk in stream:
            for delta in chunk.choices[0].delta.tool_calls or []:
                names += [delta.function.name] if delta.function and delta.function.name else []
                arguments += delta.function.arguments or "" if delta.function else ""
            reasons.append(chunk.choices[0].finish_reason)
        assert [(names[0], json.loads(arguments))] == calls_of(with_calls)
        assert reasons[-1] == "tool_calls"

    base = await ft.openai.chat.completions.create(
        model="gpt-4.1-mini", messages=with_calls["messages"][:-1], tools=tools)
    assert not base.choices[0].message.tool_calls  # a base model calls a tool only when forced to
    forced = await ft.openai.chat.completions.create(
        model="gpt-4.1-mini", messages=with_calls["messages"][:-1], tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_current_stock_price"}})
    [call_made] = forced.choices[0].message.tool_calls or []
    assert call_made.function.name == "get_current_stock_price"


@pytest.mark.anyio
async def test_chat_returns_the_whole_message_on_request_and_never_hides_tool_calls(ft: AsyncFoundry) -> None:
    rows = training_rows()
    with_calls = next(r for r in rows if calls_of(r))
    with_text = next(r for r in rows if not calls_of(r))
    tools = with_calls["tools"]
    asked = with_calls["messages"][:-1]
    async with await (await tuned_job(ft)).deploy(capacity=1) as deployment:
        message = await deployment.chat(asked, tools=tools, message=True)
        assert message.content is None and message.tool_calls
        assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls
                ] == calls_of(with_calls)
        explicit = await deployment.chat_message(asked, tools=tools)
        assert explicit.model_dump(exclude={"tool_calls"}) == message.model_dump(exclude={"tool_calls"})
        assert [c.function.name for c in explicit.tool_calls or []] == [
            c.function.name for c in message.tool_calls]

        # text mode on an answer that only calls tools: a typed error, not a silent ""
        with pytest.raises(ToolCallsAnswerError) as info:
            await deployment.chat(asked, tools=tools)
        names = [name for name, _ in calls_of(with_calls)]
        assert info.value.tool_names == tuple(names)
        assert all(name in str(info.value) for name in names)
        assert "chat(..., message=True)" in str(info.value) and "chat_message()" in str(info.value)
        # the answer it refused to read as text is kept on the error: nothing is asked twice
        assert [c.function.name for c in info.value.answer.tool_calls] == names

        # text answers are unchanged, with or without tools on offer, and also in message mode
        expected = with_text["messages"][-1]["content"]
        assert await deployment.chat(with_text["messages"][:-1], tools=tools) == expected
        assert await deployment.chat(with_text["messages"][:-1], tools=tools, message=False) == expected
        whole = await deployment.chat(with_text["messages"][:-1], tools=tools, message=True)
        assert whole.content == expected and not whole.tool_calls
        assert await deployment.chat(asked, tools=tools, tool_choice="none")
        assert await deployment.chat(asked)  # no tools on offer: the tuned model answers in words


@pytest.mark.anyio
async def test_evaluate_sends_the_rows_tools_and_scores_calls_by_structure(ft: AsyncFoundry) -> None:
    rows = training_rows()
    chosen = [r for r in rows if calls_of(r)][:8] + [r for r in rows if not calls_of(r)][:4]
    async with await (await tuned_job(ft)).deploy(capacity=1) as deployment:
        report = await evaluate(
            {"base": Target("gpt-4.1-mini"),
             "base, forced to call": Target("gpt-4.1-mini", params={"tool_choice": "required"}),
             "tuned": deployment},
            Dataset.from_records(chosen, name="tool-rows.jsonl"), foundry=ft, concurrency=4, progress=False)
    # metrics left at their default: a test set whose references call tools is scored on the calls
    assert tuple(m.name for m in report.metrics) == TOOL_CALL_METRICS
    base, forced, tuned = report["base"], report["base, forced to call"], report["tuned"]
    assert all(t.answered == 12 and t.failed == 0 for t in (base, forced, tuned))
    assert tuned.scores["tool_call_match"].mean == 1.0
    assert base.scores["tool_call_match"].mean == pytest.approx(4 / 12)  # right only not to call a tool
    # forced, the base model names a right function sometimes but never the trained arguments
    assert forced.scores["tool_call_match"].mean == 0.0 < forced.scores["tool_name_match"].mean
    assert report.compare("base", "tuned")["tool_call_match"].difference > 0.5
    first = tuned.samples[0]
    assert first is not None and first.output is not None
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in json.loads(first.output)] == calls_of(chosen[0])
