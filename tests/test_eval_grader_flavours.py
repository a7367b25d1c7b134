"""A grader scored on the service, in both flavours: ``evaluate()`` with a ``Foundry`` and
``foundry_tune.aio.evaluate()`` with an ``AsyncFoundry`` send the same grader ``run`` request (one
copy, in the evaluation runner) and score alike; a connection of the other flavour is refused with
a ConfigurationError before any request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from foundry_tune.errors import ConfigurationError
from foundry_tune.evaluation import Completion, EvaluationReport, Target, evaluate, load_examples, metrics
from foundry_tune.evaluation._examples import Message

pytestmark = pytest.mark.emulator

T = TypeVar("T")

JUDGE = {"type": "score_model", "name": "judge", "model": "gpt-4.1-mini", "range": [0, 1],
         "input": [{"role": "user",
                    "content": "Answer: {{sample.output_text}} Expected: {{item.reference}}"}]}
ANSWERS = ["billing", "shipping", "returns", "billing"]
ROWS = [{"messages": [{"role": "user", "content": f"ticket {i}"}, {"role": "assistant", "content": answer}]}
        for i, answer in enumerate(ANSWERS)]
TARGETS = {"base": Target("gpt-4.1-mini")}


def _with_async_foundry(info: Any, body: Callable[[Any], Awaitable[T]]) -> T:
    """``body(aft)`` on an AsyncFoundry connected to the module's emulator, in a fresh event loop."""
    pytest.importorskip("aiohttp")
    from foundry_tune.aio import AsyncFoundry, AsyncStaticTokenCredential

    async def main() -> T:
        async with AsyncFoundry(
            info.project_endpoint, AsyncStaticTokenCredential(info.token or "token-for-tests"),
            subscription_id=info.subscription_id, resource_group=info.resource_group,
            account_name=info.account_name, arm_endpoint=info.arm_endpoint, verify=info.ca_cert or True,
        ) as aft:
            return await body(aft)

    return asyncio.run(main())


def _judge_scores(report: EvaluationReport) -> list[float]:
    samples = report["base"].samples
    assert all(s is not None and s.error is None and not s.metric_errors for s in samples)
    return [s.scores["judge"] for s in samples if s is not None]


def _expected(report: EvaluationReport) -> list[float]:
    """The emulator's grader ``run`` gives the simulated score ``graders.run_locally`` computes."""
    from foundry_tune import graders

    return [graders.run_locally(graders.load(JUDGE), s.output or "", {"reference": ANSWERS[s.line - 1]}).score
            for s in report["base"].samples if s is not None]


def test_a_service_grader_scores_alike_in_both_flavours(ft: Any, emulator_info: Any) -> None:
    sync_report = evaluate(TARGETS, ROWS, [metrics.grader(JUDGE)], foundry=ft, progress=False)

    async def run_async(aft: Any) -> EvaluationReport:
        from foundry_tune.aio import evaluate as aevaluate

        # bound to the AsyncFoundry beforehand, as a user may do: it runs there
        judge = metrics.grader(JUDGE).bind(aft)
        assert not judge.local
        return await aevaluate(TARGETS, ROWS, [judge], foundry=aft, progress=False)

    async_report = _with_async_foundry(emulator_info, run_async)
    assert len(_judge_scores(sync_report)) == len(ROWS)
    assert _judge_scores(sync_report) == pytest.approx(_expected(sync_report))
    assert _judge_scores(async_report) == pytest.approx(_expected(async_report))
    # the emulator answers deterministically: both flavours measured the same
    assert [s.output for s in async_report["base"].samples if s is not None] == [
        s.output for s in sync_report["base"].samples if s is not None]
    assert _judge_scores(async_report) == _judge_scores(sync_report)


def test_score_runs_a_service_grader_bound_to_a_foundry(ft: Any) -> None:
    example = load_examples(ROWS)[0]
    from foundry_tune import graders

    score = metrics.grader(JUDGE).bind(ft).score("billing", example)
    expected = graders.run_locally(graders.load(JUDGE), "billing", dict(example.item)).score
    assert score == pytest.approx(expected)


def test_score_refuses_a_service_grader_bound_to_an_async_foundry(emulator_info: Any) -> None:
    example = load_examples(ROWS)[0]

    async def body(aft: Any) -> None:
        # score() blocks: it cannot await the AsyncFoundry's request, and says where it can run
        with pytest.raises(ConfigurationError, match=r"'judge'.*AsyncFoundry.*foundry_tune\.aio\.evaluate"):
            metrics.grader(JUDGE).bind(aft).score("billing", example)

    _with_async_foundry(emulator_info, body)


def _recording(calls: list[str]) -> Callable[[Target, list[Message]], Completion]:
    def complete(target: Target, messages: list[Message]) -> Completion:
        calls.append(target.name)
        return Completion("billing", 1, 1, 0.0)

    return complete


def test_evaluate_refuses_an_async_connection_for_a_service_grader(emulator_info: Any) -> None:
    calls: list[str] = []

    async def body(aft: Any) -> None:
        with pytest.raises(ConfigurationError, match=r"'judge'.*AsyncFoundry.*pass foundry=Foundry"):
            evaluate(TARGETS, ROWS, [JUDGE], foundry=aft, completer=_recording(calls), progress=False)

    _with_async_foundry(emulator_info, body)
    assert calls == []


def test_async_evaluate_refuses_a_blocking_connection_for_a_service_grader(ft: Any) -> None:
    pytest.importorskip("aiohttp")
    from foundry_tune.aio import evaluate as aevaluate

    calls: list[str] = []
    recording = _recording(calls)

    async def complete(target: Target, messages: list[Message]) -> Completion:
        return recording(target, messages)

    with pytest.raises(ConfigurationError, match=r"'judge'.*\(Foundry\).*pass foundry=AsyncFoundry"):
        asyncio.run(aevaluate(TARGETS, ROWS, [JUDGE], foundry=ft, completer=complete, progress=False))
    assert calls == []
