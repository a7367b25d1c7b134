"""Shapes of wire bodies, redaction and shape differences (pure: no I/O).

A *shape* is the body with every value replaced by a typed placeholder, so that it can be shared
without giving away anything about a project:

- ``None`` stays ``None``; booleans become ``"<bool>"``; integers ``"<int>"``; other numbers
  ``"<number>"``;
- strings become ``"<id>"``, ``"<model>"``, ``"<name>"``, ``"<filename>"``, ``"<url>"``,
  ``"<datetime>"`` or ``"<text>"``, except the values of enum-like keys (``status``, ``object``, ``type``,
  ``trainingType``, ``provisioningState``, ``level``...), which are kept because they are the
  point, provided they look like an enum value and contain none of the sensitive strings;
- objects keep their keys, except user-defined maps (``metadata``, ``tags``, schema
  ``properties``) and keys that do not look like a schema key, which become ``"<key>"``;
- lists keep at most [`MAX_SHAPES`][MAX_SHAPES] distinct item shapes.

[`diff()`][diff] compares two shapes and returns [`Difference`][Difference] rows: missing and extra keys,
type changes and enum values the recorded side never showed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "ENUM_KEYS",
    "FREE_FORM_KEYS",
    "MAX_SHAPES",
    "Difference",
    "diff",
    "is_placeholder",
    "redact",
    "shape_of",
]

ENUM_KEYS = frozenset({
    "status", "object", "type", "trainingType", "training_type", "provisioningState", "level",
    "purpose", "format", "role", "code", "reasoning_effort", "createdByType", "lastModifiedByType",
    "versionUpgradeOption", "scaleType", "service_tier", "finish_reason",
})
"""Keys whose string values are kept in a shape (when they look like an enum value)."""

ENUM_PATHS = frozenset({("sku", "name"), ("sku", "tier")})
"""``(parent key, key)`` pairs whose string values are kept as well."""

FREE_FORM_KEYS = frozenset({"metadata", "tags", "headers", "graders", "$defs", "definitions",
                            "patternProperties"})
"""Keys whose own keys are user-defined: they become ``"<key>"`` (so do the ``properties`` of a
JSON schema, e.g. in a grader's ``response_format``)."""

SAFE_LITERALS = frozenset({"auto"})
"""String values kept wherever they appear (they carry meaning and no information)."""

MAX_SHAPES = 5
"""Distinct item shapes kept per list."""

MAX_ITEMS_SCANNED = 500
"""Items of one list looked at (the rest are ignored)."""

_ID_KEYS = frozenset({"id", "training_file", "validation_file", "result_files", "file_id", "etag",
                      "after", "before", "first_id", "last_id", "nextLink", "previous_response_id", "user",
                      "createdBy", "lastModifiedBy"})
_MODEL_KEYS = frozenset({"model", "fine_tuned_model", "fine_tuned_model_checkpoint", "base_model"})
_ENUM_VALUE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/ ]{0,63}$")
_LONG_NUMBER = re.compile(r"\d{5,}|[0-9a-fA-F]{12,}")
_KEY = re.compile(r"^[A-Za-z_$@][A-Za-z0-9_.\-$@]{0,63}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$")
_PLACEHOLDER = re.compile(r"^<[a-z]+>$")
_SCALAR_KINDS = {"<bool>": "boolean", "<int>": "number", "<number>": "number"}


def is_placeholder(value: object) -> bool:
    """Whether ``value`` is a typed placeholder such as ``"<id>"``."""
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))


def redact(text: str, sensitive: Mapping[str, str]) -> str:
    """``text`` with every occurrence of a sensitive string (a key of ``sensitive``) replaced by
    its placeholder (the value), longest strings first, case-insensitively."""
    for secret in sorted((s for s in sensitive if s), key=len, reverse=True):
        text = re.sub(re.escape(secret), sensitive[secret], text, flags=re.IGNORECASE)
    return text


def shape_of(value: Any, *, sensitive: Iterable[str] = ()) -> Any:
    """The JSON-able shape of a decoded JSON ``value`` (see the module's docstring).

    An enum value that contains one of the ``sensitive`` strings (e.g. the account name inside an
    ARM ``type``) has that part replaced by ``<redacted>``; one that does not look like an enum
    value at all becomes ``"<text>"``.
    """
    secrets = {s: "<redacted>" for s in sensitive if s and len(s) >= 3}
    return _shape(value, None, None, secrets)


def _shape(value: Any, key: str | None, parent: str | None, secrets: Mapping[str, str]) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "<bool>"
    if isinstance(value, int):
        return "<int>"
    if isinstance(value, float):
        return "<number>"
    if isinstance(value, str):
        return _string_shape(value, key, parent, secrets)
    if isinstance(value, Mapping):
        return _object_shape(value, key, key in FREE_FORM_KEYS, secrets)
    if isinstance(value, (list, tuple)):
        shapes: list[Any] = []
        for item in list(value)[:MAX_ITEMS_SCANNED]:
            item_shape = _shape(item, key, parent, secrets)
            if item_shape not in shapes and len(shapes) < MAX_SHAPES:
                shapes.append(item_shape)
        return shapes
    return "<text>"


def _object_shape(value: Mapping[Any, Any], key: str | None, free: bool,
                  secrets: Mapping[str, str]) -> dict[str, Any]:
    schema = value.get("type") == "object"  # a JSON schema: its "properties" are user-defined names
    out: dict[str, Any] = {}
    for k, v in value.items():
        name = str(k)
        safe = not free and _KEY.match(name) is not None and _clean(name, secrets)
        shown = name if safe else "<key>"
        if shown in out:  # several user-defined keys: the first one's value shape stands for all
            continue
        if safe and schema and name == "properties" and isinstance(v, Mapping):
            out[shown] = _object_shape(v, name, True, secrets)
        else:
            out[shown] = _shape(v, name if safe else None, key, secrets)
    return out


def _string_shape(value: str, key: str | None, parent: str | None, secrets: Mapping[str, str]) -> str:
    if value in SAFE_LITERALS:
        return value
    if key is not None and (key in ENUM_KEYS or (parent, key) in ENUM_PATHS):
        kept = redact(value, secrets)
        if _ENUM_VALUE.match(kept.replace("<redacted>", "x")) and not _LONG_NUMBER.search(kept):
            return kept
        return "<text>"
    lowered = value.lower()
    if lowered.startswith(("http://", "https://")):
        return "<url>"
    if key is not None and (key in _ID_KEYS or key.endswith(("_id", "Id"))):
        return "<id>"
    if key in _MODEL_KEYS or (parent == "model" and key == "name"):
        return "<model>"
    if key == "filename":
        return "<filename>"
    if key == "name":
        return "<name>"
    if _DATETIME.match(value):
        return "<datetime>"
    return "<text>"


def _clean(text: str, secrets: Mapping[str, str]) -> bool:
    lowered = text.lower()
    return not any(s.lower() in lowered for s in secrets)


# -- differences ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Difference:
    """One way the current answer's shape differs from the recorded one.

    ``kind`` is ``"missing key"`` (recorded, not answered now), ``"extra key"`` (answered now,
    never recorded), ``"type"``, ``"enum"`` (a value the recording never showed), ``"empty list"``
    (the recording had items to compare, the current answer none), ``"status"`` (HTTP status) or
    ``"call"`` (one side could not make the call). ``path`` names the key, ``[]`` marking list
    items, e.g. ``data[].hyperparameters.n_epochs``.
    """

    call: str
    kind: str
    path: str
    recorded: str
    current: str

    def __str__(self) -> str:
        where = self.path or "(body)"
        return f"{self.call}: {self.kind} {where}: recorded {self.recorded}, now {self.current}"

    def as_dict(self) -> dict[str, str]:
        """The difference as a JSON-able dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Node:
    kinds: set[str] = dataclasses.field(default_factory=set)
    keys: dict[str, _Node] | None = None
    items: _Node | None = None
    enums: set[str] = dataclasses.field(default_factory=set)


def _node(shape: Any) -> _Node:
    node = _Node()
    _absorb(node, shape)
    return node


def _absorb(node: _Node, shape: Any) -> None:
    if shape is None:
        node.kinds.add("null")
    elif isinstance(shape, bool):  # a hand-edited record may hold plain values
        node.kinds.add("boolean")
    elif isinstance(shape, (int, float)):
        node.kinds.add("number")
    elif isinstance(shape, str):
        kind = _SCALAR_KINDS.get(shape)
        if kind is not None:
            node.kinds.add(kind)
        else:
            node.kinds.add("string")
            if not is_placeholder(shape):
                node.enums.add(shape)
    elif isinstance(shape, Mapping):
        node.kinds.add("object")
        if node.keys is None:
            node.keys = {}
        for k, v in shape.items():
            child = node.keys.setdefault(str(k), _Node())
            _absorb(child, v)
    elif isinstance(shape, (list, tuple)):
        node.kinds.add("array")
        for item in shape:
            if node.items is None:
                node.items = _Node()
            _absorb(node.items, item)
    else:
        node.kinds.add("string")


def _kinds(node: _Node) -> str:
    return " or ".join(sorted(node.kinds)) or "nothing"


def diff(recorded: Any, current: Any, *, call: str = "") -> list[Difference]:
    """The differences between a recorded shape and the current one, ordered by path.

    ``null`` is compatible with every type (a key may be unset in one state and set in another),
    integers and other numbers are both ``number``, and an enum difference is reported only for
    values the recorded side never showed.
    """
    out: list[Difference] = []
    _compare(_node(recorded), _node(current), call, "", out)
    return out


def _compare(rec: _Node, cur: _Node, call: str, path: str, out: list[Difference]) -> None:
    rec_kinds, cur_kinds = rec.kinds - {"null"}, cur.kinds - {"null"}
    if rec_kinds and cur_kinds and cur_kinds - rec_kinds:
        out.append(Difference(call, "type", path, _kinds(rec), _kinds(cur)))
    new_values = sorted(cur.enums - rec.enums)
    if rec.enums and cur.enums and new_values:
        kind = "enum"
        if {v.lower() for v in new_values} <= {v.lower() for v in rec.enums}:
            kind = "enum (case)"
        out.append(Difference(call, kind, path, ", ".join(sorted(rec.enums)), ", ".join(new_values)))
    if rec.keys is not None and cur.keys is not None:
        for key in rec.keys:
            child = _join(path, key)
            if key not in cur.keys:
                out.append(Difference(call, "missing key", child, _kinds(rec.keys[key]), "absent"))
            else:
                _compare(rec.keys[key], cur.keys[key], call, child, out)
        for key in cur.keys:
            if key not in rec.keys:
                out.append(Difference(call, "extra key", _join(path, key), "absent", _kinds(cur.keys[key])))
    if "array" in rec.kinds and "array" in cur.kinds and rec.items is not None:
        if cur.items is None:
            out.append(Difference(call, "empty list", path, _kinds(rec.items) + " items", "no items"))
        else:
            _compare(rec.items, cur.items, call, path + "[]", out)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
