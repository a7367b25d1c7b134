"""The safety outcomes read from a failed job's code and message: the docs' exact sample messages,
variants of their wording, and messages that are about something else."""

from __future__ import annotations

import pickle

import pytest

from foundry_tune import JobFailedError, SafetyCheckFailedError
from foundry_tune._core.deploy_safety import refused_deploy
from foundry_tune._core.job_state import JobState, check_deployable
from foundry_tune._core.safety import (
    SafetyFinding,
    SafetyKind,
    data_safety_message,
    model_safety_message,
    normalise_category,
    parse_safety_failure,
    safety_error,
    safety_line,
)
from foundry_tune.errors import DeploymentError

# https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tuning-safety-evaluation (sample messages)
DOCS_DATA = ("The provided training data failed RAI checks for harm types: [hate_fairness, self_harm, "
             "violence]. Please fix the data and try again.")
DOCS_MODEL = ("This model is unable to be deployed. Model evaluation identified that this fine tuned model "
              "scores above acceptable thresholds for [Violence, Self Harm]. Please review your training "
              "data set and resubmit the job.")


def test_the_docs_data_message() -> None:
    assert parse_safety_failure(None, DOCS_DATA) == SafetyFinding(
        "data", ("hate_fairness", "self_harm", "violence"))


def test_the_docs_model_message() -> None:
    assert parse_safety_failure(None, DOCS_MODEL) == SafetyFinding("model", ("violence", "self_harm"))


@pytest.mark.parametrize(
    ("message", "categories"),
    [
        ("The provided training data failed RAI checks for harm types: [Hate, SelfHarm]. Fix the data.",
         ("hate_fairness", "self_harm")),
        ("Training data failed the RAI check for harm type: sexual", ("sexual",)),
        ("the training data failed responsible AI checks for harm types hate and fairness, violence.",
         ("hate_fairness", "violence")),
        ("Your training file contains content flagged by RAI checks: [self-harm]", ("self_harm",)),
        ("The job failed due to an unsafe training file. This training file was blocked by our moderation "
         "system because it contains too many examples that violate OpenAI's usage policies.", ()),
        ("Harmful content was detected in the training data (categories: Sexual, Hate and Fairness).",
         ("sexual", "hate_fairness")),
        ("The provided training data failed RAI checks for harm types: [violence, protected material]. "
         "Please fix the data and try again.", ("violence", "protected_material")),
    ],
)
def test_data_wording_variants(message: str, categories: tuple[str, ...]) -> None:
    assert parse_safety_failure("invalidTrainingFile", message) == SafetyFinding("data", categories)


@pytest.mark.parametrize(
    ("message", "categories"),
    [
        ("This model is unable to be deployed. Model evaluation identified that this fine-tuned model "
         "scores above acceptable thresholds for [Hate and Fairness, Sexual].", ("hate_fairness", "sexual")),
        ("Model evaluation failed: the fine-tuned model scores above acceptable thresholds for violence",
         ("violence",)),
        ("The fine-tuned model is not deployable: it failed the safety evaluation (harm types [self_harm]).",
         ("self_harm",)),
        ("this model is unable to be deployed", ()),
    ],
)
def test_model_wording_variants(message: str, categories: tuple[str, ...]) -> None:
    assert parse_safety_failure(None, message) == SafetyFinding("model", categories)


@pytest.mark.parametrize(
    ("code", "kind"),
    [("trainingDataFailedRaiChecks", "data"), ("unsafe_training_file", "data"),
     ("ModelSafetyEvaluationFailed", "model"), ("rai_model_not_deployable", "model")],
)
def test_a_safety_code_decides_when_the_message_does_not(code: str, kind: str) -> None:
    finding = parse_safety_failure(code, "The job failed.")
    assert finding is not None and finding.kind == kind


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("invalid_n_examples", "Training file has 7 example(s), but must have at least 10 examples"),
        ("invalidTrainingFile", "The job failed due to an invalid training file. Line 3: invalid JSON."),
        ("DeploymentModelNotSupported", "The model 'gpt-x' is not available for deployment in this region."),
        ("server_error", "The job failed due to an internal error"),
        (None, None),
    ],
)
def test_other_failures_are_not_safety_outcomes(code: str | None, message: str | None) -> None:
    assert parse_safety_failure(code, message) is None


@pytest.mark.parametrize(
    ("name", "normalised"),
    [("Hate and Fairness", "hate_fairness"), ("hate", "hate_fairness"), ("HateFairness", "hate_fairness"),
     ("Self Harm", "self_harm"), ("self-harm", "self_harm"), ("SelfHarm", "self_harm"),
     ("Violence", "violence"), ("sexual", "sexual"), ("Protected Material", "protected_material")],
)
def test_category_names_are_normalised(name: str, normalised: str) -> None:
    assert normalise_category(name) == normalised


def test_the_emulator_messages_are_the_docs_wording() -> None:
    assert data_safety_message(["hate", "Self Harm", "violence"]) == DOCS_DATA
    assert model_safety_message(["violence", "self-harm"]) == DOCS_MODEL


def test_the_error_is_a_job_failed_error_with_kind_categories_and_hint() -> None:
    error = safety_error("ftjob-1", "invalidTrainingFile", DOCS_DATA)
    assert isinstance(error, SafetyCheckFailedError) and isinstance(error, JobFailedError)
    assert (error.kind, error.categories, error.code) == ("data", ("hate_fairness", "self_harm", "violence"),
                                                          "invalidTrainingFile")
    assert error.service_message == DOCS_DATA
    assert error.hint is not None and "Dataset.safety_check()" in error.hint and "not charged" in error.hint
    assert "ftjob-1" in str(error) and DOCS_DATA in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.categories, copy.job_id, copy.hint) == (error.kind, error.categories,
                                                                     error.job_id, error.hint)
    model = safety_error("ftjob-2", None, DOCS_MODEL)
    assert model is not None and model.hint is not None and "cannot be deployed" in model.hint


class _Job(JobState):
    def __init__(self, raw: dict[str, object]) -> None:
        self._raw = raw


def test_raise_for_status_raises_the_typed_error() -> None:
    job = _Job({"id": "ftjob-3", "status": "failed", "error": {"code": "x", "message": DOCS_DATA}})
    with pytest.raises(SafetyCheckFailedError) as caught:
        job.raise_for_status()
    assert caught.value.kind == "data"
    other = _Job({"id": "ftjob-4", "status": "failed", "error": {"code": "server_error", "message": "boom"}})
    with pytest.raises(JobFailedError) as plain:
        other.raise_for_status()
    assert not isinstance(plain.value, SafetyCheckFailedError)


def test_a_succeeded_job_whose_model_is_not_deployable_raises_and_is_not_deployed() -> None:
    job = _Job({"id": "ftjob-5", "status": "succeeded", "fine_tuned_model": "m.ft-1",
                "error": {"code": None, "message": DOCS_MODEL}})
    with pytest.raises(SafetyCheckFailedError):
        job.raise_for_status()
    with pytest.raises(SafetyCheckFailedError) as caught:
        check_deployable(job)
    assert caught.value.kind == "model"
    check_deployable(_Job({"id": "ftjob-6", "status": "succeeded", "error": {}}))  # nothing to say


def test_a_refused_deploy_becomes_the_model_safety_error() -> None:
    refusal = DeploymentError(DOCS_MODEL, status=400, code="ModelNotDeployable")
    mapped = refused_deploy(refusal, model="gpt-4.1-mini.ft-x", job_id="ftjob-7")
    assert isinstance(mapped, SafetyCheckFailedError)
    assert (mapped.kind, mapped.categories, mapped.job_id) == ("model", ("violence", "self_harm"), "ftjob-7")
    other = DeploymentError("no quota", status=400, code="InsufficientQuota")
    assert refused_deploy(other, model="gpt-4.1-mini.ft-x", job_id="ftjob-7") is other


def test_the_terminal_line_names_the_check_and_the_categories() -> None:
    line = safety_line("ftjob-8", SafetyFinding("data", ("violence",)))
    assert line == "ftjob-8 failed the training-data safety check; harm categories: violence"
    assert "not deployable" in safety_line("ftjob-9", SafetyFinding("model", ()))


def test_the_failure_hint_of_a_safety_failure_is_the_safety_hint() -> None:
    from foundry_tune._core.hints import failure_hint
    from foundry_tune._core.safety import safety_hint

    message = ("The provided training data failed RAI checks for harm types: [hate_fairness, violence]. "
               "Please fix the data and try again.")
    finding = parse_safety_failure("invalidTrainingFile", message)
    assert finding is not None
    assert failure_hint("invalidTrainingFile", message) == safety_hint(finding)


@pytest.mark.parametrize("kind", ["data", "model"])
def test_the_cli_hint_names_the_cli_way_to_screen_the_python_hint_the_python_way(kind: SafetyKind) -> None:
    from foundry_tune._core.safety import safety_hint

    finding = SafetyFinding(kind, ("violence",))
    python, cli = safety_hint(finding), safety_hint(finding, cli=True)
    assert "Dataset.safety_check()" in python and "foundry-tune validate" not in python
    assert "Dataset.safety_check()" not in cli
    assert "foundry-tune validate FILE --safety-endpoint URL" in cli and "AZURE_CONTENT_SAFETY_KEY" in cli
    assert python.split(". ", 1)[0] == cli.split(". ", 1)[0]  # the same outcome, only the screener differs


def test_a_json_error_carries_the_safety_kind_and_categories() -> None:
    import io
    import json

    from foundry_tune.cli._connection import report_error

    out = io.StringIO()
    report_error("deploy", "refused", as_json=True, kind="SafetyCheckFailedError",
                 details={"kind": "model", "categories": ("violence",)}, stream=out)
    error = json.loads(out.getvalue())["error"]
    assert error["kind"] == "model" and error["categories"] == ["violence"]
