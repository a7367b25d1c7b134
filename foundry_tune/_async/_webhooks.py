"""Waiting on the service's webhooks instead of polling:
[`AsyncWebhookReceiver`][AsyncWebhookReceiver] and the wait behind ``job.wait(via="webhook", receiver=...)``.

Azure OpenAI sends a signed ``POST`` to an endpoint registered for the resource when a fine-tuning
job succeeds, fails or is cancelled (``fine_tuning.job.succeeded`` / ``.failed`` / ``.cancelled``;
https://learn.microsoft.com/en-us/azure/foundry/openai/how-to/webhooks). The requests follow
Standard Webhooks (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
headers ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``, keyed with the endpoint's ``whsec_...`` signing secret. Every request is
checked with the openai client's own helper, ``client.webhooks.verify_signature`` (the one the
Azure page uses through ``client.webhooks.unwrap``), which also refuses a timestamp more than
``tolerance`` seconds (default 300) away from now.

The receiver itself does not depend on the flavour (a small standard-library HTTP server in a
thread, or ``handle()`` called by the user's own web app); only the wait does.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

import openai

from foundry_tune._async import _flavour
from foundry_tune._async._spend import SpendWatch
from foundry_tune._core import job_state
from foundry_tune._core.polling import Deadline
from foundry_tune._core.progress import ProgressState, Reporter, make_reporter, retries_shown
from foundry_tune._core.retry import time_bound
from foundry_tune._core.webhooks import (
    JobWaiters,
    RecentIds,
    WebhookSource,
    check_receiver,
    check_webhook_secret,
    check_webhook_wait,
    job_event,
)
from foundry_tune.errors import (
    RateLimitError,
    RetryBudgetExceededError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._job import AsyncJob
    from foundry_tune._core.events import JobEvent

__all__ = ["AsyncWebhookReceiver", "wait_via_webhook"]

log = logging.getLogger("foundry_tune.webhooks")

SECRET_ENV = "OPENAI_WEBHOOK_SECRET"  # noqa: S105 - the name of a variable, not a secret
"""Where a receiver finds the signing secret when none is given (the variable the Azure page and
the openai client use)."""
MAX_BODY = 1 << 20
"""The largest request body taken (a fine-tuning event is a few hundred bytes)."""
_FOLLOW_UP = (1.0, 30.0)
"""After a webhook, look again every 1 s, doubling to 30 s, until the job reads as ended (the
event can arrive a moment before a read of the job shows it)."""


class AsyncWebhookReceiver:
    """Receives the service's signed webhooks and wakes the ``job.wait(via="webhook")`` calls
    waiting for them.

    Run it where the service can reach it: ``start()`` (or ``with``) serves
    ``http://host:port/path`` from a thread; register the public HTTPS address that forwards
    there (a reverse proxy, a tunnel, an App Service) as the resource's webhook endpoint for the
    ``fine_tuning.job.*`` events. Or call ``handle()`` from your own web app's route instead of
    starting it.

    Every request is verified with the openai client's webhook helper against ``secret`` (the
    endpoint's ``whsec_...`` signing secret; default: the ``OPENAI_WEBHOOK_SECRET`` environment
    variable): unsigned, badly signed or stale requests (``webhook-timestamp`` more than
    ``tolerance`` seconds away) get 400 and a WARNING log line. Each ``webhook-id`` counts once
    (the service retries a delivery with the same id). The secret never appears in reprs, logs
    or errors.

    ```python
    async with AsyncWebhookReceiver(port=8080) as receiver:    # secret from OPENAI_WEBHOOK_SECRET
        await job.wait(via="webhook", receiver=receiver)
    ```

    :param secret: the endpoint's signing secret.
    :param host: the interface to listen on (``"0.0.0.0"``: every interface).
    :param port: the port, 0..65535; 0 picks a free one (see ``url``).
    :param path: the path the service posts to (starts with ``/``); other paths get 404.
    :param tolerance: how far ``webhook-timestamp`` may be from now, in whole seconds from 1 to
        3600. It is the replay window (a captured request verifies again within it) and each
        delivery attempt is signed afresh, so a wider one buys nothing but exposure; the openai
        helper's default, 300, suits a host whose clock is synchronised.

    A missing or blank secret raises [`ConfigurationError`][ConfigurationError]; any other bad
    argument [`InvalidParameterError`][InvalidParameterError], here rather than at ``start()``.
    """

    def __init__(
        self,
        secret: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/webhooks",
        tolerance: int = 300,
    ) -> None:
        # Every argument is checked here, not at start(): a bad port or host fails now, typed.
        if secret is None:
            secret = check_webhook_secret(os.environ.get(SECRET_ENV), source=f"secret=... or {SECRET_ENV}")
        else:
            secret = check_webhook_secret(secret, source="secret=")
        host, port, path, tolerance = check_receiver(host, port, path, tolerance)
        self._secret = secret
        self._host = host
        self._port = port
        self.path = path
        """The path the service posts to."""
        self._tolerance = tolerance
        self._seen = RecentIds()
        self._waiters = JobWaiters()
        # Only its webhook helper is used: this client never sends a request.
        self._webhooks = openai.OpenAI(api_key="unused-webhooks-only", max_retries=0).webhooks
        self._server: _Server | None = None
        self._thread: Any = None

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"AsyncWebhookReceiver({where})"

    # --- serving -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the built-in server is listening."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port it listens on (the one picked when created with ``port=0``)."""
        server = self._server
        return int(server.server_address[1]) if server is not None else self._port

    @property
    def url(self) -> str:
        """Where the built-in server listens, e.g. ``http://127.0.0.1:8080/webhooks``: what a local
        emulator posts to. The service needs your public HTTPS address that forwards here."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}{self.path}"

    def start(self) -> AsyncWebhookReceiver:
        """Listen in a background thread; returns ``self`` (already running: nothing happens).
        Start and stop it from one thread; ``handle()`` may be called from any."""
        if self._server is not None:
            return self
        server_class = _V6Server if ":" in self._host else _Server
        server = server_class((self._host, self._port), functools.partial(_Handler, self))
        self._server = server
        self._thread = _flavour.daemon_thread(
            functools.partial(server.serve_forever, poll_interval=0.1), "foundry-tune-webhooks")
        log.info("webhook receiver listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop listening (waits that use it fall back on their safety poll)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    async def __aenter__(self) -> AsyncWebhookReceiver:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await _flavour.run_blocking(self.stop)  # joins the server thread: off the event loop

    # --- requests ------------------------------------------------------------------------------

    def handle(self, body: bytes | str, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> int:
        """Take one webhook request: verify it, record it, wake the waits on its job. Returns the
        HTTP status to answer: 200 (taken, a repeated ``webhook-id``, or an event nobody here
        needs) or 400 (refused: missing headers, bad signature, stale timestamp, not JSON).

        Pass the raw body exactly as received (the signature covers its bytes) and the request's
        headers. It returns at once, so a route can answer within the service's time limit.
        """
        flat = _lower_keys(headers)
        try:
            self._webhooks.verify_signature(body, flat, secret=self._secret, tolerance=self._tolerance)
        except (openai.InvalidWebhookSignatureError, ValueError) as exc:
            # The openai helper's messages name what failed, never the secret.
            log.warning("refused a webhook request: %s", exc)
            return 400
        try:
            payload = json.loads(body)
        except ValueError:
            log.warning("refused a webhook request: its body is not JSON")
            return 400
        webhook_id = flat["webhook-id"]
        if not self._seen.first_time(webhook_id):
            log.info("webhook %s was already received; ignored", webhook_id)
            return 200
        found = job_event(payload)
        if found is None:
            kind = payload.get("type") if isinstance(payload, dict) else None
            log.debug("webhook %s (%s) is not about a fine-tuning job; ignored", webhook_id, kind)
            return 200
        job_id, kind = found
        log.info("webhook %s: %s %s", webhook_id, kind, job_id)
        for callback in self._waiters.deliver(job_id, kind):
            try:
                callback(kind)
            except Exception:
                log.exception("a webhook waiter of %s failed", job_id)
        return 200

    def subscribe(self, job_id: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(event_type)`` (from the receiving thread) for each new webhook about
        ``job_id``, at once if one already arrived; returns the function that stops it. This is
        what ``job.wait(via="webhook")`` uses."""
        return self._waiters.subscribe(job_id, callback)

    def last_event(self, job_id: str) -> str | None:
        """The type of the last webhook received about ``job_id`` (``"fine_tuning.job.succeeded"``),
        or None."""
        return self._waiters.last_event(job_id)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up or stalled: not worth the traceback the base class prints.
        log.debug("webhook request from %s failed", client_address, exc_info=True)


class _V6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server_version = "foundry-tune-webhooks"
    sys_version = ""
    timeout = 10  # a client that stalls mid-request holds its thread for this long at most

    def __init__(self, receiver: AsyncWebhookReceiver, *args: Any) -> None:
        self.receiver = receiver
        super().__init__(*args)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != self.receiver.path:
            self._answer(404)
            return
        try:
            size = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(411)
            return
        if not 0 <= size <= MAX_BODY:
            self._answer(413)
            return
        body = self.rfile.read(size)
        self._answer(self.receiver.handle(body, list(self.headers.items())))

    def do_GET(self) -> None:
        self._answer(405 if urlsplit(self.path).path == self.receiver.path else 404)

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def _lower_keys(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    flat: dict[str, str] = {}
    for key, value in pairs:
        flat.setdefault(str(key).lower(), str(value))
    return flat


# --- the wait ----------------------------------------------------------------------------------


async def wait_via_webhook(
    job: AsyncJob,
    timeout: float | None,
    *,
    via: str,
    receiver: WebhookSource | None,
    safety_poll: float,
    max_cost: float | None,
    on_event: Callable[[JobEvent], MaybeAwaitable[None]] | None,
    progress: bool | str | None,
    stream: TextIO | None,
    raise_on_failure: bool,
) -> AsyncJob:
    """``job.wait(via="webhook")``: read the job once, wait for its webhook (or ``safety_poll``
    seconds, or the timeout), read it again; repeat until it has ended. Arguments are checked
    before anything is sent. A reinforcement job's spend watch (``max_cost``, the service's own
    cap) runs after each read."""
    safety_poll = check_webhook_wait(via, receiver, safety_poll)
    assert receiver is not None  # checked: via="webhook" needs one
    watch = SpendWatch.for_job(job, max_cost)
    reporter = make_reporter(progress, stream)
    clock = job._ft.retry.clock
    deadline = Deadline.after(timeout, clock())
    state = ProgressState(job.id)
    signal = _flavour.ThreadSignal()
    # Subscribed before the first read: an event that arrives in between is not missed.
    unsubscribe = receiver.subscribe(job.id, lambda kind: signal.set())
    try:
        await _look(job, state, reporter, deadline, watch)
        if not job_state.wait_is_over(job.status):
            reporter.note(f"{job.id}: waiting for its webhook (and looking every {safety_poll:g} s)")
        follow_up: float | None = None
        while not job_state.wait_is_over(job.status):
            now = clock()
            if deadline.passed(now):
                reporter.close(state)
                raise WaitTimeoutError(job_state.wait_timeout_message(
                    job.id, job.status, timeout, f"await AsyncJob.attach(ft, {job.id!r})"))
            interval = safety_poll if follow_up is None else min(follow_up, safety_poll)
            remaining = deadline.remaining(now)
            if remaining is not None:
                interval = max(0.0, min(interval, remaining))
            if await signal.wait(interval):
                follow_up = _FOLLOW_UP[0]
            elif follow_up is not None:
                follow_up = min(follow_up * 2, _FOLLOW_UP[1])
            elif deadline.passed(clock()):
                continue  # the timeout, not the safety poll, ended this sleep
            await _look(job, state, reporter, deadline, watch)
        if on_event is not None:
            events = await job.events()
            state.apply(job.status, events, estimated_finish=job.raw.get("estimated_finish"))
            reporter.update(state, events)
            for event in events:
                await _flavour.call(on_event, event)
        reporter.close(state)
    except _flavour.INTERRUPTS:
        reporter.note(job.reattach_hint())
        raise
    finally:
        unsubscribe()
    if raise_on_failure:
        job.raise_for_status()
    return job


async def _look(
    job: AsyncJob, state: ProgressState, reporter: Reporter, deadline: Deadline, watch: SpendWatch | None
) -> None:
    """Read the job once, show its state and run the spend watch; an unreachable service is
    noted, not raised (the job is unaffected: the wait goes on)."""
    clock = job._ft.retry.clock
    try:
        with time_bound(deadline.at, clock), retries_shown(state, reporter):
            await job.refresh()
    except (RetryBudgetExceededError, RateLimitError) as exc:
        if not deadline.passed(clock()):
            reporter.note(f"{job.id}: cannot reach the service ({exc}); still waiting")
        return
    state.apply(job.status, [], estimated_finish=job.raw.get("estimated_finish"))
    reporter.update(state, [])
    if watch is not None:
        await watch.check([], reporter, state)
