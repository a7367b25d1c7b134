"""One cause, one finding: a report groups the issues of one rule, and recognises another method's data
(issue 13), while ``report.errors`` and ``--json`` still name every line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _dataset_helpers import GOOD, SAMPLES, good_file, line, write_lines

from foundry_tune import DatasetValidationError, MethodKind
from foundry_tune.catalog import known_models
from foundry_tune.cli import main
from foundry_tune.dataset import IssueGroup, validate_file

DPO_SAMPLE = SAMPLES / "dpo-intel-orca" / "validation.jsonl"
VISION_SAMPLE = SAMPLES / "sample-sft-multimodal-chartqa" / "training.jsonl"
RFT_SAMPLE = SAMPLES / "rft-countdown" / "countdown_valid_50.jsonl"
SFT_SAMPLE = SAMPLES / "sample-sft-text-gsm8k" / "chat_validation.jsonl"

needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample data not available")


def _section(text: str, title: str) -> list[str]:
    """The indented lines under ``title:`` in a report's text."""
    lines = text.splitlines()
    if f"{title}:" not in lines:
        return []
    start = lines.index(f"{title}:") + 1
    section = []
    for text_line in lines[start:]:
        if not text_line.startswith("  "):
            break
        section.append(text_line)
    return section


@needs_samples
def test_a_dpo_file_validated_as_supervised_is_one_finding_that_names_dpo() -> None:
    report = validate_file(DPO_SAMPLE, "sft")
    assert report.examples == 284 and len(report.errors) == 569
    [finding] = report.groups
    assert finding.looks_like is MethodKind.DPO and finding.code == "file.method_mismatch"
    assert finding.count == 284 and finding.lines == tuple(range(1, 285))
    assert "look like DPO preference pairs (input/preferred_output/non_preferred_output)" in finding.message
    assert "method='dpo'" in finding.message and "--method dpo" in finding.message
    assert set(finding.issues) == set(report.errors)  # the finding covers every error
    assert finding.codes == ("file.method_mismatch", "sft.unknown_key", "sft.messages_missing")
    # The per-line list still names every line.
    assert {i.line for i in report.errors} == set(range(1, 285))
    errors = _section(report.to_text(), "errors")
    assert len(errors) == 2, errors  # the finding and what the lines break
    assert errors[0].startswith("  284 lines: these lines look like DPO preference pairs")
    assert "(lines 1, 2, 3, 4, 5, ...) [file.method_mismatch]" in errors[0]
    assert "569 errors (sft.unknown_key, sft.messages_missing)" in errors[1]
    # Every issue can still be printed one by one.
    assert report.to_text(limit_per_code=None).count("[sft.messages_missing]") == 284


@needs_samples
@pytest.mark.parametrize(("sample", "wrong", "looks"), [
    (RFT_SAMPLE, "sft", MethodKind.REINFORCEMENT),
    (SFT_SAMPLE, "rft", MethodKind.SUPERVISED),
    (SFT_SAMPLE, "dpo", MethodKind.SUPERVISED),
])
def test_other_methods_data_is_recognised(sample: Path, wrong: str, looks: MethodKind) -> None:
    report = validate_file(sample, wrong)
    errors = [g for g in report.groups if g.severity == "error"]
    assert [g.looks_like for g in errors] == [looks]
    assert errors[0].count == report.examples
    assert f"method='{looks.short}'" in errors[0].message
    # Warnings caused by the same shape (rft.system_role on chat data) are part of the finding.
    assert not [g for g in report.groups if g.severity == "warning"]
    assert sum(len(g.issues) for g in report.groups) == len(report.errors) + len(report.warnings)


@needs_samples
def test_images_for_a_model_without_vision_are_one_finding_naming_the_vision_models() -> None:
    report = validate_file(VISION_SAMPLE, "sft", model="gpt-4.1-mini")
    assert len(report.errors) == 100
    [finding] = report.groups
    assert (finding.code, finding.count, finding.looks_like) == ("sft.image_unsupported_model", 100, None)
    vision = [name for name, info in known_models().items() if info.vision]
    assert vision and all(name in finding.message for name in vision)
    assert "gpt-4.1-mini cannot be fine-tuned on images" in finding.message
    assert _section(report.to_text(), "errors") == [f"  {finding}"]
    assert str(finding).startswith("100 lines: messages[0] (user).content[1] is an image")
    assert validate_file(VISION_SAMPLE, "sft", model=vision[0]).valid


def test_different_causes_stay_separate(tmp_path: Path) -> None:
    rows = [line(GOOD["sft"](i)) for i in range(30)]
    for i in (3, 8, 13, 21):  # four bad weights
        rows[i] = line({"messages": [{"role": "user", "content": f"q{i}"},
                                     {"role": "assistant", "content": "a", "weight": 9}]})
    for i in (5, 6, 7):  # three unknown roles
        rows[i] = line({"messages": [{"role": "bot", "content": f"q{i}"},
                                     {"role": "assistant", "content": "a"}]})
    rows[25] = "{not json"
    report = validate_file(write_lines(tmp_path / "mixed.jsonl", rows), "sft")
    found = {(g.code, g.count, g.lines) for g in report.groups}
    assert found == {
        ("sft.weight_invalid", 4, (4, 9, 14, 22)),
        ("sft.role_unknown", 3, (6, 7, 8)),
        ("file.invalid_json", 1, (26,)),
    }
    assert all(g.looks_like is None for g in report.groups)
    errors = _section(report.to_text(), "errors")
    assert len(errors) == 3  # two grouped rules and the single line as it is
    assert any(e.startswith("  4 lines: ") and e.endswith("(lines 4, 9, 14, 22) [sft.weight_invalid]")
               for e in errors)
    assert "  line 26: " in "\n".join(errors)


def test_messages_that_differ_are_shown_as_an_example(tmp_path: Path) -> None:
    rows = [line(GOOD["sft"](i)) for i in range(12)]
    for i, role in ((2, "bot"), (4, "robot"), (6, "human")):
        rows[i] = line({"messages": [{"role": role, "content": "q"},
                                     {"role": "assistant", "content": f"a{i}"}]})
    report = validate_file(write_lines(tmp_path / "roles.jsonl", rows), "sft")
    [group] = report.groups
    assert not group.same_message
    assert str(group).startswith("3 lines, e.g. line 3: ") and "'bot'" in str(group)


def test_a_few_lines_ending_with_the_user_are_not_taken_for_reinforcement_data(tmp_path: Path) -> None:
    rows = [line(GOOD["sft"](i)) for i in range(20)]
    for i in (4, 9, 14):
        rows[i] = line({"messages": [{"role": "user", "content": f"q{i}"}]})
    report = validate_file(write_lines(tmp_path / "truncated.jsonl", rows), "sft")
    assert [(g.code, g.looks_like) for g in report.groups] == [("sft.assistant_missing", None)]
    assert report.shapes == ()


def test_preference_pairs_in_a_chat_file_are_recognised_even_when_few(tmp_path: Path) -> None:
    rows = [line(GOOD["sft"](i)) for i in range(20)]
    rows[7] = line(GOOD["dpo"](7))
    report = validate_file(write_lines(tmp_path / "one-pair.jsonl", rows), "sft")
    [finding] = report.groups
    assert finding.looks_like is MethodKind.DPO and finding.count == 1 and finding.lines == (8,)
    assert str(finding).startswith("1 line: these lines look like DPO")


def test_a_rule_broken_past_the_per_code_limit_counts_every_line(tmp_path: Path) -> None:
    rows = [line({"messages": [{"role": "user", "content": f"q{i}"},
                               {"role": "assistant", "content": "a", "weight": 9}]}) for i in range(1200)]
    report = validate_file(write_lines(tmp_path / "many.jsonl", rows), "sft")
    assert len(report.errors) == 1001  # 1,000 lines kept, then "200 more lines have this problem"
    [group] = report.groups
    assert group.count == 1200 and len(group.lines) == 1000
    assert str(group).startswith("1,200 lines: ")
    assert report.to_dict()["groups"][0]["count"] == 1200


def test_the_error_lists_findings_then_how_many_more(tmp_path: Path) -> None:
    rows = [line(GOOD["sft"](i)) for i in range(20)]
    bad = [
        {"messages": [{"role": "bot", "content": "q"}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 9}]},
        {"messages": "nope"},
        {"messages": [{"role": "user", "content": "q"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "x": 1},
        {"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}]},
    ]
    for i, record in enumerate(bad):
        rows[2 * i] = line(record)
        rows[2 * i + 1] = line(record)  # each cause twice: shown line by line
    report = validate_file(write_lines(tmp_path / "six.jsonl", rows), "sft")
    assert len({g.code for g in report.groups if g.severity == "error"}) >= 6
    with pytest.raises(DatasetValidationError) as info:
        report.raise_for_errors()
    message = str(info.value)
    assert sum(x.startswith("  line ") for x in message.splitlines()) == 5
    assert "more finding" in message and ".report.errors" in message


def test_json_keeps_every_issue_and_adds_the_findings(tmp_path: Path) -> None:
    report = validate_file(good_file(tmp_path / "prefs.jsonl", "dpo", n=15), "sft")
    data = json.loads(report.to_json())
    assert len(data["errors"]) == len(report.errors) == 31  # mismatch + 2 rules x 15 lines
    [group] = data["groups"]
    assert group["looks_like"] == "dpo" and group["count"] == 15 and group["lines"] == list(range(1, 16))
    assert group["codes"] == ["file.method_mismatch", "sft.unknown_key", "sft.messages_missing"]


def test_notebook_html_shows_findings(tmp_path: Path) -> None:
    report = validate_file(good_file(tmp_path / "prefs.jsonl", "dpo", n=15), "sft")
    page = report._repr_html_()
    assert page.count("<tr><td>") == 1 and "15 lines: lines 1, 2, 3, 4, 5, ..." in page


def test_a_hand_made_report_groups_too() -> None:
    from foundry_tune.dataset import Issue, ValidationReport

    issues = [Issue(n, "sft.role_unknown", "role 'bot'") for n in (2, 5, 9)]
    report = ValidationReport(False, "x.jsonl", MethodKind.SUPERVISED, 12, issues, [])
    expected = IssueGroup("sft.role_unknown", "error", "role 'bot'", 3, (2, 5, 9), tuple(issues))
    assert report.groups == [expected]


@needs_samples
def test_cli_prints_the_finding_and_json_lists_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DPO_SAMPLE), "--method", "sft"]) == 1
    out = capsys.readouterr().out
    assert "284 lines: these lines look like DPO preference pairs" in out
    assert "[sft.messages_missing]" not in out.replace("sft.unknown_key, sft.messages_missing", "")
    assert main(["validate", str(DPO_SAMPLE), "--method", "sft", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert len(data["errors"]) == 569 and {e["line"] for e in data["errors"]} == set(range(1, 285))
    assert [g["count"] for g in data["groups"]] == [284]
