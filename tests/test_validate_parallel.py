"""Validation in several processes: the same report as one process, every finding on its line.

The files are small; ``workers=N`` (an explicit count) cuts even a small file into N ranges, so the
cuts fall inside the 512-line chunks of a one-process pass, between CRLF pairs' lines, next to blank
lines and so on. The token limit is lowered (``_LARGEST_LIMIT``, used when no model is given) so that
hundreds of examples are "over the limit": their findings (counted in the background, one chunk
late in a one-process pass) interleave with the rule findings, and one code goes past the 1,000
issues a report keeps per code.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _dataset_helpers import GOOD, line, run_python
from _forked_probe import _die_in_worker, _fail_in_worker

from foundry_tune.cli import main
from foundry_tune.dataset import Dataset, ValidationReport, _parallel, _validator
from foundry_tune.dataset._reader import BOM
from foundry_tune.errors import DatasetError, InvalidParameterError


def _rows(n: int) -> list[bytes]:
    """``n`` lines with findings of every kind spread over the file."""
    rows: list[bytes] = []
    for i in range(n):
        record: dict[str, Any] = GOOD["sft"](i)
        if i % 97 == 13:
            record["messages"][1]["role"] = "robot"  # an error (unknown role)
        elif i % 89 == 7:
            record["messages"] = record["messages"][:2]  # an error: no assistant reply
        elif i % 71 == 5:
            record["messages"][2]["weight"] = 3  # an error (weight must be 0 or 1)
        elif i % 2 == 0:
            record["messages"][1]["content"] = "Please work this out. " * 3 + str(i)  # over the limit
        text = line(record).encode()
        if i % 263 == 100:
            text = b'{"messages": [oops'  # invalid JSON
        elif i % 331 == 200:
            text = b'{"messages": "caf\xe9"}'  # invalid UTF-8
        elif i % 149 == 50:
            text = b"   "  # a blank line
        elif i % 127 == 60:
            text = line(GOOD["sft"](i % 40)).encode()  # a duplicate of an early line, far away
        rows.append(text)
    return rows


def _write(path: Path, rows: list[bytes], *, crlf_every: int = 5, bom: bool = True,
           final: bool = False) -> Path:
    out = bytearray(BOM if bom else b"")
    for i, row in enumerate(rows):
        out += row
        if i < len(rows) - 1 or final:
            out += b"\r\n" if i % crlf_every == 0 else b"\n"
    path.write_bytes(bytes(out))
    return path


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every example over 30 tokens is "too long" (the limit used when no model is given)."""
    monkeypatch.setattr(_validator, "_LARGEST_LIMIT", 30)


def _same(one: ValidationReport, many: ValidationReport) -> None:
    assert many.to_dict() == one.to_dict()
    assert many.to_text() == one.to_text()
    assert many.to_text(None) == one.to_text(None)
    assert many.errors == one.errors
    assert many.warnings == one.warnings
    assert many.shapes == one.shapes
    assert many.tokens == one.tokens
    assert many.estimate == one.estimate


def _spy_ranges(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many ranges each pass was cut into."""
    seen: list[int] = []
    real = _validator.run_ranges

    def spy(work: Any, ranges: Any, args: Any, context: Any, **kw: Any) -> Any:
        seen.append(len(ranges))
        return real(work, ranges, args, context, **kw)

    monkeypatch.setattr(_validator, "run_ranges", spy)
    return seen


@pytest.mark.parametrize("workers", [2, 3, 7])
def test_same_report_as_one_process(tmp_path: Path, small_limit: None, monkeypatch: pytest.MonkeyPatch,
                                    workers: int) -> None:
    path = _write(tmp_path / "train.jsonl", _rows(3000))
    one = Dataset.from_jsonl(path).validate("sft", strict=False, workers=1)
    codes = {issue.code for issue in [*one.errors, *one.warnings]}
    assert {"sft.role_unknown", "file.invalid_json", "file.encoding", "data.duplicate", "file.blank_lines",
            "tokens.example_too_long"} <= codes, codes
    assert any("more lines have this problem" in issue.message for issue in one.warnings)  # past 1,000
    seen = _spy_ranges(monkeypatch)
    dataset = Dataset.from_jsonl(path)
    many = dataset.validate("sft", strict=False, workers=workers)
    assert seen == [workers]
    _same(one, many)
    assert dataset.validated_hash == Dataset.from_jsonl(path).content_hash()


def test_strict_errors_and_detected_method(tmp_path: Path, small_limit: None) -> None:
    path = _write(tmp_path / "train.jsonl", _rows(1500), crlf_every=2, bom=False, final=True)
    one = Dataset.from_jsonl(path).validate(strict=True, workers=1)
    many = Dataset.from_jsonl(path).validate(strict=True, workers=4)
    assert one.tokens is not None and one.tokens.over_limit > 100
    _same(one, many)


def test_every_cut_between_two_lines(tmp_path: Path, small_limit: None) -> None:
    """A file cut at every line start (one process per line) and cuts landing exactly on a line."""
    rows = _rows(40)
    path = _write(tmp_path / "few.jsonl", rows, final=True)
    one = Dataset.from_jsonl(path).validate("sft", workers=1)
    _same(one, Dataset.from_jsonl(path).validate("sft", workers=len(rows)))
    size = path.stat().st_size
    with open(path, "rb") as stream:
        starts = [0]
        for raw in stream:
            starts.append(starts[-1] + len(raw))
    assert starts[-1] == size
    with open(path, "rb") as stream:
        for start in starts[1:-1]:  # a cut exactly at a line start stays there
            assert _parallel._next_line_start(stream, start, size) == start
            assert _parallel._next_line_start(stream, start - 1, size) == start


def test_first_record_in_a_later_range_is_checked_for_the_method(tmp_path: Path) -> None:
    """The method check of the file's first example, when it lies in a worker's range."""
    rows = [b"not json"] * 30 + [b""] * 30 + [line(GOOD["dpo"](i)).encode() for i in range(30)]
    path = _write(tmp_path / "dpo.jsonl", rows, bom=False)
    one = Dataset.from_jsonl(path).validate("sft", workers=1)
    assert any(issue.code == "file.method_mismatch" for issue in one.errors)
    _same(one, Dataset.from_jsonl(path).validate("sft", workers=5))


def test_bom_only_at_the_start_of_the_file(tmp_path: Path) -> None:
    """A byte order mark at the start of a worker's range is data, as in one pass."""
    rows = [line(GOOD["sft"](i)).encode() for i in range(20)]
    rows[10] = BOM + rows[10]
    path = _write(tmp_path / "bom.jsonl", rows, crlf_every=1000)
    one = Dataset.from_jsonl(path).validate("sft", workers=1)
    assert any(issue.line == 11 for issue in one.errors)
    _same(one, Dataset.from_jsonl(path).validate("sft", workers=20))


def test_overlap_with_the_validation_file(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(200)], bom=False)
    valid = _write(tmp_path / "valid.jsonl", [line(GOOD["sft"](i)).encode() for i in range(150, 260)])
    one = Dataset.from_jsonl(train).validate("sft", validation=valid, workers=1)
    assert sum(issue.code == "data.validation_overlap" for issue in one.warnings) == 50
    _same(one, Dataset.from_jsonl(train).validate("sft", validation=valid, workers=3))


def test_auto_keeps_small_files_in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(300)])
    assert _parallel.plan_ranges(path, "auto") == [(0, path.stat().st_size)]
    seen = _spy_ranges(monkeypatch)
    one = Dataset.from_jsonl(path).validate("sft")
    assert seen == []
    monkeypatch.setattr(_parallel, "MIN_BYTES_PER_WORKER", 1000)
    monkeypatch.setattr(_parallel, "MIN_BYTES_PER_NEW_INTERPRETER", 1000)
    monkeypatch.setattr(_parallel, "usable_cores", lambda: 2)
    assert len(_parallel.plan_ranges(path, "auto")) == 2
    _same(one, Dataset.from_jsonl(path).validate("sft"))
    assert seen == [2]


@pytest.mark.parametrize("bad", [0, -1, 257, 1.5, True, "many", "", None, "2"])
def test_bad_workers(tmp_path: Path, bad: object) -> None:
    path = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(12)])
    with pytest.raises(InvalidParameterError, match="workers"):
        Dataset.from_jsonl(path).validate("sft", workers=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("threads", [False, True], ids=["forked", "new interpreters"])
def test_worker_failure_is_a_dataset_error_and_leaves_no_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: bool) -> None:
    if threads:
        monkeypatch.setattr(_parallel, "_single_threaded", lambda: False)
    path = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(300)])
    real = _validator.run_ranges
    children = _children()
    monkeypatch.setattr(_validator, "run_ranges",
                        lambda work, ranges, args, context, **kw: real(_fail_in_worker, ranges, args, context,
                                                                       **kw))
    with pytest.raises(DatasetError, match="RuntimeError: boom"):
        Dataset.from_jsonl(path).validate("sft", workers=2)
    assert multiprocessing.active_children() == []
    monkeypatch.setattr(_validator, "run_ranges",
                        lambda work, ranges, args, context, **kw: real(_die_in_worker, ranges, args, context,
                                                                       **kw))
    with pytest.raises(DatasetError, match="exit code 3"):
        Dataset.from_jsonl(path).validate("sft", workers=3)
    assert multiprocessing.active_children() == []
    assert _children() == children


def _probe(scenario: str, path: Path) -> dict[str, Any]:
    """Run a scenario of ``tests/_forked_probe.py`` in a fresh interpreter, which forks."""
    probe = Path(__file__).with_name("_forked_probe.py")
    done = subprocess.run([sys.executable, str(probe), scenario, str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert found["forks"]
    return found


def test_forked_worker_failure_is_a_dataset_error_and_leaves_no_process(tmp_path: Path) -> None:
    """A worker that raises, one that dies: each a `DatasetError` naming what happened; every
    process of the pass (the lead and the workers it forked) is gone when `validate` returns."""
    path = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(300)])
    found = _probe("failure", path)
    first, second = found["errors"]
    assert "RuntimeError: boom" in first
    assert "exit code 3" in second
    assert found["leads"] == 2 and found["running"] == [False, False]
    assert found["children"] == []


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(["validate", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_workers(tmp_path: Path, small_limit: None, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(_write(tmp_path / "train.jsonl", _rows(1200)))
    code_one, one, _ = _cli(capsys, path, "--method", "sft", "--json", "--workers", "1")
    seen = _spy_ranges(monkeypatch)
    code_many, many, _ = _cli(capsys, path, "--method", "sft", "--json", "--workers", "3")
    assert seen == [3]
    assert (code_many, json.loads(many)) == (code_one, json.loads(one)) and code_one == 1
    code, text_many, _ = _cli(capsys, path, "--method", "sft", "--workers", "AUTO")
    assert (code, text_many) == (1, _cli(capsys, path, "--method", "sft", "--workers", "1")[1])
    for bad in ("0", "two", "-3"):
        code, _, err = _cli(capsys, path, "--workers", bad)
        assert code == 2 and "workers" in err, err


def _children() -> list[str]:
    """This process's child processes (Linux), whoever started them."""
    found: list[str] = []
    if not os.path.isdir("/proc/self/task"):
        return found
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
            found += f.read().split()
    return sorted(found)


def _interrupt_here(start: int, end: int, index: int, *args: Any) -> Any:
    if index == 0:  # in this process, while the workers run: as Ctrl-C would
        raise KeyboardInterrupt
    return _validator.validate_range(start, end, index, *args)


def test_workers_writing_to_a_tostop_terminal_are_not_stopped(tmp_path: Path) -> None:
    """The workers are a background process group of the terminal: one that writes to it (a
    warning) must not be stopped by SIGTTOU when the terminal is set to ``stty tostop``."""
    import pty
    import termios

    path = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(300)])
    master, terminal = pty.openpty()
    attributes = termios.tcgetattr(terminal)
    attributes[3] |= termios.TOSTOP
    termios.tcsetattr(terminal, termios.TCSANOW, attributes)
    probe = Path(__file__).with_name("_forked_probe.py")
    # A new session, whose controlling terminal the probe makes the pty (its standard error).
    with subprocess.Popen([sys.executable, str(probe), "terminal", str(path)], stdout=subprocess.PIPE,
                          stderr=terminal, start_new_session=True) as process:
        os.close(terminal)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            raise AssertionError("a worker was stopped by the terminal") from None
        finally:
            written = b""
            while select.select([master], [], [], 0)[0]:
                try:
                    written += os.read(master, 4096)
                except OSError:
                    break
            os.close(master)
    found = json.loads(out.decode().splitlines()[-1])
    assert found["forks"] and found["examples"] == 300
    assert b"a warning from worker 0" in written and b"a warning from worker 1" in written


def test_interrupt_stops_every_worker_forked(tmp_path: Path) -> None:
    """Ctrl-C in this process while forked workers run (the lead and the workers it forked, which
    are not this process's children): every one of them is stopped before the call returns."""
    path = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(300)])
    found = _probe("interrupt", path)
    assert found["errors"] == ["KeyboardInterrupt"]
    assert found["leads"] == 1 and found["running"] == [False]
    assert found["children"] == []
    assert found["seconds"] < 30  # the workers sleep for 60 s


def test_interrupt_stops_every_worker_new_interpreters(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parallel, "_single_threaded", lambda: False)
    path = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(300)])
    real = _validator.run_ranges
    monkeypatch.setattr(_validator, "run_ranges",
                        lambda work, ranges, args, context, **kw: real(_interrupt_here, ranges, args, context,
                                                                       **kw))
    children = _children()
    with pytest.raises(KeyboardInterrupt):
        Dataset.from_jsonl(path).validate("sft", workers=3)
    assert multiprocessing.active_children() == []
    assert _children() == children


def test_the_caller_builds_no_encoder_and_loads_the_report_while_workers_run(tmp_path: Path) -> None:
    """A pass in forked workers: the lead worker builds the encoder; this process forks it before
    it loads pydantic (the report's models), which it loads while the workers run."""
    path = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(300)])
    probe = (
        "import os, sys\n"
        "from foundry_tune.cli import main\n"
        "seen = []\n"
        "real_fork = os.fork\n"
        "def fork():\n"
        "    seen.append('pydantic' in sys.modules)\n"
        "    return real_fork()\n"
        "os.fork = fork\n"
        f"code = main(['validate', {str(path)!r}, '--method', 'sft', '--json', '--workers', '2'])\n"
        "import toktok\n"
        "print('FORKS', seen[:1], 'ENCODERS', len(toktok._CACHE), 'PYDANTIC', 'pydantic' in sys.modules,\n"
        "      code)\n"
    )
    run_python(probe, "FORKS [False] ENCODERS 0 PYDANTIC True 0")


def test_new_interpreters_when_this_process_has_threads(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A process with threads does not fork: each worker is a new interpreter, which never runs
    the caller's main module again (a script without a ``__main__`` guard is safe)."""
    monkeypatch.setattr(_parallel, "_single_threaded", lambda: False)
    assert _parallel.worker_context().get_start_method() == "subprocess"
    path = _write(tmp_path / "train.jsonl", _rows(700))
    valid = _write(tmp_path / "valid.jsonl", _rows(300)[::-1])
    one = Dataset.from_jsonl(path).validate("sft", validation=valid, workers=1)
    dataset = Dataset.from_jsonl(path)
    _same(one, dataset.validate("sft", validation=valid, workers=2))
    assert dataset.validated_hash == Dataset.from_jsonl(path).content_hash()
    assert multiprocessing.active_children() == []


def test_cli_validation_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Both files of ``--validation-file``, each in several processes: the same JSON."""
    train = str(_write(tmp_path / "train.jsonl", _rows(900)))
    valid = str(_write(tmp_path / "valid.jsonl", _rows(400)[::-1], bom=False))
    args = [train, "--method", "sft", "--json", "--validation-file", valid]
    code_one, one, _ = _cli(capsys, *args, "--workers", "1")
    code_many, many, _ = _cli(capsys, *args, "--workers", "4")
    report = json.loads(one)
    assert any(w["code"] == "data.validation_overlap" for w in report["warnings"])
    assert (code_many, json.loads(many)) == (code_one, report)


def test_a_file_changed_during_the_pass_is_validated_again(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers read the file apart from its hash: a write meanwhile, and the pass runs again in
    one read, so that the validated hash is that of the bytes checked."""
    path = _write(tmp_path / "train.jsonl", [line(GOOD["sft"](i)).encode() for i in range(300)], final=True)
    real = _validator.run_ranges
    calls: list[int] = []

    def write_meanwhile(work: Any, ranges: Any, args: Any, context: Any, **kw: Any) -> Any:
        calls.append(len(ranges))
        result = real(work, ranges, args, context, **kw)
        with open(path, "ab") as out:
            out.write(b"not json\n")
        return result

    monkeypatch.setattr(_validator, "run_ranges", write_meanwhile)
    dataset = Dataset.from_jsonl(path)
    report = dataset.validate("sft", workers=2)
    assert calls == [2]
    assert [issue.line for issue in report.errors] == [301]  # the file as it is now
    assert dataset.validated_hash == Dataset.from_jsonl(path).content_hash()
