"""End to end on the emulator over real HTTP (real openai + ARM clients, never mocked):
builder -> start -> wait -> metrics -> checkpoints -> deploy -> chat -> delete, for SFT, DPO, RFT,
plus the promises: validate before upload, upload once, start once, typed failures."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._demo_data import demo_records
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.errors import (
    DatasetValidationError,
    DeploymentQuotaError,
    JobCancelledError,
    JobFailedError,
    UploadError,
    WaitTimeoutError,
)
from foundry_tune.graders import StringCheck
from foundry_tune.job import FINGERPRINT_KEY, Job, JobStatus
from foundry_tune.methods import DPO, Reinforcement, Supervised

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

WAIT = 90.0


def stats(ft: Foundry) -> dict[str, Any]:
    emulator = ft.emulator_instance
    assert emulator is not None
    return emulator.stats()


def sft_data(n: int = 30, seed: int = 7, name: str = "support.jsonl") -> Dataset:
    return Dataset.from_records(demo_records(n, seed=seed), name=name)


def dpo_rows(n: int = 20) -> Iterator[dict[str, Any]]:
    for row in demo_records(n, seed=3):
        system, user, assistant = row["messages"]
        yield {
            "input": {"messages": [system, user]},
            "preferred_output": [assistant],
            "non_preferred_output": [{"role": "assistant", "content": "Please check our website."}],
        }


def rft_rows(n: int, offset: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(offset, offset + n):
        a, b = i % 17 + 2, i % 11 + 3
        question = f"What is {a} times {b}? Answer with the number only."
        yield {"messages": [{"role": "user", "content": question}], "answer": str(a * b)}


def finish(job: Job) -> Job:
    return job.wait(timeout=WAIT, progress=False)


def deploy_chat_delete(ft: Foundry, job: Job, prompt: str) -> str:
    before = stats(ft)["deployments"]
    with job.deploy(capacity=1) as deployment:
        assert deployment.model == job.fine_tuned_model
        assert deployment.job_id == job.id
        assert stats(ft)["deployments"] == before + 1
        answer = deployment.chat(prompt)
    assert stats(ft)["deployments"] == before
    return answer


# --- the three methods, end to end ------------------------------------------------------------


def test_sft_end_to_end(ft: Foundry) -> None:
    train, validation = sft_data(60, seed=11).split(validation=0.2, seed=1)
    job = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
           .method(Supervised(n_epochs=2)).suffix("e2e-sft").training_type("GlobalStandard").start())
    seen: list[str] = []
    finish_job = job.wait(timeout=WAIT, progress=False, on_event=lambda e: seen.append(e.id))
    assert finish_job is job and job.status is JobStatus.SUCCEEDED
    assert job.fine_tuned_model and job.fine_tuned_model.endswith("e2e-sft")
    assert len(seen) == len(set(seen)) == len(job.events())  # every event exactly once

    metrics = job.metrics()
    assert metrics.source == "results" and len(metrics) > 5
    assert metrics[0].train_loss is not None and metrics.last is not None
    assert metrics.last.train_loss is not None and metrics.last.train_loss < metrics[0].train_loss
    from_events = job.metrics(source="events")
    # Azure's step events come at step 1 and every 10th step; each agrees with the results file
    by_step = {r.step: r.train_loss for r in metrics}
    assert from_events and [r.step for r in from_events][:2] == [1, 10]
    assert all(by_step[r.step] == r.train_loss for r in from_events)

    checkpoints = job.checkpoints()
    assert checkpoints and checkpoints[-1].model.startswith(job.fine_tuned_model)
    assert [c.step for c in checkpoints] == sorted(c.step for c in checkpoints)

    trained_answers = {row["messages"][-1]["content"] for row in train.iter_records()}
    question = next(iter(train.iter_records()))["messages"][1]["content"]
    answer = deploy_chat_delete(ft, job, question)
    assert answer in trained_answers  # the emulated tuned model answers from its training data


def test_dpo_end_to_end(ft: Foundry) -> None:
    rows = list(dpo_rows(30))
    job = (ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(rows[:20], name="dpo.jsonl"))
           .validate_on(Dataset.from_records(rows[20:], name="dpo-val.jsonl"))
           .method(DPO(beta=0.2, n_epochs=1)).training_type("Standard").start())
    finish(job)
    method = job.method
    assert isinstance(method, DPO) and method.beta == 0.2
    assert len(job.metrics()) > 0
    assert job.checkpoints()
    answer = deploy_chat_delete(ft, job, "How long is the Trekker carbon poles guaranteed for?")
    assert answer


def test_rft_end_to_end(ft: Foundry) -> None:
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    job = (ft.fine_tune("o4-mini").train_on(Dataset.from_records(rft_rows(20), name="rft.jsonl"))
           .validate_on(Dataset.from_records(rft_rows(10, offset=100), name="rft-val.jsonl"))
           .method(Reinforcement(grader=grader, reasoning_effort="low", n_epochs=1))
           .training_type("GlobalStandard").start())
    finish(job)
    assert isinstance(job.method, Reinforcement)
    metrics = job.metrics(source="events")
    assert len(metrics) > 0
    assert job.checkpoints()
    assert deploy_chat_delete(ft, job, "What is 3 times 4? Answer with the number only.")


# --- never pay twice --------------------------------------------------------------------------


def test_invalid_data_uploads_nothing(ft: Foundry, tmp_path: Path) -> None:
    rows = list(demo_records(20, seed=5))
    rows[7] = {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "no answer"}]}
    before = stats(ft)
    with pytest.raises(DatasetValidationError) as info:
        ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(rows)).training_type("Standard").start()
    assert any(issue.line == 8 for issue in info.value.report.errors)
    after = stats(ft)
    for key in ("files", "uploads", "jobs"):
        assert after[key] == before[key], key


def test_same_data_is_uploaded_once(ft: Foundry, tmp_path: Path) -> None:
    path_a, path_b = tmp_path / "a.jsonl", tmp_path / "b-copy.jsonl"
    sft_data(25, seed=21).to_jsonl(path_a)
    sft_data(25, seed=21).to_jsonl(path_b)
    before = stats(ft)
    base = ft.fine_tune("gpt-4.1-mini").training_type("GlobalStandard").method(Supervised(n_epochs=1))
    first = base.train_on(path_a).suffix("once-a").start()
    second = base.train_on(path_b).suffix("once-b").start()  # another job, the same bytes
    assert first.id != second.id
    assert first.training_file == second.training_file
    assert stats(ft)["files"] == before["files"] + 1
    plan = base.train_on(path_b).suffix("once-c").plan()
    assert [f.action for f in plan.files] == ["reuse"] and plan.files[0].file_id == first.training_file
    for job in (first, second):
        finish(job)


def test_start_twice_leaves_one_job(ft: Foundry) -> None:
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(22, seed=31)).suffix("twice")
               .training_type("GlobalStandard"))
    before = stats(ft)["jobs"]
    first = builder.start()
    second = builder.start()
    assert second.id == first.id and second.reused and not first.reused
    assert stats(ft)["jobs"] == before + 1
    assert builder.plan().existing_job_id == first.id
    assert [j.id for j in ft.jobs.find(first.fingerprint or "")] == [first.id]
    fresh = builder.start(force_new=True)
    assert fresh.id != first.id and stats(ft)["jobs"] == before + 2
    for job in (first, fresh):
        finish(job)


class DropAfterCreate:
    """An httpx2 transport that lets the first job create reach the service, then drops the
    answer: the create took effect but the client only sees a broken connection."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.dropped = 0

    def handle_request(self, request: Any) -> Any:
        import httpx2

        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/fine_tuning/jobs") and not self.dropped:
            response.read()
            response.close()
            self.dropped += 1
            raise httpx2.RemoteProtocolError("Server disconnected without a response.", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_dropped_connection_on_create_leaves_one_job(ft: Foundry) -> None:
    import httpx2
    import openai

    from foundry_tune.client import RetryPolicy

    emulator = ft.emulator_instance
    assert emulator is not None
    transport = DropAfterCreate(httpx2.HTTPTransport())
    client = openai.OpenAI(base_url=emulator.info.openai_base_url, api_key="emulator-key", max_retries=0,
                           http_client=httpx2.Client(transport=transport))
    flaky = Foundry.from_openai_client(client, retry=RetryPolicy(initial_backoff=0.05, max_backoff=0.2))
    before = stats(ft)["jobs"]
    job = (flaky.fine_tune("gpt-4.1-mini").train_on(sft_data(21, seed=41)).suffix("dropped")
           .training_type("GlobalStandard").start())
    assert transport.dropped == 1
    assert stats(ft)["jobs"] == before + 1
    assert [j.id for j in ft.jobs.list(fingerprint=job.fingerprint, limit=10)] == [job.id]
    finish(job)


class MetadataDroppingService(DropAfterCreate):
    """Also strips ``metadata`` from job creates, like a service that does not store it."""

    def handle_request(self, request: Any) -> Any:
        import json

        import httpx2

        if request.method == "POST" and request.url.path.endswith("/fine_tuning/jobs"):
            body = json.loads(request.read())
            body.pop("metadata", None)
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx2.Request("POST", request.url, headers=headers, content=json.dumps(body).encode())
        return super().handle_request(request)


def test_dropped_create_on_a_service_without_metadata_leaves_one_job(ft: Foundry) -> None:
    import httpx2
    import openai

    from foundry_tune.client import RetryPolicy

    emulator = ft.emulator_instance
    assert emulator is not None
    transport = MetadataDroppingService(httpx2.HTTPTransport())
    client = openai.OpenAI(base_url=emulator.info.openai_base_url, api_key="emulator-key", max_retries=0,
                           http_client=httpx2.Client(transport=transport))
    flaky = Foundry.from_openai_client(client, retry=RetryPolicy(initial_backoff=0.05, max_backoff=0.2))
    before = stats(ft)["jobs"]
    job = (flaky.fine_tune("gpt-4.1-mini").train_on(sft_data(21, seed=43)).suffix("no-metadata")
           .training_type("GlobalStandard").start())
    assert transport.dropped == 1 and job.fingerprint is None
    assert stats(ft)["jobs"] == before + 1
    finish(job)


# --- failures are typed and explained ---------------------------------------------------------


def test_failed_job_raises_with_the_services_reason(ft: Foundry, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    sft_data(20, seed=51).to_jsonl(path)
    with path.open("rb") as fh:
        uploaded = ft.openai.files.create(file=("chat.jsonl", fh), purpose="fine-tune")
    # Chat data given to a DPO job by file id: the service processes the file, then fails the job.
    job = ft.fine_tune("gpt-4.1-mini").train_on(uploaded.id).method(DPO()).training_type("Standard").start()
    with pytest.raises(JobFailedError) as info:
        job.wait(timeout=WAIT, progress=False)
    err = info.value
    assert err.job_id == job.id
    assert err.code == job.error[0] == "invalidTrainingFile"
    assert err.service_message and "invalid training file" in err.service_message
    assert err.hint and "foundry-tune validate" in err.hint
    assert err.service_message in str(err)


def test_file_rejected_in_processing_raises_upload_error(ft: Foundry) -> None:
    from foundry_tune._sync._upload import upload_once
    from foundry_tune.job import UploadOptions

    rows = list(demo_records(15, seed=61))
    rows[2] = {"messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(UploadError) as info:
        upload_once(ft, Dataset.from_records(rows, name="bad.jsonl"), UploadOptions())
    assert info.value.file_id and info.value.details and "line 3" in info.value.details


def test_large_files_go_through_the_uploads_api_intact(ft: Foundry) -> None:
    data = sft_data(60, seed=71, name="big.jsonl")
    before = stats(ft)
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(data).suffix("parts").training_type("GlobalStandard")
               .upload_options(single_request_limit=4096, part_size=5000, parallel_parts=3))
    assert builder.plan().files[0].via == "uploads"
    job = builder.start()
    after = stats(ft)
    assert after["uploads"] == before["uploads"] + 1 and after["files"] == before["files"] + 1
    content = ft.openai.files.content(job.training_file or "").content
    assert hashlib.sha256(content).hexdigest() == data.content_hash()
    finish(job)


def test_deployment_quota_error_is_typed(make_foundry: Callable[..., Foundry]) -> None:
    ft = make_foundry()  # its own emulator: the limit counts every deployment on the resource
    job = (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=81)).suffix("quota")
           .training_type("GlobalStandard").start())
    finish(job)
    created = []
    try:
        with pytest.raises(DeploymentQuotaError) as info:
            for i in range(10):
                created.append(job.deploy(f"quota-{i}", capacity=1, wait=False))
        assert info.value.code and info.value.status
        assert len(created) == stats(ft)["deployments"] == 5  # the emulator's fine-tuned deployment limit
    finally:
        for deployment in created:
            deployment.delete()
    assert stats(ft)["deployments"] == 0


# --- watching and control ---------------------------------------------------------------------


def test_ctrl_c_stops_watching_but_not_the_job(ft: Foundry, capsys: pytest.CaptureFixture[str]) -> None:
    job = (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=91)).suffix("ctrlc")
           .training_type("GlobalStandard").start())

    def interrupt(_: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        job.wait(timeout=WAIT, on_event=interrupt, progress="plain")
    err = capsys.readouterr().err
    assert f"Job.attach(ft, '{job.id}')" in err and f"foundry-tune jobs watch {job.id}" in err
    again = Job.attach(ft, job.id)
    assert again.status is not JobStatus.CANCELLED
    finish(again)
    assert again.status is JobStatus.SUCCEEDED


def test_pause_resume_cancel(ft: Foundry) -> None:
    job = (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=101)).suffix("control")
           .training_type("GlobalStandard").start())
    for _ in range(200):
        if job.refresh().status is JobStatus.RUNNING:
            break
        time.sleep(0.05)
    assert job.pause().status is JobStatus.PAUSING  # as Azure answers, then `paused`
    assert job.pause().status in {JobStatus.PAUSING, JobStatus.PAUSED}  # repeated: no error
    for _ in range(200):
        if job.refresh().status is JobStatus.PAUSED:
            break
        time.sleep(0.05)
    assert job.status is JobStatus.PAUSED
    with pytest.raises(WaitTimeoutError):  # a paused job is live: wait() keeps waiting
        job.wait(timeout=0.3, progress=False)
    assert job.status is JobStatus.PAUSED
    assert job.resume().status is JobStatus.RESUMING  # then `running`
    assert job.resume().status in {JobStatus.RESUMING, JobStatus.RUNNING}  # repeated: no error
    job.cancel()
    assert job.status is JobStatus.CANCELLED
    assert job.cancel().status is JobStatus.CANCELLED
    with pytest.raises(JobCancelledError):
        job.wait(timeout=WAIT, progress=False)


def test_jobs_api_lists_and_filters(ft: Foundry) -> None:
    jobs = ft.jobs.list(limit=50)
    assert jobs and all(isinstance(j, Job) for j in jobs)
    created = [j.created_at for j in jobs]
    assert created == sorted(created, reverse=True)
    succeeded = ft.jobs.list(status="succeeded", limit=50)
    assert succeeded and all(j.status is JobStatus.SUCCEEDED for j in succeeded)
    tagged = [j for j in jobs if j.fingerprint]
    assert tagged and all(j.metadata[FINGERPRINT_KEY] == j.fingerprint for j in tagged)
    by_suffix = ft.jobs.list(suffix="e2e-sft")
    assert by_suffix and all(j.suffix == "e2e-sft" for j in by_suffix)
    fp = tagged[0].fingerprint
    assert fp is not None
    by_metadata = ft.jobs.list(metadata={FINGERPRINT_KEY: fp})
    assert by_metadata and all(j.metadata.get(FINGERPRINT_KEY) == fp for j in by_metadata)
    assert tagged[0].id in {j.id for j in by_metadata}
    assert not ft.jobs.list(metadata={FINGERPRINT_KEY: "no-such-fingerprint"})



def test_create_without_training_type_gets_the_service_default(ft: Foundry) -> None:
    # Azure has a default training type (Standard); the emulator used to refuse the create.
    job = ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=111)).suffix("no-type").start()
    try:
        assert job.raw["trainingType"] == "standard" and job.status is JobStatus.PENDING
    finally:
        job.cancel()
