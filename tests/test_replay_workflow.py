"""The library's public workflow against the replay server, which answers with the real Azure
bodies recorded in ``../shared/data/azure-recordings`` (see ``tests/_replay.py``): start, wait with
progress, metrics, checkpoints, pause / resume / cancel, deploy, chat, responses, delete, listing,
and a check that every recording in the folder is used by some test."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from _emulator_helpers import SAMPLES, first_rows, needs_samples, write_jsonl
from _replay import (
    USED,
    ReplayServer,
    Scenario,
    fixture,
    fixture_names,
    iter_job_bodies,
    needs_recordings,
    recorded_exchange,
    recorded_losses,
)

from foundry_tune import Foundry, RetryPolicy
from foundry_tune.errors import DeploymentQuotaError, JobCancelledError, JobFailedError, UploadError
from foundry_tune.job import Job, JobStatus
from foundry_tune.methods import DPO, Supervised

pytestmark = [
    needs_recordings,
    needs_samples,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]

POLL = 0.02
"""``Job.wait(poll=...)``: the replay answers at once, so poll quickly."""

GSM8K = SAMPLES / "sample-sft-text-gsm8k"
JOB_ID = re.compile(r"^ftjob-[0-9a-f]{32}$")
FILE_ID = re.compile(r"^file-[0-9a-f]{32}$")
API_VERSION = "2025-11-15-preview"
"""The data-plane api-version of the recordings."""


@pytest.fixture
def sft_files(tmp_path: Path) -> tuple[Path, Path]:
    """Small training and validation files cut from the cookbook's gsm8k SFT sample."""
    train = write_jsonl(tmp_path / "train.jsonl", first_rows(GSM8K / "chat_train.jsonl", 20))
    validation = write_jsonl(tmp_path / "validation.jsonl", first_rows(GSM8K / "chat_validation.jsonl", 10))
    return train, validation


def start_sft(ft: Foundry, files: tuple[Path, Path], model: str = "gpt-4.1", training_type: str = "Standard",
              method: Any = None) -> Job:
    train, validation = files
    return (ft.fine_tune(model).train_on(train).validate_on(validation)
            .method(method or Supervised()).training_type(training_type).start())


def progress_pairs(text: str) -> list[tuple[int, str]]:
    """(step, loss text) of every progress line (``... step N ... train_loss X``) of a plain log."""
    return [(int(m[1]), m[2]) for m in re.finditer(r"\bstep (\d+)(?:/\d+)?\b[^\n]*?\btrain_loss (\S+)", text)]


def shown_as(value: float, text: str) -> bool:
    """Whether ``text`` is ``value`` rounded to the digits it shows."""
    shown = float(text)
    if "e" in text.lower():
        digits = len(text.lower().split("e")[0].split(".")[-1]) if "." in text else 0
        return math.isclose(shown, value, rel_tol=10.0 ** -digits)
    decimals = len(text.rsplit(".", maxsplit=1)[-1]) if "." in text else 0
    return abs(shown - value) <= 0.5 * 10.0 ** -decimals + 1e-12


# --- start, wait, metrics, checkpoints ----------------------------------------------------------


def test_start_wait_metrics_checkpoints(sft_files: tuple[Path, Path]) -> None:
    with ReplayServer() as server, server.foundry() as ft:
        job = start_sft(ft, sft_files)
        create = server.requests_to("POST", r"/fine_tuning/jobs$")[0].json
        assert create["trainingType"] == "Standard"  # as the recorded create sent it (Azure accepted it)
        assert create["method"]["type"] == "supervised"
        assert JOB_ID.match(job.id) and job.status == JobStatus.PENDING
        assert job.model == "gpt-4.1-2025-04-14"  # Azure echoes the dated version
        assert FILE_ID.match(job.training_file or "") and FILE_ID.match(job.validation_file or "")

        log = io.StringIO()
        job.wait(poll=POLL, progress="plain", stream=log)
        assert job.status == JobStatus.SUCCEEDED
        assert job.fine_tuned_model == f"gpt-4.1-2025-04-14.ft-{job.id.removeprefix('ftjob-')}"
        text = log.getvalue()
        assert "status running" in text and "Job succeeded." in text
        losses = recorded_losses()
        pairs = progress_pairs(text)
        # progress was shown while the job ran (not only at the end), each with the recorded loss
        assert len({step for step, _ in pairs}) >= 3, text
        assert all(shown_as(losses[step], loss) for step, loss in pairs), pairs
        assert pairs[-1][0] == 8250

        metrics = job.metrics(source="events")
        assert len(metrics) == 826
        assert metrics[0].step == 1 and metrics.last is not None and metrics.last.step == 8250
        assert metrics.last.train_loss == pytest.approx(3.814697265625e-06)
        assert [row.train_loss for row in metrics] == [losses[row.step] for row in metrics]

        checkpoints = job.checkpoints()
        assert [c.step for c in checkpoints] == [1, 80, 90, 100]
        assert checkpoints[-1].model == job.fine_tuned_model  # the final one is the tuned model itself
        tuned = job.fine_tuned_model
        assert [c.model for c in checkpoints[:-1]] == [f"{tuned}:ckpt-step-{s}" for s in (1, 80, 90)]
        assert checkpoints[-1].metrics["train_loss"] == pytest.approx(0.35697707533836365)
        assert all(c.job_id == job.id for c in checkpoints)


def test_files_list_without_has_more_ends_the_upload_scan(sft_files: tuple[Path, Path]) -> None:
    """Azure's ``GET /files`` answer has no ``has_more``: each dedup scan reads it once (or twice to
    see the cursor does not advance) and stops; a second start reuses both uploaded files."""
    with ReplayServer() as server, server.foundry() as ft:
        start_sft(ft, sft_files)
        assert len(server.requests_to("POST", r"/files$")) == 2
        assert len(server.requests_to("GET", r"/files$")) <= 2 * 2  # two scans, one per file
        start_sft(ft, sft_files)  # no recording shows metadata coming back: a second job, but no upload
        assert len(server.requests_to("POST", r"/files$")) == 2
        assert len(server.requests_to("GET", r"/files$")) <= 4 * 2
        assert server.loop_guard_trips == 0


def test_uploaded_file_ids_are_checked_by_purpose(sft_files: tuple[Path, Path]) -> None:
    """The notebooks' processed files can be reused by id; an ``evals`` or ``batch`` file cannot."""
    train = fixture("notebooks/sarcasm_file_train_processed.json")["body"]["id"]
    valid = fixture("notebooks/sarcasm_file_valid_processed.json")["body"]["id"]
    evals = fixture("notebooks/sarcasm_file_eval_processed.json")["body"]["id"]
    batch = fixture("notebooks/breed_batch_file.json")["body"]["id"]
    with ReplayServer() as server, server.foundry() as ft:
        builder = ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(valid)
        job = builder.training_type("GlobalStandard").start()
        assert (job.training_file, job.validation_file) == (train, valid)
        assert server.requests_to("POST", r"/files$") == []
        for wrong, purpose in ((evals, "evals"), (batch, "batch")):
            with pytest.raises(UploadError, match=purpose):
                ft.fine_tune("gpt-4.1-mini").train_on(wrong).start()


# --- control -------------------------------------------------------------------------------------


def test_pause_resume_cancel_show_the_recorded_transitional_statuses(sft_files: tuple[Path, Path]) -> None:
    with ReplayServer(Scenario(running_polls=100)) as server, server.foundry() as ft:
        job = start_sft(ft, sft_files)
        assert job.refresh().status == JobStatus.RUNNING
        job.pause()
        assert job.status == "pausing" and not job.status.is_terminal  # pause_job.json's answer
        assert job.status.is_known  # a status the library knows, not a pseudo-member
        assert job.refresh().status == JobStatus.PAUSED
        job.resume()
        assert job.status == "resuming" and not job.status.is_terminal  # resume_job.json's answer
        assert job.status.is_known
        assert job.refresh().status == JobStatus.RUNNING
        job.cancel()
        assert job.status == JobStatus.CANCELLED  # sft_create_cancel_events.json's answer
        assert job.finished_at is not None
        with pytest.raises(JobCancelledError):
            job.wait(poll=POLL, progress=False)
        for action in ("pause", "resume", "cancel"):
            assert len(server.requests_to("POST", rf"/{action}$")) == 1


def test_recorded_running_and_paused_jobs_can_be_controlled() -> None:
    with ReplayServer() as server, server.foundry() as ft:
        running = ft.jobs.get(server.job_ids["recordings/pause_job.json"])
        assert running.status == JobStatus.RUNNING
        assert running.pause().status == "pausing"
        paused = ft.jobs.get(server.job_ids["recordings/resume_job.json"])
        assert paused.status == JobStatus.PAUSED
        assert paused.resume().status == "resuming"


def test_a_failed_job_raises_with_the_service_error(sft_files: tuple[Path, Path]) -> None:
    error = fixture("errors/job_failed_invalid_n_examples.json")["error"]
    with ReplayServer(Scenario(job_outcome="failed", running_polls=1)) as server, server.foundry() as ft:
        job = start_sft(ft, sft_files)
        with pytest.raises(JobFailedError) as caught:
            job.wait(poll=POLL, progress=False)
        assert caught.value.code == error["code"]
        assert caught.value.service_message == error["message"]
        assert job.error == (error["code"], error["message"])


# --- deployments ---------------------------------------------------------------------------------


def test_deploy_chat_responses_delete() -> None:
    chat_text = fixture("spec-examples/chat_completions.json")["body"]["choices"][0]["message"]["content"]
    responses = recorded_exchange("recordings/deploy_and_infer_oai_sft.json", "POST", r"/responses$")
    answer = responses["response"]["output"][0]["content"][0]["text"]
    with ReplayServer() as server, server.foundry() as ft:
        job = ft.jobs.get(server.job_ids["recordings/deploy_and_infer_oai_sft.json"])
        assert job.status == JobStatus.SUCCEEDED and job.fine_tuned_model
        deployment = job.deploy(capacity=50)
        put = server.requests_to("PUT", r"/deployments/")[0].json
        assert put["sku"] == {"name": "GlobalStandard", "capacity": 50}
        model = {"format": "OpenAI", "name": job.fine_tuned_model, "version": "1"}
        assert put["properties"]["model"] == model
        assert deployment.provisioning_state == "Succeeded"
        assert deployment.job_id == job.id
        # right after ARM said Succeeded the data plane answered DeploymentNotFound once: deploy() waited
        assert [r.status for r in server.requests_to("POST", r"/chat/completions$")] == [404, 200]

        assert deployment.chat("How do I care for a parrot?") == chat_text
        assert deployment.responses("Who invented the telephone?") == answer
        assert server.requests_to("POST", r"/responses$")[0].json["model"] == deployment.name

        assert [d.name for d in ft.deployments.list()][:1] == [deployment.name]
        deployment.delete()
        assert [r.status for r in server.requests_to("DELETE", r"/deployments/")] == [202]
        assert ft.deployments.find_info(deployment.name) is None
        ft.deployments.delete(deployment.name)  # already gone: fine
        assert [r.status for r in server.requests_to("DELETE", r"/deployments/")][-1] == 204


def test_ministral_job_trains_and_deploys_with_the_mistral_format(sft_files: tuple[Path, Path]) -> None:
    with ReplayServer(Scenario(running_polls=1)) as server, server.foundry() as ft:
        job = start_sft(ft, sft_files, model="Ministral-3B", training_type="GlobalStandard")
        assert job.model == "Ministral-3B" and job.status == JobStatus.PENDING
        assert job.raw["trainingType"] == "globalStandard"  # sarcasm_job_create_ministral.json's echo
        job.wait(poll=POLL, progress=False)
        assert job.fine_tuned_model and job.fine_tuned_model.startswith("Ministral-3B.ft-")
        deployment = job.deploy()
        model = server.requests_to("PUT", r"/deployments/")[0].json["properties"]["model"]
        assert model["format"] == "Mistral AI"  # deploy_oss_ministral.json's request
        assert deployment.info.model_format == "Mistral AI"
        deployment.delete()


def test_developer_tier_job_echoes_developer_tier(sft_files: tuple[Path, Path]) -> None:
    with ReplayServer() as server, server.foundry() as ft:
        job = start_sft(ft, sft_files, model="gpt-4.1-nano", training_type="Developer")
        assert server.requests_to("POST", r"/fine_tuning/jobs$")[0].json["trainingType"] == "developerTier"
        assert job.raw["trainingType"] == "developerTier"
        assert job.model == "gpt-4.1-nano-2025-04-14"


def test_deploy_waits_through_the_accepted_state() -> None:
    """Azure's PutDeployment example answers 201 with ``provisioningState: Accepted``."""
    with ReplayServer(Scenario(arm_put_body="spec", lro_polls=2)) as server, server.foundry() as ft:
        job = ft.jobs.get(server.job_ids["recordings/deploy_and_infer_oai_sft.json"])
        deployment = job.deploy(name="accepted-first")
        assert server.requests_to("PUT", r"/deployments/")[0].status == 201
        assert deployment.provisioning_state == "Succeeded"
        assert deployment.name == "accepted-first" and deployment.model == job.fine_tuned_model


def test_arm_quota_error_is_typed() -> None:
    quota = fixture("errors/arm_insufficient_quota.json")
    with ReplayServer(Scenario(arm_put_error="errors/arm_insufficient_quota.json")) as server, \
            server.foundry() as ft:
        job = ft.jobs.get(server.job_ids["recordings/deploy_and_infer_oai_sft.json"])
        with pytest.raises(DeploymentQuotaError) as caught:
            job.deploy()
        assert caught.value.code == quota["body"]["error"]["code"]
        assert len(server.requests_to("PUT", r"/deployments/")) == 1  # a quota error is not retried


def test_arm_request_conflict_is_retried() -> None:
    """``RequestConflict``: "Another operation is being performed ... Please try again later"."""
    scenario = Scenario(arm_put_error="errors/arm_request_conflict.json", arm_put_error_times=1)
    fast = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    with ReplayServer(scenario) as server, server.foundry(retry=fast) as ft:
        job = ft.jobs.get(server.job_ids["recordings/deploy_and_infer_oai_sft.json"])
        deployment = job.deploy()
        assert [r.status for r in server.requests_to("PUT", r"/deployments/")] == [409, 201]
        assert deployment.provisioning_state == "Succeeded"


# --- listing and parsing -------------------------------------------------------------------------


def test_jobs_list_follows_the_recorded_has_more(sft_files: tuple[Path, Path]) -> None:
    with ReplayServer() as server, server.foundry() as ft:
        mine = start_sft(ft, sft_files)
        before = len(server.requests_to("GET", r"/fine_tuning/jobs$"))
        jobs = ft.jobs.list(limit=100)
        pages = server.requests_to("GET", r"/fine_tuning/jobs$")[before:]
        assert len(pages) == 2 and "after" not in pages[0].query and pages[1].query["after"]
        assert jobs[0].id == mine.id
        recorded = recorded_exchange("recordings/list_jobs_page1_head.json", "GET", r"/fine_tuning/jobs$")
        ids = [j.id for j in jobs]
        first = ids.index(server.recorded_list_ids[0])
        assert ids[first:first + 3] == server.recorded_list_ids  # the recorded page, in its order
        statuses = [j["status"] for j in recorded["response"]["data"]]
        assert [j.status.value for j in jobs[first:first + 3]] == statuses
        assert ids[:first + 3] == [j.id for j in ft.jobs.list(limit=first + 3)]
        assert len({j.id for j in jobs}) == len(jobs)
        assert {server.job_ids[name] for name in server.job_ids if not name.startswith("spec")} <= \
            {j.id for j in jobs}


def _method_kind(body: dict[str, Any]) -> str | None:
    method = body.get("method")
    if isinstance(method, dict) and method.get("type"):
        return str(method["type"])
    return "supervised" if isinstance(body.get("hyperparameters"), dict) else None


def test_every_recorded_job_body_parses() -> None:
    """Every job body in the folder: status known, method recovered (from top-level
    ``hyperparameters`` when ``method`` is absent), ``-1`` read as auto, training type accepted."""
    bodies = list(iter_job_bodies())
    assert len(bodies) >= 20
    with ReplayServer() as server, server.foundry() as ft:
        for name, body in bodies:
            job = Job(ft, body)
            assert job.status.is_known, (name, body["status"])
            kind = _method_kind(body)
            method = job.method
            assert (method.kind.value if method is not None else None) == kind, name
            if method is not None and body.get("hyperparameters"):
                for key, value in body["hyperparameters"].items():
                    if value == -1:
                        assert method.hyperparameters()[key] == "auto", (name, key)
            if "trainingType" in body:
                ft.fine_tune(job.model).training_type(body["trainingType"])
        for name, job_id in server.job_ids.items():
            assert ft.jobs.get(job_id).id == job_id, name


def test_recorded_dpo_body_without_top_level_hyperparameters() -> None:
    listing = recorded_exchange("recordings/list_jobs_page1_head.json", "GET", r"/fine_tuning/jobs$")
    body = next(j for j in listing["response"]["data"] if (j.get("method") or {}).get("type") == "dpo")
    with ReplayServer() as server, server.foundry() as ft:
        method = Job(ft, body).method
        assert isinstance(method, DPO)
        assert method.hyperparameters()["beta"] == 0.1
        assert "l2_multiplier" in body["method"]["dpo"]["hyperparameters"]


def test_spec_examples_flow() -> None:
    """Azure's REST examples: create 201 ``pending``, then ``succeeded``; the example's events
    (listed oldest first there), its checkpoints with full validation metrics, pause / resume /
    cancel answers, a job list without more pages and the example file reused by id."""
    spec_file = fixture("spec-examples/get_file.json")["body"]["id"]
    events = [e["message"] for e in fixture("spec-examples/get_finetuning_job_events.json")["body"]["data"]]
    with ReplayServer(Scenario(job_answers="spec")) as server, server.foundry() as ft:
        job = ft.fine_tune("gpt-4.1-mini").train_on(spec_file).training_type("Standard").start()
        assert job.status == JobStatus.PENDING and job.training_file == spec_file
        job.wait(poll=POLL, progress=False)
        assert job.status == JobStatus.SUCCEEDED
        assert sorted(e.message for e in job.events()) == sorted(events)
        checkpoints = job.checkpoints()
        assert [c.step for c in checkpoints] == [10, 20, 30]
        assert {"full_valid_loss", "valid_mean_token_accuracy"} <= set(checkpoints[0].metrics)
        assert ft.jobs.list()[0].id == job.id

        example = ft.jobs.get(server.job_ids["spec-examples/get_finetuning_job.json"])
        assert example.pause().status == JobStatus.PAUSED
        assert example.resume().status == "resuming"
        assert example.cancel().status == JobStatus.CANCELLED


def test_both_path_forms_answer_the_recorded_keys() -> None:
    """``{project}/openai/v1/...`` (what azure-ai-projects 2.x builds) and
    ``{project}/openai/...?api-version=`` (what the recordings show) give the same recorded answer."""
    with ReplayServer() as server, httpx.Client(base_url=server.project_endpoint) as http:
        for name in ("recordings/list_checkpoints.json", "recordings/deploy_and_infer_oai_sft.json",
                     "recordings/resume_job.json"):
            recorded = recorded_exchange(name, "GET", r"/fine_tuning/jobs/[^/]+$")
            job_id = server.job_ids[name]
            classic = http.get(f"/openai/fine_tuning/jobs/{job_id}", params={"api-version": API_VERSION})
            v1 = http.get(f"/openai/v1/fine_tuning/jobs/{job_id}")
            assert classic.status_code == v1.status_code == recorded["status"]
            assert set(classic.json()) == set(v1.json()) == set(recorded["response"]), name
        listing = http.get("/openai/fine_tuning/jobs", params={"api-version": API_VERSION})
        assert listing.json()["has_more"] is True
        files = http.get("/openai/files", params={"api-version": API_VERSION}).json()
        assert set(files) == set(fixture("spec-examples/get_files.json")["body"])  # no has_more


# --- coverage of the recordings (keep last) ------------------------------------------------------

_REPLAY_MODULES = ("test_replay_async.py", "test_replay_cli.py", "test_replay_workflow.py")


def test_every_recording_is_used(request: pytest.FixtureRequest) -> None:
    """Every file in the recordings folder (except sources.md and the yaml spec) fed some answer
    or assertion of the replay tests above. Fails when a recording is added that no test uses."""
    items = request.session.items
    modules = {Path(str(item.fspath)).name for item in items}
    if not set(_REPLAY_MODULES) <= modules:
        pytest.skip("checked only when every replay test module runs")
    replay = [i for i, item in enumerate(items) if Path(str(item.fspath)).name in _REPLAY_MODULES]
    if replay[-1] != items.index(request.node):
        pytest.skip("checked only when it runs after the other replay tests")
    unused = sorted(set(fixture_names()) - USED)
    assert not unused, f"recordings no replay test uses: {unused}"
