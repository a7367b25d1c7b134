"""Fuzzing every public entry point that takes user input: whatever it is given, it either works or
raises one of the library's own errors (``FoundryTuneError``) with a message that names the
problem; never a ``KeyError``, ``TypeError`` or ``ValueError`` from deep inside.

The validator itself is fuzzed in ``test_dataset_fuzz.py``; ``benchmarks/fuzz_entry_points.py``
runs the same targets under atheris (coverage-guided) for longer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from foundry_tune import graders
from foundry_tune._core.settings import check_endpoint
from foundry_tune._redact import mask_url
from foundry_tune._sync._credentials import StaticTokenCredential
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.errors import ConfigurationError, FoundryTuneError
from foundry_tune.job import FineTuneBuilder
from foundry_tune.methods import DPO, Reinforcement, Supervised, TuningMethod

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from([10**400, -(10**400)]))  # past any float (issue 12)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)
GRADER_KEYS = st.sampled_from(["type", "name", "input", "reference", "operation", "evaluation_metric",
                               "source", "graders", "calculate_output", "model", "labels", "passing_labels",
                               "range", "pass_threshold", "url", "headers", "image_tag", "sampling_params"])
GRADER_TYPES = st.sampled_from(["string_check", "text_similarity", "score_model", "label_model", "python",
                                "multi", "endpoint", "unknown", ""])


def check_error(exc: FoundryTuneError) -> None:
    """A library error whose message says something (not an empty string or a bare repr)."""
    message = str(exc)
    assert len(message) >= 10, repr(exc)
    assert not message.startswith(("Traceback", "<")), message


def attempt(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except FoundryTuneError as exc:
        check_error(exc)
        return exc


@st.composite
def grader_dicts(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = draw(st.dictionaries(GRADER_KEYS, JSONISH, max_size=6))
    if draw(st.booleans()):
        data["type"] = draw(GRADER_TYPES)
    if data.get("type") == "multi" and draw(st.booleans()):
        data["graders"] = draw(st.dictionaries(st.text(max_size=5), st.dictionaries(GRADER_KEYS, JSONISH,
                                                                                    max_size=4), max_size=2))
    return data


@FUZZ
@given(grader_dicts())
def test_grader_load_from_dicts(data: dict[str, Any]) -> None:
    result = attempt(graders.load, data)
    if isinstance(result, graders.Grader):
        assert graders.load(result.to_dict()).to_dict() == result.to_dict()  # what loads, round-trips


@FUZZ
@given(st.binary(max_size=300))
@example(content=b"[" * 100_000 + b"]" * 100_000)  # issue 12: a RecursionError in json.loads
@example(content=b'{"type": "python", "name": "p", "pass_threshold": NaN, "source": "x"}')
def test_grader_load_from_files(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    path = tmp_path_factory.mktemp("graders") / "grader.json"
    path.write_bytes(content)
    attempt(graders.load, path)
    attempt(graders.load, str(path))


@FUZZ
@given(st.text(max_size=200))
@example("(" * 100_000)  # issue 12: SyntaxError "too many nested parentheses"
@example("def grade(sample, item):\n    return " + "-" * 100_000 + "1")  # a MemoryError in ast.parse
@example("def grade(sample, item):\n    return sample" + ".a" * 80_000)  # a RecursionError in ast.parse
def test_python_grader_sources(source: str) -> None:
    attempt(graders.load, {"type": "python", "name": "p", "source": source})


HYPER = st.one_of(SCALARS, st.just("auto"), st.integers(-5, 300), st.floats(-1, 20))


@FUZZ
@given(n_epochs=HYPER, batch_size=HYPER, lr=HYPER, beta=HYPER)
@example(n_epochs=10**400, batch_size=1, lr=1.0, beta=0.1)  # issue 12: an OverflowError before
@example(n_epochs=1, batch_size=1, lr=-(10**400), beta=1e39)
def test_method_constructors(n_epochs: Any, batch_size: Any, lr: Any, beta: Any) -> None:
    for build in (
        lambda: Supervised(n_epochs=n_epochs, batch_size=batch_size, learning_rate_multiplier=lr),
        lambda: DPO(beta=beta, n_epochs=n_epochs, batch_size=batch_size, learning_rate_multiplier=lr),
    ):
        result = attempt(build)
        if isinstance(result, TuningMethod):
            assert TuningMethod.from_wire(result.to_wire()) == result  # what builds, round-trips
        else:
            assert any(name in str(result) for name in ("n_epochs", "batch_size", "learning_rate", "beta"))


@FUZZ
@given(grader=st.one_of(grader_dicts(), SCALARS), effort=SCALARS, compute=HYPER, interval=HYPER,
       response_format=st.one_of(SCALARS, st.dictionaries(st.text(max_size=8), JSONISH, max_size=3)))
def test_reinforcement_constructor(grader: Any, effort: Any, compute: Any, interval: Any,
                                   response_format: Any) -> None:
    attempt(Reinforcement, grader=grader, reasoning_effort=effort, compute_multiplier=compute,
            eval_interval=interval, response_format=response_format)


@FUZZ
@given(st.dictionaries(st.text(max_size=12), JSONISH, max_size=5))
def test_method_from_wire(wire: dict[str, Any]) -> None:
    attempt(TuningMethod.from_wire, wire)


class NoService:
    """The builder's checks must not need the service."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the service was contacted ({name})")


@FUZZ
@given(suffix=SCALARS, seed=SCALARS, training_type=SCALARS, method=SCALARS, model=SCALARS,
       metadata=st.one_of(SCALARS, st.dictionaries(st.one_of(st.text(max_size=70), st.integers()),
                                                   st.one_of(st.text(max_size=600), st.integers()),
                                                   max_size=18)))
@example(suffix="support\n", seed=10**400, training_type=10**400, method=10**400, model="gpt-4.1-mini",
         metadata={"key\n": "v"})  # issue 12
def test_builder_setters(suffix: Any, seed: Any, training_type: Any, method: Any, model: Any,
                         metadata: Any) -> None:
    builder = attempt(FineTuneBuilder, NoService(), model)
    if not isinstance(builder, FineTuneBuilder):
        return
    if isinstance(suffix, str) and suffix.endswith("\n"):
        assert isinstance(attempt(builder.suffix, suffix), FoundryTuneError)  # fullmatch, not "$"
    setters = ((builder.suffix, suffix), (builder.seed, seed), (builder.training_type, training_type),
               (builder.method, method), (builder.metadata, metadata))
    for setter, value in setters:
        attempt(setter, value)


@FUZZ
@given(st.one_of(SCALARS, st.binary(max_size=20)))
def test_builder_train_on(value: Any) -> None:
    attempt(FineTuneBuilder(NoService(), "gpt-4.1-mini").train_on, value)


@FUZZ
@given(st.lists(st.one_of(JSONISH, st.dictionaries(st.text(max_size=10), JSONISH, max_size=4)), max_size=6))
def test_dataset_from_records(records: list[Any]) -> None:
    dataset = attempt(Dataset.from_records, records)
    if isinstance(dataset, Dataset):
        report = dataset.validate()
        assert report.valid in (True, False)


@FUZZ
@given(st.one_of(st.text(max_size=40), st.binary(max_size=20), SCALARS))
def test_dataset_from_jsonl_paths(path: Any) -> None:
    result = attempt(Dataset.from_jsonl, path)
    if isinstance(result, Dataset):
        attempt(result.validate, "sft")


URL_PARTS = st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "", "//", "http:///", "https://["])
HOSTS = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "example.com", "127.0.0.1.example.com",
                         "user@127.0.0.1@evil.com", "[::1", "0.0.0.0", "acct.services.ai.azure.com", ""])
TAILS = st.sampled_from(["", "/", ":99999", ":-1", ":abc", "/api/projects/p", "?q=1#f", " ", "\n"])


@FUZZ
@given(st.one_of(st.text(max_size=60), st.tuples(URL_PARTS, HOSTS, TAILS).map("".join)))
@example("HTTP://127.0.0.0::")  # found by this test: a port that is no number
@example("A://[")  # found by this test: an unclosed IPv6 bracket
@example("HTTPS://@0")  # found by this test: empty user info, masked in the repr
def test_endpoint_parsing(url: str) -> None:
    result = attempt(check_endpoint, url, what="project endpoint")
    if isinstance(result, FoundryTuneError):
        assert isinstance(result, ConfigurationError) and "project endpoint" in str(result)
        return
    ft = attempt(Foundry, url, StaticTokenCredential("t"), subscription_id="s", resource_group="g",
                 arm_endpoint=url)
    if isinstance(ft, Foundry):
        # the endpoint as given, with any user info or secret-looking query value masked
        assert mask_url(ft.endpoint) in repr(ft)
        ft.close()


@pytest.mark.parametrize("value", [math.nan, math.inf, -1, 0, 10**30, "3", True, [], {}])
def test_hyperparameters_name_the_parameter(value: Any) -> None:
    with pytest.raises(FoundryTuneError) as info:
        Supervised(n_epochs=value)
    assert "n_epochs" in str(info.value)


def test_grader_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "my-grader.json"
    path.write_text(json.dumps({"type": "string_check", "name": "x", "input": 3}))
    with pytest.raises(FoundryTuneError) as info:
        graders.load(path)
    assert "my-grader.json" in str(info.value)
