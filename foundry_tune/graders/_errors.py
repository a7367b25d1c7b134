"""Turn pydantic's validation errors into one readable [`GraderError`][GraderError] message."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["GRADER_TYPES", "describe_validation_error"]

GRADER_TYPES = frozenset(
    {"string_check", "text_similarity", "score_model", "label_model", "python", "multi", "endpoint"}
)


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for index, part in enumerate(loc):
        # A discriminated union puts the tag in the path (graders.x.string_check.input): drop it.
        if index >= 2 and loc[index - 2] == "graders" and part in GRADER_TYPES:
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def _message(error_type: str, msg: str) -> str:
    if error_type == "missing":
        return "is required"
    if error_type == "union_tag_invalid":
        return "has an unknown grader type (expected one of: " + ", ".join(sorted(GRADER_TYPES)) + ")"
    if error_type == "union_tag_not_found":
        return "is missing its 'type' (expected one of: " + ", ".join(sorted(GRADER_TYPES)) + ")"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg[:1].lower() + msg[1:]


def describe_validation_error(exc: ValidationError, what: str) -> str:
    """One line per problem, naming the field path; input values are never echoed (they may be secrets)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        location = _location(tuple(error["loc"]))
        message = _message(error["type"], error["msg"])
        problems.append(f"{location}: {message}" if location else message)
    if len(problems) == 1:
        return f"{what}: {problems[0]}"
    return f"{what}:\n" + "\n".join(f"  - {p}" for p in problems)
