"""The reinforcement notebook's data: no duplicate rows, no validation prompt copied from training,
so the validation reward and the evaluation it shows measure generalisation, not memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from foundry_tune import Dataset, Reinforcement, graders

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "rft-with-grader.ipynb"
MIN_EXAMPLES = 10  # the service takes no training or validation file with fewer


def cells() -> list[dict[str, Any]]:
    notebook: dict[str, Any] = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def notebook_data() -> tuple[Dataset, Dataset]:
    """``train`` and ``valid`` exactly as the notebook's data cell builds them."""
    (source,) = ["".join(c["source"]) for c in cells() if "Dataset.from_records" in "".join(c["source"])]
    namespace: dict[str, Any] = {"Dataset": Dataset}
    exec(compile(source, str(NOTEBOOK), "exec"), namespace)  # the repository's own notebook cell
    return namespace["train"], namespace["valid"]


def prompt(row: dict[str, Any]) -> str:
    return json.dumps(row["messages"], sort_keys=True)


def words(row: dict[str, Any]) -> str:
    """The user's ticket, lower-cased, letters, digits and single spaces only."""
    text = row["messages"][-1]["content"].lower()
    return " ".join("".join(ch for ch in text if ch.isalnum() or ch == " ").split())


def test_training_rows_are_distinct_and_validation_prompts_are_new() -> None:
    train, valid = notebook_data()
    train_rows, valid_rows = list(train.iter_records()), list(valid.iter_records())
    assert len(train_rows) >= MIN_EXAMPLES and len(valid_rows) >= MIN_EXAMPLES
    for rows in (train_rows, valid_rows):
        assert len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows), "duplicate rows"
        assert len({prompt(r) for r in rows}) == len(rows), "the same prompt twice"
    assert not {prompt(r) for r in valid_rows} & {prompt(r) for r in train_rows}
    # Case and punctuation aside, no ticket is in both parts either.
    assert not {words(r) for r in valid_rows} & {words(r) for r in train_rows}
    # Every team is trained on and validated on.
    assert {r["answer"] for r in valid_rows} == {r["answer"] for r in train_rows}


def test_the_library_finds_no_duplicate_or_overlap_either() -> None:
    train, valid = notebook_data()
    grader = graders.StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                                 operation="eq")
    report = train.validate(Reinforcement(grader=grader), model="o4-mini", validation=valid)
    assert report.valid
    codes = {issue.code for issue in report.warnings}
    assert not codes & {"data.duplicate", "data.validation_overlap"}, report.warnings


def test_the_stored_notebook_shows_the_data_it_trains_on() -> None:
    """The stored outputs come from this data (re-run docs/notebooks/execute.py after changing it)."""
    (check,) = [c for c in cells() if "also in training" in "".join(c["source"])]
    train, valid = notebook_data()
    shown = "".join(check["outputs"][0]["data"]["text/plain"])
    n_train, n_valid = sum(1 for _ in train.iter_records()), sum(1 for _ in valid.iter_records())
    assert f"'training rows': {n_train}" in shown and f"'distinct': {n_train}" in shown
    assert f"'validation rows': {n_valid}" in shown and "'also in training': 0" in shown
