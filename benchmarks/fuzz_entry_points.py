"""Coverage-guided fuzzing (atheris) of the entry points that take user input.

    pip install atheris          # or: pip install 'foundry-tune[fuzz]'
    python benchmarks/fuzz_entry_points.py -max_total_time=120      # a bounded run
    python benchmarks/fuzz_entry_points.py -runs=20000 -seed=1       # a reproducible one

Each input picks a target: the JSONL validator (the bytes become a file, validated for every
method), ``graders.load`` (the bytes as grader JSON), the method constructors (JSON
hyperparameters), the builder's ``suffix`` / ``metadata`` / ``training_type`` / ``seed``, and the
endpoint parsing of ``Foundry``. A target may succeed or raise ``FoundryTuneError`` with a
non-empty message; any other exception is a finding and stops the run with the crashing input
saved (libFuzzer's ``crash-*`` file). The hypothesis tests in ``tests/test_fuzz_*.py`` cover the
same targets in CI; this harness is for longer runs, outside CI.

Without a corpus directory on the command line, the run starts from :data:`SEEDS` (the inputs
issue 12 found: 100,000 nested brackets, long unary chains, a 400-digit integer, names ending in a
newline), written to a temporary corpus.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["foundry_tune"]):
    from foundry_tune import graders
    from foundry_tune._core.settings import check_endpoint
    from foundry_tune.dataset import validate_file
    from foundry_tune.errors import FoundryTuneError
    from foundry_tune.job import FineTuneBuilder
    from foundry_tune.methods import DPO, Supervised

_SCRATCH = Path(tempfile.mkdtemp(prefix="foundry-tune-fuzz-")) / "input.jsonl"


class _NoService:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the service was contacted ({name})")


def _json(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):  # the harness's own parse: deep input is the library's to refuse
        return data.decode("utf-8", "replace")


def _validator(data: bytes) -> None:
    _SCRATCH.write_bytes(data)
    for method in (None, "sft", "dpo", "rft"):
        report = validate_file(_SCRATCH, method, model="gpt-4.1-mini")
        report.to_dict()
        report.to_text()


def _grader(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    if text.lstrip().startswith(("{", "[")):
        graders.load(text)  # the library's own bounded JSON reading
    value = _json(data)
    if isinstance(value, dict):
        grader = graders.load(value)
        graders.load(grader.to_dict())


def _methods(data: bytes) -> None:
    value = _json(data)
    if isinstance(value, dict):
        hyper = ("n_epochs", "batch_size", "learning_rate_multiplier")
        Supervised(**{k: v for k, v in value.items() if k in hyper})
        DPO(**{k: v for k, v in value.items() if k in ("beta", "n_epochs", "batch_size")})


def _builder(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    builder = FineTuneBuilder(_NoService(), "gpt-4.1-mini")  # type: ignore[arg-type]
    builder.suffix(fdp.ConsumeUnicodeNoSurrogates(80))
    builder.training_type(fdp.ConsumeUnicodeNoSurrogates(20))
    builder.seed(fdp.ConsumeInt(8))
    value = _json(fdp.ConsumeBytes(fdp.remaining_bytes()))
    builder.metadata(value if isinstance(value, dict) else {"k": value})


def _endpoint(data: bytes) -> None:
    check_endpoint(data.decode("utf-8", "replace"), what="project endpoint")


_TARGETS = (_validator, _grader, _methods, _builder, _endpoint)


def _seed(target: Any, payload: bytes) -> bytes:
    return bytes([_TARGETS.index(target)]) + payload


SEEDS = (
    _seed(_grader, b"[" * 100_000 + b"]" * 100_000),
    _seed(_grader, b'{"type": "multi", "name": "m", "graders": {"a": {"type": "string_check", "name": "a", '
                   b'"input": "x", "reference": "y", "operation": "eq"}}, "calculate_output": "'
                   + b"-" * 1990 + b'a"}'),
    _seed(_grader, b'{"type": "python", "name": "p", "source": "def grade(s, i):\\n return '
                   + b"-" * 100_000 + b'1"}'),
    _seed(_grader, b'{"type": "endpoint", "name": "e", "url": "https://x", "rate_limit": '
                   + b"9" * 400 + b"}"),
    _seed(_methods, b'{"n_epochs": 1' + b"0" * 400 + b', "learning_rate_multiplier": NaN}'),
    _seed(_builder, b"support\n"),
    _seed(_validator, b'{"input": {"messages": [{"role": "user", "content": "q"}]}, '
                      b'"preferred_output": [{"role": "assistant", "content": "a"}], '
                      b'"non_preferred_output": [{"role": "assistant", "content": "b"}]}\n'),
)
"""Starting inputs: the first byte picks the target (see :func:`test_one_input`)."""


def test_one_input(data: bytes) -> None:
    """The libFuzzer entry point: the first byte picks the target, the rest is its input."""
    if not data:
        return
    target = _TARGETS[data[0] % len(_TARGETS)]
    try:
        target(data[1:])
    except FoundryTuneError as exc:
        if not str(exc).strip():
            raise AssertionError(f"{type(exc).__name__} without a message") from exc


def main() -> None:
    """Run the fuzzer with libFuzzer's command-line options (and :data:`SEEDS` when no corpus is given)."""
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="foundry-tune-fuzz-seeds-"))
        for index, seed in enumerate(SEEDS):
            (corpus / f"seed-{index}").write_bytes(seed)
        argv.append(str(corpus))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
