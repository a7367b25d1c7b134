"""Builder and Job promises on the emulator over real HTTP: the service-side grader check before any
upload (sync and async), deploying a checkpoint, wait timeouts, integrations on the wire."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("starlette")

from _dataset_helpers import sft_dataset

from foundry_tune import AsyncFoundry
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.errors import GraderError, InvalidParameterError, WaitTimeoutError
from foundry_tune.graders import Python, StringCheck
from foundry_tune.methods import Reinforcement, Supervised

WAIT = 60.0
# model_construct skips the local syntax check (the service may be stricter than the local one), so
# the request reaches the service's validate endpoint, which rejects the syntax error.
BROKEN = Python.model_construct(type="python", name="broken", source="def grade(sample, item:\n  return 1",
                                image_tag=None, pass_threshold=None)


def stats(ft: Foundry) -> dict[str, Any]:
    emulator = ft.emulator_instance
    assert emulator is not None
    return emulator.stats()


def rft_data(n: int, offset: int, name: str) -> Dataset:
    rows = []
    for i in range(offset, offset + n):
        a, b = i % 17 + 2, i % 11 + 3
        question = {"role": "user", "content": f"What is {a} times {b}?"}
        rows.append({"messages": [question], "answer": str(a * b)})
    return Dataset.from_records(rows, name=name)


def rft_builder(ft: Foundry, grader: Any) -> Any:
    return (ft.fine_tune("o4-mini").train_on(rft_data(12, 0, "rft-gc.jsonl"))
            .validate_on(rft_data(10, 100, "rft-gc-val.jsonl"))
            .method(Reinforcement(grader=grader, n_epochs=1)).training_type("GlobalStandard"))


def test_a_grader_the_service_rejects_raises_grader_error_and_uploads_nothing(ft: Foundry) -> None:
    builder = rft_builder(ft, BROKEN)
    assert builder.plan(check_service=False).checks_grader
    assert "grader validate endpoint" in str(builder.plan(check_service=False))
    before = stats(ft)
    with pytest.raises(GraderError, match="rejected the grader") as info:
        builder.start()
    assert "Invalid grader" in str(info.value)  # the service's own message
    after = stats(ft)
    assert after["files"] == before["files"] and after["jobs"] == before["jobs"]


def test_a_valid_grader_passes_the_check_and_the_opt_out_skips_it(ft: Foundry) -> None:
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    lines: list[str] = []
    job = rft_builder(ft, grader).start(on_progress=lines.append)
    assert "the service accepted the grader" in lines and job.id
    skipped = rft_builder(ft, BROKEN).check_grader(False)
    assert not skipped.plan(check_service=False).checks_grader
    supervised = ft.fine_tune("gpt-4.1-mini").train_on(sft_dataset(10, seed=3)).method(Supervised())
    assert not supervised.plan(check_service=False).checks_grader


@pytest.mark.anyio
async def test_async_builder_checks_the_grader_before_any_upload(ft: Foundry, aft: AsyncFoundry) -> None:
    before = stats(ft)
    builder = (aft.fine_tune("o4-mini").train_on(rft_data(12, 0, "rft-agc.jsonl"))
               .validate_on(rft_data(10, 100, "rft-agc-val.jsonl"))
               .method(Reinforcement(grader=BROKEN, n_epochs=1)).training_type("GlobalStandard"))
    with pytest.raises(GraderError, match="rejected the grader"):
        await builder.start()
    assert stats(ft)["files"] == before["files"]


def test_deploy_a_checkpoint_and_chat_with_it(ft: Foundry) -> None:
    job = (ft.fine_tune("gpt-4.1-mini").train_on(sft_dataset(20, seed=21, name="ckpt.jsonl"))
           .method(Supervised(n_epochs=1)).training_type("GlobalStandard").start())
    job.wait(timeout=WAIT, progress=False)
    checkpoints = job.checkpoints()
    assert len(checkpoints) >= 1
    first = checkpoints[0]
    with job.deploy(capacity=1, checkpoint=first) as deployment:
        assert deployment.model == first.model
        assert stats(ft)["deployments"] >= 1
        assert deployment.chat("Where is my order?")


def test_wait_timeout_raises_and_leaves_the_job_running(ft: Foundry) -> None:
    job = (ft.fine_tune("gpt-4.1-mini").train_on(sft_dataset(20, seed=33, name="timeout.jsonl"))
           .method(Supervised(n_epochs=1)).training_type("GlobalStandard").start())
    with pytest.raises(WaitTimeoutError):
        job.wait(timeout=0.2, progress=False)
    assert job.refresh().status.is_live
    job.wait(timeout=WAIT, progress=False)  # and it still finishes


def test_integrations_reach_the_wire_and_are_capped(ft: Foundry) -> None:
    wandb = {"type": "wandb", "wandb": {"project": "foundry-tune-tests", "tags": ["gaps"]}}
    job = (ft.fine_tune("gpt-4.1-mini").train_on(sft_dataset(20, seed=44, name="integ.jsonl"))
           .method(Supervised(n_epochs=1)).integrations([wandb]).training_type("GlobalStandard").start())
    raw = ft.openai.fine_tuning.jobs.retrieve(job.id)
    assert raw.integrations and raw.integrations[0].type == "wandb"
    assert raw.integrations[0].wandb.project == "foundry-tune-tests"
    with pytest.raises(InvalidParameterError, match="at most 5"):
        ft.fine_tune("gpt-4.1-mini").integrations([wandb] * 6)
