"""TuningMethod: documented ranges checked locally, the wire ``method`` object, reading jobs back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foundry_tune import DPO, MethodKind, Reinforcement, Supervised, TuningMethod, graders
from foundry_tune._method_kind import parse_method_kind
from foundry_tune.errors import GraderError, InvalidParameterError

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "foundry-samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample data not available")

EXACT = graders.StringCheck(
    name="exact", input="{{sample.output_text}}", reference="{{item.answer}}", operation="eq"
)


def _build(cls: type[TuningMethod], **params: Any) -> TuningMethod:
    if cls is Reinforcement:
        params.setdefault("grader", EXACT)
    return cls(**params)


# --- ranges ---------------------------------------------------------------------------------------

ACCEPTED = [
    (Supervised, "n_epochs", 1),
    (Supervised, "n_epochs", 50),
    (Supervised, "batch_size", 1),
    (Supervised, "batch_size", 256),
    (Supervised, "learning_rate_multiplier", 1e-9),
    (Supervised, "learning_rate_multiplier", 100.0),
    (DPO, "beta", 1e-9),
    (DPO, "beta", 2),
    (DPO, "n_epochs", 50),
    (Reinforcement, "compute_multiplier", 0.0000101),
    (Reinforcement, "compute_multiplier", 10),
    (Reinforcement, "eval_interval", 1),
    (Reinforcement, "eval_samples", 1),
    (Reinforcement, "eval_samples", 1_000_000),
    (Reinforcement, "batch_size", 256),
]

REJECTED = [
    (Supervised, "n_epochs", 0, "from 1 to 50"),
    (Supervised, "n_epochs", 51, "from 1 to 50"),
    (Supervised, "batch_size", 0, "from 1 to 256"),
    (Supervised, "batch_size", 257, "from 1 to 256"),
    (Supervised, "learning_rate_multiplier", 0, "> 0"),
    (Supervised, "learning_rate_multiplier", -0.5, "> 0"),
    (Supervised, "learning_rate_multiplier", float("nan"), "> 0"),
    (DPO, "beta", 0, "(0, 2]"),
    (DPO, "beta", 2.0001, "(0, 2]"),
    (DPO, "batch_size", 257, "from 1 to 256"),
    (Reinforcement, "compute_multiplier", 0.00001, "(0.00001, 10]"),
    (Reinforcement, "compute_multiplier", 10.0001, "(0.00001, 10]"),
    (Reinforcement, "eval_interval", 0, ">= 1"),
    (Reinforcement, "eval_samples", 0, ">= 1"),
    (Reinforcement, "n_epochs", 51, "from 1 to 50"),
]


@pytest.mark.parametrize(("cls", "name", "value"), ACCEPTED)
def test_boundary_values_are_accepted(cls: type[TuningMethod], name: str, value: float) -> None:
    method = _build(cls, **{name: value})
    assert getattr(method, name) == value
    assert method.to_wire()[method.kind.value]["hyperparameters"][name] == value


@pytest.mark.parametrize(("cls", "name", "value", "allowed"), REJECTED)
def test_values_outside_the_documented_range_are_rejected(
    cls: type[TuningMethod], name: str, value: float, allowed: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        _build(cls, **{name: value})
    message = str(info.value)
    assert name in message
    assert repr(value) in message or str(value) in message
    assert allowed in message
    assert "validation error" not in message.lower()  # pydantic's own error never leaks


@pytest.mark.parametrize("value", ["3", True, 2.5, None, [3]])
def test_wrong_types_are_rejected_with_the_parameter_named(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="n_epochs"):
        Supervised(n_epochs=value)


def test_integral_float_is_accepted_as_an_integer() -> None:
    assert Supervised(n_epochs=3.0).n_epochs == 3


def test_unknown_parameter_suggests_the_right_name() -> None:
    with pytest.raises(InvalidParameterError, match=r"'epochs'.*did you mean 'n_epochs'"):
        Supervised(epochs=3)  # type: ignore[call-arg]


def test_reasoning_effort_values() -> None:
    for effort in ("low", "medium", "high", "default"):
        assert Reinforcement(grader=EXACT, reasoning_effort=effort).reasoning_effort == effort
    with pytest.raises(InvalidParameterError, match=r"reasoning_effort='max'.*'low', 'medium', 'high'"):
        Reinforcement(grader=EXACT, reasoning_effort="max")


def test_defaults_are_auto_and_methods_are_frozen() -> None:
    method = DPO()
    assert method.hyperparameters() == {
        "beta": "auto",
        "l2_multiplier": "auto",
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    }
    with pytest.raises(Exception, match="frozen"):
        method.beta = 0.5  # type: ignore[misc]


def test_kind_and_parse_method_kind() -> None:
    assert Supervised().kind is MethodKind.SUPERVISED
    assert DPO().kind is MethodKind.DPO
    assert Reinforcement(grader=EXACT).kind is MethodKind.REINFORCEMENT
    assert parse_method_kind(DPO(beta=0.1)) is MethodKind.DPO


# --- wire ------------------------------------------------------------------------------------------


def test_supervised_wire_object_leaves_auto_to_the_service() -> None:
    assert Supervised().to_wire() == {"type": "supervised", "supervised": {"hyperparameters": {}}}
    assert Supervised(n_epochs=3, batch_size=1, learning_rate_multiplier=1.0).to_wire() == {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0}},
    }


def test_dpo_wire_object() -> None:
    assert DPO(beta=0.1, n_epochs=2).to_wire() == {
        "type": "dpo",
        "dpo": {"hyperparameters": {"beta": 0.1, "n_epochs": 2}},
    }


def test_reinforcement_wire_object_carries_grader_and_response_format() -> None:
    schema = {"name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    method = Reinforcement(grader=EXACT, response_format=schema, reasoning_effort="medium", eval_interval=5)
    wire = method.to_wire()
    assert wire["type"] == "reinforcement"
    body = wire["reinforcement"]
    assert body["grader"] == EXACT.to_dict()
    assert body["response_format"] == {"type": "json_schema", "json_schema": schema}
    assert body["hyperparameters"] == {"reasoning_effort": "medium", "eval_interval": 5}
    json.dumps(wire)  # the wire object is plain JSON


@pytest.mark.parametrize(
    "method",
    [
        Supervised(),
        Supervised(n_epochs=7, batch_size=16, learning_rate_multiplier=0.5),
        DPO(beta=2, learning_rate_multiplier=3.0),
        Reinforcement(grader=EXACT, compute_multiplier=1.5, eval_samples=4, reasoning_effort="high"),
    ],
)
def test_wire_round_trip(method: TuningMethod) -> None:
    assert TuningMethod.from_wire(method.to_wire()) == method
    assert type(method).from_wire(method.to_wire()) == method


def test_azure_echoes_minus_one_for_auto_and_extra_keys_are_ignored() -> None:
    echoed = {
        "type": "supervised",
        "supervised": {
            "hyperparameters": {"n_epochs": -1, "batch_size": -1, "learning_rate_multiplier": 2, "seed": 7}
        },
        "future_field": {"x": 1},
    }
    method = TuningMethod.from_wire(echoed)
    assert method == Supervised(learning_rate_multiplier=2.0)


def test_missing_keys_and_nulls_read_as_auto() -> None:
    assert TuningMethod.from_wire({"type": "dpo"}) == DPO()
    assert TuningMethod.from_wire({"type": "dpo", "dpo": {"hyperparameters": {"beta": None}}}) == DPO()
    assert TuningMethod.from_wire({"type": "supervised", "supervised": None}) == Supervised()


def test_from_wire_accepts_a_whole_job_and_legacy_top_level_hyperparameters() -> None:
    job = {"id": "ftjob-1", "method": DPO(beta=0.5).to_wire(), "hyperparameters": {"n_epochs": 9}}
    assert TuningMethod.from_wire(job) == DPO(beta=0.5)
    legacy = {"id": "ftjob-2", "hyperparameters": {"n_epochs": 4, "batch_size": "auto"}}
    assert TuningMethod.from_wire(legacy) == Supervised(n_epochs=4)


def test_from_wire_reads_an_out_of_range_echo_as_auto(caplog: pytest.LogCaptureFixture) -> None:
    method = TuningMethod.from_wire(
        {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}
    )
    assert method == Supervised()
    assert "n_epochs" in caplog.text


def test_azure_rft_job_echo_with_endpoint_and_python_multi_grader() -> None:
    # Shape of a real Azure job echo (agentic RFT preview): sub-graders without names, masked
    # headers, -1 for auto, response_format beside the hyperparameters, preview-only keys.
    echo = {
        "type": "reinforcement",
        "reinforcement": {
            "grader": {
                "name": "Combined local and remote grader",
                "type": "multi",
                "graders": {
                    "python": {
                        "type": "python",
                        "image_tag": "2025-05-08",
                        "source": "def grade(sample, item):\n    return 1.0\n",
                    },
                    "endpoint": {
                        "type": "endpoint",
                        "url": "https://grader.example.net/api/grader",
                        "rate_limit": 50,
                        "headers": {"x-Functions-Key": "********"},
                    },
                },
                "calculate_output": "(python + endpoint) / 2",
            },
            "tools": [{"name": "search", "server_url": "https://tools.example.net"}],
            "max_episode_steps": 10,
            "hyperparameters": {
                "batch_size": -1,
                "compute_multiplier": 1.0,
                "eval_interval": 5,
                "eval_samples": 1,
                "learning_rate_multiplier": 2.0,
                "n_epochs": -1,
            },
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "math_expression", "strict": True, "schema": {"type": "object"}},
            },
        },
    }
    method = TuningMethod.from_wire(echo)
    assert isinstance(method, Reinforcement)
    assert method.n_epochs == "auto" and method.batch_size == "auto"
    assert (method.compute_multiplier, method.eval_interval, method.eval_samples) == (1.0, 5, 1)
    assert isinstance(method.grader, graders.Multi)
    assert set(method.grader.graders) == {"python", "endpoint"}
    assert method.grader.to_dict() == echo["reinforcement"]["grader"]  # type: ignore[index]
    assert method.response_format == echo["reinforcement"]["response_format"]  # type: ignore[index]


def test_from_wire_errors() -> None:
    with pytest.raises(InvalidParameterError, match="unknown method type 'lora'"):
        TuningMethod.from_wire({"type": "lora"})
    with pytest.raises(InvalidParameterError, match="not 'supervised'"):
        Supervised.from_wire(DPO().to_wire())
    with pytest.raises(InvalidParameterError, match="no grader"):
        TuningMethod.from_wire({"type": "reinforcement", "reinforcement": {"hyperparameters": {}}})


# --- reinforcement inputs ---------------------------------------------------------------------------


def test_reinforcement_requires_a_grader() -> None:
    with pytest.raises(InvalidParameterError, match="grader is required"):
        Reinforcement(grader=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="grader is required"):
        Reinforcement()  # type: ignore[call-arg]


def test_reinforcement_accepts_grader_dicts_and_rejects_top_level_label_model() -> None:
    method = Reinforcement(grader=EXACT.to_dict())
    assert method.grader == EXACT
    label = {
        "type": "label_model",
        "name": "sentiment",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "{{sample.output_text}}"}],
        "labels": ["good", "bad"],
        "passing_labels": ["good"],
    }
    with pytest.raises(GraderError, match="inside a multi grader"):
        Reinforcement(grader=label)
    with pytest.raises(GraderError, match="inside a multi grader"):
        Reinforcement(grader=graders.LabelModel(**label))


@needs_samples
def test_reinforcement_loads_grader_and_bare_schema_files() -> None:
    folder = SAMPLES / "sample-rft-clause-matching"
    method = Reinforcement(grader=folder / "multi_grader.json", response_format=folder / "schema.json")
    bare = json.loads((folder / "schema.json").read_text(encoding="utf-8"))
    assert method.response_format == {"type": "json_schema", "json_schema": bare}
    full = json.loads((SAMPLES / "rft-countdown" / "response_schema.json").read_text(encoding="utf-8"))
    assert Reinforcement(grader=EXACT, response_format=full).response_format == full


def test_response_format_of_the_wrong_shape_is_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="response_format"):
        Reinforcement(grader=EXACT, response_format={"type": "text"})
    with pytest.raises(InvalidParameterError, match="needs a 'name'"):
        Reinforcement(grader=EXACT, response_format={"type": "json_schema", "json_schema": {"schema": {}}})
    with pytest.raises(InvalidParameterError, match="not valid JSON"):
        Reinforcement(grader=EXACT, response_format="{not json")


# --- model support -----------------------------------------------------------------------------------


def test_check_model_names_the_models_that_support_the_method() -> None:
    with pytest.raises(InvalidParameterError) as info:
        Reinforcement(grader=EXACT).check_model("gpt-4.1")
    assert str(info.value) == ("gpt-4.1 does not support reinforcement fine-tuning (Foundry tunes gpt-4.1 "
                               "with: supervised, DPO); models that support reinforcement: gpt-5, o4-mini")
    with pytest.raises(InvalidParameterError, match="o4-mini does not support DPO fine-tuning"):
        DPO().check_model("o4-mini")


def test_check_model_accepts_supported_and_unknown_models() -> None:
    info = Supervised().check_model("gpt-4.1-mini-2025-04-14")
    assert info is not None and info.name == "gpt-4.1-mini"
    assert Reinforcement(grader=EXACT).check_model("o4-mini") is not None
    assert Supervised().check_model("some-future-model") is None
