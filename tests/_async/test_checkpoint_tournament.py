"""The best checkpoint, not the last one, end to end on the emulator: checkpoint metrics with
validation figures, ``best_checkpoint()``, the checkpoint tournament on the Developer tier (kept
winner, deleted rest, a second run reusing, clean-up after a failure and after an interruption),
and continuous fine-tuning (a tuned model as the base)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anyio  # unasync: remove
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune._async import _flavour
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune._core.deployment_body import TAG_CREATED_AT
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import (
    CheckpointMetricError,
    DatasetError,
    DeploymentQuotaError,
    InvalidParameterError,
    SafetyCheckFailedError,
)
from foundry_tune.evaluation import ProgressUpdate
from foundry_tune.graders import StringCheck
from foundry_tune.job import JobStatus
from foundry_tune.methods import Reinforcement, Supervised

from ._helpers import finish, rft_rows, sft_data, sft_rows

# An emulator of this module's own: the tests count every deployment on the resource, and its
# fine-tuned deployment quota (5) is part of the failure test.
pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=1.0, deployment_ready_delay=0.1, deployment_provision_delay=0.1),
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]

SEED = 5
"""A job seed whose validation loss is lowest at step 60 of 90 (the emulator's curves are
deterministic per seed): its final checkpoint is not its best."""


async def trained(ft: AsyncFoundry, *, validation: bool = True) -> tuple[AsyncJob, Dataset]:
    """A finished 3-epoch job on 30 examples (checkpoints at steps 1, 30, 60 and 90) and its
    held-out data: one job for the module (a start with the same data is reused)."""
    suffix = "ckpt" if validation else "ckpt-noval"
    train, held_out = sft_data(40, seed=61).split(validation=0.25, seed=1)
    builder = ft.fine_tune("gpt-4.1-mini").train_on(train).method(Supervised(n_epochs=3)).seed(SEED)
    if validation:
        builder = builder.validate_on(held_out)
    job = await builder.suffix(suffix).training_type("GlobalStandard").start()
    return await finish(job), held_out


async def gone(ft: AsyncFoundry, emulator: Emulator, count: int) -> None:
    """Wait (briefly) until the resource holds ``count`` deployments."""
    for _ in range(100):
        if emulator.stats()["deployments"] == count:
            return
        await _flavour.sleep(0.05)
    assert emulator.stats()["deployments"] == count, [d.name for d in await ft.deployments.list()]


@pytest.mark.anyio
async def test_checkpoint_metrics_and_the_best_one(ft: AsyncFoundry) -> None:
    job, _ = await trained(ft)
    checkpoints = await job.checkpoints()
    assert [c.step for c in checkpoints] == [1, 30, 60, 90]
    assert checkpoints[-1].final and checkpoints[-1].model == job.fine_tuned_model
    assert all(not c.final and c.model.endswith(f":ckpt-step-{c.step}") for c in checkpoints[:-1])
    # epoch-end checkpoints carry the whole-validation-file figures, as the service names them
    for c in checkpoints[1:]:
        assert {"train_loss", "valid_loss", "full_valid_loss", "full_valid_mean_token_accuracy"} <= \
            set(c.metrics)

    best = await job.best_checkpoint()
    assert best.step == 60 and not best.final  # the job overfits: its last checkpoint is not its best
    assert best.metrics["full_valid_loss"] == min(c.metrics["full_valid_loss"] for c in checkpoints[1:])
    by_accuracy = await job.best_checkpoint("valid_mean_token_accuracy")
    assert by_accuracy.metrics["full_valid_mean_token_accuracy"] == max(
        c.metrics["full_valid_mean_token_accuracy"] for c in checkpoints[1:])

    table = str(checkpoints).splitlines()
    assert [c.strip() for c in table[0].split(" | ")][:2] == ["step", "model"]
    assert "full valid loss" in table[0]
    assert "<- lowest full_valid_loss" in table[4] and "(final)" in table[-1]
    assert checkpoints.to_dict()["checkpoints"][-1]["final"] is True


@pytest.mark.anyio
async def test_no_validation_file_means_no_validation_metric(ft: AsyncFoundry) -> None:
    job, _ = await trained(ft, validation=False)
    with pytest.raises(CheckpointMetricError) as info:
        await job.best_checkpoint()
    assert info.value.metric == "valid_loss" and "train_loss" in info.value.available
    assert "validate_on" in str(info.value)
    assert (await job.best_checkpoint("train_loss")).step in (30, 60, 90)


@pytest.mark.anyio
async def test_tournament_keeps_the_winner_deletes_the_rest_and_reuses(ft: AsyncFoundry,
                                                                       emulator: Emulator) -> None:
    job, held_out = await trained(ft)
    before = emulator.stats()["deployments"]
    result = await job.compare_checkpoints(held_out, ["rouge_l", "exact_match"], checkpoints=[30, 60, 90],
                                           keep="winner")
    labels = [t.name for t in result.report.targets]
    assert labels == ["step 90 (final)", "step 30", "step 60"]  # the final model is the baseline
    assert result.report.examples == 10 and result.rank_by == "rouge_l"
    assert result.winner in result.checkpoints and result.winner_label in labels
    live = {d.name: d for d in await ft.deployments.list()}
    assert emulator.stats()["deployments"] == before + 1
    (kept,) = result.kept
    assert set(live) >= {kept} and len(result.deleted) == 2 and kept not in result.deleted
    assert live[kept].sku == "DeveloperTier" and live[kept].job_id == job.id
    assert live[kept].model == result.winner.model
    assert "winner: step" in str(result) and kept in result.summary()

    # a second run reuses the kept deployment instead of creating it again
    created_at = live[kept].tags[TAG_CREATED_AT]
    again = await job.compare_checkpoints(held_out, ["rouge_l"], checkpoints=[30, 60, 90], keep="all")
    assert again.deleted == () and len(again.kept) == 3
    reused = await ft.deployments.get(kept)
    assert reused.tags[TAG_CREATED_AT] == created_at
    assert emulator.stats()["deployments"] == before + 3

    # any spelling of the Developer tier; records given as an iterator are read once
    done = await job.compare_checkpoints(iter(list(held_out.iter_records())), ["rouge_l"], checkpoints=2,
                                         keep="none", sku="developer")
    assert [c.step for c in done.checkpoints] == [60, 90] and done.kept == ()
    assert done.report.examples == 10
    for name in set(again.kept) - set(done.deleted):
        await ft.deployments.delete(name)
    await gone(ft, emulator, before)


BAD_ARGUMENTS: list[tuple[dict[str, Any], type[Exception]]] = [
    ({"test_data": "missing.jsonl"}, DatasetError),
    ({"test_data": []}, DatasetError),
    ({"metrics": ["nope"]}, InvalidParameterError),
    ({"metrics": []}, InvalidParameterError),
    ({"rank_by": "nope"}, InvalidParameterError),
    ({"rank_by": "exact_match"}, InvalidParameterError),  # a metric, but not one compared
    ({"concurrency": 0}, InvalidParameterError),
    ({"concurrency": "8"}, InvalidParameterError),
    ({"limit": -1}, InvalidParameterError),
    ({"limit": 0}, InvalidParameterError),
    ({"limit": "3"}, InvalidParameterError),
    ({"progress": 42}, InvalidParameterError),
    ({"progress": "loud"}, InvalidParameterError),
    ({"sku": "Bogus"}, InvalidParameterError),
    ({"sku": "GlobalStandard"}, InvalidParameterError),  # bills a hosting fee by the hour
    ({"sku": "standard"}, InvalidParameterError),
    ({"sku": ""}, InvalidParameterError),
    ({"capacity": 0}, InvalidParameterError),
    ({"keep": "best"}, InvalidParameterError),
    ({"timeout": 0}, InvalidParameterError),
    ({"cleanup_timeout": -1}, InvalidParameterError),
]
"""Arguments ``compare_checkpoints()`` refuses before its first request, with the error each raises."""


@pytest.mark.anyio
async def test_bad_arguments_are_refused_before_any_request(ft: AsyncFoundry, emulator: Emulator,
                                                             tmp_path: Path) -> None:
    job, held_out = await trained(ft)
    before = emulator.stats()
    for bad, error in BAD_ARGUMENTS:
        kwargs: dict[str, Any] = {"test_data": held_out, "metrics": ["rouge_l"], **bad}
        if kwargs["test_data"] == "missing.jsonl":
            kwargs["test_data"] = tmp_path / "missing.jsonl"
        with pytest.raises(error) as info:
            await job.compare_checkpoints(**kwargs)
        if "sku" in bad:
            assert "Developer tier" in str(info.value) and "job.deploy(checkpoint=" in str(info.value)
        after = emulator.stats()
        assert (bad, after["requests"], after["deployments"]) == \
            (bad, before["requests"], before["deployments"])
    # these need the job's checkpoints (one read), never a deployment
    for kwargs in ({"checkpoints": [999]}, {"checkpoints": 0}, {"checkpoints": True}):
        with pytest.raises(InvalidParameterError):
            await job.compare_checkpoints(held_out, ["rouge_l"], **kwargs)  # type: ignore[arg-type]
    assert emulator.stats()["deployments"] == before["deployments"]


@pytest.mark.anyio
async def test_a_model_that_failed_its_safety_evaluation_is_refused_before_any_request(
        ft: AsyncFoundry, emulator: Emulator) -> None:
    rows = sft_rows(12, seed=63)
    user = rows[4]["messages"][1]
    rows[4]["messages"][1] = {**user, "content": f"{user['content']} [emulator:unsafe-model:violence]"}
    job = await ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(rows, name="unsafe.jsonl")) \
        .suffix("ckpt-unsafe").start()
    with pytest.raises(SafetyCheckFailedError):
        await finish(job)
    before = emulator.stats()
    with pytest.raises(SafetyCheckFailedError) as info:
        await job.compare_checkpoints(sft_data(5, seed=64), ["rouge_l"])
    assert info.value.kind == "model" and info.value.categories == ("violence",)
    after = emulator.stats()
    assert (after["requests"], after["deployments"]) == (before["requests"], before["deployments"])


@pytest.mark.anyio
async def test_a_failure_in_the_middle_deletes_what_the_comparison_created(ft: AsyncFoundry,
                                                                          emulator: Emulator) -> None:
    job, held_out = await trained(ft)
    before = emulator.stats()["deployments"]
    # three deployments of the user's own leave room for two of the four checkpoints (quota 5)
    mine = [await job.deploy(f"mine-{i}", capacity=1, wait=False) for i in range(5 - before - 2)]
    try:
        with pytest.raises(DeploymentQuotaError):
            await job.compare_checkpoints(held_out, ["rouge_l"])
        await gone(ft, emulator, before + len(mine))
        assert sorted(d.name for d in await ft.deployments.list()) == sorted(d.name for d in mine)
    finally:
        for deployment in mine:
            await deployment.delete()
    await gone(ft, emulator, before)


def _ctrl_c() -> None:
    raise KeyboardInterrupt


def _stop_on_first_answer(stop: Callable[[], None]) -> Callable[[ProgressUpdate], None]:
    """A progress callback that calls ``stop`` once the first answer is in."""

    def on_update(update: ProgressUpdate) -> None:
        if update.done >= 1:
            stop()

    return on_update


@pytest.mark.anyio
async def test_an_interruption_deletes_what_the_comparison_created(
        ft: AsyncFoundry, emulator: Emulator) -> None:
    """Ctrl-C in the blocking flavour; here the cancellation of a cancel scope, which cancels
    again every wait inside it until it is left (the clean-up must survive that)."""
    job, held_out = await trained(ft)
    before = emulator.stats()["deployments"]
    stop: Callable[[], None] = _ctrl_c
    scope: AbstractContextManager[Any] = contextlib.nullcontext()
    # unasync: remove-begin
    cancel_scope = anyio.CancelScope()
    scope, stop = cancel_scope, cancel_scope.cancel
    # unasync: remove-end
    with scope, pytest.raises(_flavour.INTERRUPTS):
        await job.compare_checkpoints(held_out, ["rouge_l"], concurrency=1,
                                      progress=_stop_on_first_answer(stop))
    assert emulator.stats()["deployments"] == before  # deleted before the interruption went on
    assert job.id  # the job itself is untouched
    assert (await job.refresh()).status is JobStatus.SUCCEEDED


def comparison_names(names: list[str]) -> list[str]:
    return sorted(n for n in names if n.startswith("cmp-"))


@pytest.mark.anyio
async def test_an_interruption_inside_the_cleanup_does_not_stop_it(
        ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (a cancellation) while the clean-up deletes one deployment: the others are deleted
    all the same, the interrupted one is tried again, and the interruption is raised after."""
    job, held_out = await trained(ft)
    before = emulator.stats()["deployments"]
    api = ft.deployments
    real_delete = api.delete
    calls: list[str] = []

    async def delete(name: str, **kwargs: Any) -> None:
        calls.append(name)
        if len(calls) == 1:  # the request went out, then Ctrl-C while waiting for it
            await real_delete(name, wait=False)
            raise _flavour.INTERRUPTS[0]
        await real_delete(name, **kwargs)

    monkeypatch.setattr(api, "delete", delete)
    with pytest.raises(_flavour.INTERRUPTS):
        await job.compare_checkpoints(held_out, ["rouge_l"], checkpoints=[30, 60, 90], keep="none")
    assert len(calls) == 4 and calls[-1] == calls[0]  # three deletions, the interrupted one twice
    monkeypatch.undo()
    await gone(ft, emulator, before)
    assert comparison_names([d.name for d in await ft.deployments.list()]) == []


@pytest.mark.anyio
async def test_what_the_cleanup_could_not_delete_is_named_with_the_calls_that_delete_it(
        ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    job, held_out = await trained(ft)
    before = emulator.stats()["deployments"]
    api = ft.deployments
    real_delete = api.delete

    async def interrupted(name: str, **kwargs: Any) -> None:
        raise _flavour.INTERRUPTS[0]

    monkeypatch.setattr(api, "delete", interrupted)
    caplog.set_level(logging.WARNING, logger="foundry_tune.deployment")
    with pytest.raises(_flavour.INTERRUPTS):
        await job.compare_checkpoints(held_out, ["rouge_l"], checkpoints=[60, 90])
    left = comparison_names([d.name for d in await ft.deployments.list()])
    assert len(left) == 2
    (warning,) = [r for r in caplog.records if "may still be there" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    for name in left:
        assert f"ft.deployments.delete({name!r})" in warning.getMessage()
        assert f"foundry-tune deploy delete {name}" in warning.getMessage()
    for name in left:
        await real_delete(name)
    await gone(ft, emulator, before)


@pytest.mark.anyio
async def test_an_interruption_while_deploys_are_in_flight_leaves_nothing_behind(
        ft: AsyncFoundry, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the other checkpoints' create requests are still on their way (threads in the
    blocking flavour, which cannot be stopped): none of them creates a deployment after the
    clean-up ran."""
    job, held_out = await trained(ft)
    before = emulator.stats()["deployments"]
    stop: Callable[[], None] = _ctrl_c
    scope: AbstractContextManager[Any] = contextlib.nullcontext()
    # unasync: remove-begin
    cancel_scope = anyio.CancelScope()
    scope, stop = cancel_scope, cancel_scope.cancel
    # unasync: remove-end
    api = ft.deployments
    real_create = api.create
    called: list[str] = []

    async def create(model: str, name: str, **kwargs: Any) -> Any:
        called.append(name)
        if called[0] == name:  # the first deploy to start is interrupted
            stop()
        await _flavour.sleep(0.3)  # the others' requests go out after the interruption
        return await real_create(model, name, **kwargs)

    monkeypatch.setattr(api, "create", create)
    with scope, pytest.raises(_flavour.INTERRUPTS):
        await job.compare_checkpoints(held_out, ["rouge_l"], checkpoints=[30, 60, 90])
    await _flavour.sleep(1.0)  # anything still on its way would have arrived by now
    assert comparison_names([d.name for d in await ft.deployments.list()]) == []
    await gone(ft, emulator, before)


@pytest.mark.anyio
async def test_continuous_fine_tuning_from_a_tuned_model(ft: AsyncFoundry) -> None:
    first, _ = await trained(ft)
    assert first.fine_tuned_model
    more = sft_data(30, seed=62)
    plan = await (ft.fine_tune(first.fine_tuned_model).train_on(more).method(Supervised(n_epochs=1))
                  .suffix("round2").training_type("GlobalStandard").plan())
    assert plan.creates_job
    builder = (ft.fine_tune(first.fine_tuned_model).train_on(more).method(Supervised(n_epochs=1))
               .suffix("round2").training_type("GlobalStandard"))
    second = await finish(await builder.start())
    assert second.status is JobStatus.SUCCEEDED and second.fine_tuned_model
    assert second.fine_tuned_model != first.fine_tuned_model and second.fine_tuned_model.endswith("-round2")
    async with await second.deploy(capacity=1) as deployment:
        question = next(iter(more.iter_records()))["messages"][1]["content"]
        trained_answers = {row["messages"][-1]["content"] for row in more.iter_records()}
        assert await deployment.chat(question) in trained_answers


@pytest.mark.anyio
async def test_continuous_fine_tuning_is_checked_by_the_base_models_rules(ft: AsyncFoundry,
                                                                         emulator: Emulator) -> None:
    first, _ = await trained(ft)
    assert first.fine_tuned_model
    files = emulator.stats()["files"]
    grader = StringCheck(input="{{sample.output_text}}", reference="{{item.answer}}", operation="eq",
                         name="exact")
    rows = Dataset.from_records(rft_rows(20))
    builder = (ft.fine_tune(first.fine_tuned_model).train_on(rows).validate_on(rows)
               .method(Reinforcement(grader=grader)).training_type("GlobalStandard"))
    with pytest.raises(InvalidParameterError) as info:  # gpt-4.1-mini has no reinforcement fine-tuning
        await builder.start()
    assert "reinforcement" in str(info.value) and "gpt-4.1-mini" in str(info.value)
    assert emulator.stats()["files"] == files  # refused before any upload
