"""Shared helpers for the schema conformance tests: OpenAPI 3.0 leftovers translated to JSON Schema
2020-12, a ``referencing`` registry for a spec document and validation against one of its schemas."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def as_json_schema(node: Any) -> Any:
    """Translate OpenAPI 3.0 leftovers (boolean ``exclusiveMinimum`` with ``minimum``,
    ``nullable``) to their JSON Schema 2020-12 meaning, recursively; returns a new tree."""
    if isinstance(node, list):
        return [as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: as_json_schema(v) for k, v in node.items()}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if out.get(exclusive) is True and bound in out:
            out[exclusive] = out.pop(bound)
        elif out.get(exclusive) is False:
            del out[exclusive]
    if out.pop("nullable", False):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def spec_registry(spec: dict[str, Any]) -> Registry[Any]:
    """A registry holding ``spec`` (already translated) as the resource ``spec``, so that its
    ``#/components/schemas/...`` references resolve."""
    return Registry().with_resource("spec", Resource.from_contents(spec, default_specification=DRAFT202012))


def schema_problems(registry: Registry[Any], name: str, body: Any) -> list[str]:
    """Where ``body`` breaks the component schema ``name`` (empty when it validates)."""
    validator = Draft202012Validator({"$ref": f"spec#/components/schemas/{name}"}, registry=registry)
    problems = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in problems]


def assert_schema(registry: Registry[Any], name: str, body: Any) -> None:
    """Fail with the first problems when ``body`` does not validate against schema ``name``."""
    problems = schema_problems(registry, name, body)
    assert not problems, f"{name}: " + "; ".join(problems[:5])
