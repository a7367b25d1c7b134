"""Bad input through the public API (issue 12): every entry point answers with the library's own
typed error naming the parameter (and the limit or rule it broke), never a raw ``OverflowError``,
``RecursionError``, ``MemoryError``, ``TypeError`` or ``ValueError``, and never a silent accept.

One table: entry point x bad value -> error class + the words its message must hold. Inputs that
blow Python's own limits (100,000 nested brackets, unary chains, deep Python source) must also be
refused fast.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from foundry_tune import graders
from foundry_tune._core.deployment_body import build_body, default_name, validate_name
from foundry_tune._core.spec import JobSpec
from foundry_tune.catalog import lookup_model, parse_training_type
from foundry_tune.dataset import Dataset
from foundry_tune.errors import (
    DatasetValidationError,
    FoundryTuneError,
    GraderError,
    InvalidParameterError,
)
from foundry_tune.methods import DPO, Reinforcement, Supervised, TuningMethod

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "foundry-samples"
DEEP = 100_000
FAST = 2.0  # seconds: what "refused fast" means for the pathological inputs

STRING_CHECK = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}", "operation": "eq"}
SCORE_MODEL = {"type": "score_model", "name": "judge", "model": "o4-mini",
               "input": [{"role": "user", "content": "Rate {{sample.output_text}}"}]}


def nested(depth: int) -> dict[str, Any]:
    """``{"x": {"x": ...}}`` ``depth`` levels deep, built without recursion."""
    root: dict[str, Any] = {}
    current = root
    for _ in range(depth):
        current["x"] = {}
        current = current["x"]
    return root


def load_deep_file() -> object:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "deep-grader.json"
        path.write_text("[" * DEEP + "]" * DEEP, encoding="utf-8")
        return graders.load(path)


def multi(formula: str) -> dict[str, Any]:
    return {"type": "multi", "name": "m", "graders": {"a": STRING_CHECK}, "calculate_output": formula}


def python_grader(body: str) -> Callable[[], object]:
    return lambda: graders.Python(name="p", source=f"def grade(sample, item):\n    return {body}\n")


Case = tuple[str, Callable[[], object], type[FoundryTuneError], tuple[str, ...]]

HUGE = 10**400
BAD_NUMBERS: list[tuple[str, Any]] = [
    ("10**400", HUGE), ("-10**400", -HUGE), ("bool", True), ("nan", math.nan), ("inf", math.inf),
    ("-inf", -math.inf), ("str", "3"), ("none", None), ("list", [1]),
]


def method_cases() -> list[Case]:
    cases: list[Case] = []
    builders: list[tuple[type[TuningMethod], Callable[..., object]]] = [
        (Supervised, Supervised),
        (DPO, DPO),
        (Reinforcement, lambda **kw: Reinforcement(grader=STRING_CHECK, **kw)),
    ]
    for cls, build in builders:
        for name in cls._hyperparameters:
            if name == "reasoning_effort":
                values = [(label, v) for label, v in BAD_NUMBERS if label != "none"]
            else:
                values = BAD_NUMBERS
            for label, value in values:
                cases.append((f"{cls.__name__}({name}={label})",
                              lambda build=build, name=name, value=value: build(**{name: value}),
                              InvalidParameterError, (cls.__name__, name)))
    # Past the documented ranges (design.md, the OpenAPI subset): the service would refuse these.
    past = [
        (Supervised, "n_epochs", 51, "from 1 to 50"), (Supervised, "batch_size", 257, "from 1 to 256"),
        (Supervised, "learning_rate_multiplier", 0, "> 0"), (DPO, "beta", 2.5, "(0, 2]"),
        (DPO, "l2_multiplier", -0.1, ">= 0"),
        (Supervised, "learning_rate_multiplier", 1e39, "32-bit float"),
        (DPO, "l2_multiplier", 10**39, "32-bit float"),
    ]
    for cls, name, value, rule in past:
        cases.append((f"{cls.__name__}({name}={value!r})",
                      lambda cls=cls, name=name, value=value: cls(**{name: value}),
                      InvalidParameterError, (name, rule)))
    for name, value, rule in [("compute_multiplier", 11, "(0.00001, 10]"), ("eval_interval", 2**31, "32-bit"),
                              ("eval_samples", 0, ">= 1"), ("eval_samples", HUGE, "2,147,483,647")]:
        cases.append((f"Reinforcement({name}={value if value is not HUGE else '10**400'})",
                      lambda name=name, value=value: Reinforcement(grader=STRING_CHECK, **{name: value}),
                      InvalidParameterError, (name, rule)))
    return cases


def grader_cases() -> list[Case]:
    deep_list = "[" * DEEP + "]" * DEEP
    deep_object = '{"a":' * DEEP + "1" + "}" * DEEP
    return [
        ("load(100k nested lists)", lambda: graders.load(deep_list),
         GraderError, ("grader JSON", "64 levels")),
        ("load(100k nested objects)", lambda: graders.load(deep_object), GraderError, ("64 levels",)),
        ("load(file with 100k nested lists)", load_deep_file, GraderError, ("deep-grader.json", "64 levels")),
        ("load(dict, sampling_params 100k deep)",
         lambda: graders.load({**SCORE_MODEL, "sampling_params": nested(DEEP)}),
         GraderError, ("sampling_params.x", "64 levels")),
        ("Reinforcement(grader=100k nested JSON)", lambda: Reinforcement(grader=deep_list),
         GraderError, ("grader", "64 levels")),
        ("Reinforcement(grader=ScoreModel(sampling_params=100k deep))",
         lambda: Reinforcement(grader=graders.ScoreModel(**{**SCORE_MODEL, "sampling_params": nested(DEEP)})),
         GraderError, ("sampling_params", "64 levels")),
        ("Reinforcement(response_format=100k nested JSON)",
         lambda: Reinforcement(grader=STRING_CHECK,
                               response_format='{"name": "s", "schema": ' + deep_list + "}"),
         InvalidParameterError, ("response_format", "64 levels")),
        ("Reinforcement(response_format=dict 100k deep)",
         lambda: Reinforcement(grader=STRING_CHECK, response_format={"name": "s", "schema": nested(DEEP)}),
         InvalidParameterError, ("response_format", "schema.x", "64 levels")),
        ("load(path with a NUL)", lambda: graders.load("grader\x00.json"),
         GraderError, ("grader file", "NUL")),
        ("Reinforcement(response_format=path with a NUL)",
         lambda: Reinforcement(grader=STRING_CHECK, response_format="schema\x00.json"),
         InvalidParameterError, ("response_format",)),
        ("load(JSON NaN)", lambda: graders.load('{"type": "text_similarity", "name": "t", "input": "a", '
                                                '"reference": "b", "evaluation_metric": "bleu", '
                                                '"pass_threshold": NaN}'),
         GraderError, ("NaN",)),
        ("load(JSON 5000-digit integer)",
         lambda: graders.load('{"type": "endpoint", "name": "e", "url": "https://x", "rate_limit": '
                              + "9" * 5000 + "}"),
         GraderError, ("64-bit",)),
        ("load(range=[0, 10**400])", lambda: graders.load({**SCORE_MODEL, "range": [0, HUGE]}),
         GraderError, ("range[1]", "64-bit")),
        ("load(range=[-inf, inf])", lambda: graders.load({**SCORE_MODEL, "range": [-math.inf, math.inf]}),
         GraderError, ("range[0]", "not a JSON number")),
        ("ScoreModel(range=[0, 10**400])", lambda: graders.ScoreModel(**{**SCORE_MODEL, "range": [0, HUGE]}),
         GraderError, ("score_model", "range[1]", "64-bit")),
        ("TextSimilarity(pass_threshold=nan)",
         lambda: graders.TextSimilarity(name="t", input="a", reference="b", evaluation_metric="bleu",
                                        pass_threshold=math.nan),
         GraderError, ("pass_threshold", "JSON number")),
        ("load(rate_limit=10**400)", lambda: graders.load({"type": "endpoint", "name": "e", "url": "https://x",
                                                           "rate_limit": HUGE}),
         GraderError, ("rate_limit", "64-bit")),
        ("multi: 100,000 unary minus", lambda: graders.load(multi("-" * DEEP + "a")),
         GraderError, ("calculate_output", "2,000")),
        ("multi: 1,990 unary minus", lambda: graders.load(multi("-" * 1990 + "a")),
         GraderError, ("calculate_output", "100 levels")),
        ("multi: 999 nested parentheses", lambda: graders.load(multi("(" * 999 + "a" + ")" * 999)),
         GraderError, ("calculate_output", "100 levels")),
        ("multi: a+a+...+a (999 terms)", lambda: graders.load(multi("+".join(["a"] * 999))),
         GraderError, ("calculate_output", "100 levels")),
        ("multi: 400-digit constant", lambda: graders.load(multi("1" + "0" * 400 + " * a")),
         GraderError, ("calculate_output", "too large")),
        ("run_locally(multi, 1,990 unary minus)",
         lambda: graders.run_locally(multi("-" * 1990 + "a"), "x", {"answer": "x"}),
         GraderError, ("calculate_output", "100 levels")),
        ("Python: 100,000 '('", lambda: graders.Python(name="p", source="(" * DEEP),
         GraderError, ("source", "nests too deeply")),
        ("Python: 100,000 unary minus (MemoryError in ast.parse)", python_grader("-" * DEEP + "1"),
         GraderError, ("source", "nests too deeply")),
        ("Python: 80,000 attribute accesses (RecursionError)", python_grader("sample" + ".a" * 80_000),
         GraderError, ("source", "nests too deeply")),
        ("Python: 60,000 additions (RecursionError)", python_grader("1" + " + 1" * 60_000),
         GraderError, ("source", "nests too deeply")),
        ("Python: 300 nested lists", python_grader("[" * 300 + "]" * 300),
         GraderError, ("source", "too many nested parentheses")),
        ("Python: 120 indentation levels",
         lambda: graders.Python(name="p", source="def grade(sample, item):\n"
                                + "".join(" " * k + "if 1:\n" for k in range(1, 120))
                                + " " * 120 + "return 1\n"),
         GraderError, ("source", "indentation")),
        ("Python: lone surrogate", python_grader("'\ud800'"), GraderError, ("source", "surrogate")),
        ("run_locally(item 100k deep)", lambda: graders.run_locally(SCORE_MODEL, "x", {"a": nested(DEEP)}),
         InvalidParameterError, ("item", "64 levels")),
        ("run_locally(item=list)", lambda: graders.run_locally(STRING_CHECK, "x", [1, 2]),  # type: ignore[arg-type]
         InvalidParameterError, ("item", "mapping")),
        ("run_locally(sample=int)", lambda: graders.run_locally(STRING_CHECK, 5, {}),  # type: ignore[arg-type]
         InvalidParameterError, ("sample",)),
    ]


SPEC = JobSpec("gpt-4.1-mini")
WANDB = {"type": "wandb", "wandb": {"project": "p"}}


def name_cases() -> list[Case]:
    cases: list[Case] = []
    for ending in ("\n", "\r\n"):
        shown = repr(ending)
        cases += [
            (f"suffix('support'+{shown})", lambda e=ending: SPEC.suffix("support" + e),
             InvalidParameterError, ("suffix",)),
            (f"train_on('file-abc123'+{shown})", lambda e=ending: SPEC.train_on("file-abc123" + e),
             InvalidParameterError, ("training file id", "file-abc123")),
            (f"validate_on('file-abc123'+{shown})", lambda e=ending: SPEC.validate_on("file-abc123" + e),
             InvalidParameterError, ("validation file id",)),
            (f"fine_tune('gpt-4.1-mini'+{shown})", lambda e=ending: JobSpec("gpt-4.1-mini" + e),
             InvalidParameterError, ("model", "gpt-4.1-mini")),
            (f"metadata(key 'team'+{shown})", lambda e=ending: SPEC.metadata({"team" + e: "x"}),
             InvalidParameterError, ("metadata key", "team")),
            (f"deployment name 'my-deploy'+{shown}", lambda e=ending: validate_name("my-deploy" + e),
             InvalidParameterError, ("deployment name", "my-deploy")),
            (f"deployment model 'gpt-4.1-mini.ft-abc'+{shown}",
             lambda e=ending: default_name("gpt-4.1-mini.ft-abc" + e), InvalidParameterError, ("model",)),
        ]
    cases += [
        ("suffix(10**400)", lambda: SPEC.suffix(HUGE), InvalidParameterError, ("suffix",)),  # type: ignore[arg-type]
        ("seed(10**5000)", lambda: SPEC.seed(10**5000), InvalidParameterError, ("seed", "2147483647")),
        ("seed(nan)", lambda: SPEC.seed(math.nan), InvalidParameterError, ("seed",)),  # type: ignore[arg-type]
        ("training_type(10**5000)", lambda: parse_training_type(10**5000),  # type: ignore[arg-type]
         InvalidParameterError, ("training type",)),
        ("deployment name None", lambda: validate_name(None), InvalidParameterError,  # type: ignore[arg-type]
         ("deployment name",)),
        ("capacity=10**400", lambda: build_body("m", sku="GlobalStandard", capacity=HUGE, tags={}),
         InvalidParameterError, ("capacity", "2,147,483,647")),
        ("capacity=True", lambda: build_body("m", sku="GlobalStandard", capacity=True, tags={}),
         InvalidParameterError, ("capacity",)),
        ("capacity=nan", lambda: build_body("m", sku="GlobalStandard", capacity=math.nan,  # type: ignore[arg-type]
                                            tags={}), InvalidParameterError, ("capacity",)),
        ("strict_validation('no')", lambda: SPEC.strict_validation("no"),  # type: ignore[arg-type]
         InvalidParameterError, ("strict",)),
        ("check_grader(None)", lambda: SPEC.check_grader(None), InvalidParameterError,  # type: ignore[arg-type]
         ("check",)),
        ("lookup_model(123)", lambda: lookup_model(123), InvalidParameterError, ("model name",)),  # type: ignore[arg-type]
    ]
    return cases


def integration_cases() -> list[Case]:
    bad: list[tuple[str, Any, tuple[str, ...]]] = [
        ("a dict, not a list", WANDB, ("integrations must be a list",)),
        ("a string", "wandb", ("integrations must be a list",)),
        ("None", None, ("integrations must be a list",)),
        ("six", [WANDB] * 6, ("at most 5",)),
        ("item a string", ["wandb"], ("integrations[0]",)),
        ("item None", [WANDB, None], ("integrations[1]",)),
        ("type missing", [{"wandb": {"project": "p"}}], ("integrations[0].type",)),
        ("type slack", [{"type": "slack", "wandb": {"project": "p"}}], ("integrations[0].type", "wandb")),
        ("wandb a string", [{"type": "wandb", "wandb": "p"}], ("integrations[0].wandb",)),
        ("no project", [{"type": "wandb", "wandb": {}}], ("integrations[0].wandb.project",)),
        ("project an int", [{"type": "wandb", "wandb": {"project": 3}}], ("integrations[0].wandb.project",)),
        ("name an int", [{"type": "wandb", "wandb": {"project": "p", "name": 3}}],
         ("integrations[0].wandb.name",)),
        ("entity a list", [{"type": "wandb", "wandb": {"project": "p", "entity": ["e"]}}],
         ("integrations[0].wandb.entity",)),
        ("tags a string", [{"type": "wandb", "wandb": {"project": "p", "tags": "t"}}],
         ("integrations[0].wandb.tags",)),
        ("tags with an int", [{"type": "wandb", "wandb": {"project": "p", "tags": ["t", 1]}}],
         ("integrations[0].wandb.tags",)),
        ("unknown wandb key", [{"type": "wandb", "wandb": {"project": "p", "api_key": "k"}}],
         ("integrations[0].wandb", "api_key")),
        ("unknown key", [{**WANDB, "extra": 1}], ("integrations[0]", "extra")),
    ]
    return [(f"integrations({label})", lambda value=value: SPEC.integrations(value),
             InvalidParameterError, words) for label, value, words in bad]


CASES = [*method_cases(), *grader_cases(), *name_cases(), *integration_cases()]


@pytest.mark.parametrize(("label", "call", "error", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_the_typed_error_naming_the_parameter(
    label: str, call: Callable[[], object], error: type[FoundryTuneError], words: tuple[str, ...]
) -> None:
    started = time.perf_counter()
    with pytest.raises(error) as info:
        call()
    elapsed = time.perf_counter() - started
    assert type(info.value).__module__ == "foundry_tune.errors"
    message = str(info.value)
    for word in words:
        assert word in message, f"{label}: {word!r} not in {message!r}"
    assert len(message) < 2_000, f"{label}: the message echoes the input ({len(message):,} characters)"
    assert elapsed < FAST, f"{label}: took {elapsed:.2f} s"


@pytest.mark.parametrize("name", ["my-deploy", "a", "A.b_c-9" + "x" * 57])
def test_valid_names_still_pass(name: str) -> None:
    assert validate_name(name) == name
    assert SPEC.suffix(name.replace(".", "-")[:64]).suffix_value == name.replace(".", "-")[:64]


def test_valid_values_at_the_edges_still_pass() -> None:
    assert Supervised(n_epochs=50, batch_size=256, learning_rate_multiplier=3e38).n_epochs == 50
    assert Supervised(n_epochs=3.0).n_epochs == 3
    rft = Reinforcement(grader=STRING_CHECK, eval_interval=2**31 - 1, compute_multiplier=10)
    assert rft.eval_interval == 2**31 - 1
    assert DPO(beta=2, l2_multiplier=0).beta == 2
    tags = {"type": "wandb", "wandb": {"project": "p", "name": None, "entity": "e", "tags": ("a", "b")}}
    spec = SPEC.integrations([tags])
    wire = {"type": "wandb", "wandb": {"project": "p", "name": None, "entity": "e", "tags": ["a", "b"]}}
    assert spec.integrations_value == (wire,)
    assert SPEC.train_on("file-abc123").training is not None
    assert SPEC.metadata({"team name": "x"}).metadata_items == (("team name", "x"),)
    # Deep but sane: 60 levels of grader JSON and a 90-level formula load.
    assert graders.load({**SCORE_MODEL, "sampling_params": nested(58)}).name == "judge"
    assert graders.run_locally(multi("-" * 90 + "a"), "x", {"answer": "x"}).score == 1.0


def _validate_as(path: Path, method: str) -> DatasetValidationError:
    report = Dataset.from_jsonl(path).validate(method, model="o4-mini" if method == "rft" else "gpt-4.1-mini")
    with pytest.raises(DatasetValidationError) as info:
        report.raise_for_errors()
    return info.value


@pytest.mark.parametrize(("sample", "method", "advice"), [
    ("dpo-intel-orca/validation.jsonl", "sft", ("DPO preference pairs", ".method(DPO(...))", "--method dpo")),
    ("sample-sft-text-gsm8k/chat_validation.jsonl", "dpo",
     ("supervised chat examples", ".method(Supervised(...))", "--method sft")),
    ("rft-countdown/countdown_valid_15.jsonl", "sft",
     ("reinforcement prompts", ".method(Reinforcement(grader=...))", "--method rft")),
])
def test_dataset_error_names_first_errors_and_the_right_method(
    sample: str, method: str, advice: tuple[str, ...]
) -> None:
    path = SAMPLES / sample
    if not path.exists():
        pytest.skip(f"{path} is not available")
    error = _validate_as(path, method)
    message = str(error)
    lines = message.splitlines()
    assert str(path) in lines[0] and "INVALID" in lines[0]
    first = error.report.errors[0]
    assert (first.line, first.code) == (1, "file.method_mismatch")
    # One cause, one finding: every line is the other method's data, so the message is three lines.
    n = error.report.examples
    assert len(lines) == 3 and "more finding" not in message
    assert lines[1].startswith(f"  {n:,} lines (1, 2, 3, 4, 5, ...) [file.method_mismatch]: "
                               "these lines look like ")
    assert advice[0] in lines[1] and advice[2] in lines[1]
    hint = lines[-1]
    assert hint.startswith("hint: ")
    for words in advice:
        assert words in hint


def test_dataset_error_with_few_errors_lists_them_all(tmp_path: Path) -> None:
    path = tmp_path / "two-bad.jsonl"
    good = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}'
    path.write_text("\n".join([good] * 9 + ['{"messages": "nope"}', "{not json"]) + "\n", encoding="utf-8")
    message = str(_validate_as(path, "sft"))
    assert "two-bad.jsonl" in message.splitlines()[0]
    assert "line 10 [sft." in message and "line 11 [file.invalid_json]" in message
    assert "more error" not in message and "hint:" not in message


@pytest.mark.emulator
def test_bad_data_through_start_uploads_nothing_and_creates_no_job(ft: Any) -> None:
    pytest.importorskip("starlette")
    path = SAMPLES / "dpo-intel-orca" / "validation.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    emulator = ft.emulator_instance
    before = emulator.stats()
    with pytest.raises(DatasetValidationError) as info:
        (ft.fine_tune("gpt-4.1-mini").train_on(path).method(Supervised(n_epochs=1))
         .training_type("GlobalStandard").start())
    assert ".method(DPO(...))" in str(info.value)
    after = emulator.stats()
    keys = ("files", "uploads", "jobs")
    assert [after[key] for key in keys] == [before[key] for key in keys]


# --- more public entry points (found by the review of issue 12) ------------------------------------


@pytest.mark.parametrize("seed", [10**400, -1, 1.5, math.nan, "x", True, 2**63])
def test_a_split_seed_that_is_no_whole_number_in_range_is_refused(seed: Any) -> None:
    from foundry_tune.dataset import Dataset

    data = Dataset.from_records([{"messages": [{"role": "user", "content": f"q{i}"},
                                               {"role": "assistant", "content": "a"}]} for i in range(20)])
    with pytest.raises(InvalidParameterError, match="seed"):
        data.split(validation=0.2, seed=seed)


@pytest.mark.parametrize("model", ["gpt-4.1-mini\n", " gpt-4.1-mini", "", "gpt\x00", 3])
def test_validate_refuses_a_model_name_with_whitespace_or_control_characters(model: Any) -> None:
    from foundry_tune.dataset import Dataset

    data = Dataset.from_records([{"messages": [{"role": "user", "content": "q"},
                                               {"role": "assistant", "content": "a"}]}])
    with pytest.raises(InvalidParameterError, match="model"):
        data.validate("sft", model=model)


@pytest.mark.parametrize("attempts", [10**400, 10_001, 0, True, 2.0])
def test_retry_policy_max_attempts_must_be_in_range(attempts: Any) -> None:
    from foundry_tune import RetryPolicy

    with pytest.raises(InvalidParameterError, match="max_attempts"):
        RetryPolicy(max_attempts=attempts)
