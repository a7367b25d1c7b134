"""Grader template strings: ``{{item.x}}``, ``{{sample.output_text}}``, ``{{sample.output_json.x}}``.

Two jobs: find which dataset fields a grader references (so the data can be checked before
anything is uploaded) and render the templates against one sample and one item (local runs).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["TemplateRefs", "iter_strings", "render", "template_references"]

_SEGMENT = r"[A-Za-z0-9_\-]+"
_TEMPLATE = re.compile(
    r"\{\{\s*(?P<ns>item|sample)(?P<path>(?:\s*\.\s*" + _SEGMENT + r"|\s*\[\s*\d+\s*\])*)\s*\}\}"
)
_PATH_PART = re.compile(r"\.\s*(" + _SEGMENT + r")|\[\s*(\d+)\s*\]")


@dataclasses.dataclass(frozen=True)
class TemplateRefs:
    """What a grader's templates reference.

    ``item_fields``: the top-level row field ``x`` of every ``{{item.x...}}``;
    ``sample_output_json``: whether any template reads ``{{sample.output_json...}}`` (the model must
    answer in JSON, typically through ``response_format``).
    """

    item_fields: frozenset[str]
    sample_output_json: bool


def iter_strings(obj: Any) -> Iterator[str]:
    """Every string value inside a JSON-like object, depth first (keys are not included)."""
    stack = [obj]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, Mapping):
            stack.extend(reversed(list(current.values())))
        elif isinstance(current, (list, tuple)):
            stack.extend(reversed(current))


def _split_path(path: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _PATH_PART.finditer(path)]


def template_references(obj: Any) -> TemplateRefs:
    """Scan any JSON-like object (a raw grader dict, a string, a list) for template references."""
    fields: set[str] = set()
    output_json = False
    for text in iter_strings(obj):
        if "{{" not in text:
            continue
        for match in _TEMPLATE.finditer(text):
            path = _split_path(match.group("path"))
            if match.group("ns") == "item":
                if path:
                    fields.add(path[0])
            elif path and path[0] == "output_json":
                output_json = True
    return TemplateRefs(item_fields=frozenset(fields), sample_output_json=output_json)


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _resolve(root: Any, path: list[str]) -> tuple[bool, Any]:
    current = root
    for part in path:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, (list, tuple)) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current


def render(text: str, sample: Mapping[str, Any], item: Mapping[str, Any], missing: list[str]) -> str:
    """Substitute every template in ``text``. Values that are not strings are written as JSON.

    A reference that does not resolve renders as an empty string and is appended to ``missing``
    (the service reports these as invalid variables).
    """
    if "{{" not in text:
        return text

    def substitute(match: re.Match[str]) -> str:
        namespace = match.group("ns")
        path = _split_path(match.group("path"))
        root = item if namespace == "item" else sample
        found, value = _resolve(root, path)
        if not found:
            missing.append(".".join([namespace, *path]))
            return ""
        return _to_text(value)

    return _TEMPLATE.sub(substitute, text)
