"""Fine-tuning webhooks without I/O: which events a wait listens for, de-duplication by
``webhook-id``, the registry that hands an event to the waits of its job, and the checks of
``wait(via=..., receiver=..., safety_poll=...)``.

Sources:

- Azure OpenAI in Foundry Models webhooks
  (https://learn.microsoft.com/en-us/azure/foundry/openai/how-to/webhooks): the event types
  ``fine_tuning.job.succeeded`` / ``fine_tuning.job.failed`` / ``fine_tuning.job.cancelled``, the
  payload ``{"object": "event", "id": "evt_...", "type": ..., "created_at": ..., "data": {...}}``,
  the headers ``Webhook-ID`` (use it "to prevent duplicate processing"), ``Webhook-Timestamp`` and
  ``Webhook-Signature``, and "keep webhook processing under 10 seconds".
- openai-python ``types/webhooks/fine_tuning_job_succeeded_webhook_event.py``: a fine-tuning
  event's ``data`` is ``{"id": <the job id>}``.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from foundry_tune._core.retry import check_seconds
from foundry_tune.errors import ConfigurationError, InvalidParameterError

__all__ = [
    "JOB_EVENT_PREFIX",
    "JOB_EVENT_TYPES",
    "MAX_SAFETY_POLL_SECONDS",
    "MAX_TOLERANCE_SECONDS",
    "SAFETY_POLL_SECONDS",
    "JobWaiters",
    "RecentIds",
    "WebhookSource",
    "check_receiver",
    "check_webhook_secret",
    "check_webhook_wait",
    "job_event",
]

JOB_EVENT_PREFIX = "fine_tuning.job."
JOB_EVENT_TYPES = ("fine_tuning.job.succeeded", "fine_tuning.job.failed", "fine_tuning.job.cancelled")
"""The fine-tuning events the service sends (one per way a job ends)."""

SAFETY_POLL_SECONDS = 300.0
"""How often ``wait(via="webhook")`` looks at the job anyway (webhooks can be lost: an endpoint
that was down longer than the service retries, a secret rotated, a tunnel closed)."""

MAX_SAFETY_POLL_SECONDS = 86_400.0
"""The longest ``safety_poll`` taken (one day): a lost webhook must not leave a wait blind for
longer than that (a value such as ``1e30`` would mean never looking again)."""

MAX_TOLERANCE_SECONDS = 3_600
"""The widest ``tolerance`` a receiver takes (one hour). The tolerance is the replay window: a
captured request verifies again for that long, and the ``webhook-id`` de-duplication remembers a
bounded number of ids in memory only (lost on a restart). A sender signs each delivery attempt
with its own timestamp (Standard Webhooks, which the openai helper implements; inference for
Azure), so a window wider than clock skew plus transit only widens the replay window. The openai
helper's default is 300 s."""

_PATH = re.compile(r"/[!$&'()*+,;=:@%/A-Za-z0-9._~-]*")
"""A URL path: ``/`` then path characters (no query, fragment, space or control character)."""


class WebhookSource(Protocol):
    """What ``job.wait(via="webhook", receiver=...)`` needs from a receiver: a way to be told when
    an event of one job arrives. Both flavours' `WebhookReceiver` have it."""

    def subscribe(self, job_id: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(event_type)`` for each new event of ``job_id`` (at once when one already
        arrived); returns the function that stops it."""
        ...


def job_event(payload: object) -> tuple[str, str] | None:
    """``(job_id, event_type)`` of a verified webhook payload about a fine-tuning job (any
    ``fine_tuning.job.*`` type), or None for any other event or shape."""
    if not isinstance(payload, Mapping):
        return None
    kind = payload.get("type")
    data = payload.get("data")
    if not (isinstance(kind, str) and kind.startswith(JOB_EVENT_PREFIX) and isinstance(data, Mapping)):
        return None
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        return None
    return job_id, kind


class RecentIds:
    """The last ``size`` ``webhook-id`` values seen (thread-safe): a sender retries a delivery
    with the same id, and a replayed request must not count twice."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, ident: str) -> bool:
        """Record ``ident``; whether it was new."""
        with self._lock:
            if ident in self._ids:
                self._ids.move_to_end(ident)
                return False
            self._ids[ident] = None
            if len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return True


class JobWaiters:
    """Job id -> the callbacks of the waits on it, plus the last event type of each job seen so
    far (so that a wait that subscribes after its job's event arrived still hears of it)."""

    def __init__(self, remember: int = 10_000) -> None:
        self._remember = remember
        self._callbacks: dict[str, list[Callable[[str], None]]] = {}
        self._seen: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def subscribe(self, job_id: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Register ``callback`` for ``job_id`` (called at once with the last event type when one
        already arrived); returns the function that removes it."""
        with self._lock:
            self._callbacks.setdefault(job_id, []).append(callback)
            seen = self._seen.get(job_id)
        if seen is not None:
            callback(seen)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._callbacks.get(job_id, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._callbacks.pop(job_id, None)

        return unsubscribe

    def deliver(self, job_id: str, event_type: str) -> list[Callable[[str], None]]:
        """Record ``event_type`` for ``job_id``; the callbacks to call (the caller calls them, outside
        any lock)."""
        with self._lock:
            self._seen[job_id] = event_type
            self._seen.move_to_end(job_id)
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            return list(self._callbacks.get(job_id, ()))

    def last_event(self, job_id: str) -> str | None:
        """The type of the last event of ``job_id`` received, or None."""
        with self._lock:
            return self._seen.get(job_id)


def check_webhook_wait(via: object, receiver: Any, safety_poll: object) -> float:
    """Check ``wait()``'s ``via``, ``receiver`` and ``safety_poll`` before anything is sent;
    ``safety_poll`` in seconds. A bad combination is an
    [`InvalidParameterError`][InvalidParameterError]."""
    if via not in ("poll", "webhook"):
        raise InvalidParameterError(f"via must be 'poll' or 'webhook', not {via!r}")
    if via == "webhook":
        if receiver is None:
            raise InvalidParameterError(
                "via='webhook' needs receiver=: a WebhookReceiver the service's webhooks reach "
                "(or one whose handle() your own web app calls)")
        if not callable(getattr(receiver, "subscribe", None)):
            raise InvalidParameterError(
                "receiver must be a WebhookReceiver (something with subscribe()), "
                f"not {type(receiver).__name__}")
    elif receiver is not None:
        raise InvalidParameterError("receiver= is used only with via='webhook'")
    seconds = check_seconds(safety_poll, "safety_poll", zero=False)
    if seconds > MAX_SAFETY_POLL_SECONDS:
        raise InvalidParameterError(
            f"safety_poll must be at most {MAX_SAFETY_POLL_SECONDS:g} seconds (a day): it is how often "
            f"the wait looks at the job in case a webhook was lost, got {safety_poll!r}")
    return seconds


def check_webhook_secret(secret: object, *, source: str) -> str:
    """``secret`` if it can sign webhooks: a non-blank string without surrounding whitespace, and
    for a ``whsec_...`` secret, base64 that decodes to a key. A missing or blank one is a
    [`ConfigurationError`][ConfigurationError] naming ``source`` (where it came from); a malformed
    one an [`InvalidParameterError`][InvalidParameterError]. The messages never show the secret."""
    if secret is None or (isinstance(secret, str) and not secret.strip()):
        raise ConfigurationError(
            f"a webhook receiver needs the webhook endpoint's signing secret ({source} is "
            f"{'missing' if secret is None else 'blank'})")
    if not isinstance(secret, str):
        raise InvalidParameterError(f"the webhook secret must be a string, not {type(secret).__name__}")
    if secret != secret.strip():
        raise InvalidParameterError(
            f"the webhook secret ({source}) has spaces or line breaks around it: copy it again")
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret[len("whsec_"):], validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not key:
            raise InvalidParameterError(
                "the webhook secret starts with 'whsec_' but the rest is not base64 of a key "
                "(copy the signing_secret the endpoint's creation returned)")
    return secret


def check_receiver(host: object, port: object, path: object, tolerance: object) -> tuple[str, int, str, int]:
    """A receiver's ``host``, ``port``, ``path`` and ``tolerance``, checked when it is created (not
    at ``start()``): ``host`` a non-blank name or address without spaces, ``port`` a whole number
    0..65535 (0: pick a free one), ``path`` a URL path starting with ``/`` (no query or fragment),
    ``tolerance`` whole seconds from 1 to ``MAX_TOLERANCE_SECONDS`` (an hour).
    Anything else is an [`InvalidParameterError`][InvalidParameterError]."""
    if not isinstance(host, str) or not host.strip() or any(c.isspace() or not c.isprintable() for c in host):
        shown = repr(host) if isinstance(host, str) else type(host).__name__
        raise InvalidParameterError(
            f"host must be an interface name or address such as '127.0.0.1' or '0.0.0.0' (every "
            f"interface), got {shown}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65_535:
        shown = repr(port) if isinstance(port, (int, float, str)) else type(port).__name__
        raise InvalidParameterError(
            f"port must be a whole number from 0 (pick a free one) to 65535, got {shown[:40]}")
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        shown = repr(path) if isinstance(path, str) else type(path).__name__
        raise InvalidParameterError(
            f"path must start with '/' and be a URL path (no spaces, query or fragment), got {shown}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) \
            or not 1 <= tolerance <= MAX_TOLERANCE_SECONDS:
        shown = repr(tolerance) if isinstance(tolerance, (int, float, str)) else type(tolerance).__name__
        raise InvalidParameterError(
            f"tolerance must be a whole number of seconds from 1 to {MAX_TOLERANCE_SECONDS} (it is "
            f"the replay window of a signed request), got {shown[:40]}")
    return host, port, path, tolerance
