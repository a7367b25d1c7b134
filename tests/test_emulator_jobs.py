"""Fine-tuning jobs on the emulator: the service's request checks, listing and filtering, the
simulated lifecycle (one running job per resource), control, checkpoints and determinism."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest
from _emulator_helpers import openai_client, sft_rows, wait_until, write_jsonl

from foundry_tune.dataset import validate_file
from foundry_tune.emulator import Emulator

# An emulator of this module's own: it reads whole job lists and counts queued jobs, and its 1.5 s
# jobs leave time to pause a running one.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(job_duration=1.5)]
GT = {"trainingType": "GlobalStandard"}


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> openai.OpenAI:
    return openai_client(emulator.info, max_retries=0)


@pytest.fixture(scope="module")
def sft_file(client: openai.OpenAI, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_jsonl(tmp_path_factory.mktemp("jobs") / "train.jsonl", sft_rows(20))
    with path.open("rb") as fh:
        file_id = client.files.create(file=fh, purpose="fine-tune").id
    assert client.files.wait_for_processing(file_id, poll_interval=0.1).status == "processed"
    return file_id


def _wait(client: openai.OpenAI, job_id: str, status: str = "succeeded") -> Any:
    return wait_until(
        lambda: (j := client.fine_tuning.jobs.retrieve(job_id)).status == status and j, timeout=60
    )


@pytest.mark.parametrize(
    ("changes", "param", "fragment"),
    [
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 51}}}},
            "method.supervised.hyperparameters",
            "n_epochs=51",
        ),
        (
            {"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 2.5}}}},
            "method.dpo.hyperparameters",
            "beta",
        ),
        (
            {
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"learning_rate_multiplier": 0}},
                }
            },
            "method.supervised.hyperparameters",
            "learning_rate_multiplier",
        ),
        ({"method": {"type": "sft"}}, "method.type", "supervised, dpo or reinforcement"),
        ({"model": "gpt-35-turbo", "method": {"type": "dpo"}}, "model", "does not support the dpo"),
        ({"model": "o4-mini"}, "model", "does not support the supervised"),
        ({"model": "davinci-999"}, "model", "does not support fine-tuning"),
        ({"trainingType": "Premium"}, "trainingType", "Standard, GlobalStandard, DataZone or Developer"),
        ({"model": "gpt-35-turbo", "trainingType": "developerTier"}, "trainingType", "not supported"),
        ({"model": "Ministral-3B", "trainingType": "Standard"}, "trainingType", "not supported"),
        # omitted: the service's default, Standard
        ({"model": "Ministral-3B", "trainingType": None}, "trainingType", "Standard TrainingType is not"),
        ({"suffix": "my.model"}, "suffix", "no dots"),
        ({"suffix": "x" * 65}, "suffix", "1 to 64"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "16"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k", "512"),
        ({"seed": -1}, "seed", "seed"),
        ({"training_file": "file-nope"}, "training_file", "no such file"),
        ({"integrations": [{"type": "slack"}]}, "integrations[0]", "wandb"),
    ],
)
def test_invalid_requests_are_refused_before_anything_starts(
    client: openai.OpenAI, sft_file: str, changes: dict[str, Any], param: str, fragment: str
) -> None:
    body: dict[str, Any] = {"model": "gpt-4.1-mini", "training_file": sft_file, **GT, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    before = len(client.fine_tuning.jobs.list(limit=100).data)
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/fine_tuning/jobs", body=body, cast_to=dict)
    assert caught.value.param == param
    assert fragment in caught.value.message
    assert len(client.fine_tuning.jobs.list(limit=100).data) == before


def test_reinforcement_needs_a_valid_grader_and_a_validation_file(
    client: openai.OpenAI, sft_file: str
) -> None:
    grader = {
        "type": "string_check",
        "name": "g",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    base = {"model": "o4-mini", "training_file": sft_file, **GT}
    with pytest.raises(openai.BadRequestError) as no_validation:
        client.post(
            "/fine_tuning/jobs",
            cast_to=dict,
            body={**base, "method": {"type": "reinforcement", "reinforcement": {"grader": grader}}},
        )
    assert no_validation.value.param == "validation_file"
    broken = {"type": "python", "name": "p", "source": "def grade(sample, item):\n    return (\n"}
    with pytest.raises(openai.BadRequestError) as bad_grader:
        client.post(
            "/fine_tuning/jobs",
            cast_to=dict,
            body={
                **base,
                "validation_file": sft_file,
                "method": {"type": "reinforcement", "reinforcement": {"grader": broken}},
            },
        )
    assert bad_grader.value.param == "method.reinforcement.grader" and "syntax" in bad_grader.value.message


def test_python_grader_is_checked_never_executed(client: openai.OpenAI, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    source = f"open({str(marker)!r}, 'w').write('x')\ndef grade(sample, item):\n    return 1.0\n"
    grader = {"type": "python", "name": "p", "source": source}
    assert client.fine_tuning.alpha.graders.validate(grader=grader).grader is not None  # type: ignore[arg-type]
    client.fine_tuning.alpha.graders.run(grader=grader, model_sample="x", item={})  # type: ignore[arg-type]
    assert not marker.exists()


def test_grader_run_computes_string_check_and_text_similarity(client: openai.OpenAI) -> None:
    check = {
        "type": "string_check",
        "name": "c",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    hit = client.fine_tuning.alpha.graders.run(grader=check, model_sample="Paris", item={"answer": "Paris"})  # type: ignore[arg-type]
    miss = client.fine_tuning.alpha.graders.run(grader=check, model_sample="Lyon", item={"answer": "Paris"})  # type: ignore[arg-type]
    assert (hit.reward, miss.reward) == (1.0, 0.0)
    similar = {
        "type": "text_similarity",
        "name": "s",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": "fuzzy_match",
    }
    near = client.fine_tuning.alpha.graders.run(
        grader=similar,  # type: ignore[arg-type]
        model_sample="Pariss",
        item={"answer": "Paris"},
    )
    assert 0.7 < near.reward < 1.0


def test_training_type_is_case_insensitive_and_list_filters_by_metadata(
    client: openai.OpenAI, sft_file: str
) -> None:
    created = [
        client.fine_tuning.jobs.create(
            model="gpt-4.1-nano",
            training_file=sft_file,
            metadata={"exp": tag},
            extra_body={"trainingType": spelling},
        )
        for tag, spelling in (("a", "globalstandard"), ("b", "STANDARD"), ("a", "Developer"))
    ]
    tagged = client.fine_tuning.jobs.list(metadata={"exp": "a"}, limit=100).data
    assert [j.id for j in tagged] == [created[2].id, created[0].id]
    page = client.fine_tuning.jobs.list(limit=1)
    assert page.has_more and page.data[0].id == created[2].id
    following = client.fine_tuning.jobs.list(limit=1, after=page.data[0].id).data
    assert following[0].id == created[1].id
    for job in created:
        client.fine_tuning.jobs.cancel(job.id)


def test_one_job_runs_at_a_time_and_the_rest_queue(client: openai.OpenAI, sft_file: str) -> None:
    jobs = [
        client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=sft_file, extra_body=GT)
        for _ in range(3)
    ]
    deadline = time.monotonic() + 60
    seen_queued = False
    while time.monotonic() < deadline:
        snapshot = {j.id: j.status for j in client.fine_tuning.jobs.list(limit=100)}  # one consistent read
        statuses = [snapshot[j.id] for j in jobs]
        assert statuses.count("running") <= 1, statuses
        # Azure answers `pending` for a job waiting for the slot (OpenAI would say `queued`)
        seen_queued = seen_queued or ("running" in statuses and "pending" in statuses)
        if all(s == "succeeded" for s in statuses):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("jobs did not finish")
    assert seen_queued
    finished = [client.fine_tuning.jobs.retrieve(j.id) for j in jobs]
    assert [f.finished_at for f in finished] == sorted(f.finished_at or 0 for f in finished)


def test_pause_resume_cancel(client: openai.OpenAI, sft_file: str) -> None:
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini",
        training_file=sft_file,
        extra_body=GT,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 10}}},
    )
    with pytest.raises(openai.BadRequestError, match="cannot be paused"):
        client.fine_tuning.jobs.pause(job.id)
    _wait(client, job.id, "running")
    assert client.fine_tuning.jobs.pause(job.id).status == "pausing"  # as Azure answers
    _wait(client, job.id, "paused")

    def steps() -> int:
        events = client.fine_tuning.jobs.list_events(job.id, limit=1000)
        return len([e for e in events if e.message.startswith("Step ")])

    before = steps()
    time.sleep(0.6)
    assert steps() == before
    assert client.fine_tuning.jobs.resume(job.id).status == "resuming"
    _wait(client, job.id, "running")
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at
    with pytest.raises(openai.BadRequestError, match="is cancelled and cannot be cancelled"):
        client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-missing")


def test_last_three_epoch_checkpoints_are_kept_and_events_paginate(
    client: openai.OpenAI, sft_file: str
) -> None:
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini",
        training_file=sft_file,
        extra_body=GT,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 5, "batch_size": 4}}},
    )
    _wait(client, job.id)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    # newest first; Azure keeps the step-1 checkpoint too (recordings/list_checkpoints.json)
    assert [c.step_number for c in checkpoints] == [25, 20, 15, 1]
    first = client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert len(first.data) == 3 and first.has_more
    second = client.fine_tuning.jobs.list_events(job.id, limit=3, after=first.data[-1].id)
    assert not {e.id for e in first.data} & {e.id for e in second.data}
    assert first.data[0].created_at >= second.data[0].created_at


def test_same_seed_same_curve(client: openai.OpenAI, sft_file: str) -> None:
    def run(seed: int) -> bytes:
        job = client.fine_tuning.jobs.create(
            model="gpt-4.1-mini", training_file=sft_file, seed=seed, extra_body=GT
        )
        done = _wait(client, job.id)
        return client.files.content(done.result_files[0]).content

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other


def test_file_invalid_for_the_method_fails_the_job(client: openai.OpenAI, sft_file: str) -> None:
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini", training_file=sft_file, extra_body=GT, method={"type": "dpo"}
    )
    failed = _wait(client, job.id, "failed")
    assert failed.error is not None
    assert failed.error.code == "invalidTrainingFile" and failed.error.param == "training_file"
    assert "line 1" in failed.error.message
    assert failed.fine_tuned_model is None


def test_file_processing_applies_the_dataset_rules(client: openai.OpenAI, tmp_path: Path) -> None:
    rows = sft_rows(12)
    rows[2]["messages"][1]["role"] = "robot"
    path = write_jsonl(tmp_path / "bad_role.jsonl", rows)
    expected = validate_file(path).errors[0]
    with path.open("rb") as fh:
        created = client.files.create(file=fh, purpose="fine-tune")
    processed = client.files.wait_for_processing(created.id, poll_interval=0.1)
    assert processed.status == "error"
    assert processed.status_details is not None
    assert f"line {expected.line}: " in processed.status_details
    assert expected.code in processed.status_details


def test_example_count_is_a_job_rule_not_a_file_rule(client: openai.OpenAI, tmp_path: Path) -> None:
    # Azure processed the 2-example DPO validation file of azure-ai-projects' samples; a training
    # file below 10 examples fails the job with the service's invalid_n_examples error instead.
    def upload(rows: int, name: str) -> str:
        with write_jsonl(tmp_path / name, sft_rows(rows)).open("rb") as fh:
            file_id = client.files.create(file=fh, purpose="fine-tune").id
        assert client.files.wait_for_processing(file_id, poll_interval=0.1).status == "processed"
        return file_id

    small_validation = upload(2, "validation.jsonl")
    small_training = upload(7, "train.jsonl")
    trains = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini", training_file=upload(12, "enough.jsonl"), validation_file=small_validation,
        extra_body=GT,
    )
    assert _wait(client, trains.id).status == "succeeded"

    job = client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=small_training, extra_body=GT)
    failed = _wait(client, job.id, "failed")
    assert failed.error is not None
    assert (failed.error.code, failed.error.param) == ("invalid_n_examples", "training_file")
    assert failed.error.message == "Training file has 7 example(s), but must have at least 10 examples"
