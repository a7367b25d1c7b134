"""The emulator's default (Azure) flavour answers as the real service was recorded: the same keys,
statuses, ordering and echoes as the bodies in ``../shared/data/azure-recordings`` for files, job
creation, pause / resume / cancel, events and checkpoints; the OpenAI flavour and
``--drop-metadata`` keep their own shapes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from _emulator_helpers import SHARED, openai_client, sft_rows, wait_until, write_jsonl

from foundry_tune.emulator import Emulator

# An emulator of this module's own: 4 s jobs leave time to watch each status go by.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(job_duration=4)]
RECORDINGS = SHARED / "data" / "azure-recordings"
needs_recordings = pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared Azure recordings not available")
HEX32 = r"[0-9a-f]{32}"


def _recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDINGS / name).read_text(encoding="utf-8"))
    return data


def _exchanges(name: str, method: str, path_end: str) -> list[dict[str, Any]]:
    return [
        x
        for x in _recording(name)["exchanges"]
        if x["method"] == method and x["uri"].split("?")[0].endswith(path_end)
    ]


def _recorded_messages() -> list[str]:
    """Azure's recorded DPO job events, oldest first."""
    return list(reversed(_recording("notebooks/dpo_event_messages_newest_first.json")["body"]))


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> openai.OpenAI:
    return openai_client(emulator.info, max_retries=0)


@pytest.fixture(scope="module")
def train_file(client: openai.OpenAI, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_jsonl(tmp_path_factory.mktemp("shapes") / "sft_training_set.jsonl", sft_rows(20))
    with path.open("rb") as fh:
        file_id = client.files.create(file=fh, purpose="fine-tune").id
    assert client.files.wait_for_processing(file_id, poll_interval=0.05).status == "processed"
    return file_id


def _post(client: openai.OpenAI, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    answer = client.post(path, body=body or {}, cast_to=httpx.Response)
    parsed: dict[str, Any] = answer.json()
    return answer.status_code, parsed


def _get(client: openai.OpenAI, path: str, **params: Any) -> dict[str, Any]:
    found: dict[str, Any] = client.get(path, cast_to=dict, options={"params": params})
    return found


def _statuses_until(client: openai.OpenAI, job_id: str, final: str) -> list[str]:
    seen: list[str] = []

    def settled() -> bool:
        status = _get(client, f"/fine_tuning/jobs/{job_id}")["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        return status == final

    wait_until(settled, timeout=60, interval=0.02)
    return seen


def _cancel_quietly(client: openai.OpenAI, job_id: str) -> None:
    if _get(client, f"/fine_tuning/jobs/{job_id}")["status"] not in {"succeeded", "failed", "cancelled"}:
        client.fine_tuning.jobs.cancel(job_id)


@needs_recordings
def test_a_file_is_created_pending_then_processed_with_the_recorded_keys(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    recorded = _exchanges("recordings/sft_create_cancel_events.json", "POST", "/files")[0]
    polls = _exchanges("recordings/sft_create_cancel_events.json", "GET", "/files/sanitized-file-id")
    path = write_jsonl(tmp_path / "sft_training_set.jsonl", sft_rows(12))
    with path.open("rb") as fh:
        answer = client.files.with_raw_response.create(file=fh, purpose="fine-tune")
    body = json.loads(answer.http_response.content)
    assert answer.status_code == recorded["status"] == 201
    assert list(body) == list(recorded["response"])  # same keys, same order
    assert body["status"] == recorded["response"]["status"] == "pending"
    assert re.fullmatch(f"file-{HEX32}", body["id"])
    seen: list[str] = []

    def processed() -> bool:
        polled = _get(client, f"/files/{body['id']}")
        assert set(polled) == set(polls[-1]["response"])
        seen.append(polled["status"])
        return polled["status"] == "processed"

    wait_until(processed, timeout=30, interval=0.02)
    assert set(seen) <= {p["response"]["status"] for p in polls} == {"pending", "processed"}
    assert client.files.wait_for_processing(body["id"], poll_interval=0.05).status == "processed"
    deleted = client.files.with_raw_response.delete(body["id"])
    recorded_delete = _exchanges(
        "recordings/sft_create_cancel_events.json", "DELETE", "/files/sanitized-file-id"
    )[0]
    assert set(json.loads(deleted.http_response.content)) == set(recorded_delete["response"])


@needs_recordings
def test_create_and_cancel_answer_as_recorded(client: openai.OpenAI, train_file: str) -> None:
    create = _exchanges("recordings/sft_create_cancel_events.json", "POST", "/fine_tuning/jobs")[0]
    cancel = _exchanges("recordings/sft_create_cancel_events.json", "POST", "/cancel")[0]
    events = _exchanges("recordings/sft_create_cancel_events.json", "GET", "/events")[0]
    request = {**create["request"], "training_file": train_file, "validation_file": train_file}
    status, body = _post(client, "/fine_tuning/jobs", request)
    assert status == create["status"] == 201
    assert list(body) == list(create["response"])
    for key in ("hyperparameters", "method", "trainingType", "status", "model", "additionalParameters"):
        assert body[key] == create["response"][key], key
    assert re.fullmatch(f"ftjob-{HEX32}", body["id"]) and len(body["id"]) == 38
    assert body["estimated_finish"] >= body["created_at"]

    status, cancelled = _post(client, f"/fine_tuning/jobs/{body['id']}/cancel")
    assert status == cancel["status"]
    assert list(cancelled) == list(cancel["response"])
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] >= body["created_at"]

    listed = _get(client, f"/fine_tuning/jobs/{body['id']}/events")
    assert list(listed) == list(events["response"])
    for item in listed["data"]:
        assert list(item) == list(events["response"]["data"][0])
        assert re.fullmatch(f"ftevent-{HEX32}", item["id"])
        assert (item["type"], item["level"], item["object"]) == ("message", "info", "fine_tuning.job.event")
    oldest_first = [e["message"] for e in reversed(listed["data"])]
    assert oldest_first == _recorded_messages()[: len(oldest_first)]  # no cancellation line added
    assert oldest_first[0] == events["response"]["data"][0]["message"]


@needs_recordings
@pytest.mark.parametrize(
    ("fixture", "request_body"),
    [
        (
            "notebooks/sarcasm_job_create_nano_developer.json",
            {
                "model": "gpt-4.1-nano",
                "hyperparameters": {"learning_rate_multiplier": 0.1},
                "suffix": "sarcasm-DeepSeek-V31-90f2f57b",
                "trainingType": "developerTier",
            },
        ),
        (
            "notebooks/sarcasm_job_create_ministral.json",
            {
                "model": "Ministral-3B",
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"learning_rate_multiplier": 1.0, "n_epochs": 50}},
                },
                "suffix": "sarcasm-DeepSeek-V31-90f2f57b",
                "trainingType": "globalstandard",
            },
        ),
    ],
)
def test_notebook_creates_are_echoed_as_recorded(
    client: openai.OpenAI, train_file: str, fixture: str, request_body: dict[str, Any]
) -> None:
    recorded = _recording(fixture)["body"]
    files = {"training_file": train_file, "validation_file": train_file}
    status, body = _post(client, "/fine_tuning/jobs", {**request_body, **files})
    _cancel_quietly(client, body["id"])
    assert status == 201
    # The project-endpoint recordings add `additionalParameters`; these notebook bodies
    # (resource endpoint) do not show it: a documented difference.
    assert set(body) - {"additionalParameters"} == set(recorded)
    for key in ("hyperparameters", "model", "status", "suffix", "trainingType"):
        assert body[key] == recorded[key], key
    assert body.get("method") == recorded.get("method")
    assert "user_provided_suffix" not in body


def test_a_create_without_training_type_is_standard(client: openai.OpenAI, train_file: str) -> None:
    status, body = _post(client, "/fine_tuning/jobs", {"model": "gpt-4.1-mini", "training_file": train_file})
    _cancel_quietly(client, body["id"])
    assert (status, body["trainingType"]) == (201, "standard")


@needs_recordings
def test_a_job_runs_pending_running_succeeded_with_recorded_events_and_checkpoints(
    client: openai.OpenAI, train_file: str
) -> None:
    recorded_job = _exchanges("recordings/list_checkpoints.json", "GET", "/sanitized-ftjob-id")[0]["response"]
    recorded_ckpts = _exchanges("recordings/list_checkpoints.json", "GET", "/checkpoints")[0]["response"]
    # as the recorded job: legacy top-level hyperparameters, no method, no validation file
    status, created = _post(
        client,
        "/fine_tuning/jobs",
        {
            "model": "gpt-4o",
            "training_file": train_file,
            "hyperparameters": {"n_epochs": 3, "batch_size": 4},
            "trainingType": "Standard",
        },
    )
    assert status == 201 and created["hyperparameters"]["learning_rate_multiplier"] == -1
    assert _statuses_until(client, created["id"], "succeeded") == ["pending", "running", "succeeded"]
    done = _get(client, f"/fine_tuning/jobs/{created['id']}")
    assert list(done) == list(recorded_job)
    assert done["fine_tuned_model"] == f"gpt-4o-2024-08-06.ft-{created['id'].removeprefix('ftjob-')}"
    assert done["hyperparameters"]["learning_rate_multiplier"] > 0  # resolved once training ran

    events = _get(client, f"/fine_tuning/jobs/{done['id']}/events", limit=1000)
    assert not events["has_more"]
    times = [e["created_at"] for e in events["data"]]
    assert times == sorted(times, reverse=True)  # newest first
    recorded_keys = list(_exchanges("recordings/sft_create_cancel_events.json", "GET", "/events")[0]
                         ["response"]["data"][0])
    assert all(list(e) == recorded_keys and e["type"] == "message" for e in events["data"])
    messages = [e["message"] for e in reversed(events["data"])]
    steps = [m for m in messages if m.startswith("Step ")]
    results = done["result_files"][0]
    expected_rest = [
        m.replace("file-697f5d7ff2b14ced8258a9c152973400", results)
        for m in _recorded_messages()
        if not m.startswith("Step ") and m != "Preprocessing completed for file validation file."
    ]
    expected_rest[-1] = f"Training tokens billed: {done['trained_tokens']}"
    assert [m for m in messages if not m.startswith("Step ")] == expected_rest
    first_step = messages.index(steps[0])
    assert messages[first_step - 1] == f"Created results file: {results}"
    assert messages[first_step + len(steps)] == "Job succeeded."
    numbers = [int(re.fullmatch(r"Step (\d+): training loss=([0-9.E+-]+)", m).group(1)) for m in steps]  # type: ignore[union-attr]
    assert numbers[0] == 1 and all(n % 10 == 0 for n in numbers[1:]) and numbers == sorted(numbers)

    checkpoints = _get(client, f"/fine_tuning/jobs/{done['id']}/checkpoints")
    assert list(checkpoints) == list(recorded_ckpts)
    data = checkpoints["data"]
    assert [c["step_number"] for c in data] == sorted((c["step_number"] for c in data), reverse=True)
    for item in data:
        assert list(item) == list(recorded_ckpts["data"][0])
        assert set(item["metrics"]) == set(recorded_ckpts["data"][0]["metrics"])
    assert data[0]["fine_tuned_model_checkpoint"] == done["fine_tuned_model"]
    for item in data[1:]:
        expected = f"{done['fine_tuned_model']}:ckpt-step-{item['step_number']}"
        assert item["fine_tuned_model_checkpoint"] == expected
    assert data[-1]["step_number"] == 1  # as recorded: the step-1 checkpoint is kept


@needs_recordings
def test_pause_answers_pausing_then_paused_and_resume_resuming_then_running(
    client: openai.OpenAI, train_file: str
) -> None:
    paused_rec = _exchanges("recordings/pause_job.json", "POST", "/pause")[0]
    resumed_rec = _exchanges("recordings/resume_job.json", "POST", "/resume")[0]
    status, created = _post(
        client,
        "/fine_tuning/jobs",
        {
            "model": "gpt-4.1",
            "training_file": train_file,
            "hyperparameters": {"learning_rate_multiplier": 2, "n_epochs": 10},
            "trainingType": "Standard",
        },
    )
    try:
        wait_until(lambda: _get(client, f"/fine_tuning/jobs/{created['id']}").get("result_files"), timeout=60)
        status, pausing = _post(client, f"/fine_tuning/jobs/{created['id']}/pause")
        assert (status, pausing["status"]) == (paused_rec["status"], "pausing")
        # the recorded running job had not started training yet (no results, -1); this one has
        assert set(pausing) == set(paused_rec["response"]) | {"result_files"}
        assert _statuses_until(client, created["id"], "paused")[-2:] == ["pausing", "paused"]
        with pytest.raises(openai.BadRequestError, match="cannot be paused"):
            client.fine_tuning.jobs.pause(created["id"])
        status, resuming = _post(client, f"/fine_tuning/jobs/{created['id']}/resume")
        assert (status, resuming["status"]) == (resumed_rec["status"], "resuming")
        assert list(resuming) == list(resumed_rec["response"])
        assert _statuses_until(client, created["id"], "running")[-2:] == ["resuming", "running"]
    finally:
        _cancel_quietly(client, created["id"])


def test_drop_metadata_and_the_openai_flavour(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", sft_rows(12))
    request = {"model": "gpt-4.1-mini", "metadata": {"exp": "a"}, "suffix": "s1", "trainingType": "Standard"}
    shapes = {}
    for options in ({"drop_metadata": True}, {"drop_metadata": False}, {"flavor": "openai"}):
        with Emulator(job_duration=2, **options) as emu:  # type: ignore[arg-type]
            client = openai_client(emu.info, max_retries=0)
            with path.open("rb") as fh:
                file_id = client.files.create(file=fh, purpose="fine-tune").id
            status, body = _post(client, "/fine_tuning/jobs", {**request, "training_file": file_id})
            listed = client.fine_tuning.jobs.list(metadata={"exp": "a"}).data  # filtering still works
            assert [j.id for j in listed] == [body["id"]]
            shapes[json.dumps(options)] = (status, body)
            if "flavor" in options:
                _statuses_until(client, body["id"], "succeeded")
                kinds = {e.type for e in client.fine_tuning.jobs.list_events(body["id"], limit=1000)}
                assert "metrics" in kinds
    dropped = shapes['{"drop_metadata": true}'][1]
    kept = shapes['{"drop_metadata": false}'][1]
    assert "metadata" not in dropped and kept["metadata"] == {"exp": "a"}
    status, openai_body = shapes['{"flavor": "openai"}']
    assert (status, openai_body["status"]) == (200, "validating_files")
    assert openai_body["user_provided_suffix"] == "s1" and openai_body["error"] is None


def test_the_flavor_and_drop_metadata_options_reach_the_server_configuration(tmp_path: Path) -> None:
    import argparse

    from foundry_tune.emulator._options import add_arguments
    from foundry_tune.emulator._server import config_from_args
    from foundry_tune.errors import InvalidParameterError

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    chosen = config_from_args(parser.parse_args(["--flavor", "openai", "--drop-metadata"]), tmp_path)
    assert (chosen.flavor, chosen.drop_metadata) == ("openai", True)
    default = config_from_args(parser.parse_args([]), tmp_path)
    assert (default.flavor, default.drop_metadata) == ("azure", False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--flavor", "bedrock"])
    with pytest.raises(InvalidParameterError, match="flavor"):
        Emulator(flavor="bedrock")  # type: ignore[arg-type]


@needs_recordings
@pytest.mark.parametrize(("index", "model"), [(0, "o4-mini"), (1, "gpt-4o-mini")])
def test_dpo_and_rft_jobs_fill_the_recorded_defaults(
    client: openai.OpenAI, train_file: str, index: int, model: str
) -> None:
    recorded = _exchanges("recordings/list_jobs_page1_head.json", "GET", "/fine_tuning/jobs")[0]["response"]
    recorded_job = recorded["data"][index]
    kind = recorded_job["method"]["type"]
    # what the recorded test sent (azure-sdk-for-python tests/finetuning/test_finetuning.py)
    hyperparameters: dict[str, Any] = {"n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": 1}
    section: dict[str, Any] = {"hyperparameters": hyperparameters}
    if kind == "reinforcement":
        hyperparameters.update(eval_interval=5, eval_samples=2, reasoning_effort="medium")
        section["grader"] = {
            key: recorded_job["method"]["reinforcement"]["grader"][key]
            for key in ("type", "name", "input", "range", "model")
        }
    request = {
        "model": model,
        "training_file": train_file,
        "validation_file": train_file,
        "method": {"type": kind, kind: section},
        "trainingType": "Standard",
    }
    status, created = _post(client, "/fine_tuning/jobs", request)
    _, cancelled = _post(client, f"/fine_tuning/jobs/{created['id']}/cancel")
    assert status == 201 and cancelled["status"] == "cancelled"
    assert list(cancelled) == list(recorded_job)  # no top-level hyperparameters for DPO / RFT
    echoed = cancelled["method"][kind]["hyperparameters"]
    assert list(echoed.items()) == list(recorded_job["method"][kind]["hyperparameters"].items())
    listed = _get(client, "/fine_tuning/jobs", limit=1)
    assert list(listed) == list(recorded) and list(listed["data"][0]) == list(recorded_job)


def test_pausing_and_resuming_are_known_live_statuses() -> None:
    from foundry_tune.job import JobStatus

    for value, member in (("pausing", JobStatus.PAUSING), ("resuming", JobStatus.RESUMING)):
        status = JobStatus(value)
        assert status is member and status.is_known and status.is_live and not status.is_terminal
