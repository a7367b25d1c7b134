"""Graders: the real sample files load and round-trip, bad files fail with clear errors, template refs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from foundry_tune import graders
from foundry_tune.errors import GraderError

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "foundry-samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample data not available")

SHARED_GRADERS = [
    ("rft-countdown/grader_config_aoai.json", graders.ScoreModel),
    ("sample-rft-clause-matching/model_grader.json", graders.ScoreModel),
    ("sample-rft-clause-matching/multi_grader.json", graders.Multi),
    ("sample-rft-medmcq/stringcheck_grader.json", graders.StringCheck),
    ("zava-retail-agent/rft_grader-config.json", graders.ScoreModel),
]


def _write(tmp_path: Path, data: Any, name: str = "grader.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


# --- the real files users have --------------------------------------------------------------------


@needs_samples
@pytest.mark.parametrize(("relative", "cls"), SHARED_GRADERS)
def test_every_shared_grader_loads_and_round_trips(relative: str, cls: type, tmp_path: Path) -> None:
    path = SAMPLES / relative
    original = json.loads(path.read_text(encoding="utf-8"))
    grader = graders.load(path)
    assert type(grader) is cls
    assert grader.to_dict() == original
    # also from a dict and from a JSON string
    assert graders.load(original).to_dict() == original
    assert graders.load(path.read_text(encoding="utf-8")).to_dict() == original
    # and through save(): the saved file holds exactly the same JSON
    saved = grader.save(tmp_path / "copy.json")
    assert json.loads(saved.read_text(encoding="utf-8")) == original
    assert graders.load(saved) == grader


@needs_samples
def test_medmcq_grader_references_reference_answer() -> None:
    grader = graders.load(SAMPLES / "sample-rft-medmcq" / "stringcheck_grader.json")
    assert grader.item_references() == {"reference_answer"}
    assert grader.uses_output_json() is False


@needs_samples
def test_template_references_of_the_shared_graders() -> None:
    countdown = graders.load(SAMPLES / "rft-countdown" / "grader_config_aoai.json")
    assert countdown.item_references() == {"target", "nums"}
    clause = graders.load(SAMPLES / "sample-rft-clause-matching" / "multi_grader.json")
    assert clause.item_references() == {"extracted_text", "clause_type"}
    assert clause.uses_output_json() is True
    zava = json.loads((SAMPLES / "zava-retail-agent" / "rft_grader-config.json").read_text(encoding="utf-8"))
    refs = graders.template_references(zava)
    assert refs.item_fields == {"reference_policy_args", "reference_policy_outcome"}
    assert refs.sample_output_json is False


def test_template_references_on_raw_objects() -> None:
    refs = graders.template_references(
        {
            "a": "{{ item.answer }} and {{item.meta.source}} and {{item.choices[0]}}",
            "b": ["{{sample.output_json.clause_type}}", {"c": "{{item}} {{sample.output_text}}"}],
            "d": 3,
        }
    )
    assert refs == graders.TemplateRefs(
        item_fields=frozenset({"answer", "meta", "choices"}), sample_output_json=True
    )
    assert graders.template_references("plain {{sample.output_text}}").item_fields == set()
    assert graders.template_references({"x": "{{sample.output_json}}"}).sample_output_json is True


# --- building graders in Python -------------------------------------------------------------------


def test_graders_built_in_python_serialize_to_the_wire_shape() -> None:
    grader = graders.TextSimilarity(
        name="sim", input="{{sample.output_text}}", reference="{{item.summary}}", evaluation_metric="rouge_l"
    )
    assert grader.to_dict() == {
        "type": "text_similarity",
        "name": "sim",
        "input": "{{sample.output_text}}",
        "reference": "{{item.summary}}",
        "evaluation_metric": "rouge_l",
    }
    multi = graders.Multi(
        name="m", graders={"sim": grader}, calculate_output="max(sim, 0.1)", pass_threshold=0.5
    )
    assert multi.to_dict()["graders"]["sim"]["type"] == "text_similarity"
    assert graders.load(multi.to_dict()) == multi


def test_invalid_fields_raise_grader_error_naming_the_field() -> None:
    with pytest.raises(GraderError, match=r"operation.*'eq', 'ne', 'like' or 'ilike'"):
        graders.StringCheck(name="x", input="a", reference="b", operation="equals")
    with pytest.raises(GraderError, match="reference: is required"):
        graders.StringCheck(name="x", input="a", operation="eq")  # type: ignore[call-arg]
    with pytest.raises(GraderError, match="range must be two numbers"):
        graders.ScoreModel(name="s", model="o3-mini", input=[{"role": "user", "content": "x"}], range=[1, 0])
    with pytest.raises(GraderError, match="at least one input message"):
        graders.ScoreModel(name="s", model="o3-mini", input=[])


def test_label_model_checks_its_labels() -> None:
    base: dict[str, Any] = {
        "name": "l",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "{{sample.output_text}}"}],
        "labels": ["yes", "no"],
    }
    with pytest.raises(GraderError, match="not among labels"):
        graders.LabelModel(**base, passing_labels=["maybe"])
    assert graders.LabelModel(**base, passing_labels=["yes"]).passing_labels == ["yes"]


def test_multi_formula_must_use_known_names_and_safe_operations() -> None:
    exact = graders.StringCheck(name="e", input="a", reference="b", operation="eq")
    with pytest.raises(GraderError, match="uses other, which is not the name of a sub-grader"):
        graders.Multi(name="m", graders={"exact": exact}, calculate_output="exact + other")
    with pytest.raises(GraderError, match="only the functions min, max, abs"):
        graders.Multi(name="m", graders={"exact": exact}, calculate_output="__import__('os').system('x')")
    with pytest.raises(GraderError, match="Attribute is not allowed"):
        graders.Multi(name="m", graders={"exact": exact}, calculate_output="exact.real")
    with pytest.raises(GraderError, match="operator Mod is not allowed"):
        graders.Multi(name="m", graders={"exact": exact}, calculate_output="exact % 2")
    with pytest.raises(GraderError, match="mapping names to graders"):
        graders.Multi(name="m", graders=[exact], calculate_output="exact")
    with pytest.raises(GraderError, match="cannot contain another multi"):
        graders.load(
            {
                "type": "multi",
                "name": "m",
                "graders": {"inner": {"type": "multi", "graders": {}, "calculate_output": "1"}},
                "calculate_output": "inner",
            }
        )


# --- loader errors --------------------------------------------------------------------------------


def test_a_file_that_is_not_json_names_the_file_and_position(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "type": "string_check",\n  "name": oops\n}')
    with pytest.raises(GraderError) as info:
        graders.load(path)
    message = str(info.value)
    assert str(path) in message and "not valid JSON" in message and "line 3" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([1, 2], "must be a JSON object, got a list"),
        ({"name": "x"}, "missing 'type'"),
        ({"type": "regex", "name": "x"}, "unknown grader type 'regex'"),
        ({"type": "string_check", "name": "x", "input": "a", "reference": "b"}, "operation: is required"),
        (
            {"type": "text_similarity", "input": "a", "reference": "b", "evaluation_metric": "bleurt"},
            "evaluation_metric",
        ),
        (
            {"type": "text_similarity", "input": "a", "reference": "b", "evaluation_metrics": "bleu"},
            "'evaluation_metrics', did you mean 'evaluation_metric'?",
        ),
        (
            {
                "type": "label_model",
                "name": "l",
                "model": "m",
                "input": [{"role": "user", "content": "x"}],
                "labels": ["a"],
                "passing_labels": ["a"],
            },
            "inside a multi grader",
        ),
        (
            {
                "type": "multi",
                "name": "m",
                "graders": {"a": {"type": "string_check", "input": "x", "reference": "y", "operation": "eq"}},
                "calculate_output": "a +",
            },
            "not a valid formula",
        ),
        (
            {
                "type": "multi",
                "name": "m",
                "graders": {
                    "a": {"type": "string_check", "input": "x", "reference": "y", "operation": "bad"}
                },
                "calculate_output": "a",
            },
            "graders.a: invalid string_check grader: operation: input should be 'eq'",
        ),
        (
            {"type": "multi", "name": "m", "graders": {"a": {"input": "x"}}, "calculate_output": "a"},
            "graders.a: is missing its 'type'",
        ),
    ],
)
def test_malformed_grader_files_raise_grader_error(tmp_path: Path, content: Any, expected: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(GraderError) as info:
        graders.load(path)
    assert expected in str(info.value)
    assert f"grader file {path}" in str(info.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(GraderError, match="no such file"):
        graders.load(tmp_path / "absent.json")
    with pytest.raises(GraderError, match="is a directory"):
        graders.load(tmp_path)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(GraderError, match="not UTF-8"):
        graders.load(binary)
    with pytest.raises(GraderError, match="cannot read a grader from int"):
        graders.load(42)  # type: ignore[arg-type]


def test_strict_false_keeps_unknown_fields() -> None:
    data = {
        "type": "string_check",
        "name": "x",
        "input": "a",
        "reference": "b",
        "operation": "eq",
        "extra": 1,
    }
    with pytest.raises(GraderError, match=r"unknown field\(s\) string_check.extra"):
        graders.load(data)
    grader = graders.load(data, strict=False)
    assert grader.to_dict() == data


# --- python graders: parsed, never run ------------------------------------------------------------


def test_python_grader_source_is_checked_statically() -> None:
    ok = graders.Python(name="p", source="def grade(sample, item):\n    return 1.0\n")
    assert ok.to_dict() == {
        "type": "python",
        "name": "p",
        "source": "def grade(sample, item):\n    return 1.0\n",
    }
    with pytest.raises(GraderError, match="syntax error at line 2"):
        graders.Python(name="p", source="def grade(sample, item):\nreturn 1.0\n")
    with pytest.raises(GraderError, match=r"must define a top-level function grade\(sample, item\)"):
        graders.Python(name="p", source="def score(sample, item):\n    return 1.0\n")
    with pytest.raises(GraderError, match="must accept two arguments"):
        graders.Python(name="p", source="def grade(sample):\n    return 1.0\n")
    big = "def grade(sample, item):\n    return 1.0\n" + "#" * (256 * 1024)
    with pytest.raises(GraderError, match="at most 262,144 bytes"):
        graders.Python(name="p", source=big)


def test_python_grader_from_file(tmp_path: Path) -> None:
    source = tmp_path / "grader.py"
    source.write_text("def grade(sample, item) -> float:\n    return 0.5\n", encoding="utf-8")
    grader = graders.Python.from_file(source, name="file grader", image_tag="2025-05-08")
    assert grader.source == source.read_text(encoding="utf-8")
    source.write_text("def nope(:\n", encoding="utf-8")
    with pytest.raises(GraderError, match=str(source)):
        graders.Python.from_file(source, name="broken")


@pytest.mark.parametrize("where", ["missing.py", ".", "latin1.py"])
def test_a_python_grader_file_that_cannot_be_read_is_a_grader_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "latin1.py").write_bytes("# caf\xe9\ndef grade(s, i):\n    return 1.0\n".encode("latin-1"))
    with pytest.raises(GraderError, match="cannot read the Python grader source"):
        graders.Python.from_file(tmp_path / where, name="p")


# --- endpoint graders: secrets stay out of reprs and files ----------------------------------------


def test_endpoint_grader_masks_header_values(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = {
        "type": "endpoint",
        "name": "Remote Countdown Grader",
        "url": "https://grader.example.net/api/grader",
        "headers": {"X-Functions-Key": "s3cr3t-key-value"},
        "rate_limit": 50,
        "pass_threshold": 1.0,
    }
    grader = graders.load(data)
    assert isinstance(grader, graders.Endpoint)
    assert grader.to_dict() == data  # the wire needs the real header
    assert "s3cr3t-key-value" not in repr(grader)
    assert "s3cr3t-key-value" not in str(grader)
    with caplog.at_level(logging.WARNING):
        saved = grader.save(tmp_path / "endpoint.json")
    text = saved.read_text(encoding="utf-8")
    assert "s3cr3t-key-value" not in text and "X-Functions-Key" in text
    assert "masked" in caplog.text
    full = grader.save(tmp_path / "endpoint-full.json", include_secrets=True)
    assert json.loads(full.read_text(encoding="utf-8")) == data


def test_endpoint_grader_masks_a_function_key_in_the_url(tmp_path: Path) -> None:
    grader = graders.Endpoint(url="https://grader.example.net/api/grade?code=fn-key-9f8e7d", name="remote")
    assert grader.to_dict()["url"].endswith("?code=fn-key-9f8e7d")  # the wire needs the real URL
    assert "fn-key-9f8e7d" not in repr(grader)
    assert "fn-key-9f8e7d" not in str(grader)
    assert "https://grader.example.net/api/grade?" in repr(grader)
    saved = grader.save(tmp_path / "endpoint.json").read_text(encoding="utf-8")
    assert "fn-key-9f8e7d" not in saved and "https://grader.example.net/api/grade?" in saved


def test_endpoint_grader_validation_never_echoes_header_values() -> None:
    with pytest.raises(GraderError) as info:
        graders.Endpoint(url="ftp://x", headers={"Authorization": "Bearer hunter2"})
    assert "http(s) URL" in str(info.value)
    assert "hunter2" not in str(info.value)
    with pytest.raises(GraderError) as info:
        graders.load({"type": "endpoint", "url": "https://x", "headers": {"Authorization": 12345678}})
    assert "12345678" not in str(info.value)
