"""``foundry-tune demo``: the whole workflow on the embedded emulator, in about a minute.

Generate a dataset, validate it, split it, start a supervised job and watch it live, read the
metrics and save a loss plot, deploy the tuned model, compare its answers with the base model's,
and delete the deployment. No Azure account needed (``pip install 'foundry-tune[emulator]'``).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry
    from foundry_tune.evaluation import EvaluationReport
    from foundry_tune.job import Job, Metrics

__all__ = ["register", "run_demo"]

BASE_MODEL = "gpt-4.1-mini"


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run the whole workflow on the local emulator (no Azure needed)",
        description=(
            "Generate a support-assistant dataset, validate and split it, fine-tune gpt-4.1-mini on the "
            "embedded Foundry emulator with live progress, save metrics and a loss plot, deploy, compare "
            "the tuned model's answers with the base model's, and clean up."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("foundry-tune-demo"),
                        help="folder for the dataset, metrics CSV and loss plot (default: %(default)s)")
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


def _step(out: TextIO, number: int, text: str) -> None:
    out.write(f"\n[{number}/8] {text}\n")
    out.flush()


def run_demo(
    folder: Path,
    *,
    examples: int = 120,
    job_duration: float = 15.0,
    progress: str = "auto",
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Run the demo; returns what it did (job id, model, deployment, files, timings) for tests."""
    from foundry_tune._demo_data import DEMO_QUESTIONS, SYSTEM_PROMPT, demo_records
    from foundry_tune.client import Foundry
    from foundry_tune.dataset import Dataset
    from foundry_tune.methods import Supervised

    stream = out if out is not None else sys.stdout
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"folder": str(folder)}

    stream.write("foundry-tune demo: the whole fine-tuning workflow on a local Foundry emulator\n")
    with Foundry.emulator(job_duration=job_duration, deployment_ready_delay=1.0,
                          deployment_provision_delay=0.5) as ft:
        stream.write(f"emulator listening at {ft.endpoint}\n")

        _step(stream, 1, f"generate {examples} support-assistant conversations")
        data = Dataset.from_records(demo_records(examples), name="trailhead-support.jsonl")
        data_path = data.to_jsonl(folder / "trailhead-support.jsonl")
        stream.write(f"wrote {data_path} ({data.size_bytes:,} bytes)\n")

        _step(stream, 2, f"validate for supervised fine-tuning of {BASE_MODEL}")
        method = Supervised(n_epochs=2)
        report = data.validate(method, model=BASE_MODEL)
        stream.write(report.summary() + "\n")
        report.raise_for_errors()

        # The service wants at least 10 examples in a validation file too.
        share = max(0.1, 15 / examples)
        _step(stream, 3, f"split {1 - share:.0%}/{share:.0%} into training and validation data")
        train, validation = data.split(validation=share, seed=7)
        stream.write(f"{train.name}: {train.size_bytes:,} bytes, {validation.name}: "
                     f"{validation.size_bytes:,} bytes\n")

        _step(stream, 4, "upload once and start the job once")
        builder = (ft.fine_tune(BASE_MODEL).train_on(train).validate_on(validation).method(method)
                   .suffix("trailhead-support").training_type("GlobalStandard").seed(7))
        job = builder.start(on_progress=lambda line: print(line, file=stream))
        result["job_id"] = job.id
        job.wait(timeout=max(120.0, job_duration * 6), progress=progress, stream=stream)
        stream.write(f"fine-tuned model: {job.fine_tuned_model}\n")
        result["fine_tuned_model"] = job.fine_tuned_model

        _step(stream, 5, "metrics and loss plot")
        metrics = job.metrics()
        result.update(_save_metrics(metrics, folder, job, stream))

        _step(stream, 6, "deploy the tuned model (waits until it answers)")
        with job.deploy(capacity=1) as deployment:
            result["deployment"] = deployment.name
            stream.write(f"deployment {deployment.name} is ready\n")

            _step(stream, 7, "base model vs tuned model")
            answers = []
            for question in DEMO_QUESTIONS:
                base = _base_answer(ft, question, SYSTEM_PROMPT)
                tuned = deployment.chat(question, system=SYSTEM_PROMPT)
                answers.append({"question": question, "base": base, "tuned": tuned})
                stream.write(f"\nQ: {question}\n")
                stream.write(_indent("base ", base) + "\n")
                stream.write(_indent("tuned", tuned) + "\n")
            result["answers"] = answers
            evaluation = _evaluate(ft, deployment, train, validation, SYSTEM_PROMPT)
            result["evaluation"] = evaluation.to_dict()

            _step(stream, 8, "delete the deployment (fine-tuned deployments bill by the hour)")
        stream.write(f"deleted {result['deployment']}\n")
        result["stats"] = _emulator_stats(ft)

    elapsed = time.monotonic() - started
    result["seconds"] = elapsed
    stats = result["stats"]
    stream.write(
        f"\ndone in {elapsed:.0f} s: {stats.get('jobs', '?')} job, "
        f"{stats.get('deployments', '?')} deployments left, files in {folder}\n"
    )
    stream.write(f"\nbase model (prompt with few-shot examples) vs fine-tuned model on {evaluation.examples} "
                 f"held-out examples:\n\n{evaluation.to_text()}\n")
    stream.flush()
    return result


def _evaluate(ft: Foundry, deployment: Any, train: Any, validation: Any, system: str) -> EvaluationReport:
    """Score both models on the validation split; the base model gets few-shot examples as well."""
    from foundry_tune.evaluation import Target, evaluate

    shots = [record for _, record in zip(range(5), train.iter_records(), strict=False)]
    return evaluate(
        {"base model": Target(BASE_MODEL, system=system, few_shot=shots), "fine-tuned model": deployment},
        validation, ["rouge_l", "bleu"], foundry=ft, progress=False,
    )


def _save_metrics(metrics: Metrics, folder: Path, job: Job, stream: TextIO) -> dict[str, Any]:
    saved: dict[str, Any] = {"metric_rows": len(metrics)}
    first, last = (metrics[0], metrics.last) if len(metrics) else (None, None)
    if first is not None and last is not None:
        stream.write(f"{len(metrics)} steps from the {metrics.source}; train loss "
                     f"{first.train_loss:.3f} -> {last.train_loss:.3f}"
                     + (f", validation loss {last.valid_loss:.3f}" if last.valid_loss is not None else "")
                     + "\n")
    csv_path = folder / "metrics.csv"
    rows = [row.as_dict() for row in metrics]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with csv_path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(columns) + "\n")
        for row in rows:
            fh.write(",".join("" if row.get(c) is None else str(row.get(c)) for c in columns) + "\n")
    stream.write(f"wrote {csv_path}\n")
    saved["metrics_csv"] = str(csv_path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        stream.write("no loss plot: matplotlib is not installed (pip install 'foundry-tune[plot]')\n")
        saved["plot"] = None
        return saved
    plot_path = folder / "loss.png"
    metrics.plot(plot_path, title=f"{job.id}: loss")
    stream.write(f"saved loss plot {plot_path}\n")
    saved["plot"] = str(plot_path)
    return saved


def _base_answer(ft: Foundry, question: str, system: str) -> str:
    completion = ft.retry.call(
        lambda: ft.openai.chat.completions.create(
            model=BASE_MODEL,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
        ),
        what="ask the base model",
    )
    return completion.choices[0].message.content or ""


def _emulator_stats(ft: Foundry) -> dict[str, Any]:
    import httpx

    emulator = ft.emulator_instance
    if emulator is None:
        return {}
    stats: dict[str, Any] = httpx.get(emulator.info.stats_url, timeout=10).json()
    return stats


def _indent(label: str, text: str) -> str:
    return textwrap.fill(text, width=100, initial_indent=f"  {label}: ", subsequent_indent=" " * 10)
