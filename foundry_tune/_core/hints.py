"""What to do about the failures people actually hit: matched on the service's code and message."""

from __future__ import annotations

import re

from foundry_tune._core.safety import parse_safety_failure, safety_hint

__all__ = ["failure_hint"]

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"training.?type|does not support fine.?tuning|not support(ed)? .*training type", re.I),
        "Azure needs a training type this model and region accept: use "
        ".training_type('GlobalStandard') (or 'Standard' in a region that hosts the model, "
        "'Developer' for cheap trials; open models such as Ministral-3B train with GlobalStandard "
        "only: foundry_tune.lookup_model(name).training_types lists them).",
    ),
    (
        re.compile(r"n_examples|must have at least \d+ examples", re.I),
        "The training file has too few examples: the service needs at least 10. Add examples "
        "(Dataset.validate reports the count as file.too_few_examples before anything is uploaded).",
    ),
    (
        re.compile(r"rate.?limit", re.I),
        "The service is throttling requests and foundry-tune's retry budget ran out: wait a minute and "
        "call start() again (it reuses the uploaded files and never creates the job twice), or give "
        "Foundry a RetryPolicy with a larger total_timeout.",
    ),
    (
        re.compile(r"quota|too many (jobs|running)|limit (of|for) (running|queued|active)|exceeded", re.I),
        "A per-resource quota was reached (Foundry allows 1 running and 20 queued jobs, 100 in total, "
        "and 5 fine-tuned deployments). Wait for a job to finish, cancel one "
        "(foundry-tune jobs cancel ID), or use another resource or region.",
    ),
    (
        re.compile(r"(unsupported|invalid|unknown|not (a )?supported) .{0,20}model|model .{0,40}"
                   r"(not supported|unsupported|not available|not found|does not exist)", re.I),
        "This base model cannot be fine-tuned here: check the name and version "
        "(foundry_tune.known_models()) and that the model is offered for fine-tuning in this region.",
    ),
    (
        re.compile(r"invalid.?(training|validation)?.?file|file .{0,40}(invalid|malformed|format)|"
                   r"(training|validation)_file|jsonl|invalid_file|data format", re.I),
        "The service rejected the data: run `foundry-tune validate FILE --method ...` (or "
        "Dataset.validate) for line-by-line errors; every check the service makes is mirrored there.",
    ),
)


def failure_hint(code: str | None, message: str | None) -> str | None:
    """A hint for a failed job or rejected create, or ``None`` when the cause is not a known one."""
    finding = parse_safety_failure(code, message)
    if finding is not None:
        return safety_hint(finding)
    text = f"{code or ''} {message or ''}"
    for pattern, hint in _RULES:
        if pattern.search(text):
            return hint
    return None
