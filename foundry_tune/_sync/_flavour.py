"""What the sync flavour does differently from the async one, and nothing else.

Hand-written twin of ``foundry_tune/_async/_flavour.py`` (same names; this file is not generated).
"""

from __future__ import annotations

import contextvars
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from foundry_tune._core.retry import RetryPolicy as RetryPolicy  # noqa: PLC0414 - re-exported

if TYPE_CHECKING:
    import httpx2
    import openai
    from azure.core.credentials import TokenCredential

    from foundry_tune._core.concurrency import AdaptiveConcurrency

T = TypeVar("T")
X = TypeVar("X")

Lock = threading.Lock
"""A lock for ``with`` (``asyncio.Lock`` in the async flavour)."""

INTERRUPTS: tuple[type[BaseException], ...] = (KeyboardInterrupt,)
"""What stops a wait from outside: Ctrl-C."""


_named_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_named_locks_guard = threading.Lock()


def named_lock(name: str) -> threading.Lock:
    """The process-wide lock registered under ``name``: every thread that asks for the same name
    while it is in use gets the same lock."""
    with _named_locks_guard:
        lock = _named_locks.get(name)
        if lock is None:
            lock = threading.Lock()
            _named_locks[name] = lock
        return lock


def acquire_within(lock: threading.Lock, timeout: float) -> bool:
    """Acquire ``lock`` (from [`named_lock()`][named_lock]), waiting at most ``timeout`` seconds; whether it
    was acquired. Release it with ``lock.release()``."""
    return lock.acquire(timeout=min(max(0.0, timeout), threading.TIMEOUT_MAX))


def sleep(seconds: float) -> None:
    """Block for ``seconds``."""
    time.sleep(seconds)


def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run CPU-bound or file work: in the calling thread (the async flavour uses a worker thread)."""
    return fn(*args, **kwargs)


def resolve(value: T) -> T:
    """``value`` as it is (the async flavour awaits an awaitable one)."""
    return value


def call(fn: Callable[..., T], /, *args: Any) -> T:
    """Call a user's callback with ``args`` (the async flavour awaits a coroutine function's result)."""
    return fn(*args)


def shielded(fn: Callable[[], T]) -> T:
    """Run ``fn()`` to its end even when Ctrl-C arrives meanwhile (clean-up after an
    interruption): it runs in a worker thread, in the caller's context, which Ctrl-C does not reach,
    while the caller waits for it; a ``KeyboardInterrupt`` that arrived meanwhile is raised once it
    is done (an error of ``fn`` wins). ``fn`` must bound its own time."""
    context = contextvars.copy_context()
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def work() -> None:
        try:
            outcome.append((True, context.run(fn)))
        except BaseException as exc:  # handed to the caller below
            outcome.append((False, exc))
        finally:
            done.set()

    worker = threading.Thread(target=work, name="foundry-tune-cleanup", daemon=True)
    interrupted: KeyboardInterrupt | None = None
    try:
        worker.start()
    except KeyboardInterrupt as exc:  # Ctrl-C while it starts: it may be running all the same
        interrupted = exc
    began = time.monotonic()
    while True:
        try:
            while not done.wait(0.05):
                if worker.ident is None and time.monotonic() - began > 1.0:
                    break  # Ctrl-C came before the thread existed: nothing runs
            break
        except KeyboardInterrupt as exc:
            interrupted = interrupted or exc
    if not outcome:
        assert interrupted is not None
        raise interrupted
    ok, value = outcome[0]
    if not ok:
        raise value
    if interrupted is not None:
        raise interrupted
    return value  # type: ignore[no-any-return]


class ThreadSignal:
    """A flag that another thread raises (a webhook receiver's) and a wait blocks on (the async
    flavour awaits it without blocking the event loop)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Raise the flag; safe from any thread."""
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Block until the flag is raised or ``timeout`` seconds pass; whether it was raised (then
        it is lowered again)."""
        raised = self._event.wait(min(max(0.0, timeout), threading.TIMEOUT_MAX))
        if raised:
            self._event.clear()
        return raised


def daemon_thread(fn: Callable[[], object], name: str) -> threading.Thread:
    """Start ``fn`` in a daemon thread and return the thread: work that runs beside a wait of
    either flavour (a webhook receiver's server), the same in both."""
    thread = threading.Thread(target=fn, name=name, daemon=True)
    thread.start()
    return thread


def awaited_chain(first: str, *then: str) -> str:
    """The code a user of this flavour writes to chain waiting calls, for messages:
    ``awaited_chain("Job.attach(ft, 'x')", "wait()")`` is ``"Job.attach(ft, 'x').wait()"``."""
    return ".".join((first, *then))


def bounded_map(fn: Callable[[X], T], items: Iterable[X], limit: int, *,
                stop: Callable[[], object] | None = None) -> list[T]:
    """``fn`` over ``items`` with at most ``limit`` running at once (threads); results in order.

    A failure drops the items not started yet; Ctrl-C also stops waiting for the calls in flight.
    A thread cannot be stopped from outside: ``stop`` (if given) is called first on a failure or
    Ctrl-C, to tell the calls in flight to end (their work must notice it), so that no worker
    thread outlives the map for long (the interpreter joins them at exit).
    """
    work = list(items)
    if not work:
        return []
    # Each call sees the caller's context (its time bounds and retry observers), as a task would.
    caller = contextvars.copy_context()

    def in_caller_context(item: X) -> T:
        return caller.copy().run(fn, item)

    pool = ThreadPoolExecutor(max_workers=max(1, min(limit, len(work))))
    try:
        results = list(pool.map(in_caller_context, work))
    except BaseException as exc:
        if stop is not None:
            stop()
        pool.shutdown(wait=not isinstance(exc, KeyboardInterrupt), cancel_futures=True)
        raise
    pool.shutdown()
    return results


class GateClosed(BaseException):
    """Raised by an [`AdaptiveGate`][AdaptiveGate] that was closed, to the holders waiting at it
    and to those that come later: the run they belong to has stopped (a ``BaseException``, so that
    code that records every ``Exception`` per request does not record it)."""


class AdaptiveGate:
    """Lets at most ``limiter.limit`` holders in at once (an
    [`AdaptiveConcurrency`][AdaptiveConcurrency] whose limit moves while it is used) and none while
    ``limiter.delay(now)`` asks new requests to wait (``with gate:``; ``async with gate:`` in the
    async flavour). Feed it through ``succeeded()``, ``throttled()`` and ``observe()`` (here they
    change the limiter under the gate's lock, so worker threads never race on it); call
    ``changed()`` after changing the limiter directly, so that waiting holders come in; ``close()``
    stops it."""

    def __init__(self, limiter: AdaptiveConcurrency, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = limiter
        self.clock = clock
        self.in_flight = 0
        """Holders inside now."""
        self.peak = 0
        """The most holders inside at once so far."""
        self.closed = False
        """Whether ``close()`` was called."""
        self._condition = threading.Condition()

    def __enter__(self) -> AdaptiveGate:
        with self._condition:
            while True:
                if self.closed:
                    raise GateClosed
                pause = self.limiter.delay(self.clock())
                if pause > 0:
                    self._condition.wait(min(pause, threading.TIMEOUT_MAX))
                    continue
                if self.in_flight < self.limiter.limit:
                    break
                # Every change of the limit or of the holders inside notifies: no polling.
                self._condition.wait()
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._condition:
            self.in_flight -= 1
            self._condition.notify_all()

    def changed(self) -> None:
        """Wake the waiting holders: as many as the limit has room for come in."""
        with self._condition:
            self._condition.notify_all()

    def succeeded(self) -> None:
        """A request was answered: the limiter's ``succeeded()``, and the holders waiting come in
        if the limit rose."""
        with self._condition:
            if self.limiter.succeeded():
                self._condition.notify_all()

    def throttled(self, retry_after: float | None = None) -> None:
        """A request was answered 429: the limiter's ``throttled()`` at the gate's clock."""
        with self._condition:
            self.limiter.throttled(self.clock(), retry_after)
            self._condition.notify_all()  # waiters re-read the pause

    def observe(self, headers: Mapping[str, str]) -> None:
        """The limiter's ``observe()`` of an answer's rate-limit headers."""
        with self._condition:
            self.limiter.observe(headers)

    def close(self) -> None:
        """Stop letting holders in: those waiting, and any that come later, raise
        [`GateClosed`][GateClosed] (those inside go on)."""
        with self._condition:
            self.closed = True
            self._condition.notify_all()


def httpcore_classes(core: Any) -> tuple[Any, Any, Any]:
    """This flavour's connection pool class, HTTP proxy class and a network backend of ``core``
    (``httpcore`` or ``httpcore2``): ``ConnectionPool``, ``HTTPProxy`` and a ``SyncBackend`` here
    (the async ones and an ``AnyIOBackend`` in the async flavour)."""
    return core.ConnectionPool, core.HTTPProxy, core.SyncBackend()


def retry_runner(policy: RetryPolicy | None) -> RetryPolicy:
    """The object a connection runs its safe calls through: the policy itself (``RetryPolicy.call``)."""
    return policy or RetryPolicy()


def default_credential() -> TokenCredential:
    """``azure.identity.DefaultAzureCredential``."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def project_openai_client(
    endpoint: str, credential: TokenCredential, *, http_client: httpx2.Client, timeout: float
) -> tuple[Any, openai.OpenAI]:
    """The project's ``openai.OpenAI`` from ``azure.ai.projects`` with the SDK's retries off (the
    project client is closed at once: the sync OpenAI client does not need it)."""
    from azure.ai.projects import AIProjectClient

    project = AIProjectClient(endpoint=endpoint, credential=credential)
    try:
        client = project.get_openai_client(max_retries=0, timeout=timeout, http_client=http_client)
    finally:
        project.close()
    return None, client
