"""The service's two safety outcomes against the emulator: training data that fails the safety
screening, and a trained model that fails its safety evaluation (and is then refused a deployment).
Each is asked for with a marker in the data and with the emulator's ``safety`` switch; the errors
are typed (`SafetyCheckFailedError`, a `JobFailedError`) with the kind, the harm categories and a hint.

The module has an emulator of its own: the switch applies to every job validated while it is set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import DeploymentError, InvalidParameterError, JobFailedError, SafetyCheckFailedError

from ._helpers import WAIT, sft_rows

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator()]

DATA_MESSAGE = ("The provided training data failed RAI checks for harm types: [hate_fairness, self_harm, "
                "violence]. Please fix the data and try again.")
MODEL_MESSAGE = ("This model is unable to be deployed. Model evaluation identified that this fine tuned "
                 "model scores above acceptable thresholds for [Violence, Self Harm]. Please review your "
                 "training data set and resubmit the job.")
"""The docs' sample messages, which the switch reproduces word for word
(https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tuning-safety-evaluation)."""


def marked(seed: int, marker: str | None = None) -> Dataset:
    """Twelve valid examples (``seed`` keeps each test's data its own); ``marker`` in one user turn."""
    rows: list[dict[str, Any]] = sft_rows(12, seed=seed)
    if marker is not None:
        user = rows[4]["messages"][1]
        rows[4]["messages"][1] = {**user, "content": f"{user['content']} {marker}"}
    return Dataset.from_records(rows, name=f"safety-{seed}.jsonl")


async def failed(job: AsyncJob) -> SafetyCheckFailedError:
    with pytest.raises(SafetyCheckFailedError) as caught:
        await job.wait(timeout=WAIT, progress=False, poll=0.2)
    return caught.value


@pytest.fixture
def safety_switch(emulator: Emulator) -> Iterator[Emulator]:
    """The emulator, with the ``safety`` switch turned off again after the test."""
    try:
        yield emulator
    finally:
        emulator.switches(safety=None)


@pytest.mark.anyio
async def test_a_data_marker_fails_the_job_before_training(ft: AsyncFoundry) -> None:
    job = await ft.fine_tune("gpt-4.1-mini").train_on(
        marked(501, "[emulator:unsafe-data:violence,self-harm]")).suffix("unsafe-data").start()
    error = await failed(job)
    assert isinstance(error, JobFailedError)  # existing handlers still catch it
    assert error.kind == "data"
    assert error.categories == ("violence", "self_harm")
    assert error.job_id == job.id
    assert error.service_message == ("The provided training data failed RAI checks for harm types: "
                                     "[violence, self_harm]. Please fix the data and try again.")
    assert error.hint is not None and "safety_check()" in error.hint and "not charged" in error.hint
    assert job.fine_tuned_model is None and job.trained_tokens is None
    assert not await job.checkpoints()  # it never trained


@pytest.mark.anyio
async def test_a_model_marker_fails_the_job_after_training_and_its_deploy(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    job = await ft.fine_tune("gpt-4.1-mini").train_on(
        marked(502, "[emulator:unsafe-model:hate]")).suffix("unsafe-model").start()
    error = await failed(job)
    assert error.kind == "model"
    assert error.categories == ("hate_fairness",)
    assert error.service_message is not None and "[Hate and Fairness]" in error.service_message
    assert error.hint is not None and "cannot be deployed" in error.hint
    assert job.result_files  # it trained: its results are there, its model is not deployable
    checkpoints = await job.checkpoints()
    assert checkpoints

    before = emulator.stats()
    with pytest.raises(SafetyCheckFailedError) as again:
        await job.deploy("never-made", sku="Developer", checkpoint=checkpoints[0])
    after = emulator.stats()
    assert again.value.kind == "model" and again.value.categories == ("hate_fairness",)
    assert after["deployments"] == before["deployments"]
    assert after["requests"] == before["requests"]  # no call at all: nothing reached the service

    # A handle read before the evaluation failed does not know: the service's refusal says it.
    stale = AsyncJob(ft, {**job.raw, "status": "running", "error": {}})
    with pytest.raises(SafetyCheckFailedError) as refused:
        await stale.deploy("never-made", sku="Developer", checkpoint=checkpoints[0])
    assert refused.value.kind == "model" and refused.value.categories == ("hate_fairness",)
    assert isinstance(refused.value.__cause__, DeploymentError)
    assert emulator.stats()["deployments"] == before["deployments"]


@pytest.mark.anyio
async def test_the_switch_fails_the_data_check_in_the_docs_wording(
    ft: AsyncFoundry, safety_switch: Emulator
) -> None:
    safety_switch.switches(safety="data")
    job = await ft.fine_tune("gpt-4.1-mini").train_on(marked(503)).suffix("switch-data").start()
    error = await failed(job)
    assert (error.kind, error.categories) == ("data", ("hate_fairness", "self_harm", "violence"))
    assert error.service_message == DATA_MESSAGE


@pytest.mark.anyio
async def test_the_switch_fails_the_model_evaluation_in_the_docs_wording(
    ft: AsyncFoundry, safety_switch: Emulator
) -> None:
    safety_switch.switches(safety="model")
    job = await ft.fine_tune("gpt-4.1-mini").train_on(marked(504)).suffix("switch-model").start()
    error = await failed(job)
    assert (error.kind, error.categories) == ("model", ("violence", "self_harm"))
    assert error.service_message == MODEL_MESSAGE
    with pytest.raises(SafetyCheckFailedError):
        job.raise_for_status()


@pytest.mark.anyio
async def test_without_marker_or_switch_the_job_succeeds(ft: AsyncFoundry) -> None:
    job = await ft.fine_tune("gpt-4.1-mini").train_on(marked(505)).suffix("safe").start()
    await job.wait(timeout=WAIT, progress=False, poll=0.2)
    assert job.fine_tuned_model is not None


def test_the_switch_refuses_an_unknown_outcome(safety_switch: Emulator) -> None:
    with pytest.raises(InvalidParameterError, match="switch 'safety'"):
        safety_switch.switches(safety="everything")
    assert "safety" not in safety_switch.switches()
