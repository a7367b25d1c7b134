"""Every official Foundry sample is accepted for its own method and rejected, clearly, for the others."""

from __future__ import annotations

import json

import pytest
from _dataset_helpers import SAMPLES

from foundry_tune import MethodKind
from foundry_tune.dataset import Dataset, validate_file

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample data not available")

TRAINING_FILES = {
    "sft-cnn-dailymail/validation.jsonl": "sft",
    "sample-sft-text-gsm8k/chat_train.jsonl": "sft",
    "sample-sft-text-gsm8k/chat_validation.jsonl": "sft",
    "sample-sft-multimodal-chartqa/training.jsonl": "sft",
    "sample-sft-multimodal-chartqa/validation.jsonl": "sft",
    "sample-sft-tool-calling/stock_toolcall_training.jsonl": "sft",
    "sample-sft-tool-calling/stock_toolcall_validation.jsonl": "sft",
    "dpo-intel-orca/validation.jsonl": "dpo",
    "rft-countdown/countdown_train_100.jsonl": "rft",
    "rft-countdown/countdown_train_25.jsonl": "rft",
    "rft-countdown/countdown_valid_50.jsonl": "rft",
    "rft-countdown/countdown_valid_15.jsonl": "rft",
    "agentic-rft-endpoint-grader/countdown_train_25.jsonl": "rft",
    "agentic-rft-endpoint-grader/countdown_valid_10.jsonl": "rft",
    "agentic-rft-toolcall/train_tool.jsonl": "rft",
    "agentic-rft-toolcall/valid_tool.jsonl": "rft",
    "rft-math-reasoning/openr1-math-validation-rft-10.jsonl": "rft",
    "sample-rft-clause-matching/clause_matching_validation.jsonl": "rft",
    "sample-rft-medmcq/medmcq_validation.jsonl": "rft",
    "zava-retail-agent/rft_train.jsonl": "rft",
    "zava-retail-agent/rft_test.jsonl": "rft",
}
NOT_TRAINING_FILES = [
    "rft-countdown/countdown_eval_100.jsonl",
    "agentic-rft-endpoint-grader/countdown_eval_25.jsonl",
    "rft-countdown/countdown_train_raw.jsonl",
    "rft-countdown/countdown_valid_raw.jsonl",
    "distilling-sarcasm/qa.jsonl",
    "distilling-sarcasm/baseline.jsonl",
]
ALL = ("sft", "dpo", "rft")


def test_the_table_covers_every_sample_file() -> None:
    on_disk = {str(p.relative_to(SAMPLES)) for p in SAMPLES.glob("*/*.jsonl")}
    covered = set(TRAINING_FILES) | set(NOT_TRAINING_FILES)
    # rft_train_fixed / rft_test_fixed are byte-identical or near copies of the zava files.
    assert on_disk - covered <= {
        "zava-retail-agent/rft_train_fixed.jsonl",
        "zava-retail-agent/rft_test_fixed.jsonl",
    }


@pytest.mark.parametrize(("name", "method"), sorted(TRAINING_FILES.items()))
def test_sample_accepted_for_its_method(name: str, method: str) -> None:
    detected = validate_file(SAMPLES / name)
    assert detected.valid, detected.to_text()
    assert detected.method.short == method
    assert detected.errors == []
    explicit = validate_file(SAMPLES / name, method)
    assert explicit.valid and explicit.examples == detected.examples
    assert explicit.tokens is not None and explicit.tokens.examples == explicit.examples


@pytest.mark.parametrize(
    ("name", "wrong"),
    [(name, m) for name, method in sorted(TRAINING_FILES.items()) for m in ALL if m != method],
)
def test_sample_rejected_for_another_method(name: str, wrong: str) -> None:
    report = validate_file(SAMPLES / name, wrong)
    assert not report.valid
    assert report.method.short == wrong
    first = report.errors[0]
    assert (first.line, first.code) == (1, "file.method_mismatch")
    assert f"--method {TRAINING_FILES[name]}" in first.message
    # Every example is blamed, with that method's own codes.
    lines = {i.line for i in report.errors if i.code.startswith(f"{wrong}.") and i.line is not None}
    assert len(lines) == min(report.examples, 1000)


@pytest.mark.parametrize("name", NOT_TRAINING_FILES)
def test_eval_items_and_raw_sources_are_not_training_files(name: str) -> None:
    report = validate_file(SAMPLES / name)
    assert not report.valid
    assert "file.method_undetected" in {i.code for i in report.errors}
    for method in ALL:
        assert not validate_file(SAMPLES / name, method).valid


def test_medmcq_grader_mismatch_is_caught() -> None:
    folder = SAMPLES / "sample-rft-medmcq"
    data = folder / "medmcq_validation.jsonl"
    assert validate_file(data, "rft").valid
    report = validate_file(data, "rft", grader=folder / "stringcheck_grader.json")
    assert not report.valid
    (issue,) = report.errors
    assert (issue.line, issue.code) == (1, "rft.grader_field_missing")
    assert "{{item.reference_answer}}" in issue.message
    assert "6,150 of 6,150 rows" in issue.message


@pytest.mark.parametrize(
    ("data", "grader"),
    [
        ("rft-countdown/countdown_train_100.jsonl", "rft-countdown/grader_config_aoai.json"),
        ("rft-countdown/countdown_valid_50.jsonl", "rft-countdown/grader_config_aoai.json"),
        ("zava-retail-agent/rft_train.jsonl", "zava-retail-agent/rft_grader-config.json"),
        ("zava-retail-agent/rft_test.jsonl", "zava-retail-agent/rft_grader-config.json"),
    ],
)
def test_official_graders_match_their_data(data: str, grader: str) -> None:
    report = validate_file(SAMPLES / data, "rft", grader=SAMPLES / grader)
    assert report.valid, report.to_text()


def test_clause_matching_grader_needs_its_json_schema() -> None:
    folder = SAMPLES / "sample-rft-clause-matching"
    data = Dataset.from_jsonl(folder / "clause_matching_validation.jsonl")
    for grader in ("model_grader.json", "multi_grader.json"):
        report = data.validate("rft", grader=folder / grader)
        assert [i.code for i in report.errors] == ["rft.response_format_required"]
        schema = json.loads((folder / "schema.json").read_text())
        wrapped = {"type": "json_schema", "json_schema": schema}
        assert data.validate("rft", grader=folder / grader, response_format=wrapped).valid


def test_clause_matching_long_contracts_exceed_the_nano_limit() -> None:
    data = SAMPLES / "sample-rft-clause-matching" / "clause_matching_validation.jsonl"
    report = validate_file(data, MethodKind.REINFORCEMENT, model="o4-mini")
    assert report.valid
    assert report.tokens is not None and report.tokens.tokens_per_example is not None
    longest = report.tokens.tokens_per_example.max
    assert 32_768 < longest < 65_536
    nano = validate_file(data, "rft", model="gpt-4.1-nano", strict=True)
    too_long = [i for i in nano.errors if i.code == "tokens.example_too_long"]
    assert too_long and all(i.line is not None for i in too_long)
