"""Benchmark: `foundry-tune validate` against the cookbook's way of checking a training file.

    python benchmarks/validate.py            # generate data if needed, run both, print a table
    python benchmarks/validate.py --quick    # a 2,000-example file only (a smoke run)

It generates, deterministically and once, two supervised (chat) files into ``benchmarks/.data/``
from the official samples in ``../shared/data/foundry-samples``: ~90 MB with 20,000 examples and
one 4x larger. Every example is different: its user turn is a fresh mix of sentences drawn from
news articles, contracts, exam questions, math problems and DPO prompts of several samples, so a
cache of repeated strings cannot make the run trivial (the few system prompts do repeat, as in
real data).

Each contender runs in its own subprocess; wall time and peak RSS (``ru_maxrss`` of that child,
from ``os.wait4``) are measured from outside. A contender that starts processes of its own (the
all-cores run) also gets the sum over all of them: while it runs, a sampler thread lists its
descendants every 3 ms (``/proc/<pid>/task/<tid>/children``) and reads each one's ``VmHWM`` (the
kernel's peak resident set size) from ``/proc/<pid>/status``; the last value read before a process
exits is its peak (``VmHWM`` only grows, and the workers' memory is flat at their end). Summing
those counts the pages a forked worker shares with its parent (the interpreter, the modules, the
encoder: ~100 MB) once per process, an upper bound. The memory the processes really use together
is the main process's own peak RSS (sampled too: with descendants, ``ru_maxrss`` of ``os.wait4``
is the largest of the process and those it reaped) plus, for every other process, the largest
private memory (USS: ``Private_Clean`` + ``Private_Dirty`` of ``/proc/<pid>/smaps_rollup``)
sampled the same way, every 15 ms (reading it walks the process's page tables: every 3 ms, that
slowed the run it measured by ~0.1 s on 2 cores): each page counted once, where it lives. The
250 MB target applies to that sum.

* ``baseline``: what the popular OpenAI cookbook notebook ("Data preparation and analysis for chat
  model fine-tuning") does: ``json.loads`` every line into a list, its format checks, one
  ``encoding.encode`` call per message value with the same exact encoder (tiktoken's Rust encoder,
  loaded from local rank files), numpy statistics;
* ``foundry-tune``: the real CLI, ``foundry-tune validate PATH --method sft --model gpt-4.1-mini --json
  --workers 1``, in one process (when the CLI has no validate command yet, the library's streaming
  counter is run directly);
* ``all cores``: the same with ``--workers auto`` (the default): one process per usable core, each
  reading its part of the file.

Byte code: every contender runs as it would after ``pip install`` (which compiles the modules'
byte code): with ``PYTHONDONTWRITEBYTECODE`` removed and ``PYTHONPYCACHEPREFIX`` a private temporary
directory, after one untimed warm-up run of each contender on the small file that fills it. A
sandbox that sets ``PYTHONDONTWRITEBYTECODE=1`` would otherwise make every run compile
foundry-tune's modules from source (~40 ms each run, a cost no installed copy pays).
``--no-bytecode-cache`` runs in the environment as it is.

The run fails (exit 1) if the token totals differ, if the two foundry-tune runs print different
reports, or if a target is missed: one process at least 4x faster than the baseline and at most
150 MB peak RSS, its memory flat (within 10%) on the 4x larger file; all cores at least 6x faster
than the baseline on the 92 MB file and at most 250 MB for all its processes together (each page
counted once) on both files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "data" / "foundry-samples"
DATA = ROOT / "benchmarks" / ".data"
MODEL = "gpt-4.1-mini"
GENERATOR_VERSION = 1

SYSTEM_PROMPTS = [
    "You are a news summarization assistant. Create concise, accurate summaries that capture the key facts.",
    "You are a careful analyst. Answer with the facts from the text only.",
    "Reply to the user's request as accurately as possible.",
    "You are a legal assistant who extracts and explains the important clauses of documents.",
    "You are a medical tutor. Explain the reasoning, then give the answer.",
    "You are a helpful assistant. Keep answers short and precise.",
    "Summarize for a busy executive: three sentences at most, no speculation.",
    "You are an editor. Rewrite the key points clearly and neutrally.",
]
TASKS = [
    "Summarize this article:",
    "Summarize the following text for a general audience:",
    "What are the main points of the passage below?",
    "Read the text and write a short abstract:",
    "Extract the key facts from this document:",
    "Give a brief overview of the following:",
]


# -- data generation -------------------------------------------------------------------------

def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if 20 <= len(p.strip()) <= 1200]


def _corpus() -> tuple[list[str], list[str]]:
    """Sentences to build user turns from, and answers to build assistant turns from."""
    sentences: list[str] = []
    answers: list[str] = []
    for row in _read_jsonl(SAMPLES / "sft-cnn-dailymail" / "validation.jsonl"):
        user, assistant = row["messages"][1]["content"], row["messages"][2]["content"]
        sentences += _sentences(user.split("\n\n", 1)[-1])
        answers.append(assistant)
    for row in _read_jsonl(SAMPLES / "dpo-intel-orca" / "validation.jsonl"):
        sentences += _sentences(row["input"]["messages"][-1]["content"])
        answers.append(row["preferred_output"][0]["content"])
    for row in _read_jsonl(SAMPLES / "sample-sft-text-gsm8k" / "chat_train.jsonl"):
        sentences += _sentences(row["messages"][1]["content"])
        answers.append(row["messages"][2]["content"])
    for row in _read_jsonl(SAMPLES / "sample-rft-medmcq" / "medmcq_validation.jsonl")[:3000]:
        sentences += _sentences(row["messages"][0]["content"])
    for row in _read_jsonl(SAMPLES / "sample-rft-clause-matching" / "clause_matching_validation.jsonl"):
        sentences += _sentences(row["messages"][0]["content"])[:1500]
    return sentences, answers


def generate(path: Path, n_examples: int, seed: int = 0) -> None:
    """Write ``n_examples`` distinct supervised examples (~4.5 kB each) to ``path``."""
    sentences, answers = _corpus()
    rng = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8") as out:
        for _ in range(n_examples):
            body: list[str] = []
            size, target = 0, rng.randint(2100, 5000)
            while size < target:
                sentence = sentences[rng.randrange(len(sentences))]
                body.append(sentence)
                size += len(sentence) + 1
            summary = " ".join(answers[rng.randrange(len(answers))] for _ in range(rng.randint(1, 2)))
            example = {"messages": [
                {"role": "system", "content": rng.choice(SYSTEM_PROMPTS)},
                {"role": "user", "content": f"{rng.choice(TASKS)}\n\n" + " ".join(body)},
                {"role": "assistant", "content": summary},
            ]}
            out.write(json.dumps(example, ensure_ascii=False) + "\n")
    tmp.replace(path)


def dataset(n_examples: int) -> Path:
    """The generated file for ``n_examples`` examples (created on first use)."""
    path = DATA / f"sft-{n_examples}-v{GENERATOR_VERSION}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        generate(path, n_examples)
        print(f"generated {path.name}: {path.stat().st_size / 1e6:,.1f} MB in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


# -- the contenders ----------------------------------------------------------------------------

BASELINE = r'''
import json, sys
from collections import defaultdict
import numpy as np
from foundry_tune.dataset._encoding import tiktoken_encoding

encoding = tiktoken_encoding("o200k_base")   # tiktoken's Rust encoder; get_encoding() would download

def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):
    num_tokens = 0
    for message in messages:
        num_tokens += tokens_per_message
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))
            if key == "name":
                num_tokens += tokens_per_name
    num_tokens += 3
    return num_tokens

def num_assistant_tokens_from_messages(messages):
    num_tokens = 0
    for message in messages:
        if message["role"] == "assistant":
            num_tokens += len(encoding.encode(message["content"]))
    return num_tokens

with open(sys.argv[1], "r", encoding="utf-8") as f:
    dataset = [json.loads(line) for line in f]

format_errors = defaultdict(int)
for ex in dataset:
    if not isinstance(ex, dict):
        format_errors["data_type"] += 1
        continue
    messages = ex.get("messages", None)
    if not messages:
        format_errors["missing_messages_list"] += 1
        continue
    for message in messages:
        if "role" not in message or "content" not in message:
            format_errors["message_missing_key"] += 1
        if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
            format_errors["message_unrecognized_key"] += 1
        if message.get("role", None) not in ("system", "user", "assistant", "function"):
            format_errors["unrecognized_role"] += 1
        content = message.get("content", None)
        if (not content and not message.get("function_call", None)) or not isinstance(content, str):
            format_errors["missing_content"] += 1
    if not any(message.get("role", None) == "assistant" for message in messages):
        format_errors["example_missing_assistant_message"] += 1

n_messages, convo_lens, assistant_message_lens = [], [], []
for ex in dataset:
    messages = ex["messages"]
    n_messages.append(len(messages))
    convo_lens.append(num_tokens_from_messages(messages))
    assistant_message_lens.append(num_assistant_tokens_from_messages(messages))

stats = {}
for name, values in (("messages", n_messages), ("total", convo_lens), ("assistant", assistant_message_lens)):
    stats[name] = {"min": int(np.min(values)), "max": int(np.max(values)), "mean": float(np.mean(values)),
                   "median": float(np.median(values)), "p5": float(np.quantile(values, 0.1)),
                   "p95": float(np.quantile(values, 0.9))}
n_too_long = sum(length > 65536 for length in convo_lens)
print(json.dumps({"examples": len(dataset), "errors": dict(format_errors), "too_long": n_too_long,
                  "total_tokens": int(sum(convo_lens)), "assistant_tokens": int(sum(assistant_message_lens)),
                  "stats": stats}))
'''

# Used only while the CLI has no `validate` command: the library's counter on a streamed file.
DIRECT = r'''
import json, sys
from foundry_tune.dataset._cost import estimate_cost
from foundry_tune.dataset._accumulator import StatsAccumulator
from foundry_tune.dataset._tokens import TokenCounter

model = sys.argv[2]
counter = TokenCounter(model)
acc = StatsAccumulator.for_model(model, encoding=counter.encoding_name)

def flush(pending):
    records, lines, future = pending
    for record, line, tokens in zip(records, lines, future.result()):
        acc.add(tokens.total, tokens.assistant, len(record["messages"]), line)

pending = None
with open(sys.argv[1], "rb") as f:
    records, lines = [], []
    for number, raw in enumerate(f, 1):
        records.append(json.loads(raw))
        lines.append(number)
        if len(records) == 256:
            future = counter.count_batch_async(records, "sft")
            if pending:
                flush(pending)
            pending = (records, lines, future)
            records, lines = [], []
    if records:
        future = counter.count_batch_async(records, "sft")
        if pending:
            flush(pending)
        pending = (records, lines, future)
    if pending:
        flush(pending)
stats = acc.result()
print(json.dumps({"valid": True, "examples": stats.examples, "tokens": stats.to_dict(),
                  "estimate": estimate_cost(stats, model, "sft").to_dict()}))
'''


def _cli_has_validate() -> bool:
    try:
        import importlib

        importlib.import_module("foundry_tune.cli._validate")
    except ImportError:
        return False
    return True


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for row in status:
                if row.startswith(b"VmHWM:"):
                    return int(row.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _private_kb(pid: int) -> int | None:
    """The memory only this process uses (USS: its private clean and dirty pages), in kB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            total = 0
            for row in rollup:
                if row.startswith((b"Private_Clean:", b"Private_Dirty:")):
                    total += int(row.split()[1])
            return total
    except (OSError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
                found.extend(int(x) for x in f.read().split())
        except OSError:
            continue
    return found


PRIVATE_EVERY = 5
"""Read a descendant's private memory (USS) every this many samples (every 15 ms)."""


class DescendantPeaks:
    """Samples every descendant of a process while it runs: its peak RSS (``VmHWM``) and the
    largest private memory (USS) seen."""

    def __init__(self, pid: int, interval: float = 0.003) -> None:
        self.pid = pid
        self.interval = interval
        self.own_peak_kb = 0
        """The peak RSS of ``pid`` itself (``os.wait4``'s ``ru_maxrss`` is the largest of it and the
        descendants it reaped, on Linux)."""
        self.peaks_kb: dict[int, int] = {}
        self.private_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set():
            own = _vm_hwm_kb(self.pid)
            if own is not None and own > self.own_peak_kb:
                self.own_peak_kb = own
            todo = _children(self.pid)
            # smaps_rollup walks the process's page tables under its memory map lock: read every
            # 3 ms it costs the measured run a good part of a core (a 2-core machine), so the USS is
            # read every PRIVATE_EVERY-th sample (and on a process's first sample) only.
            deep = tick % PRIVATE_EVERY == 0
            tick += 1
            while todo:
                child = todo.pop()
                peak = _vm_hwm_kb(child)
                if peak is not None and peak > self.peaks_kb.get(child, 0):
                    self.peaks_kb[child] = peak
                if deep or child not in self.private_kb:
                    private = _private_kb(child)
                    if private is not None and private > self.private_kb.get(child, 0):
                        self.private_kb[child] = private
                todo.extend(_children(child))
            self._stop.wait(self.interval)

    def stop(self) -> tuple[dict[int, int], dict[int, int]]:
        """Stop sampling; the peak RSS and the largest USS (kB) of every descendant seen."""
        self._stop.set()
        self._thread.join()
        return self.peaks_kb, self.private_kb


_ENV: dict[str, dict[str, str]] = {}
"""``"env"``: the contenders' environment (absent: this one's), see `use_bytecode_cache`."""


def use_bytecode_cache(directory: str) -> None:
    """Run the contenders with their byte code cached in ``directory``, as an installed package's
    is (``PYTHONDONTWRITEBYTECODE`` removed)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = directory
    _ENV["env"] = env


def run(argv: list[str]) -> dict[str, Any]:
    """Run ``argv`` in a child process; its wall time, peak RSS (MB, that process's and the sum over
    it and its descendants), how many processes, and its parsed JSON output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, env=_ENV.get("env"))
        sampler = DescendantPeaks(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        descendants, private = sampler.stop()
        own_kb = sampler.own_peak_kb
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv} failed with exit code {proc.returncode}:\n{stderr[-3000:]}")
    # With descendants, wait4's ru_maxrss is the largest of the process and those it reaped: the
    # process's own peak is the one sampled (its peak is at its end, within one sample of it).
    rss_mb = own_kb / 1024 if descendants and own_kb else usage.ru_maxrss / 1024
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": rss_mb,
            "rss_sum_mb": rss_mb + sum(descendants.values()) / 1024, "processes": 1 + len(descendants),
            "used_mb": rss_mb + sum(private.values()) / 1024,
            "result": json.loads(stdout)}


def contenders(path: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "foundry_tune", "validate", str(path), "--method", "sft", "--model", MODEL,
           "--json"]
    ours = ([*cli, "--workers", "1"] if _cli_has_validate()
            else [sys.executable, "-c", DIRECT, str(path), MODEL])
    found = {"baseline": [sys.executable, "-c", BASELINE, str(path)], "foundry-tune": ours}
    if _cli_has_validate():
        found["all cores"] = [*cli, "--workers", "auto"]
    return found


def total_tokens(name: str, result: dict[str, Any]) -> int:
    return int(result["total_tokens"] if name == "baseline" else result["tokens"]["total_tokens"])


def bench(path: Path, repeat: int) -> dict[str, dict[str, Any]]:
    """Best-of-``repeat`` wall time and the largest peak RSS of each contender on ``path``."""
    results: dict[str, dict[str, Any]] = {}
    for _ in range(repeat):
        for name, argv in contenders(path).items():
            measured = run(argv)
            best = results.get(name)
            if best is None:
                results[name] = measured
            else:
                if measured["wall"] < best["wall"]:
                    best["wall"], best["cpu"] = measured["wall"], measured["cpu"]
                best["rss_mb"] = max(best["rss_mb"], measured["rss_mb"])
                best["rss_sum_mb"] = max(best["rss_sum_mb"], measured["rss_sum_mb"])
                best["used_mb"] = max(best["used_mb"], measured["used_mb"])
                best["processes"] = max(best["processes"], measured["processes"])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 2,000-example file only")
    parser.add_argument("--repeat", type=int, default=2, help="runs per contender (best wall time counts)")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="run the contenders in this environment as it is (see 'Byte code' above)")
    args = parser.parse_args()
    if not SAMPLES.is_dir():
        print(f"the shared samples are missing ({SAMPLES})", file=sys.stderr)
        return 2
    if args.no_bytecode_cache:
        return _main(args)
    with tempfile.TemporaryDirectory(prefix="validate-bench-pyc-") as cache:
        use_bytecode_cache(cache)
        for argv in contenders(dataset(2_000)).values():  # untimed: fills the byte code cache
            run(argv)
        return _main(args)


def _main(args: argparse.Namespace) -> int:

    sizes = [2_000] if args.quick else [20_000, 80_000]
    load_before = os.getloadavg()[0]
    failures: list[str] = []
    table = []
    peaks: list[float] = []
    peak_sums: list[float] = []
    for n in sizes:
        path = dataset(n)
        results = bench(path, args.repeat if n == sizes[0] else 1)
        base, ours = results["baseline"], results["foundry-tune"]
        every = results.get("all cores")
        tokens_base = total_tokens("baseline", base["result"])
        tokens_ours = total_tokens("foundry-tune", ours["result"])
        speedup = base["wall"] / ours["wall"]
        size_mb = path.stat().st_size / 1e6
        row = (f"| {n:,} | {size_mb:,.1f} MB | {base['wall']:.2f} s ({base['cpu']:.1f} s CPU) "
               f"| {ours['wall']:.2f} s ({ours['cpu']:.1f} s CPU) | {speedup:.1f}x ")
        if every is not None:
            speedup_all = base["wall"] / every["wall"]
            processes = f"{every['processes']} process" + ("es" if every["processes"] > 1 else "")
            row += (f"| {every['wall']:.2f} s ({processes}) | {speedup_all:.1f}x "
                    f"| {ours['wall'] / every['wall']:.2f}x ")
        row += f"| {base['rss_mb']:,.0f} MB | {ours['rss_mb']:,.0f} MB "
        if every is not None:
            row += (f"| {every['used_mb']:,.0f} MB ({every['rss_mb']:,.0f} MB main; sum of peak RSS "
                    f"{every['rss_sum_mb']:,.0f} MB) ")
        table.append(row + f"| {tokens_ours:,} |")
        peaks.append(ours["rss_mb"])
        if tokens_base != tokens_ours:
            failures.append(
                f"{path.name}: token totals differ: baseline {tokens_base:,}, foundry-tune {tokens_ours:,}"
            )
        if speedup < 4:
            failures.append(f"{path.name}: only {speedup:.2f}x faster than the baseline (target 4x)")
        if ours["rss_mb"] > 150:
            failures.append(f"{path.name}: peak RSS {ours['rss_mb']:.0f} MB (target <= 150 MB)")
        if every is not None:
            peak_sums.append(every["used_mb"])
            if every["result"] != ours["result"]:
                failures.append(f"{path.name}: --workers auto and --workers 1 print different reports")
            if n == 20_000 and speedup_all < 6:
                failures.append(f"{path.name}: all cores only {speedup_all:.2f}x faster than the baseline "
                                "(target 6x)")
            if every["used_mb"] > 250:
                failures.append(f"{path.name}: all cores use {every['used_mb']:.0f} MB together "
                                "(target <= 250 MB)")
    if len(peaks) > 1 and peaks[-1] > peaks[0] * 1.10:
        failures.append(f"memory grows with the file: {peaks[0]:.0f} MB -> {peaks[-1]:.0f} MB")
    # All cores: the bound (checked on each file) is what stays flat. A forked worker's own memory
    # grows a little with the time it runs (it writes to more of the pages it shares with the main
    # process, which the kernel then copies), at most up to the main process's size.

    mode = "foundry-tune validate --json" if _cli_has_validate() else "library counter (no CLI validate yet)"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"contender: {mode}; machine: {os.cpu_count()} CPUs ({cores} usable), Python "
          f"{sys.version.split()[0]}, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} "
          f"after; byte code {'cached, as installed' if _ENV else 'as the environment has it'} "
          f"(PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')})")
    if _cli_has_validate():
        print("| examples | file | baseline wall | foundry-tune wall (1 process) | speedup | all cores wall "
              "| speedup | vs 1 process | baseline peak RSS | foundry-tune peak RSS "
              "| all cores memory (all processes together) | tokens |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    else:
        print("| examples | file | baseline wall | foundry-tune wall | speedup | baseline peak RSS "
              "| foundry-tune peak RSS | tokens |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(table))
    if len(peak_sums) > 1:
        print(f"all cores, all processes together: {peak_sums[0]:.0f} MB on the first file, "
              f"{peak_sums[-1]:.0f} MB on the last")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
