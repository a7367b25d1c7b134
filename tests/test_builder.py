"""The fine-tune builder without a service: immutability, argument checks, local validation first."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from foundry_tune._demo_data import demo_records
from foundry_tune.dataset import Dataset
from foundry_tune.errors import DatasetValidationError, InvalidParameterError
from foundry_tune.job import FineTuneBuilder
from foundry_tune.methods import DPO, Supervised


class NoNetwork:
    """A connection that fails the test if anything touches the service."""

    @property
    def openai(self) -> Any:
        raise AssertionError("the builder touched the service")

    @property
    def retry(self) -> Any:
        raise AssertionError("the builder touched the service")

    @property
    def deployments(self) -> Any:
        raise AssertionError("the builder touched the service")


def builder(model: str = "gpt-4.1-mini") -> FineTuneBuilder:
    return FineTuneBuilder(NoNetwork(), model)  # type: ignore[arg-type]


@pytest.fixture()
def train_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    Dataset.from_records(demo_records(40)).to_jsonl(path)
    return path


def test_every_call_returns_a_new_builder_and_leaves_the_old_one(train_file: Path) -> None:
    base = builder()
    configured = base.train_on(train_file).suffix("support").seed(3).training_type("globalstandard")
    assert base.training is None and base.suffix_value is None and base.seed_value is None
    assert configured.suffix_value == "support"
    assert configured.training_type_value == "GlobalStandard"
    other = configured.suffix("other")
    assert configured.suffix_value == "support" and other.suffix_value == "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        configured.suffix_value = "x"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["", "a" * 65, "my.model", "with space", "slash/name", "ümlaut"])
def test_suffix_rules(bad: str) -> None:
    with pytest.raises(InvalidParameterError, match="suffix"):
        builder().suffix(bad)


def test_suffix_limits_accepted() -> None:
    assert builder().suffix("a" * 64).suffix_value == "a" * 64
    assert builder().suffix("x").suffix_value == "x"


def test_metadata_rules() -> None:
    b = builder().metadata({"team": "support"}, run="3")
    assert dict(b.metadata_items) == {"team": "support", "run": "3"}
    with pytest.raises(InvalidParameterError, match="reserved"):
        builder().metadata(foundry_tune_fingerprint="x")
    with pytest.raises(InvalidParameterError, match="key"):
        builder().metadata({"k" * 65: "v"})
    with pytest.raises(InvalidParameterError, match="512"):
        builder().metadata(k="v" * 513)
    assert builder().metadata(k="v" * 512)
    with pytest.raises(InvalidParameterError, match="14"):
        builder().metadata({f"k{i}": "v" for i in range(15)})
    assert len(builder().metadata({f"k{i}": "v" for i in range(14)}).metadata_items) == 14


def test_training_type_and_seed_rules() -> None:
    with pytest.raises(InvalidParameterError, match=r"Standard, GlobalStandard .*DataZone .*Developer"):
        builder().training_type("Premium")
    with pytest.raises(InvalidParameterError, match="seed"):
        builder().seed(-1)
    with pytest.raises(InvalidParameterError, match="seed"):
        builder().seed(True)


def test_data_sources(train_file: Path) -> None:
    from foundry_tune._core.spec import _RemoteFile

    assert isinstance(builder().train_on(str(train_file)).training, Dataset)
    assert builder().train_on("file-abc123").training == _RemoteFile("file-abc123")
    with pytest.raises(InvalidParameterError, match="Dataset"):
        builder().train_on(42)


def test_rft_needs_validation_data_and_a_grader(train_file: Path) -> None:
    with pytest.raises(InvalidParameterError, match="grader"):
        builder().method("rft")
    assert isinstance(builder().method("dpo").tuning_method, DPO)


def test_start_without_training_data_fails_locally() -> None:
    with pytest.raises(InvalidParameterError, match="train_on"):
        builder().start()


def test_unsupported_method_for_model_fails_locally(train_file: Path) -> None:
    from foundry_tune.graders import StringCheck
    from foundry_tune.methods import Reinforcement

    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    b = builder("gpt-4.1-mini").train_on(train_file).validate_on(train_file)
    with pytest.raises(InvalidParameterError, match=r"gpt-4\.1-mini"):
        b.method(Reinforcement(grader=grader)).start()
    with pytest.raises(InvalidParameterError, match="validation"):
        builder("o4-mini").train_on(train_file).method(Reinforcement(grader=grader)).start()


def test_invalid_data_raises_before_any_network_call(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    rows = list(demo_records(12))
    rows[4] = {"messages": [{"role": "user", "content": "no answer"}]}
    Dataset.from_records(rows).to_jsonl(bad)
    with pytest.raises(DatasetValidationError) as info:
        builder().train_on(bad).start()
    assert not info.value.report.valid
    assert any(issue.line == 5 for issue in info.value.report.errors)


def test_fingerprint_follows_content_not_file_name(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    Dataset.from_records(demo_records(30)).to_jsonl(a)
    Dataset.from_records(demo_records(30)).to_jsonl(b)
    Dataset.from_records(demo_records(31)).to_jsonl(c)
    base = builder().method(Supervised(n_epochs=2))
    assert base.train_on(a).fingerprint() == base.train_on(b).fingerprint()
    assert base.train_on(a).fingerprint() != base.train_on(c).fingerprint()
    assert base.train_on(a).fingerprint() != base.train_on(a).method(Supervised(n_epochs=3)).fingerprint()
    assert base.train_on(a).fingerprint() != base.train_on(a).training_type("Developer").fingerprint()


def test_estimate_and_offline_plan_need_no_network(train_file: Path) -> None:
    b = builder().train_on(train_file).method(Supervised(n_epochs=2)).suffix("support")
    estimate = b.estimate()
    assert estimate.n_epochs == 2 and estimate.tokens_per_epoch > 0
    plan = b.plan(check_service=False)
    assert plan.valid and plan.creates_job
    assert [f.action for f in plan.files] == ["upload"]
    assert plan.files[0].via == "files"
    assert plan.files[0].name.startswith("train.sha256-")
    assert "upload" in str(plan)
    large = b.upload_options(single_request_limit=100).plan(check_service=False)
    assert large.files[0].via == "uploads"
