"""What the async flavour does differently from the sync one, and nothing else.

The sync twin is the hand-written ``foundry_tune/_sync/_flavour.py``, which defines the same names:
sleeping, running blocking work off the event loop, a lock, a bounded task pool, what counts as an
interruption, the retry runner, and the SDK clients the flavour is built on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

import tenacity

from foundry_tune._core.retry import RetryAttempts
from foundry_tune._core.retry import RetryPolicy as RetryPolicy  # noqa: PLC0414 - re-exported
from foundry_tune.errors import ConfigurationError

if TYPE_CHECKING:
    import httpx2
    import openai
    from azure.core.credentials_async import AsyncTokenCredential

    from foundry_tune._core.concurrency import AdaptiveConcurrency

T = TypeVar("T")
X = TypeVar("X")

Lock = asyncio.Lock
"""A lock for ``async with`` (``threading.Lock`` in the sync flavour)."""

INTERRUPTS: tuple[type[BaseException], ...] = (asyncio.CancelledError, KeyboardInterrupt)
"""What stops a wait from outside: a cancelled task or Ctrl-C."""


_named_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_named_locks_guard = threading.Lock()


def named_lock(name: str) -> threading.Lock:
    """The process-wide lock registered under ``name``: every thread, event loop and task that
    asks for the same name while it is in use gets the same lock (a ``threading.Lock``, so that it
    also holds across event loops in several threads)."""
    with _named_locks_guard:
        lock = _named_locks.get(name)
        if lock is None:
            lock = threading.Lock()
            _named_locks[name] = lock
        return lock


async def acquire_within(lock: threading.Lock, timeout: float) -> bool:
    """Acquire ``lock`` (from [`named_lock()`][named_lock]), waiting at most ``timeout`` seconds without
    blocking the event loop (it polls); whether it was acquired. Release it with ``lock.release()``."""
    deadline = asyncio.get_running_loop().time() + max(0.0, timeout)
    pause = 0.005
    while not lock.acquire(blocking=False):
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.1)
    return True


async def sleep(seconds: float) -> None:
    """Wait ``seconds`` without blocking the event loop."""
    await asyncio.sleep(seconds)


async def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run CPU-bound or file work (validation, hashing, reading) in a worker thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


MaybeAwaitable: TypeAlias = T | Awaitable[T]
"""A value, or an awaitable of it (a callback that may be a coroutine function); the sync twin of
``MaybeAwaitable[X]`` is ``X`` (scripts/unasync.py strips it)."""


async def resolve(value: MaybeAwaitable[T]) -> T:
    """``value``, awaited first when it is awaitable (a callback may be a coroutine function)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def call(fn: Callable[..., MaybeAwaitable[T]], /, *args: Any) -> T:
    """Call a user's callback with ``args``, awaiting its result when it is a coroutine function."""
    return await resolve(fn(*args))


async def shielded(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn()`` to its end even when the caller is cancelled meanwhile (clean-up after a
    cancellation: a cancel scope that cancels every await again would cut it short); a cancellation
    that arrived meanwhile is raised once it is done. ``fn`` must bound its own time."""
    task = asyncio.ensure_future(fn())
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return result


class ThreadSignal:
    """A flag that another thread raises (a webhook receiver's) and a wait awaits without blocking
    the event loop (a ``threading.Event`` in the sync flavour). Make it inside the running loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def set(self) -> None:
        """Raise the flag; safe from any thread (once the loop is closed nobody waits: ignored)."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> bool:
        """Wait until the flag is raised or ``timeout`` seconds pass; whether it was raised (then
        it is lowered again)."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        self._event.clear()
        return True


def daemon_thread(fn: Callable[[], object], name: str) -> threading.Thread:
    """Start ``fn`` in a daemon thread and return the thread: work that runs beside a wait of
    either flavour (a webhook receiver's server), the same in both."""
    thread = threading.Thread(target=fn, name=name, daemon=True)
    thread.start()
    return thread


def awaited_chain(first: str, *then: str) -> str:
    """The code a user of this flavour writes to chain waiting calls, for messages:
    ``awaited_chain("AsyncJob.attach(ft, 'x')", "wait()")`` is
    ``"await (await AsyncJob.attach(ft, 'x')).wait()"`` (``"Job.attach(ft, 'x').wait()"`` in sync)."""
    code = f"await {first}"
    for step in then:
        code = f"await ({code}).{step}"
    return code


async def bounded_map(fn: Callable[[X], Awaitable[T]], items: Iterable[X], limit: int, *,
                      stop: Callable[[], object] | None = None) -> list[T]:
    """``fn`` over ``items`` with at most ``limit`` running at once; results in the items' order.

    The first failure cancels the calls still running or waiting and is raised (the sync flavour
    drops the items not started yet); cancelling the caller cancels them all too. ``stop`` (if
    given) is called first on a failure or a cancellation (the sync flavour's threads cannot be
    cancelled: there it tells the calls in flight to end).
    """
    gate = asyncio.Semaphore(max(1, limit))
    stopped = False

    async def one(item: X) -> T:
        nonlocal stopped
        async with gate:
            if stopped:  # a waiting item woken by the failure that released the gate
                raise asyncio.CancelledError
            try:
                return await fn(item)
            except BaseException:
                stopped = True
                raise

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    if not tasks:
        return []
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        if stop is not None:
            stop()
        for task in tasks:
            task.cancel()
        raise
    # asyncio.gather would let the siblings run on (a cancelled upload kept sending its parts).
    failed = [task for task in tasks if task in done and not task.cancelled() and task.exception()]
    if failed and stop is not None:
        stop()
    if pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending)
        for task in pending:  # retrieved, so that asyncio does not log them as never retrieved
            if not task.cancelled():
                task.exception()
    if failed:
        raise cast(BaseException, failed[0].exception())
    return [task.result() for task in tasks]


class GateClosed(BaseException):
    """Raised by an [`AdaptiveGate`][AdaptiveGate] that was closed, to the holders waiting at it
    and to those that come later: the run they belong to has stopped (a ``BaseException``, so that
    code that records every ``Exception`` per request does not record it)."""


class AdaptiveGate:
    """Lets at most ``limiter.limit`` holders in at once (an
    [`AdaptiveConcurrency`][AdaptiveConcurrency] whose limit moves while it is used) and none while
    ``limiter.delay(now)`` asks new requests to wait (``async with gate:``; ``with gate:`` in the sync
    flavour). Feed it through ``succeeded()``, ``throttled()`` and ``observe()`` (in the sync flavour
    they change the limiter under the gate's lock, so worker threads never race on it); call
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
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def __aenter__(self) -> AdaptiveGate:
        while True:
            if self.closed:
                raise GateClosed
            pause = self.limiter.delay(self.clock())
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            if self.in_flight < self.limiter.limit:
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # Woken, then cancelled before it could come in: the wake-up goes to the next
                # waiter (as asyncio.Semaphore does), else it would wait for a holder to leave.
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                if waiter.done() and not waiter.cancelled():
                    self.changed()
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.in_flight -= 1
        self.changed()

    def changed(self) -> None:
        """Wake as many waiting holders as the limit has room for now."""
        room = self.limiter.limit - self.in_flight
        for waiter in list(self._waiters):
            if room <= 0:
                break
            if not waiter.done():
                waiter.set_result(None)
                room -= 1

    def succeeded(self) -> None:
        """A request was answered: the limiter's ``succeeded()``, and the holders waiting come in
        if the limit rose."""
        if self.limiter.succeeded():
            self.changed()

    def throttled(self, retry_after: float | None = None) -> None:
        """A request was answered 429: the limiter's ``throttled()`` at the gate's clock."""
        self.limiter.throttled(self.clock(), retry_after)

    def observe(self, headers: Mapping[str, str]) -> None:
        """The limiter's ``observe()`` of an answer's rate-limit headers."""
        self.limiter.observe(headers)

    def close(self) -> None:
        """Stop letting holders in: those waiting, and any that come later, raise
        [`GateClosed`][GateClosed] (those inside go on)."""
        self.closed = True
        for waiter in list(self._waiters):
            if not waiter.done():
                waiter.set_result(None)


class AsyncRetryPolicy:
    """Runs async safe calls under a [`RetryPolicy`][RetryPolicy] (``policy``, default
    ``RetryPolicy()``): the same retries, time bound and typed errors; it awaits its attempts and
    sleeps with ``sleep`` (``asyncio.sleep`` unless a test injects one)."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep

    @property
    def clock(self) -> Callable[[], float]:
        """The policy's monotonic clock."""
        return self.policy.clock

    @property
    def wall_clock(self) -> Callable[[], float]:
        """The policy's Unix-time clock (``RetryPolicy.wall_clock``)."""
        return self.policy.wall_clock

    @property
    def total_timeout(self) -> float:
        """The policy's bound on one call, sleeps included, in seconds."""
        return self.policy.total_timeout

    async def call(self, fn: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Await ``fn()`` under the policy: same retries, bound and errors as ``RetryPolicy.call``."""
        attempts = RetryAttempts(self.policy, what)
        retrying = tenacity.AsyncRetrying(sleep=self.sleep, **attempts.tenacity_options())

        async def attempt() -> T:  # a coroutine function: tenacity awaits only those
            return await fn()

        with attempts.budget(), attempts.typed_errors():
            return await retrying(attempt)

    def __repr__(self) -> str:
        return f"AsyncRetryPolicy({self.policy!r})"


def httpcore_classes(core: Any) -> tuple[Any, Any, Any]:
    """This flavour's connection pool class, HTTP proxy class and a network backend of ``core``
    (``httpcore`` or ``httpcore2``): ``AsyncConnectionPool``, ``AsyncHTTPProxy`` and an
    ``AnyIOBackend`` here (the sync ones and a ``SyncBackend`` in the sync flavour)."""
    return core.AsyncConnectionPool, core.AsyncHTTPProxy, core.AnyIOBackend()


def retry_runner(policy: RetryPolicy | None) -> AsyncRetryPolicy:
    """The object a connection runs its safe calls through."""
    return AsyncRetryPolicy(policy)


def default_credential() -> AsyncTokenCredential:
    """``azure.identity.aio.DefaultAzureCredential``."""
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()


def project_openai_client(
    endpoint: str, credential: AsyncTokenCredential, *, http_client: httpx2.AsyncClient, timeout: float
) -> tuple[Any, openai.AsyncOpenAI]:
    """The project's ``openai.AsyncOpenAI`` from ``azure.ai.projects.aio`` with the SDK's retries off,
    and the project client to close with it."""
    try:
        from azure.ai.projects.aio import AIProjectClient

        project = AIProjectClient(endpoint=endpoint, credential=credential)
    except ImportError as exc:  # azure-core's async pipeline imports aiohttp when it is built
        raise ConfigurationError(
            f"AsyncFoundry needs the 'aio' extra ({exc.name or 'aiohttp'} is missing): "
            "pip install 'foundry-tune[aio]'"
        ) from exc
    client = project.get_openai_client(max_retries=0, timeout=timeout, http_client=http_client)
    return project, client
