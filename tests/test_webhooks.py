"""Webhooks without a job: the emulator's signatures verify with the openai client's own webhook
helper (the reference implementation), and the receiver verifies, de-duplicates, refuses and
answers over HTTP as the service's webhooks need."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import openai
import pytest
from openai.types.webhooks import (
    FineTuningJobCancelledWebhookEvent,
    FineTuningJobFailedWebhookEvent,
    FineTuningJobSucceededWebhookEvent,
)

pytest.importorskip("starlette")  # the emulator's modules

from foundry_tune._demo_data import demo_records
from foundry_tune._sync._foundry import Foundry
from foundry_tune._sync._webhooks import WebhookReceiver
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.emulator._state import Config, Context
from foundry_tune.emulator._webhooks import (
    ENV_SECRET,
    ENV_URL,
    Target,
    WebhookSender,
    check_switch,
    deliver,
    event_body,
    sign,
)
from foundry_tune.errors import ConfigurationError, InvalidParameterError

SECRET = "whsec_" + base64.b64encode(b"unit-test-key-of-thirty-two-byte").decode()
JOB = "ftjob-" + "a" * 32


def signed(
    body: bytes, secret: str = SECRET, *, webhook_id: str = "wh_1", at: int | None = None
) -> dict[str, str]:
    timestamp = int(time.time()) if at is None else at
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, webhook_id, timestamp, body)}


def body_of(job_id: str = JOB, kind: str = "fine_tuning.job.succeeded") -> bytes:
    return event_body({"id": job_id, "finished_at": 1_750_000_000}, kind)


# --- the emulator's signatures, checked by the openai client ------------------------------------


@pytest.mark.parametrize("kind", ["fine_tuning.job.succeeded", "fine_tuning.job.failed",
                                  "fine_tuning.job.cancelled"])
def test_the_emulators_webhooks_unwrap_with_the_openai_client(kind: str) -> None:
    body = body_of(kind=kind)
    event = openai.OpenAI(api_key="x").webhooks.unwrap(body, signed(body), secret=SECRET)
    assert isinstance(event, (FineTuningJobSucceededWebhookEvent, FineTuningJobFailedWebhookEvent,
                              FineTuningJobCancelledWebhookEvent))
    assert event.type == kind
    assert event.data.id == JOB
    assert event.object == "event" and event.id.startswith("evt_") and event.created_at == 1_750_000_000


def test_a_plain_secret_is_used_as_its_bytes_as_the_openai_client_reads_it() -> None:
    body = body_of()
    headers = signed(body, "plain-secret")
    openai.OpenAI(api_key="x").webhooks.verify_signature(body, headers, secret="plain-secret")


def test_a_tampered_body_or_another_secret_fails_the_openai_check() -> None:
    body = body_of()
    headers = signed(body)
    client = openai.OpenAI(api_key="x")
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(body.replace(JOB.encode(), b"ftjob-" + b"b" * 32), headers, secret=SECRET)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(body, headers, secret="whsec_" + base64.b64encode(b"x" * 32).decode())


# --- the receiver over HTTP -----------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as started:
        yield started


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_signed_webhook_wakes_the_waits_on_its_job_once_even_when_replayed(
    receiver: WebhookReceiver,
) -> None:
    heard: list[str] = []
    receiver.subscribe(JOB, heard.append)
    body = body_of()
    headers = signed(body, webhook_id="wh_replayed")
    assert post(receiver.url, body, headers) == 200
    assert post(receiver.url, body, headers) == 200  # the sender must stop retrying: 2xx, ignored
    assert heard == ["fine_tuning.job.succeeded"]
    assert receiver.last_event(JOB) == "fine_tuning.job.succeeded"


def test_unsigned_badly_signed_and_stale_requests_get_400_and_a_warning_without_the_secret(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="foundry_tune.webhooks")
    heard: list[str] = []
    receiver.subscribe(JOB, heard.append)
    body = body_of()
    assert post(receiver.url, body, {}) == 400
    assert post(receiver.url, body, signed(body, "whsec_" + base64.b64encode(b"y" * 32).decode())) == 400
    assert post(receiver.url, body, signed(body, at=int(time.time()) - 3600)) == 400
    assert post(receiver.url, body + b" ", signed(body)) == 400
    assert heard == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4, warnings
    assert any("too old" in w for w in warnings) and any("does not match" in w for w in warnings)
    assert SECRET not in caplog.text and SECRET[6:] not in caplog.text


def test_other_paths_and_methods_are_not_taken(receiver: WebhookReceiver) -> None:
    body = body_of()
    assert post(receiver.url.replace("/webhooks", "/other"), body, signed(body)) == 404
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(receiver.url, timeout=10)
    assert info.value.code == 405


def test_an_event_that_arrived_before_the_wait_subscribed_is_not_missed(receiver: WebhookReceiver) -> None:
    body = body_of(kind="fine_tuning.job.cancelled")
    assert receiver.handle(body, list(signed(body).items())) == 200
    heard: list[str] = []
    stop = receiver.subscribe(JOB, heard.append)
    assert heard == ["fine_tuning.job.cancelled"]
    stop()
    other = body_of(job_id="ftjob-" + "c" * 32)
    assert receiver.handle(other, signed(other, webhook_id="wh_2")) == 200
    assert heard == ["fine_tuning.job.cancelled"]


def test_events_about_other_things_are_answered_200_and_ignored(receiver: WebhookReceiver) -> None:
    body = json.dumps({"object": "event", "id": "evt_1", "type": "batch.completed", "created_at": 1,
                       "data": {"id": "batch_1"}}).encode()
    assert receiver.handle(body, signed(body)) == 200
    assert receiver.last_event("batch_1") is None


def test_the_secret_stays_out_of_reprs_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = WebhookReceiver(SECRET)
    assert SECRET[6:] not in repr(receiver) and SECRET[6:] not in str(vars(receiver).get("url", ""))
    with pytest.raises(InvalidParameterError) as info:
        WebhookReceiver("whsec_not base64 at all!")
    assert "not base64 at all" not in str(info.value)
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_WEBHOOK_SECRET"):
        WebhookReceiver()
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    body = body_of()
    assert WebhookReceiver().handle(body, signed(body)) == 200


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"port": -1}, "port"),
    ({"port": 70_000}, "port"),
    ({"port": "80"}, "port"),
    ({"port": True}, "port"),
    ({"port": 80.0}, "port"),
    ({"host": "   "}, "host"),
    ({"host": ""}, "host"),
    ({"host": " 127.0.0.1"}, "host"),
    ({"host": 127}, "host"),
    ({"path": "webhooks"}, "path"),
    ({"path": "/web hooks"}, "path"),
    ({"path": "/hooks?x=1"}, "path"),
    ({"path": None}, "path"),
    ({"tolerance": 0}, "tolerance"),
    ({"tolerance": 10**30}, "tolerance"),  # would switch replay protection off
    ({"tolerance": 3601}, "tolerance"),
    ({"tolerance": 300.5}, "tolerance"),
    ({"tolerance": True}, "tolerance"),
])
def test_bad_receiver_arguments_are_refused_when_it_is_made_not_at_start(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        WebhookReceiver(SECRET, **kwargs)


def test_the_widest_arguments_taken_still_serve() -> None:
    widest = WebhookReceiver(SECRET, host="127.0.0.1", port=0, path="/hooks/fine-tuning", tolerance=3600)
    with widest:
        body = body_of()
        assert post(widest.url, body, signed(body, at=int(time.time()) - 3000)) == 200


@pytest.mark.parametrize("secret", ["   ", "\n"])
def test_a_blank_secret_is_a_configuration_error(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError):
        WebhookReceiver(secret)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", secret)
    with pytest.raises(ConfigurationError, match="OPENAI_WEBHOOK_SECRET"):
        WebhookReceiver()


@pytest.mark.parametrize("secret", [SECRET + " ", " plain-key-xyz", "whsec_", "whsec_====", 42])
def test_a_padded_empty_or_undecodable_secret_is_refused_without_showing_it(secret: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        WebhookReceiver(secret)
    if isinstance(secret, str) and len(secret.strip()) > 8:
        assert secret.strip().removeprefix("whsec_") not in str(info.value)


# --- the emulator's sender ------------------------------------------------------------------------


class _Flaky(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_delivery_is_retried_after_a_5xx_with_the_same_webhook_id() -> None:
    _Flaky.answers, _Flaky.seen = [503], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        assert deliver(Target(url, SECRET), body_of(), delays=(0.01,)) == 200
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Flaky.seen) == 2
    assert _Flaky.seen[0]["webhook-id"] == _Flaky.seen[1]["webhook-id"]
    assert _Flaky.seen[0]["user-agent"].startswith("OpenAI/1.0")


def test_the_sender_announces_jobs_that_end_after_it_started_only(tmp_path: Path) -> None:
    ctx = Context(Config(data_dir=tmp_path))
    old = "ftjob-" + "1" * 32
    new = "ftjob-" + "2" * 32
    ctx.store.put("job", {"id": old, "status": "succeeded", "finished_at": 1})
    ctx.store.put("job", {"id": new, "status": "running"})
    with WebhookReceiver(SECRET) as receiver:
        ctx.switches["webhooks"] = {"url": receiver.url, "secret": SECRET}
        sender = WebhookSender(ctx)
        sender.after_tick()
        ctx.store.put("job", {"id": new, "status": "failed", "finished_at": 2})
        sender.after_tick()
        sender.after_tick()  # announced once
        for _ in range(100):
            if receiver.last_event(new):
                break
            time.sleep(0.02)
        assert receiver.last_event(new) == "fine_tuning.job.failed"
        assert receiver.last_event(old) is None
    ctx.store.close()


def test_the_webhooks_switch_takes_a_url_and_a_secret() -> None:
    assert check_switch("webhooks", {"url": "http://127.0.0.1:9/hook", "secret": SECRET}) is None
    assert check_switch("webhooks", [{"url": "https://example.com/h", "secret": "plain"}]) is None
    assert check_switch("webhooks", None) is None
    assert check_switch("hang", "anything") is None
    bad_values: list[Any] = [{"url": "ftp://x", "secret": "s"}, {"url": "http://x"}, "http://x",
                             {"url": "http://x", "secret": "s", "extra": 1}]
    for bad in bad_values:
        assert check_switch("webhooks", bad) is not None
    problem = check_switch("webhooks", {"url": "http://x", "secret": "whsec_%%%secret%%%"})
    assert problem is not None and "%%%secret%%%" not in problem


def test_the_emulator_refuses_a_webhooks_switch_it_could_not_sign_with(emulator: Emulator) -> None:
    with pytest.raises(InvalidParameterError, match="webhooks"):
        emulator.switches(webhooks={"url": "http://127.0.0.1:9/hook"})
    assert "webhooks" not in emulator.switches()


def test_the_emulator_sends_to_the_target_its_environment_names(
    make_foundry: Callable[..., Foundry], monkeypatch: pytest.MonkeyPatch
) -> None:
    with WebhookReceiver(SECRET) as receiver:
        monkeypatch.setenv(ENV_URL, receiver.url)
        monkeypatch.setenv(ENV_SECRET, SECRET)
        ft = make_foundry()
        data = Dataset.from_records(list(demo_records(12, seed=77)), name="env-webhook.jsonl")
        job = ft.fine_tune("gpt-4.1-mini").train_on(data).training_type("Standard").start()
        job.wait(timeout=90, via="webhook", receiver=receiver, safety_poll=90, progress=False)
        assert receiver.last_event(job.id) == "fine_tuning.job.succeeded"
