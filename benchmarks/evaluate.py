"""Benchmark: `foundry_tune.evaluate` against the hand-written evaluation loop users write today.

    python benchmarks/evaluate.py            # 400 held-out examples, two targets
    python benchmarks/evaluate.py --quick    # 80 examples (a smoke run)

Both run on the local emulator over real HTTP (with a fixed 50 ms service latency injected by a
thin delay in the completer, standing in for a real model's time to answer), on the same
examples, base model and tuned deployment:

* ``baseline``: the cookbook's loop: for each row, one ``chat.completions.create`` per model,
  one after the other, then exact match by hand;
* ``foundry-tune``: ``evaluate(..., concurrency=8)`` with exact match, ROUGE-L and BLEU, the
  confidence intervals and the paired tests.

It also times the statistics alone (3 continuous metrics, 2 targets, 3 paired sign-flip tests) on
500 examples, the largest sample whose interval is bootstrapped, and on 10,000 (normal interval,
Monte-Carlo sign-flip test).
The run fails (exit 1) if a target is missed: ``evaluate`` at least 4x faster than the loop, the
same exact-match scores as the loop, and the statistics in under 5 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LATENCY = 0.05


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    from tests._eval_data import rows

    return rows(n, seed=seed)


def _baseline(ft: Any, models: list[str], data: list[dict[str, Any]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for model in models:
        right = 0
        for row in data:
            time.sleep(LATENCY)
            answer = ft.openai.chat.completions.create(model=model, messages=row["messages"][:-1])
            right += (answer.choices[0].message.content or "").strip() == row["messages"][-1]["content"]
        scores[model] = right / len(data)
    return scores


def _time_statistics(size: int) -> float:
    from foundry_tune.evaluation._stats import estimate, paired_difference

    values = [(i * 7919 % 1000) / 1000 for i in range(size)]
    shifted = [min(1.0, v + 0.05) for v in values]
    started = time.perf_counter()
    for _ in range(3):
        estimate(values, binary=False)
        estimate(shifted, binary=False)
        paired_difference(values, shifted, binary=False)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 80 if args.quick else 400

    from foundry_tune import Foundry, Target, evaluate
    from foundry_tune.dataset import Dataset
    from foundry_tune.evaluation import FoundryCompleter

    failures = []
    options = {"job_duration": 0.5, "deployment_ready_delay": 0.1, "deployment_provision_delay": 0.1}
    with Foundry.emulator(**options) as ft:
        train = Dataset.from_records(_rows(90, seed=11), name="bench-train.jsonl")
        job = ft.fine_tune("gpt-4.1-mini").train_on(train).training_type("GlobalStandard").start()
        job.wait(progress=False)
        with job.deploy() as deployment:
            held_out = _rows(n, seed=99)
            models = ["gpt-4.1-mini", deployment.name]

            started = time.perf_counter()
            loop_scores = _baseline(ft, models, held_out)
            loop_seconds = time.perf_counter() - started

            completer = FoundryCompleter(ft)

            def slow(target: Any, messages: list[dict[str, Any]]) -> Any:
                time.sleep(LATENCY)
                return completer(target, messages)

            started = time.perf_counter()
            report = evaluate({"base": Target(models[0]), "tuned": deployment}, held_out,
                              ["exact_match", "rouge_l", "bleu"], foundry=ft, concurrency=8,
                              completer=slow, progress=False)
            eval_seconds = time.perf_counter() - started

    same = [report["base"].scores["exact_match"].mean, report["tuned"].scores["exact_match"].mean] == [
        loop_scores[models[0]], loop_scores[models[1]]]
    stats_seconds = {size: _time_statistics(size) for size in (500, 10_000)}

    speedup = loop_seconds / eval_seconds
    print(f"| {n} examples x 2 targets | hand-written loop | foundry-tune evaluate |")
    print("|---|---|---|")
    print(f"| wall time | {loop_seconds:.1f} s | {eval_seconds:.1f} s ({speedup:.1f}x faster) |")
    base_em, tuned_em = (report[t].scores["exact_match"].mean for t in ("base", "tuned"))
    print(f"| exact match base / tuned | {loop_scores[models[0]]:.2f} / {loop_scores[models[1]]:.2f} | "
          f"{base_em:.2f} / {tuned_em:.2f} |")
    print("| also computed | - | ROUGE-L, BLEU, 95% intervals, paired tests, tokens, latency, cost |")
    for size, seconds in stats_seconds.items():
        print(f"statistics on {size:,} examples (3 continuous metrics x 2 targets + 3 paired tests): "
              f"{seconds:.2f} s")
    if speedup < 4:
        failures.append(f"evaluate is only {speedup:.1f}x faster than the loop (target 4x)")
    if not same:
        failures.append("evaluate's exact-match scores differ from the loop's")
    if max(stats_seconds.values()) > 5:
        failures.append(f"statistics took {max(stats_seconds.values()):.1f} s (target 5 s)")
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
