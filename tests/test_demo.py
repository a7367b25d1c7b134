"""``foundry-tune demo``: the README's first Quickstart command, on the embedded emulator."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from foundry_tune._demo_data import DEMO_QUESTIONS, demo_records
from foundry_tune.cli import main
from foundry_tune.cli._demo import run_demo

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def test_demo_runs_the_whole_workflow_and_cleans_up(tmp_path: Path) -> None:
    out = io.StringIO()
    started = time.monotonic()
    result = run_demo(tmp_path, examples=60, job_duration=3.0, progress="plain", out=out)
    assert time.monotonic() - started < 120
    text = out.getvalue()
    for step in range(1, 9):
        assert f"[{step}/8]" in text
    assert result["stats"]["jobs"] == 1 and result["stats"]["deployments"] == 0
    assert result["fine_tuned_model"].endswith("trailhead-support")
    assert "status running" in text  # live progress was shown

    data = tmp_path / "trailhead-support.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 60
    with (tmp_path / "metrics.csv").open(encoding="utf-8") as fh:
        metric_rows = list(csv.DictReader(fh))
    assert len(metric_rows) == result["metric_rows"] > 0
    assert float(metric_rows[-1]["train_loss"]) < float(metric_rows[0]["train_loss"])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert result["plot"] is None and "matplotlib is not installed" in text
    else:
        assert Path(result["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    trained = {row["messages"][-1]["content"] for row in rows}
    assert [a["question"] for a in result["answers"]] == list(DEMO_QUESTIONS)
    for answer in result["answers"]:
        assert answer["base"] != answer["tuned"]
        assert answer["tuned"] in trained  # the tuned model answers in the house style

    # The demo ends with the evaluation table: base model vs fine-tuned model on the held-out split.
    base, tuned = result["evaluation"]["targets"]
    assert (base["name"], tuned["name"]) == ("base model", "fine-tuned model")
    for metric in ("rouge_l", "bleu"):
        assert tuned["scores"][metric]["mean"] > base["scores"][metric]["mean"]
    assert tuned["mean_prompt_tokens"] < base["mean_prompt_tokens"]
    table = text[text.rindex("\nmetric ") + 1:].splitlines()
    header = [c.strip() for c in table[0].split(" | ")]
    assert header == ["metric", "base model", "fine-tuned model", "difference"]
    assert table[-1].endswith("confidence intervals.")


def test_demo_rejects_too_few_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--examples", "5"]) == 2
    assert "at least 40" in capsys.readouterr().err


def test_demo_data_is_valid_deterministic_and_distinct() -> None:
    from foundry_tune.dataset import Dataset
    from foundry_tune.methods import Supervised

    first = list(demo_records(120, seed=7))
    assert first == list(demo_records(120, seed=7))
    assert first != list(demo_records(120, seed=8))
    assert len({json.dumps(r, sort_keys=True) for r in first}) == 120
    report = Dataset.from_records(first).validate(Supervised(), model="gpt-4.1-mini")
    assert report.valid and not report.errors
