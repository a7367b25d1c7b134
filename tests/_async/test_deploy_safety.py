"""A deploy of a model (or checkpoint) that failed the service's safety evaluation, asked for
directly with ``ft.deployments.create()`` rather than through ``job.deploy()``: the service's
refusal becomes the typed model-safety error (kind, harm categories, hint, the job it came from),
and nothing is deployed. Against the emulator, whose ``[emulator:unsafe-model]`` marker makes a
job whose model fails its evaluation."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import DeploymentError, SafetyCheckFailedError

from ._helpers import WAIT, sft_rows

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator()]


def _unsafe_model_data(seed: int) -> Dataset:
    rows: list[dict[str, Any]] = sft_rows(12, seed=seed)
    user = rows[3]["messages"][1]
    marker = "[emulator:unsafe-model:violence,self-harm]"
    rows[3]["messages"][1] = {**user, "content": f"{user['content']} {marker}"}
    return Dataset.from_records(rows, name=f"deploy-safety-{seed}.jsonl")


@pytest.mark.anyio
async def test_deployments_create_of_an_unsafe_checkpoint_raises_the_model_safety_error(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    job = await ft.fine_tune("gpt-4.1-mini").train_on(_unsafe_model_data(711)).suffix("deploy-unsafe").start()
    await job.wait(timeout=WAIT, progress=False, poll=0.2, raise_on_failure=False)
    checkpoints = await job.checkpoints()
    assert checkpoints
    before = emulator.stats()["deployments"]

    for checkpoint in (checkpoints[0], checkpoints[-1]):
        with pytest.raises(SafetyCheckFailedError) as refused:
            await ft.deployments.create(checkpoint.model, sku="Developer")
        error = refused.value
        assert (error.kind, error.categories) == ("model", ("violence", "self_harm"))
        assert error.job_id == job.id  # named after the job the model's name points at
        assert error.hint is not None and "cannot be deployed" in error.hint
        assert isinstance(error.__cause__, DeploymentError)  # the service's refusal, kept
        assert error.code == error.__cause__.code

    # The job id given wins over the one the name implies.
    with pytest.raises(SafetyCheckFailedError) as named:
        await ft.deployments.create(checkpoints[0].model, sku="Developer", job_id="ftjob-given")
    assert named.value.job_id == "ftjob-given"
    assert emulator.stats()["deployments"] == before


@pytest.mark.anyio
async def test_a_refusal_for_another_reason_stays_a_deployment_error(ft: AsyncFoundry) -> None:
    with pytest.raises(DeploymentError) as refused:
        await ft.deployments.create("gpt-4.1-mini-2025-04-14.ft-" + "0" * 32, sku="Developer")
    assert not isinstance(refused.value, SafetyCheckFailedError)
