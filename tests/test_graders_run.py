"""graders.run_locally: real string checks, similarity and multi formulas; deterministic simulations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foundry_tune import Reinforcement, graders

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "foundry-samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample data not available")


def _check(operation: str, reference: str = "{{item.answer}}") -> graders.StringCheck:
    return graders.StringCheck(
        name="c", input="{{sample.output_text}}", reference=reference, operation=operation
    )


@pytest.mark.parametrize(
    ("operation", "output", "expected"),
    [
        ("eq", "Paris", 1.0),
        ("eq", "paris", 0.0),
        ("ne", "Paris", 0.0),
        ("ne", "London", 1.0),
        ("like", "The answer is Paris.", 1.0),
        ("like", "the answer is paris.", 0.0),
        ("ilike", "THE ANSWER IS PARIS.", 1.0),
        ("ilike", "Lyon", 0.0),
    ],
)
def test_string_check_operations(operation: str, output: str, expected: float) -> None:
    result = graders.run_locally(_check(operation), {"output_text": output}, {"answer": "Paris"})
    assert result.score == expected
    assert result.passed is (expected == 1.0)
    assert result.details["input"] == output and result.details["reference"] == "Paris"
    assert result.simulated is False


def test_templates_render_nested_paths_json_values_and_output_json() -> None:
    grader = graders.StringCheck(
        name="c",
        input="{{sample.output_json.answer.value}}|{{ item.meta.tags[1] }}|{{item.nums}}",
        reference="42|b|[1, 2]",
        operation="eq",
    )
    sample = '{"answer": {"value": 42}}'  # output_json is parsed from output_text, as the service does
    result = graders.run_locally(grader, sample, {"meta": {"tags": ["a", "b"]}, "nums": [1, 2]})
    assert result.details["input"] == "42|b|[1, 2]"
    assert result.score == 1.0


@needs_samples
def test_medmcq_grader_against_rows_without_the_field_reports_the_missing_variable() -> None:
    grader = graders.load(SAMPLES / "sample-rft-medmcq" / "stringcheck_grader.json")
    row = json.loads(
        (SAMPLES / "sample-rft-medmcq" / "medmcq_validation.jsonl").open(encoding="utf-8").readline()
    )
    result = graders.run_locally(grader, "A", row)
    assert result.score == 0.0
    assert result.details["missing_variables"] == ["item.reference_answer"]
    assert "invalid_variable_error" in result.details["errors"]
    with_answer = graders.run_locally(grader, "A", {**row, "reference_answer": "A"})
    assert with_answer.score == 1.0 and "missing_variables" not in with_answer.details


def test_text_similarity_uses_the_metric_and_pass_threshold() -> None:
    grader = graders.TextSimilarity(
        name="s",
        input="{{sample.output_text}}",
        reference="{{item.summary}}",
        evaluation_metric="rouge_l",
        pass_threshold=0.8,
    )
    result = graders.run_locally(grader, "The cat sat on the mat.", {"summary": "the cat is on the mat"})
    assert result.score == pytest.approx(5 / 6)  # LCS 5 of 6 words on both sides
    assert result.passed is True
    low = graders.run_locally(grader, "a dog", {"summary": "the cat is on the mat"})
    assert low.score == 0.0 and low.passed is False
    no_threshold = graders.TextSimilarity(name="s", input="a", reference="a", evaluation_metric="bleu")
    assert graders.run_locally(no_threshold, "", {}).passed is None


@needs_samples
def test_clause_matching_multi_grader() -> None:
    grader = graders.load(SAMPLES / "sample-rft-clause-matching" / "multi_grader.json")
    item = {
        "extracted_text": "The Supplier shall sell exclusively to the Buyer.",
        "clause_type": "Exclusivity",
    }
    exact = {"output_json": {"extracted_text": item["extracted_text"], "clause_type": "Exclusivity"}}
    result = graders.run_locally(grader, exact, item)
    assert result.score == pytest.approx(1.0) and result.passed is True
    assert result.details["sub_results"]["clause_string_check"].score == 1.0

    # A prefix of the reference: LCS = len(prefix), fuzzy = 2 * 28 / (28 + 49); clause type correct.
    prefix = "The Supplier shall sell excl"
    assert len(prefix) == 28 and len(item["extracted_text"]) == 49
    partial = {"output_json": {"extracted_text": prefix, "clause_type": "Exclusivity"}}
    expected = 0.5 * (2 * 28 / 77) + 0.5 * 1.0
    result = graders.run_locally(grader, partial, item)
    assert result.score == pytest.approx(expected)
    assert result.passed is (expected >= 0.65)

    wrong_type = {"output_json": {"extracted_text": item["extracted_text"], "clause_type": "Non-Compete"}}
    result = graders.run_locally(grader, wrong_type, item)
    assert result.score == pytest.approx(0.5) and result.passed is False
    response = result.to_run_response()
    assert response["reward"] == pytest.approx(0.5)
    assert response["sub_rewards"] == {"extracted_text_similarity": 1.0, "clause_string_check": 0.0}
    assert (
        response["metadata"]["type"] == "multi"
        and response["metadata"]["errors"]["formula_parse_error"] is False
    )


def test_multi_formula_runtime_error_is_flagged_not_raised() -> None:
    sub = graders.StringCheck(name="a", input="x", reference="x", operation="eq")
    grader = graders.Multi(name="m", graders={"a": sub}, calculate_output="a / (a - a)")
    result = graders.run_locally(grader, "anything", {})
    assert result.score == 0.0
    assert "formula_parse_error" in result.details["errors"]
    assert result.to_run_response()["metadata"]["errors"]["formula_parse_error"] is True


def test_multi_formula_functions() -> None:
    yes = graders.StringCheck(name="y", input="x", reference="x", operation="eq")
    no = graders.StringCheck(name="n", input="x", reference="y", operation="eq")
    grader = graders.Multi(
        name="m", graders={"yes": yes, "no": no}, calculate_output="max(no, 0.25) + abs(no - yes) ^ 2 / 4"
    )
    assert graders.run_locally(grader, "", {}).score == pytest.approx(0.25 + 1 / 4)


# --- simulated graders ------------------------------------------------------------------------------


@needs_samples
def test_score_model_simulation_is_deterministic_and_within_range() -> None:
    grader = graders.load(SAMPLES / "rft-countdown" / "grader_config_aoai.json")
    item = {"target": "77", "nums": "[67, 79, 39, 56]"}
    first = graders.run_locally(grader, '{"expression": "67 + 79 - 39 - 56", "result": "51"}', item)
    again = graders.run_locally(grader, '{"expression": "67 + 79 - 39 - 56", "result": "51"}', item)
    assert first.score == again.score
    assert 0.0 <= first.score <= 5.0
    assert first.passed is (first.score >= 5)
    assert first.simulated is True
    assert '"target": 77' in first.details["input"][1]["content"]  # templates rendered into the prompt
    scores = {
        graders.run_locally(grader, f'{{"expression": "x", "result": "{n}"}}', item).score for n in range(20)
    }
    assert len(scores) > 10  # the simulation depends on the inputs


def test_label_model_simulation_picks_a_label() -> None:
    grader = graders.LabelModel(
        name="sentiment",
        model="gpt-4o",
        input=[graders.GraderMessage(role="user", content="Classify: {{sample.output_text}}")],
        labels=["positive", "neutral", "negative"],
        passing_labels=["positive"],
    )
    seen = set()
    for text in ["great", "fine", "awful", "ok", "meh", "superb", "bad", "nice"]:
        result = graders.run_locally(grader, text, {})
        assert result.details["label"] in grader.labels
        assert result.passed is (result.details["label"] == "positive")
        assert result.score == (1.0 if result.passed else 0.0)
        seen.add(result.details["label"])
    assert len(seen) >= 2
    assert (
        graders.run_locally(grader.to_dict(), "great", {}).score
        == graders.run_locally(grader, "great", {}).score
    )


def test_python_grader_code_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed.txt"
    source = (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('imported')\n"
        "raise SystemExit('module level code ran')\n"
        "def grade(sample, item):\n"
        f"    pathlib.Path({str(marker)!r}).write_text('graded')\n"
        "    return 1.0\n"
    )
    grader = graders.Python(name="dangerous", source=source, pass_threshold=0.5)
    loaded = graders.load(grader.to_dict())
    grader.save(tmp_path / "python_grader.json")
    Reinforcement(grader=loaded).to_wire()
    assert loaded.item_references() == set()
    result = graders.run_locally(loaded, "answer", {"x": 1})
    multi = graders.Multi(name="m", graders={"py": grader}, calculate_output="py")
    graders.run_locally(multi, "answer", {"x": 1})
    assert not marker.exists()
    assert result.simulated is True and 0.0 <= result.score <= 1.0
    assert result.passed is (result.score >= 0.5)


def test_endpoint_grader_is_simulated_without_network_or_secrets() -> None:
    grader = graders.Endpoint(
        name="remote",
        url="https://grader.invalid/api/grade",
        headers={"X-Key": "topsecret"},
        pass_threshold=1.0,
    )
    result = graders.run_locally(grader, {"output_json": {"expression": "1 + 1", "result": 2}}, {"target": 2})
    assert result.simulated is True and 0.0 <= result.score <= 1.0
    assert result.passed is (result.score >= 1.0)
    assert "topsecret" not in json.dumps(result.details, default=str)


def test_cosine_similarity_is_flagged_simulated() -> None:
    grader = graders.TextSimilarity(
        name="c", input="{{sample.output_text}}", reference="a b", evaluation_metric="cosine"
    )
    result = graders.run_locally(grader, "a c", {})
    assert result.score == pytest.approx(0.5) and result.simulated is True


def test_run_locally_accepts_raw_grader_dicts_and_sample_strings() -> None:
    raw: dict[str, Any] = {
        "type": "string_check",
        "name": "c",
        "input": "{{sample.output_text}}",
        "reference": "ok",
        "operation": "eq",
    }
    assert graders.run_locally(raw, "ok").score == 1.0
    assert graders.make_sample("plain text") == {"output_text": "plain text"}
    assert graders.make_sample('{"a": 1}')["output_json"] == {"a": 1}
    assert graders.make_sample({"output_json": {"a": 1}})["output_text"] == '{"a": 1}'
