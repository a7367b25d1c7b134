"""Scenarios of validation in forked workers, run in a fresh interpreter (``python
tests/_forked_probe.py SCENARIO FILE``) so that the process forks (a test process that already has
threads starts new interpreters instead); prints one JSON object of what happened."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from foundry_tune.dataset import Dataset, _parallel, _validator
from foundry_tune.errors import DatasetError


def _fail_in_worker(start: int, end: int, index: int, *args: Any) -> Any:
    if index == 1:
        raise RuntimeError("boom")
    return _validator.validate_range(start, end, index, *args)


def _die_in_worker(start: int, end: int, index: int, *args: Any) -> Any:
    if index == 2:
        os._exit(3)
    return _validator.validate_range(start, end, index, *args)


def _sleep_in_workers(start: int, end: int, index: int, *args: Any) -> Any:
    time.sleep(60)  # stopped long before
    return _validator.validate_range(start, end, index, *args)


def _warn_in_workers(start: int, end: int, index: int, *args: Any) -> Any:
    sys.stderr.write(f"a warning from worker {index}\n")  # to the terminal, from a background group
    sys.stderr.flush()
    return _validator.validate_range(start, end, index, *args)


def _interrupted() -> None:
    time.sleep(0.5)  # the lead has built the encoder and forked its workers by then
    raise KeyboardInterrupt


def main(scenario: str, path: str) -> dict[str, Any]:
    leads: list[int] = []
    me = os.getpid()
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid and os.getpid() == me:
            leads.append(pid)
        return pid

    os.fork = fork  # type: ignore[assignment]
    real = _validator.run_ranges
    found: dict[str, Any] = {"forks": _parallel.worker_context().get_start_method() == "fork", "errors": []}
    started = time.monotonic()
    if scenario == "failure":
        for work, workers in ((_fail_in_worker, 2), (_die_in_worker, 3)):
            _validator.run_ranges = (  # type: ignore[assignment]
                lambda _w, ranges, args, context, work=work, **kw: real(work, ranges, args, context, **kw))
            try:
                Dataset.from_jsonl(path).validate("sft", workers=workers)
            except DatasetError as exc:
                found["errors"].append(str(exc))
    elif scenario == "terminal":  # standard error is a terminal: make it this session's
        import fcntl
        import termios

        fcntl.ioctl(sys.stderr.fileno(), termios.TIOCSCTTY, 0)
        _validator.run_ranges = (  # type: ignore[assignment]
            lambda _w, ranges, args, context, **kw: real(_warn_in_workers, ranges, args, context, **kw))
        found["examples"] = Dataset.from_jsonl(path).validate("sft", workers=2).examples
    elif scenario == "interrupt":
        _validator.run_ranges = lambda _w, ranges, args, context, **kw: real(  # type: ignore[assignment]
            _sleep_in_workers, ranges, args, context, prepare=kw["prepare"], meanwhile=_interrupted)
        try:
            Dataset.from_jsonl(path).validate("sft", workers=3)
        except KeyboardInterrupt:
            found["errors"].append("KeyboardInterrupt")
    found["seconds"] = time.monotonic() - started
    found["leads"] = len(leads)
    found["running"] = [_parallel.group_running(lead) for lead in leads]
    with open(f"/proc/{me}/task/{me}/children") as f:
        found["children"] = f.read().split()
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
