"""A corpus of malformed training lines: each is rejected with the right line number and code.

Every case is one bad line placed at line 4 of an otherwise valid 12-example file, so the tests
also check that the good lines around it raise nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _dataset_helpers import GOOD, good_file, line, write_lines

from foundry_tune.dataset import validate_file

BAD_LINE = 4


def _msgs(*messages: dict[str, Any], **extra: Any) -> str:
    return line({"messages": list(messages), **extra})


U = {"role": "user", "content": "Hi"}
A = {"role": "assistant", "content": "Hello"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/chart.png"}}


def _dpo(**override: Any) -> str:
    record: dict[str, Any] = {
        "input": {"messages": [U]},
        "preferred_output": [{"role": "assistant", "content": "Good answer"}],
        "non_preferred_output": [{"role": "assistant", "content": "Bad answer"}],
    }
    record.update(override)
    return line({k: v for k, v in record.items() if v is not None})


# (case id, method, the bad line, expected code, extra validate() keyword arguments)
CASES: list[tuple[str, str, str | bytes, str, dict[str, Any]]] = [
    # -- the file format (any method) -----------------------------------------------------
    ("truncated-json", "sft", '{"messages": [{"role": "user"', "file.invalid_json", {}),
    ("trailing-comma", "dpo", '{"input": {"messages": []},}', "file.invalid_json", {}),
    ("pretty-printed-start", "rft", "{", "file.invalid_json", {}),
    ("nan-constant", "sft", '{"messages": NaN}', "file.invalid_json", {}),
    ("array-line", "sft", "[1, 2, 3]", "file.not_object", {}),
    ("string-line", "rft", '"just text"', "file.not_object", {}),
    ("null-line", "dpo", "null", "file.not_object", {}),
    ("latin-1-bytes", "sft", b'{"messages": [{"role": "user", "content": "caf\xe9"}]}', "file.encoding", {}),
    ("lone-surrogate", "rft", '{"messages": [{"role": "user", "content": "\\ud800"}]}', "file.encoding", {}),
    ("bom-mid-file", "sft", "\ufeff" + line(GOOD["sft"](99)), "file.invalid_json", {}),
    # -- supervised -------------------------------------------------------------------------
    ("sft-prompt-completion", "sft", line({"prompt": "a", "completion": "b"}), "sft.messages_missing", {}),
    ("sft-unknown-top-key", "sft", _msgs(U, A, metadata={"id": 1}), "sft.unknown_key", {}),
    ("sft-messages-object", "sft", line({"messages": {"role": "user"}}), "sft.messages_invalid", {}),
    ("sft-messages-empty", "sft", line({"messages": []}), "sft.messages_invalid", {}),
    ("sft-message-string", "sft", _msgs("hello", A), "sft.message_invalid", {}),  # type: ignore[arg-type]
    ("sft-role-missing", "sft", _msgs({"content": "Hi"}, A), "sft.role_missing", {}),
    ("sft-role-unknown", "sft", _msgs(U, {"role": "bot", "content": "x"}, A), "sft.role_unknown", {}),
    (
        "sft-message-unknown-key",
        "sft",
        _msgs({"role": "user", "contents": "Hi"}, A),
        "sft.message_unknown_key",
        {},
    ),
    ("sft-user-no-content", "sft", _msgs({"role": "user"}, A), "sft.content_missing", {}),
    ("sft-content-number", "sft", _msgs({"role": "user", "content": 42}, A), "sft.content_invalid", {}),
    ("sft-content-empty-list", "sft", _msgs({"role": "user", "content": []}, A), "sft.content_invalid", {}),
    (
        "sft-audio-part",
        "sft",
        _msgs({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}, A),
        "sft.content_part_invalid",
        {},
    ),
    (
        "sft-text-part-no-text",
        "sft",
        _msgs({"role": "user", "content": [{"type": "text"}]}, A),
        "sft.content_part_invalid",
        {},
    ),
    (
        "sft-image-in-assistant",
        "sft",
        _msgs(U, {"role": "assistant", "content": [IMAGE]}),
        "sft.image_not_allowed",
        {},
    ),
    (
        "sft-image-bad-url",
        "sft",
        _msgs({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}, A),
        "sft.image_url_invalid",
        {},
    ),
    (
        "sft-image-no-vision-model",
        "sft",
        _msgs({"role": "user", "content": [IMAGE]}, A),
        "sft.image_unsupported_model",
        {"model": "gpt-4.1-mini"},
    ),
    ("sft-assistant-empty", "sft", _msgs(U, {"role": "assistant"}), "sft.content_missing", {}),
    (
        "sft-tool-call-no-id",
        "sft",
        _msgs(U, {"role": "assistant", "tool_calls": [{"type": "function", "function": CALL["function"]}]}),
        "sft.tool_calls_invalid",
        {},
    ),
    (
        "sft-tool-call-dict-arguments",
        "sft",
        _msgs(
            U,
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"q": 1}}}
                ],
            },
        ),
        "sft.tool_calls_invalid",
        {},
    ),
    (
        "sft-tool-no-call-id",
        "sft",
        _msgs(U, {"role": "assistant", "tool_calls": [CALL]}, {"role": "tool", "content": "42"}, A),
        "sft.tool_call_id_missing",
        {},
    ),
    (
        "sft-tool-unknown-call-id",
        "sft",
        _msgs(
            U,
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_2", "content": "42"},
            A,
        ),
        "sft.tool_call_id_unknown",
        {},
    ),
    ("sft-tools-not-list", "sft", _msgs(U, A, tools=TOOL), "sft.tools_invalid", {}),
    (
        "sft-tool-bad-name",
        "sft",
        _msgs(U, A, tools=[{"type": "function", "function": {"name": "look up!"}}]),
        "sft.tools_invalid",
        {},
    ),
    ("sft-functions-empty", "sft", _msgs(U, A, functions=[]), "sft.functions_invalid", {}),
    (
        "sft-parallel-not-bool",
        "sft",
        _msgs(U, A, parallel_tool_calls="yes"),
        "sft.parallel_tool_calls_invalid",
        {},
    ),
    ("sft-weight-two", "sft", _msgs(U, {**A, "weight": 2}), "sft.weight_invalid", {}),
    ("sft-weight-string", "sft", _msgs(U, {**A, "weight": "1"}), "sft.weight_invalid", {}),
    ("sft-weight-on-user", "sft", _msgs({**U, "weight": 1}, A), "sft.weight_not_assistant", {}),
    (
        "sft-no-assistant",
        "sft",
        _msgs({"role": "system", "content": "Be nice."}, U),
        "sft.assistant_missing",
        {},
    ),
    ("sft-all-weight-zero", "sft", _msgs(U, {**A, "weight": 0}), "sft.no_trainable_assistant", {}),
    ("sft-ends-with-user", "sft", _msgs(U, A, U), "sft.last_not_assistant", {}),
    ("sft-name-number", "sft", _msgs({**U, "name": 7}, A), "sft.name_invalid", {}),
    (
        "sft-function-call-no-args",
        "sft",
        _msgs(U, {"role": "assistant", "function_call": {"name": "f"}}),
        "sft.function_call_invalid",
        {},
    ),
    (
        "sft-weight-three-gpt-4o",
        "sft",
        _msgs(U, {**A, "weight": 3}),
        "sft.weight_invalid",
        {"model": "gpt-4o"},
    ),
    # -- DPO ------------------------------------------------------------------------------------
    ("dpo-no-input", "dpo", _dpo(input=None), "dpo.input_missing", {}),
    ("dpo-input-string", "dpo", _dpo(input="Hi"), "dpo.input_invalid", {}),
    (
        "dpo-input-unknown-key",
        "dpo",
        _dpo(input={"messages": [U], "prompt": "x"}),
        "dpo.input_unknown_key",
        {},
    ),
    ("dpo-input-no-messages", "dpo", _dpo(input={}), "dpo.messages_missing", {}),
    (
        "dpo-input-bad-role",
        "dpo",
        _dpo(input={"messages": [{"role": "human", "content": "Hi"}]}),
        "dpo.role_unknown",
        {},
    ),
    ("dpo-no-preferred", "dpo", _dpo(preferred_output=None), "dpo.preferred_output_missing", {}),
    ("dpo-no-non-preferred", "dpo", _dpo(non_preferred_output=None), "dpo.non_preferred_output_missing", {}),
    ("dpo-two-preferred", "dpo", _dpo(preferred_output=[A, A]), "dpo.output_invalid", {}),
    ("dpo-preferred-object", "dpo", _dpo(preferred_output=A), "dpo.output_invalid", {}),
    ("dpo-preferred-user-role", "dpo", _dpo(preferred_output=[U]), "dpo.output_role", {}),
    (
        "dpo-preferred-empty",
        "dpo",
        _dpo(preferred_output=[{"role": "assistant", "content": "  "}]),
        "dpo.output_empty",
        {},
    ),
    (
        "dpo-identical",
        "dpo",
        _dpo(preferred_output=[A], non_preferred_output=[dict(A)]),
        "dpo.identical_outputs",
        {},
    ),
    ("dpo-unknown-key", "dpo", _dpo(chosen="x"), "dpo.unknown_key", {}),
    (
        "dpo-weight-invalid",
        "dpo",
        _dpo(input={"messages": [U, {**A, "weight": 5}, U]}),
        "dpo.weight_invalid",
        {},
    ),
    # -- reinforcement --------------------------------------------------------------------------
    ("rft-no-messages", "rft", line({"answer": "4"}), "rft.messages_missing", {}),
    ("rft-ends-with-assistant", "rft", _msgs(U, A, answer="4"), "rft.last_not_user", {}),
    (
        "rft-function-role",
        "rft",
        _msgs({"role": "function", "name": "f", "content": "x"}, U),
        "rft.role_unknown",
        {},
    ),
    (
        "rft-tools-invalid",
        "rft",
        _msgs(U, tools=[{"type": "web_search"}], answer="1"),
        "rft.tools_invalid",
        {},
    ),
    (
        "rft-content-invalid",
        "rft",
        _msgs({"role": "user", "content": {"text": "Hi"}}),
        "rft.content_invalid",
        {},
    ),
    (
        "rft-tool-call-unknown",
        "rft",
        _msgs(U, {"role": "tool", "tool_call_id": "nope", "content": "1"}, U),
        "rft.tool_call_id_unknown",
        {},
    ),
    (
        "rft-grader-field-missing",
        "rft",
        _msgs({"role": "user", "content": "Compute 1 * 2."}),
        "rft.grader_field_missing",
        {
            "grader": {
                "type": "string_check",
                "name": "g",
                "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}",
                "operation": "eq",
            }
        },
    ),
    (
        "rft-example-too-long-strict",
        "rft",
        _msgs({"role": "user", "content": "word " * 70_000}),
        "tokens.example_too_long",
        {"strict": True, "model": "o4-mini"},
    ),
]


def test_corpus_is_large_and_distinct() -> None:
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)
    assert len({case[2] for case in CASES}) == len(CASES)
    assert {case[1] for case in CASES} == {"sft", "dpo", "rft"}


@pytest.mark.parametrize(("case", "method", "bad", "code", "options"), CASES, ids=[c[0] for c in CASES])
def test_bad_line_rejected_with_line_and_code(
    tmp_path: Path, case: str, method: str, bad: str | bytes, code: str, options: dict[str, Any]
) -> None:
    lines: list[str | bytes] = [line(GOOD[method](i)) for i in range(12)]
    lines.insert(BAD_LINE - 1, bad)
    path = write_lines(tmp_path / f"{case}.jsonl", lines)

    report = validate_file(path, method, **options)

    assert not report.valid
    found = {(issue.line, issue.code) for issue in report.errors}
    assert (BAD_LINE, code) in found, report.to_text()
    # Only the bad line is blamed: the valid lines around it raise nothing.
    assert {issue.line for issue in report.errors} == {BAD_LINE}, report.to_text()
    for issue in report.errors:
        assert issue.message and issue.code.split(".")[0] in {"file", method, "tokens", "rft"}
    with pytest.raises(Exception) as raised:
        report.raise_for_errors()
    assert f"line {BAD_LINE}" in str(raised.value.report.to_text())  # type: ignore[attr-defined]


def test_the_same_example_rejected_as_a_warning_without_strict(tmp_path: Path) -> None:
    lines = [line(GOOD["rft"](i)) for i in range(12)]
    lines.insert(3, _msgs({"role": "user", "content": "word " * 70_000}))
    report = validate_file(write_lines(tmp_path / "long.jsonl", lines), "rft", model="o4-mini")
    assert report.valid
    assert [(w.line, w.code) for w in report.warnings] == [(4, "tokens.example_too_long")]
    assert "65,536" in report.warnings[0].message
    assert report.tokens is not None and report.tokens.over_limit == 1


def test_every_problem_is_listed_not_just_the_first(tmp_path: Path) -> None:
    lines = [line(GOOD["sft"](i)) for i in range(12)]
    lines[2] = _msgs({"role": "bot", "content": "x"}, {**A, "weight": 7})
    lines[8] = "[not, json"
    lines[10] = line({"messages": [U, A], "extra": 1})
    report = validate_file(write_lines(tmp_path / "many.jsonl", lines), "sft")
    assert {(i.line, i.code) for i in report.errors} == {
        (3, "sft.role_unknown"),
        (3, "sft.weight_invalid"),
        (9, "file.invalid_json"),
        (11, "sft.unknown_key"),
    }


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    lines = [line(GOOD["sft"](i)) for i in range(12)]
    lines[0] = _msgs(U, A, prompt="p", completion="c")
    report = validate_file(write_lines(tmp_path / "keys.jsonl", lines), "sft")
    (issue,) = report.errors
    assert "'prompt'" in issue.message and "'completion'" in issue.message


# -- file-level rules ------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    report = validate_file(path, "sft")
    assert [(i.line, i.code) for i in report.errors] == [(None, "file.empty")]
    assert report.examples == 0 and report.tokens is None


def test_only_blank_lines_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n  \r\n\t\n")
    report = validate_file(path)
    assert "file.empty" in {i.code for i in report.errors}


def test_too_few_examples(tmp_path: Path) -> None:
    report = validate_file(good_file(tmp_path / "nine.jsonl", "dpo", n=9), "dpo")
    assert [(i.line, i.code) for i in report.errors] == [(None, "file.too_few_examples")]
    assert "at least 10" in report.errors[0].message
    assert validate_file(good_file(tmp_path / "ten.jsonl", "dpo", n=10), "dpo").valid


def test_blank_lines_are_skipped_with_a_warning_and_counted_in_line_numbers(tmp_path: Path) -> None:
    lines: list[str | bytes] = [line(GOOD["sft"](i)) for i in range(12)]
    lines.insert(2, "")
    lines.insert(5, "   ")
    lines[8] = "{oops"
    report = validate_file(write_lines(tmp_path / "gaps.jsonl", lines), "sft")
    assert report.examples == 12 - 1 + 1  # 11 good lines plus the broken one
    assert [(i.line, i.code) for i in report.errors] == [(9, "file.invalid_json")]
    assert [(w.line, w.code) for w in report.warnings] == [(3, "file.blank_lines")]
    assert "2 blank line" in report.warnings[0].message


def test_method_mismatch_names_the_right_method(tmp_path: Path) -> None:
    report = validate_file(good_file(tmp_path / "prefs.jsonl", "dpo"), "sft")
    assert (1, "file.method_mismatch") in {(i.line, i.code) for i in report.errors}
    mismatch = next(i for i in report.errors if i.code == "file.method_mismatch")
    assert "--method dpo" in mismatch.message


def test_undetectable_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "items.jsonl", [line({"item": {"x": i}}) for i in range(12)])
    report = validate_file(path)
    assert [(i.line, i.code) for i in report.errors] == [(None, "file.method_undetected")]


def test_model_that_cannot_train_the_method(tmp_path: Path) -> None:
    report = validate_file(good_file(tmp_path / "sft.jsonl", "sft"), "sft", model="o4-mini")
    assert [(i.line, i.code) for i in report.errors] == [(None, "model.method_unsupported")]
    assert "gpt-4.1" in report.errors[0].message


def test_unknown_model_is_a_warning(tmp_path: Path) -> None:
    report = validate_file(good_file(tmp_path / "sft.jsonl", "sft"), "sft", model="my-llm")
    assert report.valid and [w.code for w in report.warnings] == ["model.unknown"]


def test_duplicates_are_warnings_with_both_lines(tmp_path: Path) -> None:
    lines = [line(GOOD["sft"](i)) for i in range(12)]
    lines[7] = lines[2]
    lines[10] = lines[2]
    lines[11] = lines[5]
    report = validate_file(write_lines(tmp_path / "dups.jsonl", lines), "sft")
    assert report.valid
    assert [(w.line, w.code) for w in report.warnings] == [
        (8, "data.duplicate"),
        (11, "data.duplicate"),
        (12, "data.duplicate"),
    ]
    assert "line 3" in report.warnings[0].message and "line 3" in report.warnings[1].message
    assert "line 6" in report.warnings[2].message


def test_training_validation_overlap(tmp_path: Path) -> None:
    train = good_file(tmp_path / "train.jsonl", "sft", n=12)
    valid = write_lines(tmp_path / "valid.jsonl", [line(GOOD["sft"](i)) for i in (50, 3, 51, 7)])
    report = validate_file(train, "sft", validation=valid)
    assert report.valid
    overlap = [(w.line, w.code) for w in report.warnings]
    assert overlap == [(4, "data.validation_overlap"), (8, "data.validation_overlap")]
    assert "line 2 of the validation file" in report.warnings[0].message


def test_grader_field_missing_reports_first_line_and_count(tmp_path: Path) -> None:
    rows = [GOOD["rft"](i) for i in range(12)]
    for i in (4, 6, 9):
        del rows[i]["answer"]
    path = write_lines(tmp_path / "rft.jsonl", [line(r) for r in rows])
    grader = {
        "type": "string_check",
        "name": "g",
        "input": "{{ item.answer }}",
        "reference": "{{sample.output_text}}",
        "operation": "eq",
    }
    report = validate_file(path, "rft", grader=grader)
    assert [(i.line, i.code) for i in report.errors] == [(5, "rft.grader_field_missing")]
    assert "3 of 12 rows" in report.errors[0].message and "'answer'" in report.errors[0].message


def test_output_json_grader_needs_json_response_format(tmp_path: Path) -> None:
    path = good_file(tmp_path / "rft.jsonl", "rft")
    grader = {
        "type": "string_check",
        "name": "g",
        "input": "{{sample.output_json.answer}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    report = validate_file(path, "rft", grader=grader)
    assert [(i.line, i.code) for i in report.errors] == [(None, "rft.response_format_required")]
    ok = validate_file(
        path,
        "rft",
        grader=grader,
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "a",
                "schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
            },
        },
    )
    assert ok.valid


def test_rft_system_role_is_a_warning(tmp_path: Path) -> None:
    rows = [GOOD["rft"](i) for i in range(12)]
    rows[0]["messages"].insert(0, {"role": "system", "content": "Be exact."})
    report = validate_file(write_lines(tmp_path / "rft.jsonl", [line(r) for r in rows]), "rft")
    assert report.valid and [(w.line, w.code) for w in report.warnings] == [(1, "rft.system_role")]


def test_valid_variants_are_accepted(tmp_path: Path) -> None:
    """Things a naive validator flags but the service accepts."""
    records = [
        {
            "messages": [
                {"role": "developer", "content": "Be brief."},
                U,
                {**A, "weight": 0},
                U,
                {**A, "weight": 1},
            ]
        },
        {
            "messages": [
                U,
                {"role": "assistant", "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"},
                A,
            ],
            "tools": [TOOL],
            "parallel_tool_calls": False,
        },
        {"messages": [U, {"role": "assistant", "content": None, "tool_calls": [CALL]}], "tools": [TOOL]},
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "What is it?"}, IMAGE]},
                {"role": "assistant", "content": [{"type": "text", "text": "A chart."}]},
            ]
        },
        {
            "messages": [U, {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}],
            "functions": [{"name": "f", "parameters": {"type": "object"}}],
        },
        {"messages": [U, {"role": "assistant", "content": "Sure", "name": "bot"}]},
    ]
    rows = [line(r) for r in records] + [line(GOOD["sft"](i)) for i in range(6)]
    report = validate_file(write_lines(tmp_path / "variants.jsonl", rows), "sft", model="gpt-4o")
    assert report.valid, report.to_text()
    assert report.warnings == []


def test_bom_crlf_and_missing_final_newline_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "windows.jsonl"
    rows = [line(GOOD["sft"](i)) for i in range(12)]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8"))
    report = validate_file(path)
    assert report.valid and report.examples == 12 and report.warnings == []


def test_many_errors_of_one_kind_are_capped_with_a_count(tmp_path: Path) -> None:
    from foundry_tune.dataset._issues import MAX_ISSUES_PER_CODE

    n = MAX_ISSUES_PER_CODE + 25
    path = write_lines(tmp_path / "broken.jsonl", ["{"] * n)
    report = validate_file(path, "sft")
    codes = [i.code for i in report.errors]
    assert codes.count("file.invalid_json") == MAX_ISSUES_PER_CODE + 1
    assert report.errors[-1].line is None and "25 more lines" in report.errors[-1].message
    assert json.loads(report.to_json())["examples"] == n


def test_grader_for_another_method_is_ignored_with_a_warning(tmp_path: Path) -> None:
    grader = {"type": "string_check", "input": "{{item.nope}}", "reference": "x", "operation": "eq"}
    report = validate_file(good_file(tmp_path / "s.jsonl", "sft"), "sft", grader=grader)
    assert report.valid and [(w.line, w.code) for w in report.warnings] == [(None, "grader.ignored")]


def test_impossible_epochs_leave_no_estimate_but_say_why(tmp_path: Path) -> None:
    from foundry_tune import Dataset, MethodKind

    class Method:
        kind = MethodKind.SUPERVISED
        n_epochs = 99

    report = Dataset.from_jsonl(good_file(tmp_path / "s.jsonl", "sft")).validate(Method(), model="gpt-4.1")
    assert report.valid and report.estimate is None and report.tokens is not None
    assert [w.code for w in report.warnings] == ["estimate.unavailable"]
    assert "n_epochs" in report.warnings[0].message
