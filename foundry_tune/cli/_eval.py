"""``foundry-tune eval``: compare models on held-out data (the base model against the tuned one)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from foundry_tune.cli._connection import connect_from_env, failure, usage_error
from foundry_tune.errors import FoundryTuneError

__all__ = ["register"]

_EXIT_OK, _EXIT_FAILED = 0, 1


def register(subparsers: Any) -> None:
    """Add the ``eval`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="evaluate models or deployments on held-out data: scores, tokens, latency, cost",
        description=(
            "Ask every target every example of DATA and print the table: metric | base model | "
            "fine-tuned model | difference (with confidence intervals and significance). "
            "Connects with the environment settings (AZURE_AI_PROJECT_ENDPOINT, ...). "
            "Exit 0 when every request was answered, 1 on failures, 2 on a usage error."
        ),
    )
    parser.add_argument("data", help="held-out JSONL (SFT, DPO or RFT rows)")
    parser.add_argument("--base", metavar="MODEL",
                        help="the base model or its deployment (label 'base model')")
    parser.add_argument("--tuned", metavar="DEPLOYMENT",
                        help="the fine-tuned deployment (label 'fine-tuned model')")
    parser.add_argument("--target", action="append", default=[], metavar="LABEL=MODEL",
                        help="another target to evaluate (repeatable)")
    parser.add_argument("--system", action="append", default=[], metavar="LABEL=TEXT|@FILE",
                        help="system prompt for one target (e.g. base=@long_prompt.txt)")
    parser.add_argument("--few-shot", action="append", default=[], metavar="LABEL=FILE.jsonl",
                        help="few-shot examples (SFT rows) put before each prompt of one target")
    parser.add_argument("--metric", action="append", default=[], metavar="NAME",
                        help="exact_match, normalized_match, rouge_l, bleu, json_valid, json_match "
                             "(repeatable; default exact_match, normalized_match, rouge_l)")
    parser.add_argument("--grader", action="append", default=[], metavar="GRADER.json",
                        help="a grader as a metric (repeatable)")
    parser.add_argument("--json-schema", metavar="SCHEMA.json", help="score answers against a JSON schema")
    parser.add_argument("--reference-field", metavar="FIELD", help="row field holding the expected answer")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate the first N examples only")
    parser.add_argument("--concurrency", type=int, default=8, metavar="N",
                        help="requests at once (default 8)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--html", metavar="FILE", help="also write the table as HTML")
    parser.add_argument("--plot", metavar="FILE.png", help="also save a bar chart (needs the plot extra)")
    parser.set_defaults(handler=run)


def _usage_error(message: str, args: argparse.Namespace) -> int:
    return usage_error("eval", message, args)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        label, sep, rest = value.partition("=")
        if not sep or not label or not rest:
            raise ValueError(f"{option} expects LABEL=VALUE, got {value!r}")
        out[_alias(label)] = rest
    return out


def _alias(label: str) -> str:
    return {"base": "base model", "tuned": "fine-tuned model"}.get(label, label)


def _text(value: str) -> str:
    if value.startswith("@"):
        return Path(value[1:]).read_text(encoding="utf-8-sig")
    return value


def _build(args: argparse.Namespace) -> tuple[dict[str, Any], list[Any]]:
    from foundry_tune.evaluation import Target, load_examples, metrics

    models: dict[str, str] = {}
    if args.base:
        models["base model"] = args.base
    if args.tuned:
        models["fine-tuned model"] = args.tuned
    models.update(_pairs(args.target, "--target"))
    if not models:
        raise ValueError("give at least one target: --base, --tuned or --target LABEL=MODEL")
    systems = _pairs(args.system, "--system")
    shots = _pairs(args.few_shot, "--few-shot")
    for label in [*systems, *shots]:
        if label not in models:
            raise ValueError(f"no target labelled {label!r} (targets: {', '.join(models)})")
    targets = {
        label: Target(model, name=label,
                      system=_text(systems[label]) if label in systems else None,
                      few_shot=load_examples(shots[label]) if label in shots else ())
        for label, model in models.items()
    }
    chosen: list[Any] = [metrics.resolve(name) for name in args.metric]
    chosen += [metrics.grader(path) for path in args.grader]
    if args.json_schema:
        chosen.append(metrics.json_schema(json.loads(Path(args.json_schema).read_text(encoding="utf-8-sig"))))
    return targets, chosen


def _connect() -> Any:
    return connect_from_env()


def _resolve_deployments(ft: Any, targets: dict[str, Any]) -> dict[str, Any]:
    """Targets named after a deployment become that deployment (its model prices the cost)."""
    from foundry_tune.catalog import lookup_model
    from foundry_tune.evaluation import Target

    resolved: dict[str, Any] = {}
    for label, target in targets.items():
        if lookup_model(target.model) is not None and ".ft-" not in target.model:
            resolved[label] = target  # a base model name: the service answers it directly
            continue
        try:
            deployment = ft.deployments.get(target.model)
        except FoundryTuneError:
            resolved[label] = target
            continue
        resolved[label] = Target(deployment, name=label, prompt=target.prompt)
    return resolved


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table (or JSON), return the exit code."""
    from foundry_tune.evaluation import evaluate
    from foundry_tune.evaluation._prepare import DEFAULT_METRICS

    if not Path(args.data).is_file():
        return _usage_error(f"no such file: {args.data}", args)
    if args.limit is not None and args.limit < 1:
        return _usage_error("--limit must be at least 1", args)
    if args.concurrency < 1:
        return _usage_error("--concurrency must be at least 1", args)
    if args.plot:
        # Before any request is paid for: without the 'plot' extra this raises, and main() names it.
        import matplotlib  # noqa: F401
    try:
        targets, chosen = _build(args)
    except (ValueError, OSError) as exc:
        return _usage_error(str(exc), args)
    except FoundryTuneError as exc:
        return _usage_error(str(exc), args)
    try:
        with _connect() as ft:
            targets = _resolve_deployments(ft, targets)
            report = evaluate(targets, args.data, chosen or DEFAULT_METRICS, foundry=ft,
                              concurrency=args.concurrency, limit=args.limit,
                              reference_field=args.reference_field, progress=None if not args.json else False)
        if args.html:
            Path(args.html).write_text(report._repr_html_(), encoding="utf-8")
        if args.plot:
            report.plot(path=args.plot)
    except FoundryTuneError as exc:
        return failure("eval", exc, args)
    print(report.to_json(indent=2) if args.json else report.to_text())
    failed = sum(t.failed for t in report.targets)
    return _EXIT_FAILED if failed or report.interrupted else _EXIT_OK
