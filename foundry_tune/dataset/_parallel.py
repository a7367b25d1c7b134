"""Running a validation pass over a file in several processes, each on its own byte range.

The file is cut on line boundaries into one range per process. Each worker opens the file itself,
reads only its range (no data goes through a pipe) and sends back a compact result: the issues it
kept, its counts, the 8-byte keys of its lines, its token counts. The caller merges them in range
order (see ``foundry_tune.dataset._validator``).

Start method: ``fork`` (Linux) when this process has exactly one thread (nothing can be holding a
lock the child would inherit; the child starts at once, with the modules and the encoder of its
parent). Otherwise (POSIX) each worker is a new interpreter (``os.posix_spawn`` of
``sys.executable -c ...``, safe in a process with threads) that reads its task
from a pipe and imports only the validator: never the caller's main module, so a script without an
``if __name__ == "__main__"`` guard is not run again, as it would be by multiprocessing's
``spawn`` or ``forkserver``; such a worker imports the validator and builds its own encoder first
(~0.5 s). Workers are stopped and reaped whatever happens (an error, Ctrl-C): none outlives the
call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import io
import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, TypeVar

from foundry_tune.dataset._hashing import BLOCK, Stamp, stamp_of
from foundry_tune.errors import DatasetError, InvalidParameterError

__all__ = [
    "MIN_BYTES_PER_NEW_INTERPRETER",
    "MIN_BYTES_PER_WORKER",
    "Parallel",
    "Workers",
    "open_range",
    "plan_ranges",
    "resolve_workers",
    "run_ranges",
    "stable_key",
    "start_hash",
    "usable_cores",
    "worker_context",
]

Workers = int | Literal["auto"]

MIN_BYTES_PER_WORKER = 16 << 20
"""With ``workers="auto"``, at least this many bytes per process: a worker costs its start-up
(and, when it cannot be forked, importing the validator and building its encoder, ~0.5 s), so
smaller files are validated in one process."""

MIN_BYTES_PER_NEW_INTERPRETER = 64 << 20
"""The same for workers that are new interpreters (this process has threads, so it does not fork):
each imports the validator and builds its own encoder first."""

MAX_WORKERS = 256
_SCAN_BLOCK = 1 << 16
_CHILD = (
    "import pickle, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"  # the caller stops its workers on Ctrl-C
    "path, task = pickle.loads(sys.stdin.buffer.read())\n"
    "sys.path[:] = path\n"
    "from foundry_tune.dataset._parallel import _subprocess_main\n"
    "_subprocess_main(task)\n"
)

R = TypeVar("R")


def usable_cores() -> int:
    """How many cores this process may run on (its CPU affinity, not the machine's count)."""
    count = getattr(os, "process_cpu_count", None)
    if count is not None:
        return max(1, int(count() or 1))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: object) -> Workers:
    """``workers`` checked: ``"auto"`` or a whole number from 1 to 256."""
    if workers == "auto" and isinstance(workers, str):
        return "auto"
    if isinstance(workers, int) and not isinstance(workers, bool) and 1 <= workers <= MAX_WORKERS:
        return workers
    raise InvalidParameterError(
        f"workers must be 'auto' (one process per usable core) or a whole number of processes from 1 "
        f"to {MAX_WORKERS} (1: validate in this process), got {workers!r:.80}"
    )


def stable_key(data: bytes) -> int:
    """A 64-bit key of a line's JSON text that is the same in every process (BLAKE2b; Python's
    ``hash()`` is keyed per process): equal lines, equal keys."""
    if data[:1].isspace() or data[-1:].isspace():
        data = data.strip()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def plan_ranges(path: Path, workers: Workers, *, min_bytes: int | None = None) -> list[tuple[int, int]]:
    """The byte ranges ``[start, end)`` to validate ``path`` in, one per process, each ending just after
    a newline (or at the end of the file). One range means: validate in one process."""
    size = path.stat().st_size
    cores = usable_cores() if workers == "auto" else workers
    if workers == "auto":
        least = MIN_BYTES_PER_WORKER if min_bytes is None else min_bytes
        cores = min(cores, size // max(least, 1))
    if cores <= 1 or size == 0:
        return [(0, size)]
    cuts = [0]
    with open(path, "rb") as stream:
        for i in range(1, cores):
            at = max(size * i // cores, cuts[-1])
            at = _next_line_start(stream, at, size)
            if at > cuts[-1] and at < size:
                cuts.append(at)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def _next_line_start(stream: io.BufferedReader | Any, at: int, size: int) -> int:
    """The offset just after the first newline at or after ``at - 1`` (``at`` itself when a line
    starts there), or ``size``."""
    if at <= 0:
        return 0
    stream.seek(at - 1)
    position = at - 1
    while position < size:
        block = stream.read(_SCAN_BLOCK)
        if not block:
            break
        found = block.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(block)
    return size


class _RangeRaw(io.RawIOBase):
    """The bytes ``[start, end)`` of a file, as a raw stream."""

    def __init__(self, path: Path, start: int, end: int) -> None:
        super().__init__()
        self._file = io.FileIO(path, "rb")
        self._file.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._left)]
        n = self._file.readinto(view) or 0
        self._left -= n
        return n

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            super().close()


def open_range(path: Path, start: int, end: int) -> io.BufferedReader:
    """A buffered binary stream of the bytes ``[start, end)`` of ``path``."""
    return io.BufferedReader(_RangeRaw(path, start, end), buffer_size=1 << 20)


@dataclasses.dataclass(frozen=True)
class Parallel:
    """How to validate a file in several processes: its path and ranges, and ``on_hash``, called
    with the file's SHA-256 and stamp (see `start_hash`)."""

    path: Path
    ranges: list[tuple[int, int]]
    context: Any
    """From [`worker_context()`][worker_context]."""
    on_hash: Callable[[str, Stamp | None], None] | None = None


def _single_threaded() -> bool:
    """Whether this process has one thread (Linux). A Python thread just joined may take a moment
    to leave the kernel's list: wait for it a little (20 ms at most) when Python sees no other
    thread (a native library's own threads stay: then workers are new interpreters)."""
    for _ in range(40):
        try:
            tasks = len(os.listdir("/proc/self/task"))
        except OSError:
            return False
        if tasks == 1:
            return True
        if threading.active_count() > 1:
            return False
        time.sleep(0.0005)
    return False


class _Subprocesses:
    """Workers started as new interpreters (see the module's documentation)."""

    def get_start_method(self) -> str:
        """``"subprocess"``, as a multiprocessing context names its start method."""
        return "subprocess"


def worker_context() -> Any:
    """How to start workers: the ``fork`` multiprocessing context, a new interpreter per worker
    (``get_start_method()`` is ``"subprocess"``), or None when neither can be used (then a pass
    stays in one process). Chosen once per pass: the workers of a forked pass share this process's
    ``hash()`` key, new interpreters do not (see `stable_key`)."""
    return _context()


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and "fork" in methods and _single_threaded():
        return multiprocessing.get_context("fork")
    if hasattr(os, "posix_spawn") and sys.executable and os.path.exists(sys.executable):
        return _Subprocesses()
    return None


def _worker(conn: Connection, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """A worker's body: run ``work(*args)`` and send ``("ok", result)`` or ``("error", message)``."""
    try:
        result = work(*args)
    except KeyboardInterrupt:
        conn.close()
        return
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    else:
        conn.send(("ok", result))
    finally:
        conn.close()


def run_ranges(work: Callable[..., R], ranges: Sequence[tuple[int, int]], args: tuple[Any, ...],
               context: Any) -> list[R]:
    """``work(start, end, index, *args)`` for every range, the first in this process and the others
    each in a worker process at the same time; the results in range order. A worker that fails or
    dies raises [`DatasetError`][DatasetError]; on any error or interrupt every worker is stopped
    and reaped before this returns. ``context`` from [`worker_context()`][worker_context]."""
    if context is None:
        return [work(start, end, index, *args) for index, (start, end) in enumerate(ranges)]
    if isinstance(context, _Subprocesses):
        return _run_subprocesses(work, ranges, args)
    started: list[tuple[Any, Connection]] = []
    forked = context.get_start_method() == "fork"
    try:
        if forked:
            # Forked workers share this process's objects until they write to them: keep the
            # garbage collector from visiting (and so copying) every one of them in each worker.
            gc.freeze()
        try:
            for index, (start, end) in enumerate(ranges[1:], 1):
                receive, send = context.Pipe(duplex=False)
                process = context.Process(
                    target=_worker, args=(send, work, (start, end, index, *args)),
                    name=f"foundry-tune-validate-{index}", daemon=True,
                )
                process.start()
                send.close()
                started.append((process, receive))
        finally:
            if forked:
                gc.unfreeze()
        first = work(ranges[0][0], ranges[0][1], 0, *args)
        results = [first]
        for process, receive in started:
            results.append(_receive(process, receive))
        return results
    finally:
        for process, receive in started:
            if process.is_alive():
                process.terminate()
            process.join()
            receive.close()


def _subprocess_main(task: bytes) -> None:
    """A new-interpreter worker: run the pickled ``(work, args)``; write the pickled outcome to
    standard output."""
    out = sys.stdout.buffer
    try:
        work, args = pickle.loads(task)  # noqa: S301 (written by the process that started this one)
        outcome: tuple[str, Any] = ("ok", work(*args))
    except BaseException as exc:
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    out.write(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    out.flush()


class _Spawned:
    """A worker started as a new interpreter (``os.posix_spawn``: safe in a process with threads),
    its task written to its standard input, its outcome read from its standard output."""

    def __init__(self, task: bytes) -> None:
        in_read, in_write = os.pipe()
        out_read, out_write = os.pipe()
        try:
            actions = [(os.POSIX_SPAWN_DUP2, in_read, 0), (os.POSIX_SPAWN_DUP2, out_write, 1)]
            self.pid: int | None = os.posix_spawn(sys.executable, [sys.executable, "-c", _CHILD], os.environ,
                                                  file_actions=actions)
        except BaseException:
            for fd in (in_read, in_write, out_read, out_write):
                os.close(fd)
            raise
        os.close(in_read)
        os.close(out_write)
        self._out = os.fdopen(out_read, "rb")
        self._feeder = threading.Thread(target=_feed, args=(in_write, task), name="foundry-tune-feed",
                                        daemon=True)
        self._feeder.start()

    def result(self) -> Any:
        """The worker's result (its outcome read to the end, then the process reaped)."""
        data = self._out.read()
        code = self._reap()
        try:
            status, value = pickle.loads(data)  # noqa: S301 (from the worker this process started)
        except Exception:
            raise DatasetError(
                f"a validation worker process ended without a result (exit code {code}): "
                "validate with workers=1 (CLI: --workers 1) to check the file in one process"
            ) from None
        if status != "ok":
            raise DatasetError(f"a validation worker process failed: {value}")
        return value

    def _reap(self) -> int | None:
        if self.pid is None:
            return None
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        return os.waitstatus_to_exitcode(status)

    def stop(self) -> None:
        """Stop the worker if it still runs, and reap it."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            self._reap()
        self._out.close()
        self._feeder.join()


def _feed(fd: int, task: bytes) -> None:
    try:
        with os.fdopen(fd, "wb") as stdin:
            stdin.write(task)
    except OSError:  # the worker is gone: its missing result says so
        pass


def _run_subprocesses(work: Callable[..., R], ranges: Sequence[tuple[int, int]],
                      args: tuple[Any, ...]) -> list[R]:
    started: list[_Spawned] = []
    try:
        for index, (start, end) in enumerate(ranges[1:], 1):
            inner = pickle.dumps((work, (start, end, index, *args)), pickle.HIGHEST_PROTOCOL)
            started.append(_Spawned(pickle.dumps((list(sys.path), inner), pickle.HIGHEST_PROTOCOL)))
        results = [work(ranges[0][0], ranges[0][1], 0, *args)]
        results.extend(worker.result() for worker in started)
        return results
    finally:
        for worker in started:
            worker.stop()


def _receive(process: Any, receive: Connection) -> Any:
    try:
        status, value = receive.recv()
    except EOFError:
        process.join()
        raise DatasetError(
            f"a validation worker process ended without a result (exit code {process.exitcode}): "
            "validate with workers=1 (CLI: --workers 1) to check the file in one process"
        ) from None
    if status != "ok":
        raise DatasetError(f"a validation worker process failed: {value}")
    return value


def _sha256(path: Path) -> tuple[str, Stamp | None]:
    """SHA-256 (hex) of the file, and its stamp when it did not change while it was read."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as stream:
        before = stamp_of(os.fstat(stream.fileno()))
        buffer = bytearray(BLOCK)
        view = memoryview(buffer)
        while n := stream.readinto(buffer):
            digest.update(view[:n])
        after = stamp_of(os.fstat(stream.fileno()))
    return digest.hexdigest(), before if after == before else None


def _hash_worker(conn: Connection, path: Path) -> None:
    try:
        conn.send(("ok", _sha256(path)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def start_hash(path: Path, on_hash: Callable[[str, Stamp | None], None] | None,
               context: Any) -> Callable[[], None]:
    """Start hashing ``path`` (SHA-256) alongside the encoder's build, which holds the GIL: in a
    forked process when workers are forked (so that this process has no thread when they are),
    else in a thread. The returned function waits for it and calls ``on_hash(digest, stamp)``."""
    if on_hash is None:
        return lambda: None
    if context is not None and context.get_start_method() == "fork":
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_hash_worker, args=(send, path), name="foundry-tune-hash",
                                  daemon=True)
        process.start()
        send.close()

        def wait_process() -> None:
            try:
                result = _receive(process, receive)
            finally:
                if process.is_alive():
                    process.terminate()
                process.join()
                receive.close()
            on_hash(*result)

        return wait_process
    found: list[tuple[str, Stamp | None]] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            found.append(_sha256(path))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=body, name="foundry-tune-hash", daemon=True)
    thread.start()

    def wait_thread() -> None:
        thread.join()
        if errors:
            raise errors[0]
        on_hash(*found[0])

    return wait_thread
