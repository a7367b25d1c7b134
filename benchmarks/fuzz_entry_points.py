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
    except ValueError:
        return data.decode("utf-8", "replace")


def _validator(data: bytes) -> None:
    _SCRATCH.write_bytes(data)
    for method in (None, "sft", "dpo", "rft"):
        report = validate_file(_SCRATCH, method, model="gpt-4.1-mini")
        report.to_dict()
        report.to_text()


def _grader(data: bytes) -> None:
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
    """Run the fuzzer with libFuzzer's command-line options."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
