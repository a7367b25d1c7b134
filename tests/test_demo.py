"""``foundry-tune demo``: the README's first Quickstart command, on the embedded emulator.

One run of the demo is shared by the tests of its output: the story in order, the files it
announces, whole answers, and a comparison made with exactly the setup it prints.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from foundry_tune._demo_data import DEMO_QUESTIONS, SYSTEM_PROMPT, demo_records
from foundry_tune.cli import main
from foundry_tune.cli._demo import shorten

STORY = ["prepare", "validate", "train", "metrics", "deploy", "ask", "compare", "clean up"]


class Run:
    """What one demo run printed and returned, and every chat request it made."""

    def __init__(self, folder: Path, text: str, result: dict[str, Any],
                 requests: list[dict[str, Any]]) -> None:
        self.folder, self.text, self.result, self.requests = folder, text, result, requests
        self.lines = text.splitlines()

    def section(self, number: int) -> list[str]:
        """The lines after the heading of step ``number``, up to the next heading or "done"."""
        start = next(i for i, line in enumerate(self.lines) if line.startswith(f"[{number}/8] "))
        end = next(i for i, line in enumerate(self.lines[start + 1:], start + 1)
                   if line.startswith("[") or line.startswith("done in "))
        return self.lines[start + 1:end]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    pytest.importorskip("starlette")
    from foundry_tune.evaluation import FoundryCompleter

    requests: list[dict[str, Any]] = []
    original = FoundryCompleter.__call__

    def spy(self: Any, target: Any, messages: list[dict[str, Any]]) -> Any:
        requests.append({"name": target.name, "model": target.model, "params": dict(target.params),
                         "messages": [dict(m) for m in messages]})
        return original(self, target, messages)

    folder = tmp_path_factory.mktemp("demo") / "out"
    out = io.StringIO()
    patch = pytest.MonkeyPatch()
    patch.setattr(FoundryCompleter, "__call__", spy)
    started = time.monotonic()
    try:
        from foundry_tune.cli._demo import run_demo

        result = run_demo(folder, examples=60, job_duration=3.0, progress="plain", out=out)
    finally:
        patch.undo()
    assert time.monotonic() - started < 120
    return Run(folder, out.getvalue(), result, requests)


def unwrap(lines: list[str]) -> str:
    return " ".join(" ".join(line.split()) for line in lines)


def field(lines: list[str], name: str) -> str:
    """The value of an indented ``name:`` entry of a printed setup, continuation lines joined."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {name}:"))
    body = [lines[start].split(":", 1)[1]]
    for line in lines[start + 1:]:
        if not line.startswith(" " * 17) or not line.strip():
            break
        body.append(line)
    return unwrap(body)


@pytest.mark.emulator
@pytest.mark.slow
def test_demo_tells_its_story_in_order(run: Run) -> None:
    headings = [line for line in run.lines if re.match(r"\[\d/8\] ", line)]
    assert [h[:5] for h in headings] == [f"[{n}/8]" for n in range(1, 9)]
    for heading, word in zip(headings, STORY, strict=True):
        assert heading[6:].startswith(word), (heading, word)
    # Progress belongs to training: every line naming the job is in step 3, and it shows the job running.
    job_lines = [i for i, line in enumerate(run.lines) if run.result["job_id"] in line]
    step3, step4 = (run.lines.index(h) for h in headings[2:4])
    assert job_lines and all(step3 < i < step4 for i in job_lines)
    assert any("running" in run.lines[i] for i in job_lines)
    # The deployment is deleted in step 8, and "done" comes after everything else.
    assert any(line.startswith("deleted deployment ") for line in run.section(8))
    done = next(i for i, line in enumerate(run.lines) if line.startswith("done in "))
    assert done > run.lines.index(headings[-1])
    assert run.lines[done + 1] == f"files in {run.folder.resolve()}:"
    assert all(line.startswith("  ") for line in run.lines[done + 2:])
    assert run.result["stats"]["jobs"] == 1 and run.result["stats"]["deployments"] == 0
    assert run.result["fine_tuned_model"].endswith("trailhead-support")


@pytest.mark.emulator
@pytest.mark.slow
def test_demo_leaves_every_file_it_announces(run: Run) -> None:
    announced = [line.split()[1] for line in run.lines if line.startswith("wrote ")]
    done = next(i for i, line in enumerate(run.lines) if line.startswith("done in "))
    assert [line.strip() for line in run.lines[done + 2:]] == announced
    for name in announced:
        assert (run.folder / name).stat().st_size > 0, name
    expected = {"trailhead-support.jsonl", "trailhead-support-train.jsonl",
                "trailhead-support-validation.jsonl", "metrics.csv", "evaluation.txt", "evaluation.json"}
    assert expected <= set(announced)

    def rows(name: str) -> list[str]:
        return (run.folder / name).read_text(encoding="utf-8").splitlines()

    train, validation = rows("trailhead-support-train.jsonl"), rows("trailhead-support-validation.jsonl")
    assert len(rows("trailhead-support.jsonl")) == len(train) + len(validation) == 60
    assert len(validation) >= 10 and not set(train) & set(validation)
    with (run.folder / "metrics.csv").open(encoding="utf-8") as fh:
        metric_rows = list(csv.DictReader(fh))
    assert len(metric_rows) == run.result["metric_rows"] > 0
    assert float(metric_rows[-1]["train_loss"]) < float(metric_rows[0]["train_loss"])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert run.result["plot"] is None and "matplotlib is not installed" in run.text
    else:
        assert "loss.png" in announced
        assert (run.folder / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((run.folder / "evaluation.json").read_text(encoding="utf-8"))
    assert saved["examples"] == len(validation)
    assert saved["targets"] == json.loads(json.dumps(run.result["evaluation"]["targets"]))
    assert "metric " in (run.folder / "evaluation.txt").read_text(encoding="utf-8")


def whole_or_cut_between_words(full: str, shown: str) -> bool:
    """``shown`` is ``full``, or a start of it that ends between two words, followed by " ..."."""
    if not shown.endswith(" ..."):
        return shown == full
    head = shown[:-4]
    return full.startswith(head) and (head == "" or full[len(head)] in " ,;:")


def shown_answers(run: Run) -> list[dict[str, str]]:
    """The question and both answers as printed in step 6 (wrapped lines joined)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, list[str]] = {}
    label = ""
    for line in run.section(6):
        match = re.match(r"  (Q|base|tuned):\s+(.*)", line)
        if match:
            label = match.group(1)
            if label == "Q":
                current = {}
                blocks.append(current)  # type: ignore[arg-type]
            current[label] = [match.group(2)]
        elif label and line.startswith(" " * 9) and line.strip() and current:
            current[label].append(line)
        else:
            label = ""
    return [{key: unwrap(value) for key, value in block.items()} for block in blocks]


@pytest.mark.emulator
@pytest.mark.slow
def test_demo_shows_whole_answers(run: Run) -> None:
    shown = shown_answers(run)
    assert [block["Q"] for block in shown] == list(DEMO_QUESTIONS)
    train = (run.folder / "trailhead-support-train.jsonl").read_text(encoding="utf-8").splitlines()
    trained = {json.loads(line)["messages"][-1]["content"] for line in train}
    for block, answer in zip(shown, run.result["answers"], strict=True):
        assert answer["question"] == block["Q"]
        assert answer["base"] != answer["tuned"]
        assert answer["tuned"] in trained  # the tuned model answers in the house style
        for who in ("base", "tuned"):
            assert whole_or_cut_between_words(" ".join(answer[who].split()), block[who])
            # An answer quoting the question quotes all of it, never the first words only.
            for quoted in re.findall(r'"([^"]*)"', block[who]):
                assert quoted == block["Q"] or not block["Q"].startswith(quoted)


def test_shorten_cuts_between_words_or_sentences() -> None:
    text = ("The Nimbus rain jacket has a 3-year warranty against manufacturing defects, counted from the "
            "purchase date. Normal wear and accidental damage are not covered. Send a photo and your order "
            "number to warranty@trailhead.example and we reply within two days.")
    assert shorten(text, len(text)) == text
    assert shorten("  two\n words ", 20) == "two words"
    for limit in range(12, len(text)):
        short = shorten(text, limit)
        assert len(short) <= limit and short != text and whole_or_cut_between_words(text, short), short
    # With room for a full sentence, it ends on one.
    assert shorten(text, 170).endswith("not covered. ...")
    assert shorten("Supercalifragilistic", 10) == "..."


@pytest.mark.emulator
@pytest.mark.slow
def test_demo_compares_with_the_setup_it_prints(run: Run) -> None:
    setup = run.section(6)
    base_model, tuned_model = field(setup, "base model").split()[0], field(setup, "tuned model").split()[0]
    few_shot = re.search(r"\+ (\d+) few-shot examples", field(setup, "base model"))
    assert few_shot is not None
    shots = int(few_shot.group(1))
    assert "system prompt only" in field(setup, "tuned model")
    system = field(setup, "system prompt")
    assert system == f'"{SYSTEM_PROMPT}"'
    sampling = re.fullmatch(r"temperature (\S+) \(both models\)", field(setup, "sampling"))
    assert sampling is not None
    comparison = run.section(7)
    held_out = int(field(comparison, "held-out").split()[0])
    printed = re.fullmatch(r"(.+) \((\d+)% confidence intervals\)", field(comparison, "metrics"))
    assert printed is not None
    metrics, confidence = printed.groups()
    assert field(comparison, "setup") == "as in step 6"

    # Every request, in the questions and in the comparison, was made with that setup.
    by_name: dict[str, list[dict[str, Any]]] = {}
    for request in run.requests:
        by_name.setdefault(request["name"], []).append(request)
    assert set(by_name) == {"base model", "fine-tuned model"}
    assert {r["model"] for r in by_name["base model"]} == {base_model}
    assert {r["model"] for r in by_name["fine-tuned model"]} == {tuned_model} == {run.result["deployment"]}
    for request in run.requests:
        assert request["params"] == {"temperature": float(sampling.group(1))}
        assert request["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
        assert request["messages"][-1]["role"] == "user"
    assert {len(r["messages"]) for r in by_name["base model"]} == {2 + 2 * shots}
    assert {len(r["messages"]) for r in by_name["fine-tuned model"]} == {2}

    # The comparison used the held-out file's examples, the metrics and the confidence printed.
    lines = (run.folder / "trailhead-support-validation.jsonl").read_text(encoding="utf-8").splitlines()
    validation = [json.loads(line) for line in lines]
    held_out_questions = sorted(row["messages"][1]["content"] for row in validation)
    for requests in by_name.values():
        asked = [r["messages"][-1]["content"] for r in requests]
        assert asked[:len(DEMO_QUESTIONS)] == list(DEMO_QUESTIONS)
        assert sorted(asked[len(DEMO_QUESTIONS):]) == held_out_questions
    evaluation = run.result["evaluation"]
    assert evaluation["examples"] == held_out == len(validation)
    assert [m["name"] for m in evaluation["metrics"]] == metrics.split(", ")
    assert round(100 * evaluation["confidence"]) == int(confidence)
    assert run.result["setup"]["few_shot"] == shots

    # And the tuned model wins on it, with a shorter prompt.
    base, tuned = evaluation["targets"]
    assert (base["name"], tuned["name"]) == ("base model", "fine-tuned model")
    for metric in ("rouge_l", "bleu"):
        assert tuned["scores"][metric]["mean"] > base["scores"][metric]["mean"]
    assert tuned["mean_prompt_tokens"] < base["mean_prompt_tokens"]
    table = run.text[run.text.rindex("\nmetric ") + 1:].splitlines()
    header = [c.strip() for c in table[0].split(" | ")]
    assert header == ["metric", "base model", "fine-tuned model", "difference"]


def test_demo_rejects_too_few_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--examples", "5"]) == 2
    assert "at least 40" in capsys.readouterr().err


def test_demo_help_names_its_output_folder(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "--out OUT" in capsys.readouterr().out


def test_demo_data_is_valid_deterministic_and_distinct() -> None:
    from foundry_tune.dataset import Dataset
    from foundry_tune.methods import Supervised

    first = list(demo_records(120, seed=7))
    assert first == list(demo_records(120, seed=7))
    assert first != list(demo_records(120, seed=8))
    assert len({json.dumps(r, sort_keys=True) for r in first}) == 120
    report = Dataset.from_records(first).validate(Supervised(), model="gpt-4.1-mini")
    assert report.valid and not report.errors
    # The demo's questions are new to the model (close to training rows, never copies).
    assert not {r["messages"][1]["content"] for r in first} & set(DEMO_QUESTIONS)
