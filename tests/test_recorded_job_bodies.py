"""Every fine-tuning job body the real Azure service was recorded sending, read by ``JobState``.

The bodies come from ``../shared/data/azure-recordings`` (test-proxy recordings, notebook outputs
and Azure's REST examples, see its ``sources.md``): nine of them carry no ``method`` (only
top-level ``hyperparameters``), DPO echoes ``l2_multiplier``, unset values come back as ``-1`` or
``"auto"``, ``reasoning_effort`` as ``"default"``, ``error`` as ``{}``, the training type in
camelCase and the suffix as ``suffix`` or ``user_provided_suffix``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from _emulator_helpers import SHARED

from foundry_tune import TrainingType
from foundry_tune._core.job_state import JobState
from foundry_tune._method_kind import MethodKind
from foundry_tune.cli import _deploy as deploy_cli
from foundry_tune.cli import _jobs as jobs_cli
from foundry_tune.job import Job

RECORDINGS = SHARED / "data" / "azure-recordings"
pytestmark = pytest.mark.skipif(not RECORDINGS.is_dir(), reason="azure-recordings not available")

AUTO = "auto"
GLOBAL, STANDARD, DEVELOPER = TrainingType.GLOBAL_STANDARD, TrainingType.STANDARD, TrainingType.DEVELOPER


def _sft(n_epochs: Any, batch_size: Any, lr: Any) -> tuple[MethodKind, dict[str, Any]]:
    hyperparameters = {"n_epochs": n_epochs, "batch_size": batch_size, "learning_rate_multiplier": lr}
    return MethodKind.SUPERVISED, hyperparameters


def _spec(status: str, tuned: str | None = None) -> dict[str, Any]:
    return {"status": status, "model": "curie", "method": _sft(AUTO, AUTO, AUTO), "fine_tuned_model": tuned,
            "suffix": None, "training_type": None}


CURIE_FT = "curie.ft-72a2792ef7d24ba7b82c7fe4a37e379f"
SARCASM = "sarcasm-DeepSeek-V31-90f2f57b"

# What each recorded body means: status, model, method kind and hyperparameters, fine-tuned model,
# suffix and training type.
EXPECTED: dict[str, dict[str, Any]] = {
    "recordings/deploy_and_infer_oai_sft.json#0": {
        "status": "succeeded", "model": "gpt-4.1-mini-2025-04-14", "method": _sft(10, 1, 2),
        "fine_tuned_model": "gpt-4.1-mini-2025-04-14.ft-b525297af36e4cfda898d13c3f91d3dc",
        "suffix": None, "training_type": GLOBAL},
    "recordings/deploy_oss_ministral.json#0": {
        "status": "succeeded", "model": "Ministral-3B", "method": _sft(1, 4, 0.0001),
        "fine_tuned_model": "Ministral-3B.ft-b96671bea6bb41aeb145a67aef0a463b",
        "suffix": None, "training_type": GLOBAL},
    "recordings/list_checkpoints.json#0": {
        "status": "succeeded", "model": "gpt-4o-2024-08-06", "method": _sft(10, 1, 1),
        "fine_tuned_model": "gpt-4o-2024-08-06.ft-4485dc4da8694d3b8c13c516baa18bc0",
        "suffix": None, "training_type": STANDARD},
    "recordings/list_jobs_page1_head.json#0.0": {
        "status": "cancelled", "model": "o4-mini-2025-04-16",
        "method": (MethodKind.REINFORCEMENT, {
            "reasoning_effort": "medium", "compute_multiplier": 1, "eval_interval": 5, "eval_samples": 2,
            "n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": 1}),
        "fine_tuned_model": None, "suffix": None, "training_type": STANDARD},
    "recordings/list_jobs_page1_head.json#0.1": {
        "status": "cancelled", "model": "gpt-4o-mini-2024-07-18",
        "method": (MethodKind.DPO, {"beta": 0.1, "l2_multiplier": 0, "n_epochs": 1, "batch_size": 1,
                                    "learning_rate_multiplier": 1}),
        "fine_tuned_model": None, "suffix": None, "training_type": STANDARD},
    "recordings/list_jobs_page1_head.json#0.2": {
        "status": "cancelled", "model": "gpt-4.1-2025-04-14", "method": _sft(1, 1, 1),
        "fine_tuned_model": None, "suffix": None, "training_type": STANDARD},
    "recordings/pause_job.json#0": {
        "status": "running", "model": "gpt-4.1-2025-04-14", "method": _sft(AUTO, AUTO, 2),
        "fine_tuned_model": None, "suffix": None, "training_type": STANDARD},
    "recordings/pause_job.json#1": {
        "status": "pausing", "model": "gpt-4.1-2025-04-14", "method": _sft(AUTO, AUTO, 2),
        "fine_tuned_model": None, "suffix": None, "training_type": STANDARD},
    "recordings/resume_job.json#0": {
        "status": "paused", "model": "gpt-4.1-2025-04-14", "method": _sft(10, 1, 2),
        "fine_tuned_model": None, "suffix": None, "training_type": STANDARD},
    "recordings/resume_job.json#1": {
        "status": "resuming", "model": "gpt-4.1-2025-04-14", "method": _sft(10, 1, 2),
        "fine_tuned_model": None, "suffix": None, "training_type": STANDARD},
    "recordings/sft_create_cancel_events.json#6": {
        "status": "pending", "model": "gpt-4.1-2025-04-14", "method": _sft(1, 1, 1),
        "fine_tuned_model": None, "suffix": None, "training_type": STANDARD},
    "recordings/sft_create_cancel_events.json#7": {
        "status": "cancelled", "model": "gpt-4.1-2025-04-14", "method": _sft(1, 1, 1),
        "fine_tuned_model": None, "suffix": None, "training_type": STANDARD},
    "notebooks/breed_job_create.json": {
        "status": "pending", "model": "gpt-4o-2024-08-06", "method": _sft(2, AUTO, 0.5),
        "fine_tuned_model": None, "suffix": None, "training_type": None},
    "notebooks/chart_job_succeeded.json": {
        "status": "succeeded", "model": "gpt-4.1-2025-04-14", "method": _sft(3, 4, 2.0),
        "fine_tuned_model": "gpt-4.1-2025-04-14.ft-70ee3e37776e4428b20685fcd0728abb-gpt41-chart-qa-dev-01",
        "suffix": "gpt41-chart-qa-dev-01", "training_type": None},
    "notebooks/endpointgrader_rft_job_create.json": {
        "status": "validating_files", "model": "o4-mini-2025-04-16",
        "method": (MethodKind.REINFORCEMENT, {
            "reasoning_effort": "default", "compute_multiplier": AUTO, "eval_interval": AUTO,
            "eval_samples": AUTO, "n_epochs": AUTO, "batch_size": AUTO, "learning_rate_multiplier": AUTO}),
        "fine_tuned_model": None, "suffix": "dv-endpoint-countdown-ft-f83f16a5", "training_type": None},
    "notebooks/sarcasm_job_create_ministral.json": {
        "status": "pending", "model": "Ministral-3B", "method": _sft(50, AUTO, 1.0),
        "fine_tuned_model": None, "suffix": SARCASM, "training_type": GLOBAL},
    "notebooks/sarcasm_job_create_nano_developer.json": {
        "status": "pending", "model": "gpt-4.1-nano-2025-04-14", "method": _sft(AUTO, AUTO, 0.1),
        "fine_tuned_model": None, "suffix": SARCASM, "training_type": DEVELOPER},
    "notebooks/video_job_succeeded.json": {
        "status": "succeeded", "model": "gpt-4.1-2025-04-14", "method": _sft(3, 6, 2.0),
        "fine_tuned_model": ("gpt-4.1-2025-04-14.ft-70b83bfc4a2548b081bd3634f63f2503"
                             "-gpt41-action-recognition-ft-dev-01"),
        "suffix": "gpt41-action-recognition-ft-dev-01", "training_type": None},
    "spec-examples/cancel_finetuning_job.json": _spec("cancelled"),
    "spec-examples/get_finetuning_job.json": _spec("succeeded", CURIE_FT),
    "spec-examples/get_finetuning_jobs.json.0": _spec("succeeded", CURIE_FT),
    "spec-examples/pause_finetuning_job.json": _spec("paused"),
    "spec-examples/post_finetuning_job.json": _spec("pending"),
    "spec-examples/resume_finetuning_job.json": _spec("resuming"),
}


def _jobs_in(value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict) and value.get("object") == "fine_tuning.job":
        yield "", value
    elif isinstance(value, dict) and value.get("object") == "list":
        for j, item in enumerate(value.get("data") or []):
            if isinstance(item, dict) and item.get("object") == "fine_tuning.job":
                yield f".{j}", item


def recorded_job_bodies() -> dict[str, dict[str, Any]]:
    """Every job body in the recordings folder, by ``folder/file#exchange.item``."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(RECORDINGS.glob("*/*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        name = f"{path.parent.name}/{path.name}"
        for i, exchange in enumerate(doc.get("exchanges") or []):
            for tail, body in _jobs_in(exchange.get("response")):
                found[f"{name}#{i}{tail}"] = body
        for tail, body in _jobs_in(doc.get("body")):
            found[f"{name}{tail}"] = body
    return found


BODIES = recorded_job_bodies() if RECORDINGS.is_dir() else {}


def state(body: dict[str, Any]) -> JobState:
    return Job(SimpleNamespace(), body)  # type: ignore[arg-type]  # no network: only the fields are read


def test_every_recorded_job_body_has_an_expectation() -> None:
    assert set(BODIES) == set(EXPECTED), "a recording was added or removed: describe it in EXPECTED"
    without_method = [k for k, body in BODIES.items() if not isinstance(body.get("method"), dict)]
    assert len(without_method) == 9  # the nine bodies whose method comes from top-level hyperparameters


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_recorded_job_body_is_read_as_the_service_meant_it(key: str) -> None:
    body, expected = BODIES[key], EXPECTED[key]
    job = state(body)
    assert job.id == body["id"]
    assert job.status.value == expected["status"]
    assert job.model == expected["model"]
    assert job.fine_tuned_model == expected["fine_tuned_model"]
    assert job.suffix == expected["suffix"]
    assert job.training_type == expected["training_type"]
    kind, hyperparameters = expected["method"]
    method = job.method
    assert method is not None and method.kind is kind
    assert method.hyperparameters() == hyperparameters
    assert job.error == (None, None)  # no recorded job failed; Azure's `error: {}` is no error
    if job.status.value != "cancelled":
        job.raise_for_status()  # nothing to raise for a live or succeeded job


def test_the_recorded_grader_bodies_load() -> None:
    endpoint = state(BODIES["notebooks/endpointgrader_rft_job_create.json"]).method
    score = state(BODIES["recordings/list_jobs_page1_head.json#0.0"]).method
    assert endpoint is not None and endpoint.to_wire()["reinforcement"]["grader"]["type"] == "multi"
    assert getattr(endpoint, "response_format", None) is not None
    assert score is not None and score.to_wire()["reinforcement"]["grader"]["type"] == "score_model"


def test_training_type_is_read_in_any_casing_and_unknown_values_are_none() -> None:
    for echoed, expected in (("standard", STANDARD), ("globalStandard", GLOBAL), ("GlobalStandard", GLOBAL),
                             ("developerTier", DEVELOPER), ("dataZoneStandard", TrainingType.DATA_ZONE)):
        assert state({"id": "ftjob-1", "trainingType": echoed}).training_type is expected
    assert state({"id": "ftjob-1", "trainingType": "premium"}).training_type is None
    assert state({"id": "ftjob-1"}).training_type is None


def test_a_body_without_method_or_hyperparameters_has_no_method() -> None:
    assert state({"id": "ftjob-1", "status": "pending"}).method is None
    assert state({"id": "ftjob-1", "method": None}).method is None


# --- the CLI tables show every id whole ----------------------------------------------------------------


class _Jobs:
    def __init__(self, jobs: list[Job]) -> None:
        self._jobs = jobs

    def list(self, **_: Any) -> list[Job]:
        return self._jobs


def _column_starts(header: str, names: list[str]) -> list[int]:
    return [header.index(name) for name in names]


def test_jobs_list_table_shows_recorded_ids_whole_and_aligned() -> None:
    keys = ["notebooks/sarcasm_job_create_ministral.json", "notebooks/endpointgrader_rft_job_create.json",
            "notebooks/sarcasm_job_create_nano_developer.json", "recordings/pause_job.json#0"]
    jobs = [Job(SimpleNamespace(), BODIES[k]) for k in keys]  # type: ignore[arg-type]
    ids = [job.id for job in jobs]
    assert len(ids[0]) == 38 and ids[1] == "ftjob-QRLPhli5Hi1Yzoe1ODNRrnhH"
    out = io.StringIO()
    args = SimpleNamespace(limit=20, status=None, suffix=None, fingerprint=None, json=False)
    assert jobs_cli._list(SimpleNamespace(jobs=_Jobs(jobs)), args, out) == 0  # type: ignore[arg-type]
    header, *rows = out.getvalue().splitlines()
    starts = _column_starts(header, ["STATUS", "METHOD", "TRAINING", "CREATED", "MODEL"])
    for job, row in zip(jobs, rows, strict=True):
        assert row.split()[0] == job.id  # the whole id, nothing cut
        assert row[starts[0]:].split()[0] == job.status.value
        method = job.method
        assert method is not None and row[starts[1]:].split()[0] == method.kind.value
        assert row[starts[4]:].rstrip() == (job.fine_tuned_model or job.model)
    assert rows[0][starts[2]:].split()[0] == "GlobalStandard"
    assert rows[2][starts[2]:].split()[0] == "Developer"
    assert rows[1][starts[1]:].split()[0] == "reinforcement" and rows[1][starts[2]:].split()[0] == "-"
    assert rows[3][starts[1]:].split()[0] == "supervised"  # no `method` in the body: from hyperparameters


def test_jobs_json_summary_recovers_method_and_training_type() -> None:
    job = Job(SimpleNamespace(), BODIES["notebooks/sarcasm_job_create_nano_developer.json"])  # type: ignore[arg-type]
    summary = jobs_cli._summary(job)
    assert summary["method"] == "supervised" and summary["training_type"] == "Developer"


def test_deploy_table_shows_long_names_and_open_model_ids_whole() -> None:
    def dep(name: str, model: str, sku: str) -> Any:
        info = SimpleNamespace(created_at=None, expires_at=None, inactivity_deletion_at=None,
                               is_developer_tier=sku == "DeveloperTier", lifecycle_note=lambda: None)
        return SimpleNamespace(name=name, provisioning_state="Succeeded", sku=sku,
                               created_by_foundry_tune=True, job_id="ftjob-22fdc4d28e9e4b80b78b30daeb76cc00",
                               model=model, info=info)

    long_name = "n" * 64
    deployments = [
        dep(long_name, "Ministral-3B.ft-b96671bea6bb41aeb145a67aef0a463b", "DataZoneStandard"),
        dep("short", "gpt-4.1-mini-2025-04-14.ft-b525297af36e4cfda898d13c3f91d3dc", "DeveloperTier"),
    ]
    out = io.StringIO()
    deploy_cli._table(deployments, out)
    header, *rows = out.getvalue().splitlines()
    starts = _column_starts(header, ["STATE", "SKU", "OURS", "JOB", "MODEL"])
    for d, row in zip(deployments, rows, strict=True):
        assert row.split()[0] == d.name
        assert row[starts[1]:].split()[0] == d.sku
        assert row[starts[3]:].split()[0] == d.job_id
        assert row[starts[4]:].rstrip() == d.model

