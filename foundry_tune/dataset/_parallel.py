"""Running a validation pass over a file in several processes, each on its own byte range.

The file is cut on line boundaries into one range per process. Each worker opens the file itself,
reads only its range (no data goes through a pipe) and sends back a compact result: the issues it
kept, its counts, the 8-byte keys of its lines, its token counts. The caller merges them in range
order (see ``foundry_tune.dataset._validator``).

Start method: ``fork`` (Linux) when this process has exactly one thread (nothing can be holding a
lock the child would inherit). Then this process forks a lead worker at once, before anything is
built: the lead builds what the workers share (the encoder, ~0.3 s that hold the GIL), forks the
other workers, which start with its modules and encoder, and validates the first range, while this
process meanwhile does its own part (hashing the file, loading the report's modules) on the other
core. The lead and its workers form a process group of their own, which this process stops as one.
Otherwise (POSIX) each worker is a new interpreter (``os.posix_spawn`` of
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
import functools
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
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

from foundry_tune.dataset._hashing import BLOCK, Stamp, stamp_of
from foundry_tune.errors import DatasetError, InvalidParameterError

__all__ = [
    "MIN_BYTES_PER_NEW_INTERPRETER",
    "MIN_BYTES_PER_WORKER",
    "Parallel",
    "Workers",
    "group_running",
    "hash_file",
    "open_range",
    "plan_ranges",
    "resolve_workers",
    "run_ranges",
    "stable_key",
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
    with the file's SHA-256 and stamp (see `hash_file`)."""

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


def run_ranges(work: Callable[..., R], ranges: Sequence[tuple[int, int]], args: tuple[Any, ...],
               context: Any, *, prepare: Callable[[], object] | None = None,
               meanwhile: Callable[[], None] | None = None) -> list[R]:
    """``work(start, end, index, *args)`` for every range, each in a worker process at the same
    time; the results in range order. ``prepare()`` is called once before the first ``work`` in the
    process that runs it (forked workers share what it built); ``meanwhile()`` in this process while
    the workers run. A worker that fails or dies raises [`DatasetError`][DatasetError]; on any error
    or interrupt every worker is stopped and reaped before this returns. ``context`` from
    [`worker_context()`][worker_context]: forked workers (see the module's documentation), new
    interpreters (the first range in this process, the others each in a new interpreter), or None
    (every range in this process, one after the other)."""
    if context is None:
        if meanwhile is not None:
            meanwhile()
        if prepare is not None:
            prepare()
        return [work(start, end, index, *args) for index, (start, end) in enumerate(ranges)]
    if isinstance(context, _Subprocesses):
        return _run_subprocesses(work, ranges, args, prepare, meanwhile)
    return _run_forked(work, ranges, args, prepare, meanwhile)


def _run_forked(work: Callable[..., R], ranges: Sequence[tuple[int, int]], args: tuple[Any, ...],
                prepare: Callable[[], object] | None, meanwhile: Callable[[], None] | None) -> list[R]:
    pipes = [os.pipe() for _ in range(len(ranges) + 1)]  # one per range, then the workers' exit codes
    try:
        lead = os.fork()
    except BaseException:
        for fds in pipes:
            for fd in fds:
                os.close(fd)
        raise
    if lead == 0:  # pragma: no cover (runs in the forked lead; its outcome is what the tests check)
        _lead(work, ranges, args, prepare, pipes)
    with contextlib.suppress(OSError):  # as the lead does: whichever runs first makes the group
        os.setpgid(lead, lead)
    readers: list[io.BufferedReader] = []
    for read, write in pipes:
        os.close(write)
        readers.append(os.fdopen(read, "rb"))
    done = False
    try:
        if meanwhile is not None:
            meanwhile()
        results = []
        for index, reader in enumerate(readers[:-1]):
            results.append(_outcome(reader.read(), functools.partial(_exit_code, readers[-1], lead, index)))
        done = True
        return results
    finally:
        if not done:
            _stop_group(lead)
        for reader in readers:
            reader.close()
        _reap(lead)


def _lead(work: Callable[..., Any], ranges: Sequence[tuple[int, int]], args: tuple[Any, ...],
          prepare: Callable[[], object] | None, pipes: list[tuple[int, int]]) -> NoReturn:
    """The lead worker (a forked child): build what the workers share, fork them, run the first range;
    send each outcome on its range's pipe, then the workers' exit codes. Never returns: the process
    ends here."""
    try:
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        with contextlib.suppress(ValueError):  # not the main thread: the caller's process had one
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller stops its workers on Ctrl-C
            # Its own process group is not the terminal's foreground one: a warning written to the
            # terminal must not stop it (a terminal set to `stty tostop` would).
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        for read, _ in pipes:
            os.close(read)
        if prepare is not None:
            try:
                prepare()
            except BaseException as exc:
                _write(pipes[0][1], ("error", f"{type(exc).__name__}: {exc}"))
                os._exit(1)
        workers = []
        # Forked workers share the lead's objects until they write to them: keep the garbage
        # collector from visiting (and so copying) every one of them in each worker.
        gc.freeze()
        held = {write for _, write in pipes}  # the write ends this process has open
        for index, (start, end) in enumerate(ranges[1:], 1):
            mine = pipes[index][1]
            pid = os.fork()
            if pid == 0:
                for other in held - {mine}:
                    os.close(other)
                _send(mine, work, (start, end, index, *args))
                os._exit(0)
            workers.append(pid)
            os.close(mine)
            held.discard(mine)
        gc.unfreeze()
        _send(pipes[0][1], work, (ranges[0][0], ranges[0][1], 0, *args))
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in workers]
        _write(pipes[-1][1], codes)
    finally:
        os._exit(0)


def _send(fd: int, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Run ``work(*args)``; write the pickled ``("ok", result)`` or ``("error", message)`` to ``fd``."""
    try:
        outcome: tuple[str, Any] = ("ok", work(*args))
    except BaseException as exc:
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    _write(fd, outcome)


def _write(fd: int, value: object) -> None:
    with os.fdopen(fd, "wb") as out:
        out.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _outcome(data: bytes, how: Callable[[], str]) -> Any:
    """A worker's result from what it wrote (see `_send`). [`DatasetError`][DatasetError] when it
    failed, or when it ended without writing a whole outcome (``how()`` says how it ended)."""
    try:
        status, value = pickle.loads(data)  # noqa: S301 (written by a worker this process started)
    except Exception:
        raise DatasetError(
            f"a validation worker process ended without a result ({how()}): "
            "validate with workers=1 (CLI: --workers 1) to check the file in one process"
        ) from None
    if status != "ok":
        raise DatasetError(f"a validation worker process failed: {value}")
    return value


def _exit_code(codes: io.BufferedReader, lead: int, index: int) -> str:
    """How worker ``index`` ended, for an error message: the lead's exit code (index 0), or the
    one the lead sends once all its workers ended."""
    if index == 0:
        try:
            _, status = os.waitpid(lead, 0)
        except ChildProcessError:
            return "exit code unknown"
        return f"exit code {os.waitstatus_to_exitcode(status)}"
    data = codes.read()
    try:
        found: list[int] = pickle.loads(data)  # noqa: S301 (written by the lead this process started)
        return f"exit code {found[index - 1]}"
    except Exception:
        return "exit code unknown"


def _stop_group(lead: int) -> None:
    """Stop the lead and every worker it forked (its process group), and wait until none of them
    runs any more (1 s at most). The workers the lead forked are not this process's children:
    killed with it, they are left to the system's init process to reap."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(lead, signal.SIGKILL)
    _reap(lead)
    deadline = time.monotonic() + 1.0
    while group_running(lead) and time.monotonic() < deadline:
        time.sleep(0.005)


def group_running(group: int) -> bool:
    """Whether a process of process group ``group`` still runs (Linux: from ``/proc``; a process that
    ended and waits to be reaped does not run)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(group).encode() and fields[0] != b"Z":
            return True
    return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _subprocess_main(task: bytes) -> None:
    """A new-interpreter worker: run the pickled ``(work, args)``; write the pickled outcome to
    standard output."""
    _send(sys.stdout.fileno(), _call_pickled, (task,))


def _call_pickled(task: bytes) -> Any:
    work, args = pickle.loads(task)  # noqa: S301 (written by the process that started this one)
    return work(*args)


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
        return _outcome(data, lambda: f"exit code {code}")

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


def _run_subprocesses(work: Callable[..., R], ranges: Sequence[tuple[int, int]], args: tuple[Any, ...],
                      prepare: Callable[[], object] | None, meanwhile: Callable[[], None] | None) -> list[R]:
    started: list[_Spawned] = []
    try:
        for index, (start, end) in enumerate(ranges[1:], 1):
            inner = pickle.dumps((work, (start, end, index, *args)), pickle.HIGHEST_PROTOCOL)
            started.append(_Spawned(pickle.dumps((list(sys.path), inner), pickle.HIGHEST_PROTOCOL)))
        if meanwhile is not None:  # while the new interpreters start
            meanwhile()
        if prepare is not None:
            prepare()
        results = [work(ranges[0][0], ranges[0][1], 0, *args)]
        results.extend(worker.result() for worker in started)
        return results
    finally:
        for worker in started:
            worker.stop()


def hash_file(path: Path) -> tuple[str, Stamp | None]:
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
