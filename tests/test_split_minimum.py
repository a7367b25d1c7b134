"""A split part under the service's 10-example minimum is reported when it is made, by ``plan()`` and by
``start()`` before any upload, with the fraction that gives enough (issue 13: the README's own
``split(validation=0.1)`` on the 86-row tool-calling sample gives 9 validation rows)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from _dataset_helpers import SAMPLES, sft

from foundry_tune import DatasetValidationError, Supervised
from foundry_tune.dataset import Dataset

TOOLS = SAMPLES / "sample-sft-tool-calling" / "stock_toolcall_training.jsonl"
needs_samples = pytest.mark.skipif(not TOOLS.exists(), reason="shared sample data not available")


def _count(data: Dataset) -> int:
    return sum(1 for _ in data.iter_records())


def _quiet_split(data: Dataset, validation: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return data.split(validation=validation, seed=seed)


@needs_samples
def test_the_readme_split_of_the_tool_calling_sample_warns_with_the_fraction_to_use() -> None:
    data = Dataset.from_jsonl(TOOLS)
    with pytest.warns(UserWarning) as caught:
        train, valid = data.split(validation=0.1, seed=7)
    [warning] = caught
    text = str(warning.message)
    assert text == ("stock_toolcall_training.jsonl split(validation=0.1, seed=7): the validation part has "
                    "9 examples; the service needs at least 10 examples in each file: "
                    "use validation=0.12 or more")
    assert warning.filename == __file__  # points at the caller's line, not the library
    assert (_count(train), _count(valid)) == (77, 9)
    # The advice holds: the suggested fraction splits without a warning and gives 10.
    train, valid = _quiet_split(data, 0.12, seed=7)
    assert _count(valid) >= 10 and _count(train) >= 10


@needs_samples
def test_a_split_with_enough_on_both_sides_does_not_warn() -> None:
    train, valid = _quiet_split(Dataset.from_jsonl(TOOLS), 0.2, seed=7)
    assert (_count(train), _count(valid)) == (69, 17)


@needs_samples
def test_a_short_training_part_is_reported_with_a_smaller_fraction() -> None:
    data = Dataset.from_jsonl(TOOLS)
    with pytest.warns(UserWarning, match=r"training part has 9 examples; .*: use validation=0\.88 or less$"):
        data.split(validation=0.9)
    train, valid = _quiet_split(data, 0.88)
    assert _count(train) >= 10 and _count(valid) >= 10


def test_too_few_examples_for_two_parts_says_to_add_examples_or_not_to_split() -> None:
    data = Dataset.from_records([sft(i) for i in range(15)], name="small.jsonl")
    with pytest.warns(UserWarning, match="the training part has 7 and the validation part 8 ") as caught:
        data.split(validation=0.5)
    assert "add examples, or train on all 15 without a validation file" in str(caught[0].message)


@needs_samples
def test_validating_the_short_part_gives_the_same_advice() -> None:
    with pytest.warns(UserWarning):
        train, valid = Dataset.from_jsonl(TOOLS).split(validation=0.1, seed=7)
    report = valid.validate("sft")
    [issue] = report.errors
    assert issue.code == "file.too_few_examples"
    assert issue.message.startswith("9 examples: the service needs at least 10 in each file")
    assert "use validation=0.12 or more in split()" in issue.message
    assert "validation part of stock_toolcall_training.jsonl split(validation=0.1, seed=7)" in issue.message
    assert train.validate("sft").valid


def test_a_short_file_that_is_no_split_part_says_to_add_examples() -> None:
    report = Dataset.from_records([sft(i) for i in range(9)]).validate("sft")
    assert [i.message for i in report.errors] == [
        "9 examples: the service needs at least 10 in each file (training and validation): add more"]


@needs_samples
@pytest.mark.emulator
def test_plan_shows_the_shortfall_and_start_refuses_before_any_upload(ft: Any) -> None:
    pytest.importorskip("starlette")
    with pytest.warns(UserWarning):
        train, valid = Dataset.from_jsonl(TOOLS).split(validation=0.1, seed=7)
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(valid)
               .method(Supervised(n_epochs=1)).training_type("GlobalStandard"))
    emulator = ft.emulator_instance
    before = emulator.stats()
    plan = builder.plan()
    assert not plan.valid
    text = str(plan)
    [shown] = [x for x in text.splitlines() if "[file.too_few_examples]" in x]
    assert shown.startswith("    file: 9 examples: the service needs at least 10")
    assert "use validation=0.12 or more in split()" in shown
    # The shortfall comes right under the validation file's summary.
    lines = text.splitlines()
    assert "stock_toolcall_training-validation.jsonl: INVALID" in lines[lines.index(shown) - 1]
    with pytest.raises(DatasetValidationError, match=r"9 examples: .*use validation=0\.12 or more"):
        builder.start()
    after = emulator.stats()
    keys = ("files", "uploads", "jobs")
    assert [after[key] for key in keys] == [before[key] for key in keys]
