"""The job description a builder holds without a connection: create arguments, fingerprint, the
offline plan and error hints, table-driven and without a service."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from foundry_tune._core.fingerprint import ATTEMPT_KEY, FINGERPRINT_KEY
from foundry_tune._core.spec import JobSpec, _RemoteFile, with_hint
from foundry_tune._core.upload import upload_name
from foundry_tune._demo_data import demo_records
from foundry_tune.catalog import TrainingType
from foundry_tune.dataset import Dataset
from foundry_tune.errors import DatasetValidationError, InvalidParameterError, NotFoundError, ServiceError
from foundry_tune.methods import DPO, Supervised


@pytest.fixture()
def train(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    Dataset.from_records(demo_records(20)).to_jsonl(path)
    return path


@pytest.mark.parametrize("model", ["", "   ", None, 3])
def test_a_spec_needs_a_model_name(model: Any) -> None:
    with pytest.raises(InvalidParameterError, match="model"):
        JobSpec(model)


@pytest.mark.parametrize(("change", "expected"), [
    ({}, {}),
    ({"suffix_value": "s"}, {"suffix": "s"}),
    ({"seed_value": 7}, {"seed": 7}),
    ({"integrations_value": ({"type": "wandb"},)}, {"integrations": [{"type": "wandb"}]}),
    ({"training_type_value": TrainingType.GLOBAL_STANDARD},
     {"extra_body": {"trainingType": TrainingType.GLOBAL_STANDARD.wire}}),
    ({"metadata_items": (("team", "a"),)}, {}),
])
def test_create_kwargs_send_only_what_was_set(change: dict[str, Any], expected: dict[str, Any]) -> None:
    spec = dataclasses.replace(JobSpec("gpt-4.1-mini"), **change)
    kwargs = spec.create_kwargs(Supervised(), "fp", "attempt", "file-t", None)
    metadata = kwargs.pop("metadata")
    assert metadata == {**dict(spec.metadata_items), FINGERPRINT_KEY: "fp", ATTEMPT_KEY: "attempt"}
    assert kwargs == {"model": "gpt-4.1-mini", "training_file": "file-t", "method": Supervised().to_wire(),
                      **expected}
    assert "validation_file" in spec.create_kwargs(Supervised(), "fp", "a", "file-t", "file-v")


def test_the_fingerprint_changes_with_what_defines_the_run_and_not_with_tags(train: Path) -> None:
    base = JobSpec("gpt-4.1-mini").train_on(train)
    fp = base.fingerprint()
    assert JobSpec("gpt-4.1-mini").train_on(train).fingerprint() == fp
    assert base.metadata(team="a").fingerprint() == fp
    assert base.strict_validation().check_grader(False).upload_options(parallel_parts=1).fingerprint() == fp
    others = [base.suffix("x"), base.seed(1), base.method(DPO()), base.training_type("Standard"),
              JobSpec("gpt-4.1-mini").train_on("file-abc"), JobSpec("gpt-4o-mini").train_on(train)]
    prints = {o.fingerprint() for o in others}
    assert fp not in prints and len(prints) == len(others)


def test_checked_refuses_invalid_data_before_anything_else(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n' * 12)
    with pytest.raises(DatasetValidationError):
        JobSpec("gpt-4.1-mini").train_on(bad).checked()
    with pytest.raises(InvalidParameterError, match="training data"):
        JobSpec("gpt-4.1-mini").checked()


def test_the_offline_plan_uploads_local_files_and_uses_given_ids(train: Path) -> None:
    spec = (JobSpec("gpt-4.1-mini").train_on(train).validate_on("file-val1")
            .upload_options(single_request_limit=10))
    plan = spec.offline_plan()
    local, remote = plan.files
    digest = Dataset.from_jsonl(train).content_hash()
    assert (local.action, local.via, local.name) == ("upload", "uploads", upload_name("train.jsonl", digest))
    assert (remote.action, remote.file_id, remote.via) == ("use", "file-val1", None)
    assert plan.creates_job and plan.fingerprint == spec.fingerprint() and plan.estimate is not None
    reused = spec.reusing(local, "file-old")
    assert (reused.action, reused.file_id, reused.via) == ("reuse", "file-old", None)
    assert reused.name == "train.jsonl"


def test_a_given_file_id_is_a_remote_file_unless_such_a_path_exists(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert JobSpec("gpt-4.1-mini").train_on("file-abc").training == _RemoteFile("file-abc")
    monkeypatch.chdir(tmp_path)
    Dataset.from_records(demo_records(12)).to_jsonl(tmp_path / "file-abc")
    assert isinstance(JobSpec("gpt-4.1-mini").train_on("file-abc").training, Dataset)


@pytest.mark.parametrize(("error", "hinted"), [
    (ServiceError("the training type is not supported", status=400, code="invalid"), True),
    (NotFoundError("model gpt-9 does not exist", status=404, code="model_not_found"), True),
    (ServiceError("something else", status=400, code="other"), False),
])
def test_with_hint_keeps_the_error_type_and_adds_a_known_remedy(error: ServiceError, hinted: bool) -> None:
    out = with_hint(error)
    assert type(out) is type(error) and out.status == error.status and out.code == error.code
    assert ("hint:" in str(out)) is hinted
    assert (out is error) is not hinted


def test_both_builders_hold_exactly_the_fields_of_the_job_description() -> None:
    """The builders repeat JobSpec's fields (their public dataclass fields): the lists must not drift."""
    import dataclasses

    from foundry_tune._async._builder import AsyncFineTuneBuilder
    from foundry_tune._core.spec import JobSpec
    from foundry_tune._sync._builder import FineTuneBuilder

    def fields(cls: type) -> list[tuple[str, object, object]]:
        return [(f.name, f.default, f.default_factory) for f in dataclasses.fields(cls) if f.name != "ft"]

    assert fields(FineTuneBuilder) == fields(AsyncFineTuneBuilder) == fields(JobSpec)
