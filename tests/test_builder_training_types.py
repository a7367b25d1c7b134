"""What the builders (sync and async) send as ``trainingType``, and what they refuse locally."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import httpx
import openai
import pytest

from foundry_tune import TrainingType
from foundry_tune._demo_data import demo_records
from foundry_tune.aio import AsyncFineTuneBuilder
from foundry_tune.dataset import Dataset
from foundry_tune.errors import InvalidParameterError
from foundry_tune.job import FineTuneBuilder
from foundry_tune.methods import DPO, Reinforcement, Supervised

GRADER = {"type": "string_check", "name": "g", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}


class NoNetwork:
    """A connection that fails the test if anything touches the service."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the builder touched the service ({name})")


def builder(model: str = "gpt-4.1-mini") -> FineTuneBuilder:
    return FineTuneBuilder(cast(Any, NoNetwork()), model)


def async_builder(model: str) -> AsyncFineTuneBuilder:
    return AsyncFineTuneBuilder.create(cast(Any, NoNetwork()), model)


@pytest.fixture()
def train_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    Dataset.from_records(demo_records(20)).to_jsonl(path)
    return path


def sent_body(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON body the openai SDK sends for ``fine_tuning.jobs.create(**kwargs)``."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "ftjob-1", "object": "fine_tuning.job", "status": "pending",
                                         "model": kwargs["model"], "created_at": 0})

    client = openai.OpenAI(api_key="k", base_url="http://test/v1", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    client.fine_tuning.jobs.create(**kwargs)
    body: dict[str, Any] = json.loads(seen[0].content)
    return body


def kwargs_of(b: FineTuneBuilder) -> dict[str, Any]:
    return b.create_kwargs(Supervised(), "ftfp1-x", "attempt", "file-train", None)


@pytest.mark.parametrize(("asked", "sent"), [
    ("Standard", "Standard"), ("standard", "Standard"), ("GlobalStandard", "GlobalStandard"),
    ("global", "GlobalStandard"), ("Developer", "developerTier"), ("developertier", "developerTier"),
    ("DataZone", "DataZoneStandard"), (TrainingType.DATA_ZONE, "DataZoneStandard"),
])
def test_training_type_is_sent_in_azure_spelling(asked: Any, sent: str) -> None:
    b = builder("my-custom-base-model").training_type(asked)  # unknown model: any type goes through
    assert sent_body(kwargs_of(b))["trainingType"] == sent


def test_no_training_type_sends_none_and_the_plan_says_so(train_file: Path) -> None:
    b = builder().train_on(train_file)
    body = sent_body(kwargs_of(b))
    assert "trainingType" not in body and "training_type" not in body
    cleared = b.training_type("Standard").training_type(None)
    assert cleared.training_type_value is None
    plan = b.plan(check_service=False)
    assert plan.training_type is None and "no trainingType" in str(plan)
    assert "trainingType GlobalStandard" in str(b.training_type("global").plan(check_service=False))


def test_spellings_of_one_training_type_share_a_fingerprint(train_file: Path) -> None:
    b = builder().train_on(train_file)
    same = {b.training_type(s).fingerprint() for s in ("GlobalStandard", "global", "GLOBALSTANDARD")}
    assert len(same) == 1
    assert b.training_type("Standard").fingerprint() not in same
    assert b.fingerprint() not in same


@pytest.mark.parametrize(("model", "method", "training_type", "words"), [
    ("Ministral-3B", DPO(), None, ["Ministral-3B", "DPO", "supervised"]),
    ("Ministral-3B", Supervised(), "Standard", ["Ministral-3B", "Standard", "GlobalStandard"]),
    # omitted: the service's default, Standard, which the open models do not train with
    ("Ministral-3B", Supervised(), None,
     ["Ministral-3B", "needs a training type", "training_type('GlobalStandard')"]),
    ("Llama-3.3-70B-Instruct", None, None, ["Llama-3.3-70B-Instruct", "needs a training type"]),
    ("gpt-oss-20b", Supervised(), "developerTier", ["gpt-oss-20b", "Developer", "GlobalStandard"]),
    ("o4-mini", Reinforcement(grader=GRADER), "Developer",
     ["o4-mini", "Developer", "Standard, GlobalStandard"]),
    ("Qwen-32B", Supervised(), "Developer", ["Qwen-32B", "Developer", "GlobalStandard, DataZone"]),
])
def test_what_the_service_would_refuse_is_refused_locally(
        train_file: Path, model: str, method: Any, training_type: str | None, words: list[str]) -> None:
    b = builder(model).train_on(train_file).validate_on(train_file)
    a = async_builder(model).train_on(train_file).validate_on(train_file)
    if method is not None:
        b, a = b.method(method), a.method(method)
    if training_type is not None:
        b, a = b.training_type(training_type), a.training_type(training_type)
    with pytest.raises(InvalidParameterError) as sync_error:
        b.plan(check_service=False)
    with pytest.raises(InvalidParameterError) as sync_start:
        b.start()
    with pytest.raises(InvalidParameterError) as async_error:
        asyncio.run(a.start())
    for text in (str(sync_error.value), str(sync_start.value), str(async_error.value)):
        for word in words:
            assert word in text


def test_supported_combinations_pass_the_local_checks(train_file: Path) -> None:
    for model, training_type in (("Ministral-3B", "GlobalStandard"), ("Qwen-32B", "global"),
                                 ("Llama-3.3-70B-Instruct", "GlobalStandard"), ("gpt-4o-mini", None),
                                 ("gpt-4.1-nano", "developerTier"),
                                 ("gpt-4.1-nano-2025-04-14", "Developer"), ("gpt-4o", "Standard"),
                                 ("gpt-4.1-mini", "DataZone"), ("Ministral-3B", "DataZoneStandard")):
        b = builder(model).train_on(train_file).training_type(training_type)
        plan = b.plan(check_service=False)
        assert plan.valid and plan.model == model
        spec = async_builder(model).train_on(train_file).training_type(training_type).spec
        assert spec.training_type_value == b.training_type_value and spec.fingerprint() == b.fingerprint()
