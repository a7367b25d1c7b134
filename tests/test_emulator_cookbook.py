"""The Foundry cookbook's call sequences (SFT, DPO, RFT) with the unmodified openai and
azure-ai-projects clients, over real HTTP against the emulator."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from _emulator_helpers import (
    ARM_API_VERSION,
    SAMPLES,
    StaticCredential,
    arm_client,
    deploy,
    deployment_path,
    first_rows,
    needs_samples,
    wait_until,
)
from azure.ai.projects import AIProjectClient

from foundry_tune.emulator import Emulator

# An emulator of this module's own: the cookbook's waits are timed against these delays.
pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=2.5, deployment_provision_delay=0.4, deployment_ready_delay=0.6),
    needs_samples,
]


def _project_client(emulator: Emulator) -> tuple[openai.OpenAI, StaticCredential]:
    credential = StaticCredential()
    project = AIProjectClient(endpoint=emulator.info.project_endpoint, credential=credential)
    return project.get_openai_client(), credential


def _run_cookbook(
    emulator: Emulator,
    *,
    model: str,
    train: Path,
    validation: Path | None,
    method: dict[str, Any],
    prompt_messages: list[dict[str, Any]],
    deployment: str,
) -> tuple[Any, str, list[Any], list[Any]]:
    client, credential = _project_client(emulator)
    with train.open("rb") as fh:
        training_file = client.files.create(file=fh, purpose="fine-tune")
    training_file = client.files.wait_for_processing(training_file.id, poll_interval=0.1)
    assert training_file.status == "processed", training_file.status_details
    validation_id = None
    if validation is not None:
        with validation.open("rb") as fh:
            created = client.files.create(file=fh, purpose="fine-tune")
        assert client.files.wait_for_processing(created.id, poll_interval=0.1).status == "processed"
        validation_id = created.id

    job = client.fine_tuning.jobs.create(
        model=model,
        training_file=training_file.id,
        validation_file=validation_id if validation_id else openai.omit,
        method=method,  # type: ignore[arg-type]
        suffix="cookbook",
        seed=105,
        extra_body={"trainingType": "GlobalStandard"},
    )
    assert job.status == "pending"  # as Azure answers a create
    seen = {job.status}
    deadline = time.monotonic() + 60
    while job.status not in {"succeeded", "failed", "cancelled"}:
        assert time.monotonic() < deadline, f"job stuck in {job.status}"
        time.sleep(0.2)
        job = client.fine_tuning.jobs.retrieve(job.id)
        seen.add(job.status)
    assert job.status == "succeeded", job.error
    assert {"pending", "running", "succeeded"} <= seen
    assert job.fine_tuned_model and job.fine_tuned_model.startswith(model)
    assert ".ft-" in job.fine_tuned_model and job.fine_tuned_model.endswith("-cookbook")
    assert credential.scopes and credential.scopes[0] == ("https://ai.azure.com/.default",)

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))

    arm = arm_client(emulator.info)
    answer = deploy(arm, emulator.info, deployment, job.fine_tuned_model)
    assert answer.status_code == 201, answer.text
    assert answer.json()["properties"]["provisioningState"] in {"Accepted", "Creating"}
    wait_until(
        lambda: (
            arm.get(
                deployment_path(emulator.info, deployment), params={"api-version": ARM_API_VERSION}
            ).json()["properties"]["provisioningState"]
            == "Succeeded"
        )
    )

    def chat() -> str | None:
        try:
            reply = client.chat.completions.create(model=deployment, messages=prompt_messages)
        except openai.NotFoundError as exc:
            assert exc.code == "DeploymentNotFound"  # as Azure answers right after Succeeded
            return None
        return reply.choices[0].message.content

    content = wait_until(chat, timeout=20)
    gone = arm.delete(deployment_path(emulator.info, deployment), params={"api-version": ARM_API_VERSION})
    assert gone.status_code in {200, 202, 204}
    wait_until(
        lambda: (
            arm.get(
                deployment_path(emulator.info, deployment), params={"api-version": ARM_API_VERSION}
            ).status_code
            == 404
        )
    )
    return job, content, events, checkpoints


def test_sft_cookbook_sequence(emulator: Emulator) -> None:
    train = SAMPLES / "sample-sft-text-gsm8k" / "chat_train.jsonl"
    row = first_rows(train, 1)[0]
    job, content, events, checkpoints = _run_cookbook(
        emulator,
        model="gpt-4.1-mini",
        train=train,
        validation=SAMPLES / "sample-sft-text-gsm8k" / "chat_validation.jsonl",
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 8}}},
        prompt_messages=row["messages"][:-1],
        deployment="gsm8k-ft",
    )
    # The tuned deployment answers with what it was trained on, unlike the base model.
    assert content == row["messages"][-1]["content"]
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.batch_size == 8
    # Azure reports progress as `Step N: training loss=X` message events, newest first
    steps = [int(e.message.split(":")[0].split()[1]) for e in events if e.message.startswith("Step ")]
    assert steps, "no step events"
    assert steps == sorted(steps, reverse=True), "events must come newest first"
    total = 2 * -(-449 // 8)
    # one checkpoint per epoch at the epoch boundaries, plus step 1 (as Azure keeps it); the final
    # one is the fine-tuned model itself
    assert sorted(c.step_number for c in checkpoints) == [1, total // 2, total]
    assert all(c.fine_tuned_model_checkpoint.startswith(job.fine_tuned_model) for c in checkpoints)
    assert max(checkpoints, key=lambda c: c.step_number).fine_tuned_model_checkpoint == job.fine_tuned_model
    assert all(c.metrics.valid_loss is not None for c in checkpoints)
    client = openai.OpenAI(base_url=emulator.info.openai_base_url, api_key="k")
    csv_text = client.files.content(job.result_files[0]).text
    header, *rows = csv_text.strip().splitlines()
    assert header == (
        "step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,"
        "full_valid_loss,full_valid_mean_token_accuracy"
    )
    assert int(rows[-1].split(",")[0]) == total
    first_loss, last_loss = float(rows[0].split(",")[1]), float(rows[-1].split(",")[1])
    assert last_loss < first_loss, "the simulated loss curve must go down"


def test_dpo_cookbook_sequence(emulator: Emulator, tmp_path: Path) -> None:
    rows = first_rows(SAMPLES / "dpo-intel-orca" / "validation.jsonl", 40)
    train = tmp_path / "dpo_train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    job, content, events, _ = _run_cookbook(
        emulator,
        model="gpt-4.1-mini",
        train=train,
        validation=None,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 1}}},
        prompt_messages=rows[3]["input"]["messages"],
        deployment="orca-dpo",
    )
    assert content == rows[3]["preferred_output"][0]["content"]
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.2
    first_step = [e for e in events if e.message.startswith("Step ")][-1]
    assert first_step.message.startswith("Step 1: training loss=")
    assert float(first_step.message.rsplit("=", 1)[1]) < 0.8  # DPO loss starts near ln 2


def test_rft_cookbook_sequence_with_grader(emulator: Emulator) -> None:
    folder = SAMPLES / "rft-countdown"
    grader = json.loads((folder / "grader_config_aoai.json").read_text(encoding="utf-8"))
    row = first_rows(folder / "countdown_train_25.jsonl", 1)[0]
    job, content, events, checkpoints = _run_cookbook(
        emulator,
        model="o4-mini",
        train=folder / "countdown_train_25.jsonl",
        validation=folder / "countdown_valid_15.jsonl",
        method={
            "type": "reinforcement",
            "reinforcement": {
                "grader": grader,
                "response_format": json.loads((folder / "response_schema.json").read_text(encoding="utf-8")),
                "hyperparameters": {"reasoning_effort": "medium", "eval_interval": 2, "n_epochs": 1},
            },
        },
        prompt_messages=row["messages"],
        deployment="countdown-rft",
    )
    assert job.method.type == "reinforcement"
    assert job.method.reinforcement.grader.type == "score_model"
    assert content == str(row["target"])
    assert any(e.message.startswith("Step ") for e in events)
    rewards = [c.metrics.model_extra or {} for c in checkpoints]
    assert rewards and all(0.0 <= r["train_reward_mean"] <= 1.0 for r in rewards)
