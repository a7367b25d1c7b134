"""Every ```python example in docs/ and the README runs, against the local emulator.

Each page's blocks run in order in one namespace (later blocks use what earlier ones defined), in
a fresh working directory holding the small data files the pages refer to (``support.jsonl``,
``train.jsonl``, ``val.jsonl``). ``Foundry.from_env()`` / ``AsyncFoundry.from_env()`` reach one
shared emulator through the same environment variables a real project uses; only the Entra
credential is replaced by a fixed token (the emulator has no identity provider). Pages that call
``Foundry.emulator()`` start their own. A block that can only run against Azure is marked with
``<!-- skip: <reason> -->`` on the line before its fence (see tests/_docs_blocks.py).
"""

from __future__ import annotations

import doctest
import json
import warnings
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from _docs_blocks import python_blocks

from foundry_tune._demo_data import demo_records
from foundry_tune.aio import AsyncStaticTokenCredential
from foundry_tune.client import Foundry, StaticTokenCredential
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import EmulatorInfo

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = DOCS.parent / "README.md"
PAGES = [*sorted(p for p in DOCS.rglob("*.md") if python_blocks(p)), README]


@pytest.fixture(scope="module")
def seeded_info(emulator_info: EmulatorInfo) -> EmulatorInfo:
    """The session emulator, holding a finished job."""
    seed_finished_job(emulator_info)
    return emulator_info


def seed_finished_job(info: EmulatorInfo) -> None:
    """Pages that start from "a job you trained" (``ft.jobs.list(status="succeeded")``) find one."""
    with Foundry(info.project_endpoint, StaticTokenCredential("docs-token")) as ft:
        data = Dataset.from_records(demo_records(60, seed=3), name="support.jsonl")
        train, val = data.split(validation=0.2, seed=1)
        (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(val).suffix("support")
           .training_type("GlobalStandard").start().wait(progress=False))


def _page_id(path: Path) -> str:
    return str(path.relative_to(DOCS)) if path.is_relative_to(DOCS) else path.name


MULTI_GRADER = {  # the shape of the cookbook's clause-matching grader
    "name": "clause_match_grader",
    "type": "multi",
    "pass_threshold": 0.65,
    "graders": {
        "extracted_text_similarity": {
            "name": "extracted_text_similarity", "type": "text_similarity",
            "input": "{{sample.output_json.extracted_text}}", "reference": "{{item.extracted_text}}",
            "evaluation_metric": "fuzzy_match",
        },
        "clause_string_check": {
            "name": "clause_string_check", "type": "string_check", "operation": "eq",
            "input": "{{sample.output_json.clause_type}}", "reference": "{{item.clause_type}}",
        },
    },
    "calculate_output": "0.5 * extracted_text_similarity + 0.5 * clause_string_check",
}


def write_page_data(folder: Path) -> None:
    """The files the pages name: a support-chat SFT set (``support.jsonl``, also as
    ``tickets.jsonl``), its train/validation split, and a multi grader JSON file."""
    data = Dataset.from_records(demo_records(120, seed=7), name="support.jsonl")
    data.to_jsonl(folder / "support.jsonl")
    data.to_jsonl(folder / "tickets.jsonl")
    train, val = data.split(validation=0.2, seed=1)
    train.to_jsonl(folder / "train.jsonl")
    val.to_jsonl(folder / "val.jsonl")
    (folder / "multi_grader.json").write_text(json.dumps(MULTI_GRADER, indent=2), encoding="utf-8")


def run_doctest(code: str, namespace: dict[str, object], where: str) -> None:
    """Run a ``>>>`` block as a doctest in the page's namespace: the shown output must match."""
    test = doctest.DocTestParser().get_doctest(code, namespace, where, where, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    assert runner.failures == 0, f"{where}: the shown output does not match\n" + "".join(report)


def test_every_page_with_python_examples_is_collected() -> None:
    names = {_page_id(p) for p in PAGES}
    for expected in ("getting-started.md", "concepts.md", "migration.md", "guides/sft-summarization.md",
                     "guides/rft-graders.md", "async.md", "README.md"):
        assert expected in names


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_examples_run(page: Path, seeded_info: EmulatorInfo, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_page_data(tmp_path)
    for name, value in {
        "AZURE_AI_PROJECT_ENDPOINT": seeded_info.project_endpoint,
        "AZURE_SUBSCRIPTION_ID": seeded_info.subscription_id,
        "AZURE_RESOURCE_GROUP": seeded_info.resource_group,
        "AZURE_AI_ACCOUNT_NAME": seeded_info.account_name,
        "AZURE_ARM_ENDPOINT": seeded_info.arm_endpoint,
        "AZURE_OPENAI_API_KEY": "docs-key",  # only builds a client in the docs; never sent anywhere
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("foundry_tune._sync._foundry.default_credential",
                        lambda: StaticTokenCredential("docs-token"))
    monkeypatch.setattr("foundry_tune._async._foundry.default_credential",
                        lambda: AsyncStaticTokenCredential("docs-token"))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. the once-per-process hosting-fee reminder
        for block in python_blocks(page):
            if block.skip is not None:
                continue
            where = f"{_page_id(page)}:{block.line}"
            if block.code.lstrip().startswith(">>>"):
                run_doctest(block.code, namespace, where)
            else:
                try:
                    exec(compile(block.code, where, "exec"), namespace)
                except Exception as exc:
                    raise AssertionError(f"{where}: the example failed: {exc!r}") from exc
            ran += 1
    assert ran > 0, f"{_page_id(page)}: every python block is skipped"
