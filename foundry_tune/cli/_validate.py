"""``foundry-tune validate``: check a training file before anything is uploaded or billed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundry_tune.cli._connection import failure, usage_error
from foundry_tune.errors import ConfigurationError, FoundryTuneError, InvalidParameterError

if TYPE_CHECKING:
    from foundry_tune.dataset import SafetyCheckReport

__all__ = ["register"]

_EXIT_OK, _EXIT_INVALID = 0, 1


def register(subparsers: Any) -> None:
    """Add the ``validate`` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check a JSONL training file: every problem with its line, token statistics, cost",
        description=(
            "Validate a fine-tuning JSONL file for supervised (sft), DPO or reinforcement (rft) training. "
            "Exit 0 when it will train, 1 when it will not, 2 on a usage error."
        ),
    )
    parser.add_argument("path", help="the JSONL file")
    parser.add_argument(
        "--method",
        choices=["sft", "dpo", "rft"],
        help="training method (default: detected from the first example)",
    )
    parser.add_argument("--model", help="base model, e.g. gpt-4.1-mini: token limit, tokenizer and prices")
    parser.add_argument(
        "--grader",
        metavar="GRADER.json",
        help="RFT grader: every {{item.x}} it reads must exist in every row",
    )
    parser.add_argument(
        "--response-format",
        metavar="FORMAT.json",
        help="RFT response_format (needed when the grader reads {{sample.output_json}})",
    )
    parser.add_argument(
        "--validation-file",
        metavar="PATH",
        help="validation file: validated too, and checked for examples shared with PATH",
    )
    parser.add_argument(
        "--strict", action="store_true", help="treat examples over the model's token limit as errors"
    )
    parser.add_argument(
        "--safety-endpoint",
        metavar="URL",
        help="also screen every row with this Azure AI Content Safety endpoint (key from "
        "AZURE_CONTENT_SAFETY_KEY; needs the 'safety' extra) and write kept.jsonl / dropped.jsonl "
        "(the validation file's too, when given)",
    )
    parser.add_argument(
        "--safety-threshold",
        metavar="N",
        type=int,
        default=2,
        help="severity (1-7; 2 Low, 4 Medium, 6 High) at which a row is dropped (default 2)",
    )
    parser.add_argument(
        "--safety-out",
        metavar="DIR",
        help="directory for kept.jsonl, dropped.jsonl and safety_check.json (default: a new temporary one; "
        "with --validation-file, in its sub-directories training/ and validation/)",
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        default="auto",
        help="processes that share the work, each reading its part of the file: 'auto' (default: one "
        "per usable core for files of 16 MB per core or more) or a number (1: one process); the "
        "report is the same",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=run)


def _workers(value: str) -> int | str:
    """``--workers``: ``auto`` or a number (checked by ``Dataset.validate``)."""
    text = value.strip().lower()
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        return value


def _usage_error(message: str, args: argparse.Namespace) -> int:
    return usage_error("validate", message, args)


def _read_json(path: str, what: str) -> object:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise FoundryTuneError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FoundryTuneError(f"{what} {path} is not valid JSON: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Validate ``args.path`` (and ``--validation-file``); print the report(s); return the exit code."""
    from foundry_tune.dataset import Dataset

    for path in (args.path, args.validation_file):
        if path is not None and not Path(path).is_file():
            problem = "not a file" if Path(path).exists() else "no such file"
            return _usage_error(f"{problem}: {path}", args)
    try:
        grader = _read_json(args.grader, "grader file") if args.grader else None
        response_format = (
            _read_json(args.response_format, "response format file") if args.response_format else None
        )
        options: dict[str, Any] = {
            "model": args.model,
            "grader": grader,
            "strict": args.strict,
            "response_format": response_format,
            "workers": _workers(args.workers),
        }
        datasets = [Dataset.from_jsonl(args.path)]
        report = datasets[0].validate(args.method, validation=args.validation_file, **options)
        valid_report = None
        if args.validation_file:
            datasets.append(Dataset.from_jsonl(args.validation_file))
            valid_report = datasets[1].validate(report.method, **options)
    except FoundryTuneError as exc:
        return _usage_error(str(exc), args)
    reports = [r for r in (report, valid_report) if r is not None]
    screened: list[SafetyCheckReport] = []  # the training file's, then the validation file's
    error: FoundryTuneError | None = None
    invalid = [r.path for r in reports if not r.valid]
    if args.safety_endpoint and not invalid:
        for role, dataset in zip(("training", "validation"), datasets, strict=False):
            # Two files: one sub-directory each, so the second does not overwrite the first.
            out_dir = args.safety_out
            if out_dir is not None and len(datasets) > 1:
                out_dir = str(Path(out_dir) / role)
            try:  # the key only ever comes from the environment, never from a flag
                screened.append(dataset.safety_check(args.safety_endpoint, None,
                                                  threshold=args.safety_threshold, out_dir=out_dir))
            except (ConfigurationError, InvalidParameterError) as exc:
                return _usage_error(str(exc), args)
            except FoundryTuneError as exc:  # the service refused, throttled or could not be reached
                error = exc
                break
    if args.json:
        data_out = report.to_dict()
        if valid_report is not None:
            data_out["validation"] = valid_report.to_dict()
        if screened:
            data_out["safety_check"] = screened[0].to_dict()
        if len(screened) > 1:  # the validation file's screening sits with its report
            data_out["validation"]["safety_check"] = screened[1].to_dict()
        text = json.dumps(data_out, ensure_ascii=False, indent=2)
    else:
        text = "\n\n".join([*(r.to_text() for r in reports), *(s.to_text() for s in screened)])
    _print(text)  # the validation report first, also when the screening failed
    if args.safety_endpoint and invalid:  # say so: the screening did not run
        has = "has" if len(invalid) == 1 else "have"
        sys.stderr.write(f"foundry-tune validate: safety screening skipped: {' and '.join(invalid)} "
                         f"{has} errors; fix them and run again\n")
    if error is not None:
        return failure("validate", error, args)
    dropped = any(s.dropped for s in screened)
    return _EXIT_OK if all(r.valid for r in reports) and not dropped else _EXIT_INVALID


def _print(text: str) -> None:
    """Print, without a traceback when the reader went away (``| head``)."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
