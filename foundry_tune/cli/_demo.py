"""``foundry-tune demo``: the whole workflow on the embedded emulator, in well under a minute.

The story, one numbered step each, in this order: prepare the data (generate and split it), validate
it, train (upload once, start once, follow the progress), read the metrics and save a loss plot,
deploy the tuned model, ask the base and the tuned model the same questions, compare them on the
held-out split, delete the deployment; then "done" and the list of files written. No Azure account
needed (``pip install 'foundry-tune[emulator]'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry
    from foundry_tune.dataset import Dataset
    from foundry_tune.evaluation import EvaluationReport, Target
    from foundry_tune.job import Job, Metrics

__all__ = ["register", "run_demo"]

BASE_MODEL = "gpt-4.1-mini"
STEPS = 8
METRICS = ("rouge_l", "bleu")
FEW_SHOT = 5
SAMPLING: dict[str, Any] = {"temperature": 0.0}
"""Request parameters both models get, in the questions and in the comparison."""
ANSWER_LIMIT = 480
"""Longer answers are shortened for display, at a sentence or word boundary, with "..."."""


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run the whole workflow on the local emulator (no Azure needed)",
        description=(
            "Generate a support-assistant dataset, split and validate it, fine-tune gpt-4.1-mini on "
            "the embedded Foundry emulator with live progress, save metrics and a loss plot, deploy, "
            "ask the base and the tuned model the same questions, compare them on the held-out split, "
            "and clean up. Every file it writes goes to the --out folder."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("foundry-tune-demo"),
                        help="folder for the data, its splits, the metrics CSV, the loss plot and the "
                             "evaluation report (default: ./%(default)s)")
    parser.add_argument("--examples", type=int, default=120, help="examples to generate, >= 40 (default 120)")
    parser.add_argument("--job-duration", type=float, default=15.0,
                        help="seconds the emulated training takes (default 15)")
    parser.add_argument("--plain", action="store_true", help="plain progress lines instead of a live line")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.examples < 40:
        print("foundry-tune demo: error: --examples must be at least 40", file=sys.stderr)
        return 2
    try:
        run_demo(args.out, examples=args.examples, job_duration=args.job_duration,
                 progress="plain" if args.plain else "auto")
    except KeyboardInterrupt:
        print("\ndemo interrupted; the emulator was stopped.", file=sys.stderr)
        return 130
    except FoundryTuneError as exc:
        print(f"foundry-tune demo: error: {exc}", file=sys.stderr)
        return 1
    return 0


class _Out:
    """Writes whole lines and flushes each, so that anything written to stderr in between (a
    warning, a log line) shows up where it happened, not a step early or late."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.width = max(60, min(100, shutil.get_terminal_size((100, 24)).columns))

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def wrapped(self, text: str, indent: int = 2) -> None:
        """``text`` wrapped to the terminal's width (never inside a word)."""
        self.line(textwrap.fill(text, width=self.width, subsequent_indent=" " * indent,
                                break_long_words=False, break_on_hyphens=False))

    def summary(self, text: str) -> None:
        """A "name: verdict" line; too wide, the verdict goes on its own (indented) line."""
        name, sep, verdict = text.partition(": ")
        if len(text) <= self.width or not sep:
            self.wrapped(text)
        else:
            self.line(name + ":")
            self.wrapped("  " + verdict)

    def step(self, number: int, text: str) -> None:
        self.line(f"\n[{number}/{STEPS}] {text}")


@dataclasses.dataclass(frozen=True)
class _Setup:
    """How both models are asked, in step 6 and in step 7: printed from here, used from here."""

    base: Target
    tuned: Target
    held_out: Dataset
    held_out_examples: int
    metrics: tuple[str, ...] = METRICS
    confidence: float = 0.95

    def __post_init__(self) -> None:
        # What is printed is read from the targets; the demo only prints one system prompt and one
        # sampling line, so both targets must share them.
        from foundry_tune.evaluation import PromptTemplate

        base, tuned = self.base.prompt, self.tuned.prompt
        same = self.base.params == self.tuned.params
        if not (isinstance(base, PromptTemplate) and isinstance(tuned, PromptTemplate)
                and base.system == tuned.system and not tuned.few_shot and same):
            raise ValueError("the demo's targets must share their system prompt and parameters")

    @property
    def system(self) -> str:
        return getattr(self.base.prompt, "system", None) or ""

    @property
    def few_shot(self) -> int:
        return len(getattr(self.base.prompt, "few_shot", ()))

    def lines(self) -> list[str]:
        """How both models are asked (printed in step 6)."""
        params = ", ".join(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
                           for key, value in self.base.params.items()) or "the service's defaults"
        return [
            f"  base model:    {self.base.model}",
            f"                 system prompt + {self.few_shot} few-shot examples from the training split",
            f"  tuned model:   {self.tuned.model}",
            "                 system prompt only",
            f"  sampling:      {params} (both models)",
            f'  system prompt: "{self.system}"',
        ]

    def comparison_lines(self) -> list[str]:
        """What they are compared on (printed in step 7)."""
        return [
            f"  held-out:      {self.held_out_examples} examples, {self.held_out.name}",
            f"  metrics:       {', '.join(self.metrics)} ({self.confidence:.0%} confidence intervals)",
            "  setup:         as in step 6",
        ]

    def compare(self, foundry: Foundry, completer: Any) -> EvaluationReport:
        """The comparison, with exactly this setup."""
        from foundry_tune.evaluation import evaluate

        return evaluate({self.base.name: self.base, self.tuned.name: self.tuned}, self.held_out,
                        list(self.metrics), foundry=foundry, progress=False, confidence=self.confidence,
                        completer=completer)

    def as_dict(self) -> dict[str, Any]:
        return {
            "base_model": self.base.model, "tuned_model": self.tuned.model, "system": self.system,
            "few_shot": self.few_shot, "params": dict(self.base.params), "held_out": self.held_out_examples,
            "metrics": list(self.metrics), "confidence": self.confidence,
        }


def run_demo(
    folder: Path,
    *,
    examples: int = 120,
    job_duration: float = 15.0,
    progress: str = "auto",
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Run the demo; returns what it did (job id, model, deployment, setup, files, timings) for tests."""
    from foundry_tune._demo_data import DEMO_QUESTIONS, SYSTEM_PROMPT, demo_records
    from foundry_tune.client import Foundry
    from foundry_tune.dataset import Dataset
    from foundry_tune.evaluation import FoundryCompleter, Target
    from foundry_tune.methods import Supervised

    say = _Out(out if out is not None else sys.stdout)
    started = time.monotonic()
    folder = folder.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    result: dict[str, Any] = {"folder": str(folder), "files": files}

    def wrote(path: Path, detail: str) -> None:
        files.append(path)
        say.line(f"wrote {path.name} ({detail})")

    say.line("foundry-tune demo: the whole fine-tuning workflow on a local Foundry emulator")
    say.line(f"files go to {folder}")
    with Foundry.emulator(job_duration=job_duration, deployment_ready_delay=1.0,
                          deployment_provision_delay=0.5) as ft:
        say.line(f"emulator listening at {ft.endpoint}")

        # The service wants at least 10 examples in a validation file too.
        share = max(0.1, 15 / examples)
        say.step(1, f"prepare: generate {examples} support conversations, "
                    f"split them {1 - share:.0%}/{share:.0%}")
        data = Dataset.from_records(demo_records(examples), name="trailhead-support.jsonl")
        wrote(data.to_jsonl(folder / data.name), f"{examples} examples, {data.size_bytes:,} bytes")
        train, validation = data.split(validation=share, seed=7)
        for part in (train, validation):  # the files written hold the bytes that are uploaded
            wrote(part.to_jsonl(folder / part.name), f"{_count(part)} examples, {part.size_bytes:,} bytes")

        say.step(2, f"validate both parts for supervised fine-tuning of {BASE_MODEL}")
        method = Supervised(n_epochs=2)
        reports = [train.validate(method, model=BASE_MODEL, validation=validation),
                   validation.validate(method, model=BASE_MODEL)]
        for report in reports:
            say.summary(report.summary())
        for report in reports:
            report.raise_for_errors()

        say.step(3, "train: upload once, start the job once, follow its progress")
        builder = (ft.fine_tune(BASE_MODEL).train_on(train).validate_on(validation).method(method)
                   .suffix("trailhead-support").training_type("GlobalStandard").seed(7))
        job = builder.start(on_progress=say.line)
        result["job_id"] = job.id
        job.wait(timeout=max(120.0, job_duration * 6), progress=progress, stream=say.stream)
        say.line(f"fine-tuned model: {job.fine_tuned_model}")
        result["fine_tuned_model"] = job.fine_tuned_model

        say.step(4, "metrics and loss plot")
        result.update(_save_metrics(job.metrics(), folder, job, say, wrote))

        say.step(5, "deploy the tuned model (waits until it answers)")
        with job.deploy(capacity=1) as deployment:
            result["deployment"] = deployment.name
            say.line(f"deployment {deployment.name} is ready")

            shots = [record for _, record in zip(range(FEW_SHOT), train.iter_records(), strict=False)]
            setup = _Setup(
                base=Target(BASE_MODEL, name="base model", system=SYSTEM_PROMPT, few_shot=shots,
                            params=SAMPLING),
                tuned=Target(deployment, name="fine-tuned model", system=SYSTEM_PROMPT, params=SAMPLING),
                held_out=validation, held_out_examples=_count(validation),
            )
            result["setup"] = setup.as_dict()
            completer = FoundryCompleter(ft)

            say.step(6, "ask the base model and the tuned model the same questions")
            say.line("setup (the same here and in step 7):")
            for text in setup.lines():
                say.wrapped(text, indent=17)
            result["answers"] = _ask(say, completer, setup, DEMO_QUESTIONS)

            say.step(7, "compare them on the held-out examples")
            for text in setup.comparison_lines():
                say.wrapped(text, indent=17)
            evaluation = setup.compare(ft, completer)
            say.line()
            say.line(evaluation.to_text())
            say.line()
            text_path, json_path = folder / "evaluation.txt", folder / "evaluation.json"
            text_path.write_text("\n".join(["base model vs fine-tuned model", *setup.lines(),
                                            *setup.comparison_lines()[:-1], "", evaluation.to_text(), ""]),
                                 encoding="utf-8")
            json_path.write_text(evaluation.to_json(indent=2) + "\n", encoding="utf-8")
            wrote(text_path, "the table above, with the setup")
            wrote(json_path, "scores, intervals and comparisons as JSON")
            result["evaluation"] = evaluation.to_dict()

            say.step(8, "clean up: delete the deployment (fine-tuned deployments bill by the hour)")
        say.line(f"deleted deployment {result['deployment']}")
        result["stats"] = _emulator_stats(ft)

    elapsed = time.monotonic() - started
    result["seconds"] = elapsed
    stats = result["stats"]
    say.line(f"\ndone in {elapsed:.0f} s: {stats.get('jobs', '?')} job, {stats.get('deployments', '?')} "
             "deployments left")
    say.line(f"files in {folder}:")
    for path in files:
        say.line(f"  {path.name}")
    result["files"] = [str(path) for path in files]
    return result


def _count(data: Dataset) -> int:
    return sum(1 for _ in data.iter_records())


def _ask(say: _Out, completer: Any, setup: _Setup, questions: Sequence[str]) -> list[dict[str, str]]:
    """Each question to both models, rendered by the same targets the comparison uses."""
    from foundry_tune.evaluation import Example

    answers = []
    for number, question in enumerate(questions, start=1):
        example = Example(line=number, messages=({"role": "user", "content": question},), reference=None,
                          item={})
        base = completer(setup.base, setup.base.render(example)).text
        tuned = completer(setup.tuned, setup.tuned.render(example)).text
        answers.append({"question": question, "base": base, "tuned": tuned})
        say.line()
        say.line(_labelled("Q:", question, say.width))
        say.line(_labelled("base:", shorten(base), say.width))
        say.line(_labelled("tuned:", shorten(tuned), say.width))
    return answers


def _labelled(label: str, text: str, width: int) -> str:
    indent = "  " + " " * 7
    return textwrap.fill(" ".join(text.split()), width=width, initial_indent=f"  {label:<7}",
                         subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def shorten(text: str, limit: int = ANSWER_LIMIT) -> str:
    """``text`` (whitespace collapsed) whole when it fits in ``limit`` characters; else cut after
    its last full sentence that fits (or, when that would drop more than half, after its last full
    word) and marked " ...". Never cuts inside a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 3)  # the words before this space fit with " ..."
    head = text[:cut] if cut > 0 else ""
    sentence = len(head) - 1 if head.endswith((".", "!", "?")) else max(
        head.rfind(mark) for mark in (". ", "! ", "? "))
    head = head[: sentence + 1] if sentence >= limit // 2 else head.rstrip(",;:")
    return f"{head} ..." if head else "..."


def _save_metrics(metrics: Metrics, folder: Path, job: Job, say: _Out, wrote: Any) -> dict[str, Any]:
    saved: dict[str, Any] = {"metric_rows": len(metrics)}
    first, last = (metrics[0], metrics.last) if len(metrics) else (None, None)
    if first is not None and last is not None:
        say.line(f"{len(metrics)} steps from the {metrics.source}; train loss "
                 f"{first.train_loss:.3f} -> {last.train_loss:.3f}"
                 + (f", validation loss {last.valid_loss:.3f}" if last.valid_loss is not None else ""))
    csv_path = folder / "metrics.csv"
    rows = [row.as_dict() for row in metrics]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with csv_path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(columns) + "\n")
        for row in rows:
            fh.write(",".join("" if row.get(c) is None else str(row.get(c)) for c in columns) + "\n")
    wrote(csv_path, f"{len(rows)} rows, one per step")
    saved["metrics_csv"] = str(csv_path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        say.line("no loss plot: matplotlib is not installed (pip install 'foundry-tune[plot]')")
        saved["plot"] = None
        return saved
    plot_path = folder / "loss.png"
    metrics.plot(path=plot_path, title=f"{job.id}: loss")
    wrote(plot_path, "training and validation loss per step")
    saved["plot"] = str(plot_path)
    return saved


def _emulator_stats(ft: Foundry) -> dict[str, Any]:
    import httpx

    emulator = ft.emulator_instance
    if emulator is None:
        return {}
    stats: dict[str, Any] = httpx.get(emulator.info.stats_url, timeout=10).json()
    return stats
