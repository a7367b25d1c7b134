"""Benchmark: ROUGE-L with the bit-parallel LCS against the dynamic-programming one it replaced.

    python benchmarks/rouge_l.py            # 800 answer pairs, plus 50 long ones (~600 words)
    python benchmarks/rouge_l.py --quick    # 200 pairs (a smoke run)

The evaluation metric ``rouge_l`` and the ``text_similarity`` grader's ``rouge_l`` are one function
(``foundry_tune.graders._metrics.rouge_l``) with a bit-parallel longest common subsequence (Hyyrö
2004: one pass of integer operations per word of the shorter text). Before the two were made one,
the evaluation used its own O(m·n) dynamic program; that program is kept here, verbatim, as the
baseline. The pairs are the assistant answers of the GSM8K sample in ``../shared/data/foundry-samples``
(worked solutions, ~50-150 words) each against a deterministic perturbation of itself (words
dropped, swapped and replaced), so the LCS is long and non-trivial, as between a model's answer and
its reference; the long pairs join 8-12 answers into ~600-word texts.

Timed (best of 5 runs, 3 for the long pairs; one process): the LCS alone and the whole metric
(``metrics.rouge_l()``, tokenization included), old and new side by side, and ``rouge-score``'s
``rougeL`` when installed.
The run fails (exit 1) if the two LCS give a different length on any pair, if the metric differs
from the old formula, or if the bit-parallel metric is not at least 2x faster on the 800 pairs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT.parent / "shared" / "data" / "foundry-samples" / "sample-sft-text-gsm8k"


def dp_lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """The evaluation's former LCS: O(len(a)·len(b)) dynamic programming, two rows."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def dp_rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 with the former LCS (and today's conventions: 0.0 when a side has no word)."""
    from foundry_tune.graders._metrics import tokenize

    cand, ref = tokenize(candidate), tokenize(reference)
    lcs = dp_lcs_length(cand, ref) if cand and ref else 0
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _answers() -> list[str]:
    answers = []
    for name in ("chat_train.jsonl", "chat_validation.jsonl"):
        for line in (SAMPLE / name).read_text(encoding="utf-8").splitlines():
            answers.append(json.loads(line)["messages"][-1]["content"])
    return answers


def _perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    out: list[str] = []
    for word in words:
        roll = rng.random()
        if roll < 0.08:
            continue  # dropped
        if roll < 0.16:
            out.append(rng.choice(words))  # replaced
        else:
            out.append(word)
        if rng.random() < 0.05 and len(out) > 1:
            out[-1], out[-2] = out[-2], out[-1]  # swapped
    return " ".join(out)


def pairs(count: int, *, long: bool = False, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    answers = _answers()
    result = []
    for _ in range(count):
        text = " ".join(rng.sample(answers, rng.randint(8, 12))) if long else rng.choice(answers)
        result.append((_perturb(text, rng), text))
    return result


def best_of(runs: int, function: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


Row = tuple[str, int, float, float, float, float, float, "float | None"]


def measure(label: str, data: list[tuple[str, str]], runs: int, failures: list[str]) -> Row:
    """Time one set of pairs, old and new side by side; note any disagreement in ``failures``."""
    from foundry_tune.evaluation import Example, metrics
    from foundry_tune.graders._metrics import lcs_length, tokenize

    metric = metrics.rouge_l()
    examples = [(candidate, Example(line=i, messages=(), reference=reference, item={}))
                for i, (candidate, reference) in enumerate(data)]
    tokens = [(tokenize(candidate), tokenize(reference)) for candidate, reference in data]
    words = sum(len(a) + len(b) for a, b in tokens) / 2 / len(tokens)
    if any(dp_lcs_length(a, b) != lcs_length(a, b) for a, b in tokens):
        failures.append(f"{label}: the two LCS disagree")
    if any(dp_rouge_l(c, e.reference or "") != metric.score(c, e) for c, e in examples):
        failures.append(f"{label}: rouge_l differs from the dynamic-programming formula")
    lcs_old = best_of(runs, lambda: [dp_lcs_length(a, b) for a, b in tokens])
    lcs_new = best_of(runs, lambda: [lcs_length(a, b) for a, b in tokens])
    metric_old = best_of(runs, lambda: [dp_rouge_l(c, e.reference or "") for c, e in examples])
    metric_new = best_of(runs, lambda: [metric.score(c, e) for c, e in examples])
    try:
        scorer = importlib.import_module("rouge_score.rouge_scorer").RougeScorer(["rougeL"])
    except ModuleNotFoundError:
        reference_time = None
    else:
        reference_time = best_of(runs, lambda: [scorer.score(r, c) for c, r in data])
    return label, len(data), words, lcs_old, lcs_new, metric_old, metric_new, reference_time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 pairs, no long pairs")
    args = parser.parse_args()
    if not SAMPLE.is_dir():
        print(f"the shared samples are missing ({SAMPLE})", file=sys.stderr)
        return 2

    failures: list[str] = []
    rows = [measure("answers", pairs(200 if args.quick else 800), 5, failures)]
    if not args.quick:
        rows.append(measure("long answers", pairs(50, long=True), 3, failures))
    speedup = rows[0][5] / rows[0][6]
    if speedup < 2:
        failures.append(f"the bit-parallel rouge_l is only {speedup:.1f}x faster on the answers")

    print(f"machine: Python {sys.version.split()[0]}; best of 5 runs (long: 3); total time per set")
    print("| pairs | count | words per text | LCS, dynamic programming | LCS, bit-parallel | speedup "
          "| rouge_l, old | rouge_l, now | speedup | rouge-score rougeL |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, count, words, lcs_old, lcs_new, metric_old, metric_new, reference_time in rows:
        shown_reference = f"{reference_time * 1e3:,.0f} ms" if reference_time is not None else "n/a"
        print(f"| {label} | {count} | {words:,.0f} | {lcs_old * 1e3:,.0f} ms | {lcs_new * 1e3:,.1f} ms "
              f"| {lcs_old / lcs_new:,.0f}x | {metric_old * 1e3:,.0f} ms | {metric_new * 1e3:,.1f} ms "
              f"| {metric_old / metric_new:,.1f}x | {shown_reference} |")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
