"""``job.wait(via="webhook")`` against the emulator's signed webhooks: the job is read at the start and
when its webhook arrives instead of being polled; a lost or refused webhook is caught by the safety
poll; the timeout and the usual typed errors hold; bad arguments are refused before any request."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune._async._webhooks import AsyncWebhookReceiver
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import (
    InvalidParameterError,
    JobFailedError,
    SpendLimitReachedError,
    WaitTimeoutError,
)
from foundry_tune.graders import StringCheck
from foundry_tune.job import JobStatus
from foundry_tune.methods import DPO, Reinforcement

from ._helpers import WAIT, rft_rows, sft_data

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator()]

SECRET = "whsec_" + base64.b64encode(b"webhook-wait-test-key-32-bytes!!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-key-the-receiver-lacks!!").decode()


@pytest.fixture
def receiver(emulator: Emulator) -> Iterator[AsyncWebhookReceiver]:
    """A started receiver the emulator sends its webhooks to (switch removed after the test)."""
    started = AsyncWebhookReceiver(SECRET).start()  # a plain fixture: started and stopped by hand
    try:
        answered = emulator.switches(webhooks={"url": started.url, "secret": SECRET})
        assert SECRET not in json.dumps(answered) and SECRET not in json.dumps(emulator.switches())
        yield started
    finally:
        emulator.switches(webhooks=None)
        started.stop()


async def start(ft: AsyncFoundry, seed: int) -> AsyncJob:
    return await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=seed)).suffix(f"webhook-{seed}")
                  .training_type("Standard").start(force_new=True))


@pytest.mark.anyio
async def test_a_job_waited_on_via_webhook_is_read_at_the_start_and_when_its_webhook_arrives(
    ft: AsyncFoundry, emulator: Emulator, receiver: AsyncWebhookReceiver
) -> None:
    job = await start(ft, seed=901)
    before = emulator.stats()["requests"]
    out = io.StringIO()
    # A safety poll far beyond the job's second of training: only the webhook can end this wait early.
    await job.wait(timeout=WAIT, via="webhook", receiver=receiver, safety_poll=WAIT, progress="plain",
                   stream=out)
    requests = emulator.stats()["requests"] - before
    assert job.status is JobStatus.SUCCEEDED
    assert receiver.last_event(job.id) == "fine_tuning.job.succeeded"
    # One read at the start, one when the webhook came (a polling wait also lists events every look).
    assert requests <= 3, requests
    text = out.getvalue()
    assert "waiting for its webhook" in text and job.id in text
    assert "succeeded" in text.splitlines()[-1]


@pytest.mark.anyio
async def test_a_lost_webhook_is_caught_by_the_safety_poll(ft: AsyncFoundry, emulator: Emulator) -> None:
    async with AsyncWebhookReceiver(SECRET) as lonely:  # the emulator was told of no receiver
        job = await start(ft, seed=902)
        await job.wait(timeout=WAIT, via="webhook", receiver=lonely, safety_poll=0.3, progress=False)
    assert job.status is JobStatus.SUCCEEDED
    assert lonely.last_event(job.id) is None


@pytest.mark.anyio
async def test_a_badly_signed_webhook_is_refused_and_the_safety_poll_ends_the_wait(
    ft: AsyncFoundry, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="foundry_tune.webhooks")
    async with AsyncWebhookReceiver(SECRET) as strict:
        emulator.switches(webhooks={"url": strict.url, "secret": OTHER_SECRET})
        try:
            job = await start(ft, seed=903)
            await job.wait(timeout=WAIT, via="webhook", receiver=strict, safety_poll=0.3, progress=False)
            # The refused delivery may still be on its way when the safety poll saw the job end.
            for _ in range(50):
                if "refused a webhook request" in caplog.text:
                    break
                await _sleep(0.1)
        finally:
            emulator.switches(webhooks=None)
    assert job.status is JobStatus.SUCCEEDED
    assert strict.last_event(job.id) is None
    assert "signature does not match" in caplog.text
    assert SECRET not in caplog.text and OTHER_SECRET not in caplog.text


@pytest.mark.anyio
async def test_a_failed_job_raises_job_failed_error_after_its_webhook(
    ft: AsyncFoundry, receiver: AsyncWebhookReceiver, tmp_path: Path
) -> None:
    path = tmp_path / "chat.jsonl"
    sft_data(12, seed=904).to_jsonl(path)
    with path.open("rb") as fh:
        uploaded = await ft.openai.files.create(file=("chat.jsonl", fh), purpose="fine-tune")
    # Chat data given to a DPO job by file id: the service processes the file, then fails the job.
    job = await (ft.fine_tune("gpt-4.1-mini").train_on(uploaded.id).method(DPO())
                 .training_type("Standard").start(force_new=True))
    seen: list[str] = []
    with pytest.raises(JobFailedError) as info:
        await job.wait(timeout=WAIT, via="webhook", receiver=receiver, safety_poll=WAIT, progress=False,
                       on_event=lambda event: seen.append(event.message))
    assert info.value.code == "invalidTrainingFile"
    assert receiver.last_event(job.id) == "fine_tuning.job.failed"
    assert any("invalid training file" in message for message in seen), seen


@pytest.mark.anyio
async def test_the_timeout_is_honoured_while_no_webhook_comes(
    ft: AsyncFoundry, receiver: AsyncWebhookReceiver
) -> None:
    job = await start(ft, seed=905)
    with pytest.raises(WaitTimeoutError) as info:
        await job.wait(timeout=0.2, via="webhook", receiver=receiver, progress=False)  # safety poll: 300 s
    assert job.id in str(info.value)
    await job.cancel()


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::foundry_tune.catalog.RetirementWarning")  # o4-mini's, as of today
async def test_a_reinforcement_jobs_spend_cap_is_watched_at_each_read(
    ft: AsyncFoundry, emulator: Emulator, receiver: AsyncWebhookReceiver
) -> None:
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    builder = (ft.fine_tune("o4-mini")
               .train_on(Dataset.from_records(rft_rows(20, offset=3000), name="rft-webhook.jsonl"))
               .validate_on(Dataset.from_records(rft_rows(10, offset=3100), name="rft-webhook-val.jsonl"))
               .method(Reinforcement(grader=grader, n_epochs=1, batch_size=1))
               .training_type("GlobalStandard").suffix("webhook-cap"))
    emulator.switches(rft_hours=20)  # 2 h of preparation, then 18 h of training at $100/h
    try:
        job = await builder.start(force_new=True)
        for _ in range(300):
            if (await job.refresh()).status is JobStatus.RUNNING:
                break
            await _sleep(0.1)
        # About 3 h of training, of which the events of 20 steps over 18 h show about one: $90.
        emulator.advance(hours=5)
        with pytest.raises(SpendLimitReachedError) as info:  # at the first read: no webhook comes
            await job.wait(timeout=10, via="webhook", receiver=receiver, progress=False, max_cost=50)
        assert (info.value.by, info.value.job_id) == ("user", job.id)
    finally:
        emulator.switches(rft_hours=None)
        await job.cancel()


@pytest.mark.anyio
async def test_bad_webhook_arguments_are_refused_before_any_request(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    job = AsyncJob(ft, {"id": "ftjob-" + "0" * 32, "status": "running"})
    before = emulator.stats()["requests"]
    async with AsyncWebhookReceiver(SECRET) as receiver:
        with pytest.raises(InvalidParameterError, match="needs receiver"):
            await job.wait(via="webhook")
        with pytest.raises(InvalidParameterError, match="via must be"):
            await job.wait(via="sms", receiver=receiver)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterError, match="only with via='webhook'"):
            await job.wait(receiver=receiver)
        with pytest.raises(InvalidParameterError, match="safety_poll"):
            await job.wait(via="webhook", receiver=receiver, safety_poll=0)
        for blind in (1e30, 86_401, float("inf")):  # a wait that would never look again
            with pytest.raises(InvalidParameterError, match="safety_poll"):
                await job.wait(via="webhook", receiver=receiver, safety_poll=blind, timeout=None)
        with pytest.raises(InvalidParameterError, match="receiver must be"):
            await job.wait(via="webhook", receiver="http://example.com/hook")  # type: ignore[arg-type]
    assert emulator.stats()["requests"] == before


async def _sleep(seconds: float) -> None:
    from foundry_tune._async._flavour import sleep

    await sleep(seconds)
