"""Rotating an endpoint grader's key (a header value, a ``?code=`` function key) does not make a
second paid job: the re-run finds the job the first key started."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._builder import AsyncFineTuneBuilder
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.dataset import Dataset
from foundry_tune.graders import Endpoint
from foundry_tune.methods import Reinforcement

from ._helpers import rft_rows

pytestmark = [pytest.mark.emulator]


def endpoint_grader(key: str) -> Endpoint:
    return Endpoint(name="remote", url=f"https://grader.example.net/api/grade?code={key}",
                    headers={"X-Functions-Key": key})


@pytest.mark.anyio
async def test_a_rotated_grader_key_finds_the_same_job(ft: AsyncFoundry) -> None:
    train = Dataset.from_records(rft_rows(12, offset=300), name="rotate.jsonl")
    valid = Dataset.from_records(rft_rows(10, offset=400), name="rotate-val.jsonl")

    def builder(key: str) -> AsyncFineTuneBuilder:
        return (ft.fine_tune("o4-mini").train_on(train).validate_on(valid)
                .method(Reinforcement(grader=endpoint_grader(key), n_epochs=1))
                .suffix("rotate").training_type("GlobalStandard").check_grader(False))

    first = await builder("key-before-rotation").start()
    plan = await builder("key-after-rotation").plan()
    assert plan.existing_job_id == first.id
    again = await builder("key-after-rotation").start()
    assert again.id == first.id and again.reused
    raw = await ft.openai.fine_tuning.jobs.with_raw_response.retrieve(first.id)
    assert "key-before-rotation" in raw.http_response.text  # the service got the real key, and keeps it
