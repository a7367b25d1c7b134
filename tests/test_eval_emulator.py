"""evaluate() end to end on the emulator: base model against the tuned deployment, over real HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundry_tune.evaluation import ProgressUpdate, Target, evaluate, metrics
from tests._eval_data import FEW_SHOT, LONG_SYSTEM, rows

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def tuned(ft: Any) -> Iterator[Any]:
    from foundry_tune.dataset import Dataset

    train = Dataset.from_records(rows(90, seed=11), name="tickets-train.jsonl")
    builder = ft.fine_tune("gpt-4.1-mini").train_on(train).training_type("GlobalStandard")
    job = builder.suffix("tickets").start()
    job.wait(timeout=120, progress=False)
    deployment = job.deploy()
    yield deployment
    deployment.delete()


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "held_out.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows(30, seed=99)), encoding="utf-8")
    return path


def test_tuned_deployment_beats_the_base_model_with_a_shorter_prompt(
        ft: Any, tuned: Any, held_out: Path) -> None:
    report = evaluate(
        {"base model": Target("gpt-4.1-mini", system=LONG_SYSTEM, few_shot=FEW_SHOT),
         "fine-tuned model": tuned},
        held_out, ["exact_match", "normalized_match", "rouge_l", "bleu"], foundry=ft, concurrency=4,
        progress=False)
    base, fine = report["base model"], report["fine-tuned model"]
    assert (base.answered, fine.answered, base.failed, fine.failed) == (30, 30, 0, 0)
    assert fine.scores["exact_match"].mean >= 0.9
    assert base.scores["exact_match"].mean == 0.0
    difference = report.compare()["exact_match"]
    assert difference.difference >= 0.9 and difference.p_value < 0.001 and difference.test == "mcnemar-exact"
    rouge = report.compare()["rouge_l"]
    assert rouge.difference > 0.5 and rouge.p_value < 0.01 and rouge.test == "sign-flip-monte-carlo"
    assert fine.prompt_tokens is not None and base.prompt_tokens is not None
    assert fine.prompt_tokens < base.prompt_tokens / 4
    assert fine.tuned and not base.tuned
    assert base.cost is not None and fine.cost is not None
    assert fine.cost.per_request < base.cost.per_request
    assert fine.latency_p50 is not None and fine.latency_p95 is not None
    assert fine.latency_p50 <= fine.latency_p95
    text = report.to_text()
    assert [c.strip() for c in text.splitlines()[0].split(" | ")] == [
        "metric", "base model", "fine-tuned model", "difference"]


def test_model_graders_run_on_the_service(ft: Any, tuned: Any, held_out: Path) -> None:
    from foundry_tune import graders

    judge = {"type": "score_model", "name": "judge", "model": "gpt-4.1-mini", "range": [0, 1],
             "input": [{"role": "user",
                        "content": "Answer: {{sample.output_text}} Expected: {{item.reference}}"}]}
    local_check = {"type": "string_check", "name": "team", "input": "{{sample.output_text}}",
                   "reference": "{{item.reference}}", "operation": "eq"}
    report = evaluate({"fine-tuned model": tuned}, held_out, [judge, local_check], foundry=ft, limit=6,
                      progress=False)
    result = report["fine-tuned model"]
    assert result.scores["judge"].n == 6 and result.scores["team"].mean >= 0.8
    for sample in result.samples:
        assert sample is not None and not sample.metric_errors
        expected = graders.run_locally(graders.load(judge), sample.output or "",
                                       {"reference": _reference(held_out, sample.line)}).score
        assert sample.scores["judge"] == pytest.approx(expected)
    assert not metrics.grader(judge).local and metrics.grader(local_check).local


def test_demo_data_tuned_model_wins_with_a_shorter_prompt(ft: Any) -> None:
    from foundry_tune._demo_data import SYSTEM_PROMPT, demo_records
    from foundry_tune.dataset import Dataset

    data = Dataset.from_records(demo_records(100), name="demo.jsonl")
    train, validation = data.split(validation=0.15, seed=7)
    job = ft.fine_tune("gpt-4.1-mini").train_on(train).training_type("GlobalStandard").suffix("demo").start()
    job.wait(timeout=120, progress=False)
    with job.deploy() as deployment:
        shots = list(train.iter_records())[:5]
        report = evaluate({"base model": Target("gpt-4.1-mini", system=SYSTEM_PROMPT, few_shot=shots),
                           "fine-tuned model": deployment},
                          validation, ["rouge_l", "bleu"], foundry=ft, progress=False)
    base, fine = report["base model"], report["fine-tuned model"]
    for name in ("rouge_l", "bleu"):
        assert fine.scores[name].low > base.scores[name].high
        assert report.compare()[name].p_value < 0.01
    assert fine.prompt_tokens is not None and base.prompt_tokens is not None
    assert fine.prompt_tokens < base.prompt_tokens / 3


def _reference(path: Path, line: int) -> str:
    row = json.loads(path.read_text(encoding="utf-8").splitlines()[line - 1])
    return str(row["messages"][-1]["content"])


def test_cli_eval_prints_the_table(ft: Any, tuned: Any, held_out: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from foundry_tune.cli import _eval, main

    monkeypatch.setattr(_eval, "_connect", lambda: contextlib.nullcontext(ft))
    system = tmp_path / "system.txt"
    system.write_text(LONG_SYSTEM, encoding="utf-8")
    code = main(["eval", str(held_out), "--base", "gpt-4.1-mini", "--tuned", tuned.name,
                 "--system", f"base=@{system}", "--metric", "exact_match", "--limit", "9", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    names = [t["name"] for t in out["targets"]]
    assert names == ["base model", "fine-tuned model"]
    tuned_result = out["targets"][1]
    assert tuned_result["model"] == tuned.name and tuned_result["tuned"] is True
    assert tuned_result["scores"]["exact_match"]["mean"] > out["targets"][0]["scores"]["exact_match"]["mean"]
    assert main(["eval", str(held_out), "--system", "base=x"]) == 2
    assert "give at least one target" in capsys.readouterr().err


def test_faults_are_retried_and_every_request_is_answered(held_out: Path) -> None:
    pytest.importorskip("starlette")
    from foundry_tune.client import Foundry, RetryPolicy

    retry = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
    updates: list[ProgressUpdate] = []
    with Foundry.emulator(fault_rate=0.3, fault_seed=4, slow_seconds=0.2, retry=retry) as faulty:
        report = evaluate({"base model": Target("gpt-4.1-mini")}, held_out, ["rouge_l"], foundry=faulty,
                          concurrency=4, progress=updates.append)
        with urllib.request.urlopen(faulty.emulator_instance.info.stats_url) as response:  # loopback only
            stats = json.loads(response.read())
    result = report["base model"]
    assert (result.answered, result.failed) == (30, 0)
    assert stats["faults"] > 0
    # the retries reach the progress (every worker thread sees the run's retry observer)
    assert updates[-1].retries > 0


def test_a_retry_shows_in_the_live_evaluation_line() -> None:
    from foundry_tune._core.retry import RetryNotice
    from foundry_tune.evaluation._progress import _StreamProgress

    out = io.StringIO()
    progress = _StreamProgress(out, live=True)
    progress.start(4)
    progress.retried(RetryNotice("chat completion", 1, 8, 2.0, "429"))
    last = out.getvalue().split("\r")[-1]
    shown = r"evaluating: 0/4 requests, 0 failed, 1 retried, [\d.]+ s  retrying in 2 s \(429\)\x1b\[K"
    assert re.fullmatch(shown, last)
    progress.advance(failed=False)
    last = out.getvalue().split("\r")[-1]
    assert re.fullmatch(r"evaluating: 1/4 requests, 0 failed, 1 retried, [\d.]+ s\x1b\[K", last)
