"""evaluate() with an in-process completer: prompts, concurrency, failures, interruption, the report."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from foundry_tune.errors import ConfigurationError, InvalidParameterError, ServiceError
from foundry_tune.evaluation import Completion, EvaluationReport, PromptTemplate, Target, evaluate
from foundry_tune.evaluation._examples import Message

ROWS = [
    {"messages": [{"role": "system", "content": "Classify."},
                  {"role": "user", "content": f"ticket {i}"},
                  {"role": "assistant", "content": "billing" if i % 2 else "shipping"}]}
    for i in range(20)
]
LONG_SYSTEM = "You are a support triage assistant. " * 20


class Scripted:
    """Answers right for the tuned model, right on a few examples for the base one."""

    def __init__(self, delay: float = 0.0, fail_lines: frozenset[int] = frozenset()) -> None:
        self.delay = delay
        self.fail_lines = fail_lines
        self.seen: list[tuple[str, list[Message]]] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def __call__(self, target: Target, messages: list[Message]) -> Completion:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.seen.append((target.model, messages))
        try:
            time.sleep(self.delay)
            number = int(messages[-1]["content"].split()[-1])
            if number in self.fail_lines:
                raise ServiceError("overloaded", status=503)
            right = "billing" if number % 2 else "shipping"
            tuned = ".ft-" in target.model
            text = right if tuned or number < 4 else "I think this is about an account."
            prompt = sum(len(str(m["content"]).split()) for m in messages)
            return Completion(text, prompt, len(text.split()), 0.01 * (number + 1))
        finally:
            with self.lock:
                self.active -= 1


def targets() -> dict[str, Target]:
    return {
        "base model": Target("gpt-4.1-mini", system=LONG_SYSTEM, few_shot=[("ticket 100", "shipping")]),
        "fine-tuned model": Target("gpt-4.1-mini-2025-04-14.ft-abc123"),
    }


def test_prompts_metrics_and_table() -> None:
    scripted = Scripted()
    report = evaluate(targets(), ROWS, ["exact_match", "rouge_l"], completer=scripted, progress=False)
    base_prompts = [m for model, m in scripted.seen if model == "gpt-4.1-mini"]
    tuned_prompts = [m for model, m in scripted.seen if ".ft-" in model]
    assert len(base_prompts) == len(tuned_prompts) == 20
    assert base_prompts[0][0] == {"role": "system", "content": LONG_SYSTEM}
    assert base_prompts[0][1:3] == [{"role": "user", "content": "ticket 100"},
                                    {"role": "assistant", "content": "shipping"}]
    assert all(m[-1]["role"] == "user" for m in base_prompts)
    assert sorted(m[1]["content"] for m in tuned_prompts) == sorted(r["messages"][1]["content"] for r in ROWS)
    assert all(len(m) == 2 and m[0]["content"] == "Classify." for m in tuned_prompts)

    base, tuned = report["base model"], report["fine-tuned model"]
    assert base.scores["exact_match"].mean == pytest.approx(4 / 20)
    assert tuned.scores["exact_match"].mean == 1.0
    assert base.tuned is False and tuned.tuned is True
    assert tuned.prompt_tokens is not None and base.prompt_tokens is not None
    assert tuned.prompt_tokens < base.prompt_tokens / 10
    comparison = report.compare()["exact_match"]
    assert comparison.test == "mcnemar-exact"
    assert comparison.difference == pytest.approx(16 / 20)
    assert comparison.p_value == pytest.approx(2 / 2**16)  # 16 discordant pairs, all one way

    text = report.to_text()
    header = text.splitlines()[0]
    columns = [c.strip() for c in header.split(" | ")]
    assert columns == ["metric", "base model", "fine-tuned model", "difference"]
    assert "20.0% [" in text and "100.0% [" in text and "+80.0 pts (p<0.001, McNemar)" in text
    assert "cost per 1k requests (USD)" in text
    assert "<table>" in report._repr_html_() and "fine-tuned model" in report._repr_html_()


def test_cost_uses_base_and_tuned_prices() -> None:
    report = evaluate(targets(), ROWS, "exact_match", completer=Scripted(), progress=False)
    base, tuned = report["base model"], report["fine-tuned model"]
    assert base.cost is not None and tuned.cost is not None
    # gpt-4.1-mini: base 0.40 / 1.60, tuned 0.80 / 3.20 USD per 1M tokens.
    assert base.cost.per_request == pytest.approx(
        (base.prompt_tokens * 0.40 + base.completion_tokens * 1.60) / 1e6)  # type: ignore[operator]
    assert tuned.cost.per_request == pytest.approx(
        (tuned.prompt_tokens * 0.80 + tuned.completion_tokens * 3.20) / 1e6)  # type: ignore[operator]


def test_dict_json_and_pandas_forms() -> None:
    report = evaluate(targets(), ROWS, ["exact_match", "rouge_l"], completer=Scripted(), progress=False)
    data = json.loads(report.to_json())
    assert data["examples"] == 20 and [m["name"] for m in data["metrics"]] == ["exact_match", "rouge_l"]
    assert data["targets"][1]["scores"]["exact_match"]["mean"] == 1.0
    assert {c["metric"] for c in data["comparisons"]} == {"exact_match", "rouge_l"}
    pd = pytest.importorskip("pandas")
    frame = report.to_pandas()
    assert list(frame.columns) == ["base model", "fine-tuned model"]
    assert frame.loc["exact_match", "fine-tuned model"] == 1.0
    samples = report.to_pandas(samples=True)
    assert isinstance(samples, pd.DataFrame) and len(samples) == 40


def test_plot_saves_a_chart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    report = evaluate(targets(), ROWS[:6], ["exact_match", "rouge_l"], completer=Scripted(), progress=False)
    ax = report.plot(path=str(tmp_path / "eval.png"))
    assert (tmp_path / "eval.png").stat().st_size > 1000
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["base model", "fine-tuned model"]


def test_concurrency_is_bounded() -> None:
    scripted = Scripted(delay=0.02)
    evaluate(targets(), ROWS, "exact_match", completer=scripted, concurrency=3, progress=False)
    assert scripted.max_active == 3


def test_failed_requests_are_counted_not_scored() -> None:
    report = evaluate(targets(), ROWS, "exact_match", completer=Scripted(fail_lines=frozenset({5, 7})),
                      progress=False)
    tuned = report["fine-tuned model"]
    assert (tuned.answered, tuned.failed) == (18, 2)
    assert tuned.scores["exact_match"].n == 18
    failed = [s for s in tuned.samples if s is not None and s.error]
    assert all("overloaded" in (s.error or "") for s in failed)
    assert report.compare()["exact_match"].n == 18
    assert "18 / 2" in report.to_text()
    assert "fine-tuned model: 2 requests failed (first error: overloaded" in report.to_text()


def test_scoring_errors_are_reported_not_hidden() -> None:
    def picky(output: str, reference: str) -> bool:
        if output != reference:
            raise ValueError("cannot judge this answer")
        return True

    report = evaluate(targets(), ROWS, ["exact_match", picky], completer=Scripted(), progress=False)
    base = report["base model"]
    assert base.scores["picky"].n == 4 and base.scoring_errors["picky"][0] == 16
    expected = "base model: 16 answers not scored by picky (first error: ValueError: cannot judge"
    assert expected in report.to_text()
    assert report.to_dict()["targets"][0]["scoring_errors"]["picky"]["count"] == 16


def test_interrupt_keeps_partial_results() -> None:
    def stop_after_ten(update: object) -> None:
        if getattr(update, "done", 0) == 10:
            raise KeyboardInterrupt

    report = evaluate(targets(), ROWS, "exact_match", completer=Scripted(delay=0.005), concurrency=2,
                      progress=stop_after_ten)
    assert report.interrupted
    answered = sum(t.answered for t in report.targets)
    assert 10 <= answered < 40
    assert "Interrupted: partial results." in report.to_text()


def test_progress_callback_sees_every_request() -> None:
    updates: list[int] = []
    evaluate(targets(), ROWS[:5], "exact_match", completer=Scripted(),
             progress=lambda u: updates.append(u.done))
    assert updates[0] == 0 and updates[-1] == 10 and sorted(updates) == updates


def test_checks_before_any_request() -> None:
    scripted = Scripted()
    rft_rows = [{"messages": [{"role": "user", "content": "ticket 1"}]}] * 3
    with pytest.raises(InvalidParameterError, match="line 1: metric 'exact_match' needs a reference"):
        evaluate(targets(), rft_rows, "exact_match", completer=scripted)
    with pytest.raises(InvalidParameterError, match="labelled 'x'"):
        evaluate([Target("a", name="x"), Target("b", name="x")], ROWS, completer=scripted)
    with pytest.raises(InvalidParameterError, match="concurrency"):
        evaluate(targets(), ROWS, completer=scripted, concurrency=0)
    with pytest.raises(ConfigurationError, match="needs a connection"):
        evaluate(targets(), ROWS, "exact_match")
    with pytest.raises(InvalidParameterError, match=r"uses \{missing\}"):
        evaluate({"t": Target("m", user="{missing}: {input}")}, ROWS, completer=scripted)
    assert scripted.seen == []


def test_reference_field_and_user_template_for_rft_rows() -> None:
    rows = [{"messages": [{"role": "user", "content": f"ticket {i}"}],
             "answer": "billing" if i % 2 else "shipping"} for i in range(6)]
    scripted = Scripted()
    report = evaluate({"tuned": Target("m.ft-1", prompt=PromptTemplate(user="Route ({answer}) {input}"))},
                      rows, "exact_match", completer=scripted, progress=False)
    assert report["tuned"].scores["exact_match"].mean == 1.0
    sent = {m[-1]["content"] for _, m in scripted.seen}
    assert sent >= {"Route (shipping) ticket 0", "Route (billing) ticket 1"}
    assert isinstance(report, EvaluationReport)


def test_progress_is_a_live_cell_in_a_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    shown: list[str] = []

    class Handle:
        def update(self, obj: object) -> None:
            shown.append(obj._repr_html_())  # type: ignore[attr-defined]

    class ZMQInteractiveShell:
        pass

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = ZMQInteractiveShell  # type: ignore[attr-defined]
    display = types.ModuleType("IPython.display")
    display.display = lambda obj, display_id=False: Handle()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    evaluate(targets(), ROWS[:5], "exact_match", completer=Scripted())
    assert shown and "10/10 requests, 0 failed" in shown[-1] and '<progress value="10" max="10"' in shown[-1]


def test_cli_eval_without_settings_says_what_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from foundry_tune.cli import main

    for name in ("AZURE_AI_PROJECT_ENDPOINT", "FOUNDRY_PROJECT_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "held_out.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    assert main(["eval", str(data), "--base", "gpt-4.1-mini"]) == 1
    assert "AZURE_AI_PROJECT_ENDPOINT" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.jsonl"), "--base", "gpt-4.1-mini"]) == 2
    assert main(["eval", str(data), "--base", "m", "--system", "tuned=x"]) == 2
    assert "no target labelled 'fine-tuned model'" in capsys.readouterr().err
    assert main(["eval", str(data), "--base", "m", "--metric", "accuracy"]) == 2
    assert "unknown metric 'accuracy'" in capsys.readouterr().err
