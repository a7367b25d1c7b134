"""The service's two safety outcomes, recognised from a failed job's (or a refused deploy's) code
and message, without I/O.

Azure screens a fine-tuning job twice (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tuning-safety-evaluation,
source MicrosoftDocs/azure-ai-docs ``articles/ai-foundry/openai/how-to/fine-tuning-safety-evaluation.md``):

- **data**: before training, within the data import, the training data is evaluated for harmful
  content; above the severity threshold the job fails with a message such as ``The provided training
  data failed RAI checks for harm types: [hate_fairness, self_harm, violence]. Please fix the data and
  try again.`` The docs: "If the fine-tuning job fails due to the detection of harmful content in
  training data, you won't be charged."
- **model**: after training, before the model is available for deployment, the model is evaluated
  with simulated conversations; above an acceptable rate the user is told ``This model is unable to be
  deployed. Model evaluation identified that this fine tuned model scores above acceptable thresholds
  for [Violence, Self Harm]. Please review your training data set and resubmit the job.`` (the page's
  screenshot is captioned "a failed fine-tuning job due to safety evaluation"). The docs: "If deployment
  of the fine-tuned model fails due to the detection of harmful content in model outputs, you won't be
  charged for the training run."

The harm categories are the content filter's: hate and fairness, sexual, violence, self-harm.
Neither page names an error ``code`` (inference: the message is what identifies the outcome; a code
that names RAI / safety / moderation / content filtering is taken as a hint of either kind). OpenAI's
own screening says ``unsafe training file`` / ``blocked by our moderation system`` (inference: read
as the data kind too).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Literal

from foundry_tune.errors import FoundryTuneError, SafetyCheckFailedError, ServiceError

__all__ = [
    "DOCS_URL",
    "HARM_CATEGORIES",
    "SafetyFinding",
    "SafetyKind",
    "data_safety_message",
    "model_safety_message",
    "normalise_category",
    "parse_safety_failure",
    "safety_error",
    "safety_hint",
    "safety_line",
    "safety_refusal",
]

SafetyKind = Literal["data", "model"]
"""``"data"``: the training data failed the screening; ``"model"``: the trained model failed its
safety evaluation and cannot be deployed."""

DOCS_URL = "https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tuning-safety-evaluation"

HARM_CATEGORIES = ("hate_fairness", "sexual", "violence", "self_harm")
"""The normalised names of the harm categories the service evaluates (the data message's spelling)."""

_DISPLAY = {"hate_fairness": "Hate and Fairness", "sexual": "Sexual", "violence": "Violence",
            "self_harm": "Self Harm"}

_ALIASES = {
    "hate": "hate_fairness",
    "hateful": "hate_fairness",
    "hate_and_fairness": "hate_fairness",
    "hate_unfairness": "hate_fairness",
    "hate_and_unfairness": "hate_fairness",
    "hatefairness": "hate_fairness",
    "fairness": "hate_fairness",
    "sex": "sexual",
    "sexual_content": "sexual",
    "violent": "violence",
    "violence_content": "violence",
    "selfharm": "self_harm",
    "self_harm_content": "self_harm",
}

# Words of a category in free text (no brackets): longest first so "hate and fairness" wins over "hate".
_CATEGORY_WORDS = re.compile(
    r"hate[\s_/-]*(?:and[\s_-]*)?(?:un)?fairness|hate|sexual|violen(?:ce|t)|self[\s_-]*harm", re.I
)

_DATA_TEXT = re.compile(
    r"training\s+data\s+failed\s+(?:the\s+)?(?:RAI|responsible\s+AI|safety|content)\s*(?:checks?|evaluation)"
    r"|(?:training|validation)\s+(?:data|file)\b.{0,60}?\b(?:RAI|responsible\s+AI)\b"
    r"|(?:data|file)\s+(?:safety|RAI)\s+(?:check|evaluation)\s+failed"
    r"|unsafe\s+(?:training|validation)\s+(?:file|data)"
    r"|blocked\s+by\s+(?:our|the)\s+moderation\s+system"
    r"|harmful\s+content\s+(?:was\s+)?(?:detected|found)\s+in\s+(?:the\s+|your\s+)?(?:training|validation)\s+(?:data|file)",
    re.I | re.S,
)
_MODEL_TEXT = re.compile(
    r"model\s+is\s+unable\s+to\s+be\s+deployed"
    r"|model\s+evaluation\s+(?:identified|failed|found)"
    r"|scores?\s+above\s+(?:the\s+)?acceptable\s+thresholds?"
    r"|(?:model|output)s?\s+failed\s+(?:the\s+)?(?:RAI|responsible\s+AI|safety)\s*(?:checks?|evaluation)"
    r"|safety\s+evaluation\s+(?:of\s+the\s+(?:fine[\s-]*tuned\s+)?model\s+)?failed",
    re.I | re.S,
)
# Weaker wordings count only next to a safety word ("not deployable" alone may be about a region).
_NOT_DEPLOYABLE = re.compile(
    r"\b(?:not|isn't|is\s+not)\s+(?:deployable|available\s+for\s+deployment)|cannot\s+be\s+deployed", re.I
)
_SAFETY_WORDS = re.compile(
    r"\bRAI\b|responsible\s+AI|safety|harm|moderation|content\s+filter", re.I
)
# Words of an error code (``trainingDataFailedRaiChecks``, ``unsafe_training_file``), matched whole:
# "rai" inside "training" is no safety word.
_SAFETY_CODE_WORDS = frozenset({"rai", "responsible", "safety", "harm", "harmful", "moderation", "unsafe",
                                "contentfilter"})
_DATA_CODE_WORDS = frozenset({"data", "file", "training", "import", "dataset"})
_MODEL_CODE_WORDS = frozenset({"model", "evaluation", "deploy", "deployment", "deployable"})

# The list after "harm types:" / "thresholds for" / "categories:", bracketed or not.
_LIST_AFTER = re.compile(
    r"(?:harm\s+(?:types?|categor(?:y|ies))|thresholds?\s+for|categor(?:y|ies)(?:\s+of\s+harm)?)\s*:?\s*"
    r"(\[[^\]]*\]|[^.\n]*)",
    re.I,
)


@dataclasses.dataclass(frozen=True)
class SafetyFinding:
    """What a safety failure says: its ``kind`` and the harm ``categories`` (normalised names)."""

    kind: SafetyKind
    categories: tuple[str, ...] = ()


def normalise_category(name: str) -> str:
    """One harm category name in the library's spelling: ``hate_fairness``, ``sexual``,
    ``violence`` or ``self_harm`` (``Self Harm``, ``self-harm``, ``SelfHarm``, ``Hate and Fairness``,
    ``hate`` all map there); any other name lower-cased with ``_`` between words."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name.strip())  # SelfHarm -> Self_Harm
    key = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return _ALIASES.get(key, key)


def _categories(message: str) -> tuple[str, ...]:
    found: list[str] = []
    match = _LIST_AFTER.search(message)
    if match is not None:
        listed = match.group(1)
        if listed.startswith("["):
            parts: Iterable[str] = re.split(r"[,;|]", listed.strip("[]"))
        else:
            parts = (m.group(0) for m in _CATEGORY_WORDS.finditer(listed))
        found = [normalise_category(p.strip(" '\"`")) for p in parts if p.strip(" '\"`")]
    if not found:  # no list: the category words anywhere in the message
        found = [normalise_category(m.group(0)) for m in _CATEGORY_WORDS.finditer(message)]
    return tuple(dict.fromkeys(c for c in found if c))


def _code_words(code: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", code)
    words = {w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w}
    if {"content", "filter"} <= words:
        words.add("contentfilter")
    return words


def parse_safety_failure(code: str | None, message: str | None) -> SafetyFinding | None:
    """The safety outcome a failed job's (or a refused deploy's) ``code`` and ``message`` describe,
    or ``None`` when they are about something else.

    The message decides the kind (the docs' wordings and close variants); a code that names RAI,
    safety, moderation or content filtering, with ``data``/``file`` or ``model``/``evaluation`` in it,
    decides it when the message does not."""
    text = message or ""
    kind: SafetyKind | None = None
    if _MODEL_TEXT.search(text) or (_NOT_DEPLOYABLE.search(text) and _SAFETY_WORDS.search(text)):
        kind = "model"
    elif _DATA_TEXT.search(text):
        kind = "data"
    elif code:
        words = _code_words(code)
        if words & _SAFETY_CODE_WORDS:
            if words & _MODEL_CODE_WORDS:
                kind = "model"
            elif words & _DATA_CODE_WORDS:
                kind = "data"
    if kind is None:
        return None
    return SafetyFinding(kind, _categories(text))


_CLI_SCREEN = ("foundry-tune validate FILE --safety-endpoint URL (the key in AZURE_CONTENT_SAFETY_KEY)")


def safety_hint(finding: SafetyFinding, *, cli: bool = False) -> str:
    """What to do about ``finding``, and whether the job is billed (as the docs say).

    :param cli: name the command-line way to screen the data (``foundry-tune validate FILE
        --safety-endpoint URL``) instead of ``Dataset.safety_check()``, for the CLI's output.
    """
    screener = _CLI_SCREEN if cli else "Dataset.safety_check()"
    if finding.kind == "data":
        return (
            "The service's safety screening flagged the training data, before any training (you are "
            "not charged for this job). Find and remove the flagged rows, then start the job again: "
            f"{screener} screens each row with Azure AI Content Safety and writes the kept and "
            f"dropped rows. See {DOCS_URL}"
        )
    return (
        "The trained model failed the service's safety evaluation and cannot be deployed (you are not "
        "charged for the training run). Review the training data or change the hyperparameters, then "
        f"start a new job: {screener} flags rows by harm category. See {DOCS_URL}"
    )


def safety_line(job_id: str, finding: SafetyFinding) -> str:
    """One line for a terminal: the job, which check failed, the harm categories."""
    what = ("failed the training-data safety check" if finding.kind == "data"
            else "produced a model that failed the safety evaluation (not deployable)")
    listed = ", ".join(finding.categories) if finding.categories else "not named"
    return f"{job_id} {what}; harm categories: {listed}"


def safety_error(
    job_id: str, code: str | None, message: str | None, finding: SafetyFinding | None = None
) -> SafetyCheckFailedError | None:
    """The typed error of a job whose ``code`` / ``message`` describe a safety failure, else ``None``."""
    finding = finding or parse_safety_failure(code, message)
    if finding is None:
        return None
    return SafetyCheckFailedError(
        job_id=job_id,
        kind=finding.kind,
        categories=finding.categories,
        code=code,
        service_message=message,
        hint=safety_hint(finding),
    )


def safety_refusal(job_id: str, exc: FoundryTuneError) -> SafetyCheckFailedError | None:
    """A deploy refused because the model failed its safety evaluation, as the model-safety error of
    job ``job_id`` (the service's refusal is the caller's ``__cause__``); ``None`` for any other error."""
    if not isinstance(exc, ServiceError):
        return None
    finding = parse_safety_failure(exc.code, exc.message)
    if finding is None:
        return None
    return safety_error(job_id, exc.code, exc.message, SafetyFinding("model", finding.categories))


def data_safety_message(categories: Iterable[str]) -> str:
    """The job error message of a data-safety failure, in the docs' wording (categories as the docs
    spell them there: ``hate_fairness``, ``self_harm``, ``violence``)."""
    names = ", ".join(dict.fromkeys(normalise_category(c) for c in categories))
    return (f"The provided training data failed RAI checks for harm types: [{names}]. "
            "Please fix the data and try again.")


def model_safety_message(categories: Iterable[str]) -> str:
    """The message of a model-safety failure, in the docs' wording (categories as the docs spell
    them there: ``Violence``, ``Self Harm``)."""
    unique = dict.fromkeys(normalise_category(c) for c in categories)
    names = ", ".join(_DISPLAY.get(c, c.replace("_", " ").title()) for c in unique)
    return (
        "This model is unable to be deployed. Model evaluation identified that this fine tuned model "
        f"scores above acceptable thresholds for [{names}]. Please review your training data set and "
        "resubmit the job."
    )
