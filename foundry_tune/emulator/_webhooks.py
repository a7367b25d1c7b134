"""Signed webhooks: when a job succeeds, fails or is cancelled, the emulator POSTs its
``fine_tuning.job.*`` event to every registered target, as Azure OpenAI does
(https://learn.microsoft.com/en-us/azure/foundry/openai/how-to/webhooks).

Targets come from the ``webhooks`` switch (``POST /_emulator/switches`` with
``{"webhooks": {"url": ..., "secret": ...}}``, or a list of such objects; ``null`` removes them) and
from the environment the server starts with (``FOUNDRY_TUNE_EMULATOR_WEBHOOK_URL`` and
``FOUNDRY_TUNE_EMULATOR_WEBHOOK_SECRET``).

Each request is what the service sends: the body
``{"object": "event", "id": "evt_...", "type": "fine_tuning.job.succeeded", "created_at": ...,
"data": {"id": "ftjob-..."}}`` (openai-python ``types/webhooks/fine_tuning_job_*_webhook_event.py``),
``User-Agent: OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)`` (the Azure page's sample
request) and the Standard Webhooks headers
(https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
``webhook-id`` (the same on every retry of one delivery), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature: v1,<base64 of HMAC-SHA256("id.timestamp.body")>`` keyed with the secret (a
``whsec_`` secret is the base64 of the key; any other string is the key's UTF-8 bytes, as the
openai client's ``webhooks.verify_signature`` reads it).

Jobs that ended are noticed after each tick of the job runner, whatever ended them (training, a
failed validation, a safety outcome, a cancel request), and sent from a background thread with a
bounded timeout and a few retries: the job runner never waits for a target, and one target that
is down delays no other.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from foundry_tune.emulator._control import SWITCH_CHECKS
from foundry_tune.emulator._state import Context
from foundry_tune.emulator._store import Doc

__all__ = [
    "ENV_SECRET", "ENV_URL", "Target", "WebhookSender", "check_switch", "deliver", "event_body", "sign",
]

log = logging.getLogger("foundry_tune.emulator.webhooks")

ENV_URL = "FOUNDRY_TUNE_EMULATOR_WEBHOOK_URL"
ENV_SECRET = "FOUNDRY_TUNE_EMULATOR_WEBHOOK_SECRET"  # noqa: S105 - the name of a variable
SWITCH = "webhooks"
USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
ENDED = {"succeeded": "fine_tuning.job.succeeded", "failed": "fine_tuning.job.failed",
         "cancelled": "fine_tuning.job.cancelled"}
"""A job's final status -> the event type the service sends."""
TIMEOUT = 5.0
"""Seconds one delivery attempt may take (the Azure page asks receivers to answer within 10)."""
RETRY_DELAYS = (0.5, 1.0, 2.0)
"""Pauses before the retries of a delivery that met a network error, a 429 or a 5xx (a 4xx is
final: the target refused the request itself)."""
_QUEUE_SIZE = 1000
_SENDERS = 4


@dataclasses.dataclass(frozen=True)
class Target:
    """Where webhooks go, and the secret they are signed with (never shown)."""

    url: str
    secret: str = dataclasses.field(repr=False)


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of ``body``: ``v1,`` and the base64 HMAC-SHA256 of
    ``"{webhook_id}.{timestamp}.{body}"``, keyed as the openai client's verifier reads ``secret``."""
    key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode()
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def event_body(job: Doc, event_type: str) -> bytes:
    """The JSON body of ``job``'s ``event_type`` webhook (``created_at``: when it ended)."""
    at = job.get("finished_at") or int(job.get("_finished_at") or time.time())
    event = {
        "object": "event",
        "id": "evt_" + secrets.token_hex(16),
        "type": event_type,
        "created_at": int(at),
        "data": {"id": job["id"]},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def check_switch(key: str, value: Any) -> str | None:
    """Why a ``webhooks`` switch value is refused, or None (one of ``_control.SWITCH_CHECKS``): it
    takes ``{"url": "http(s)://...", "secret": "whsec_..."}`` or a list of them (never echoing the
    secret)."""
    if key != SWITCH or value is None:
        return None
    for item in value if isinstance(value, list) else [value]:
        url, secret = (item.get("url"), item.get("secret")) if isinstance(item, dict) else (None, None)
        if (not isinstance(item, dict) or set(item) - {"url", "secret"} or not isinstance(url, str)
                or not url.startswith(("http://", "https://")) or not isinstance(secret, str) or not secret):
            return 'webhooks takes {"url": "http(s)://...", "secret": "..."} or a list of them'
        if secret.startswith("whsec_"):
            try:
                base64.b64decode(secret[len("whsec_"):], validate=True)
            except ValueError:
                return "the webhooks secret starts with 'whsec_' but the rest is not base64"
    return None


SWITCH_CHECKS.append(check_switch)  # POST /_emulator/switches refuses a bad value with a 400


def _targets_from(value: Any) -> list[Target]:
    items = value if isinstance(value, list) else [value]
    found: list[Target] = []
    for item in items:
        url, secret = (item.get("url"), item.get("secret")) if isinstance(item, dict) else (None, None)
        if isinstance(url, str) and isinstance(secret, str):
            found.append(Target(url, secret))
        elif item is not None:
            log.warning("ignored a webhooks switch value: it needs {\"url\": ..., \"secret\": ...}")
    return found


class WebhookSender:
    """Notices jobs that ended (call ``after_tick()`` after each tick of the job runner) and
    posts their webhooks from background threads."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # Jobs that had ended before this process started were announced then (or never will be).
        self._announced = {job["id"] for job in ctx.store.all("job") if job.get("status") in ENDED}
        url, secret = os.environ.get(ENV_URL), os.environ.get(ENV_SECRET)
        self._env_targets = [Target(url, secret)] if url and secret else []
        if url and not secret:
            log.warning("%s is set without %s: no webhooks sent to it", ENV_URL, ENV_SECRET)
        self._queue: queue.Queue[tuple[Target, bytes]] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()

    def targets(self) -> list[Target]:
        """Where webhooks go now: the ``webhooks`` switch's targets and the environment's."""
        return _targets_from(self.ctx.switches.get(SWITCH)) + self._env_targets

    def after_tick(self) -> None:
        """Queue the webhooks of every job that ended since the last call (never waits for a
        target; a control route's catch-up may tick in another thread meanwhile)."""
        with self._scan_lock:
            ended = [job for job in self.ctx.store.all("job")
                     if job.get("status") in ENDED and job["id"] not in self._announced]
            self._announced.update(job["id"] for job in ended)
        if not ended:
            return
        targets = self.targets()
        for job in ended:
            event_type = ENDED[job["status"]]
            body = event_body(job, event_type)  # one event, the same id at every target
            for target in targets:
                self._enqueue(target, event_type, body)

    def _enqueue(self, target: Target, event_type: str, body: bytes) -> None:
        try:
            self._queue.put_nowait((target, body))
        except queue.Full:
            log.warning("webhook queue full: dropped a %s event for %s", event_type, target.url)
            return
        with self._lock:
            # A few senders, so that a target that is down (retried for seconds) delays no other.
            # Daemon threads: a delivery in flight never holds up the emulator's exit.
            while len(self._workers) < _SENDERS:
                worker = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _run(self) -> None:
        while True:
            target, body = self._queue.get()
            try:
                deliver(target, body)
            except Exception:
                log.exception("webhook delivery to %s failed", target.url)


def deliver(target: Target, body: bytes, *, delays: tuple[float, ...] = RETRY_DELAYS) -> int | None:
    """POST ``body`` to ``target`` signed, retrying after a network error, a 429 or a 5xx; the
    last HTTP status (None: never answered). The ``webhook-id`` stays the same on every attempt;
    each is signed with a fresh timestamp."""
    webhook_id = "wh_" + secrets.token_hex(16)
    status: int | None = None
    for attempt, pause in enumerate((*delays, None)):
        # Real wall-clock time, not the emulator's (movable) clock: receivers check it against theirs.
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 - the URL is the test's own target
            target.url, data=body, method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "webhook-id": webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(target.secret, webhook_id, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            status = None
            log.info("webhook %s to %s: attempt %d failed (%s)", webhook_id, target.url, attempt + 1,
                     type(exc).__name__)
        if status is not None and (200 <= status < 300 or (status < 500 and status != 429)):
            break
        if pause is not None:
            time.sleep(pause)
    if status is not None and 200 <= status < 300:
        log.info("webhook %s delivered to %s (%d)", webhook_id, target.url, status)
    else:
        log.warning("webhook %s to %s not delivered (last answer: %s)", webhook_id, target.url, status)
    return status
