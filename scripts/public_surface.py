"""Dump the public surface of foundry-tune as stable JSON, or check it against a frozen dump.

    python scripts/public_surface.py > surface.json      # the current surface
    python scripts/public_surface.py --check FILE        # exit 1 if a name or signature in FILE
                                                         # is gone or changed (additions are listed)

``--check`` reports every difference; ``tests/test_public_surface.py`` applies its documented
exemptions on top (constructors of ``HANDED_OUT`` classes, listed annotation changes, helpers that
left a subpackage ``__all__``).

The surface of each module in :data:`MODULES` is every name in its ``__all__`` (or, without
``__all__``, every public attribute defined there):

- functions: ``async`` flag, parameters (name, kind, default, annotation) in order, return annotation;
- classes: public ancestors (``bases``: the MRO minus the class itself and ``object``, foundry-tune
  classes only when exported somewhere in the surface, by their exported path) and every public
  member defined by a foundry-tune class in the MRO: methods (``method`` / ``classmethod`` /
  ``staticmethod``, with ``async``), properties, dataclass and pydantic fields, enum members, class
  attributes, plus the protocol dunders in :data:`DUNDERS` and ``__init__``;
- modules re-exported as names (``foundry_tune.graders``): the module's name;
- type aliases: their normalised repr; other constants: their type.

Normalisation, so that the dump is stable across runs and private module moves: annotations are the
source strings with whitespace and quotes removed and dotted module prefixes dropped
(``foundry_tune.job.Job`` -> ``Job``); defaults are ``repr`` with memory addresses and module
prefixes inside ``<...>`` dropped. Keys are sorted; parameters keep their order.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import inspect
import json
import re
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

MODULES = (
    "foundry_tune",
    "foundry_tune.aio",
    "foundry_tune.client",
    "foundry_tune.job",
    "foundry_tune.deployment",
    "foundry_tune.dataset",
    "foundry_tune.evaluation",
    "foundry_tune.evaluation.metrics",
    "foundry_tune.graders",
    "foundry_tune.methods",
    "foundry_tune.catalog",
    "foundry_tune.errors",
    "foundry_tune.sweep",
    "foundry_tune.emulator",
    "foundry_tune.doctor",
)
"""The modules whose public names are frozen."""

DUNDERS = frozenset({
    "__init__", "__call__", "__enter__", "__exit__", "__aenter__", "__aexit__", "__iter__", "__aiter__",
    "__next__", "__anext__", "__len__", "__getitem__", "__contains__", "__await__", "__bool__",
})
"""Dunder members that are part of how users call a class (construction, protocols)."""

HANDED_OUT = frozenset({
    "Job", "AsyncJob", "JobsAPI", "AsyncJobsAPI", "FineTuneBuilder", "AsyncFineTuneBuilder",
    "Deployment", "AsyncDeployment", "DeploymentsAPI", "AsyncDeploymentsAPI",
})
"""Classes users get from the library (``ft.fine_tune()``, ``ft.jobs``, ``job.deploy()``, ...) and
never construct (the docs never call them): their ``__init__`` is dumped but not a promise, the
tests neither freeze it nor compare it between the flavours. ``Sweep(builder, grid, ...)`` is
documented as constructible, so its constructor is frozen like any other signature."""

FORMAT = 1
_PACKAGE = "foundry_tune"
_ADDRESS = re.compile(r"\s+at\s+0x[0-9a-fA-F]+")
_DOTTED = re.compile(r"\b(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_])")
_SPACE = re.compile(r"\s+")


def normalise_annotation(annotation: Any) -> str | None:
    """An annotation as a stable string (``None`` when there is none)."""
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = _SPACE.sub("", text).replace('"', "").replace("'", "")
    return _DOTTED.sub("", text)


def normalise_default(default: Any) -> str | None:
    """A default value's repr without memory addresses or module paths (``None`` when there is none)."""
    if default is inspect.Parameter.empty:
        return None
    if isinstance(default, set | frozenset):  # element order follows the hash seed
        inner = ", ".join(sorted(normalise_default(item) or "" for item in default))
        return f"{type(default).__name__}({{{inner}}})"
    text = _ADDRESS.sub("", repr(default))
    if text.startswith("<") and text.endswith(">"):
        text = _DOTTED.sub("", text)
    return text


def signature_of(func: Any, *, drop_first: bool = False) -> dict[str, Any] | None:
    """Parameters and return annotation of ``func`` (``None`` when Python cannot tell)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if drop_first and params and params[0].kind in positional:
        params = params[1:]
    return {
        "parameters": [
            {
                "name": p.name,
                "kind": p.kind.name,
                "default": normalise_default(p.default),
                "annotation": normalise_annotation(p.annotation),
            }
            for p in params
        ],
        "returns": normalise_annotation(signature.return_annotation),
    }


def _is_async(func: Any) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


def _ours(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


def _public(name: str) -> bool:
    return not name.startswith("_") or name in DUNDERS


def _function(func: Any, kind: str = "function", *, drop_first: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "async": _is_async(func)}
    entry.update(signature_of(func, drop_first=drop_first) or {"parameters": None, "returns": None})
    return entry


def _owner(cls: type, name: str) -> type | None:
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def _member(cls: type, name: str, raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, staticmethod):
        return _function(raw.__func__, "staticmethod")
    if isinstance(raw, classmethod):
        return _function(raw.__func__, "classmethod", drop_first=True)
    if isinstance(raw, property):
        returns = inspect.signature(raw.fget).return_annotation if raw.fget else inspect.Parameter.empty
        settable = raw.fset is not None
        return {"kind": "property", "annotation": normalise_annotation(returns), "settable": settable}
    if hasattr(raw, "func") and type(raw).__name__ == "cached_property":
        return {"kind": "property", "annotation": normalise_annotation(
            inspect.signature(raw.func).return_annotation), "settable": True}
    if inspect.isfunction(raw):
        return _function(raw, "method", drop_first=True)
    if isinstance(raw, enum.Enum):
        return {"kind": "enum_member", "value": repr(raw.value)}
    if isinstance(raw, type):
        return {"kind": "class"}
    if callable(raw):
        return {"kind": "callable"}
    return {"kind": "attribute", "type": type(raw).__name__}


def _members(cls: type) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name in dir(cls):
        # pydantic writes a model_post_init into a model that has private attributes: not ours
        if not _public(name) or name == "model_post_init":
            continue
        owner = _owner(cls, name)
        if owner is None or not _ours(owner):
            continue
        if name == "__init__" and issubclass(cls, enum.Enum):
            continue
        entry = _member(cls, name, vars(owner)[name])
        if entry is not None:
            members[name] = entry
    annotations: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if _ours(klass):
            annotations.update(vars(klass).get("__annotations__", {}))
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    pydantic_fields: dict[str, Any] = getattr(cls, "model_fields", None) or {}
    if not isinstance(pydantic_fields, dict):
        pydantic_fields = {}
    for name, annotation in annotations.items():
        if not _public(name) or name.startswith("__") or "ClassVar" in str(annotation):
            continue
        if name in fields:
            field = fields[name]
            missing = dataclasses.MISSING
            has_default = field.default is not missing or field.default_factory is not missing
            members[name] = {"kind": "field", "annotation": normalise_annotation(annotation),
                             "required": not has_default}
        elif name in pydantic_fields:
            members[name] = {"kind": "field", "annotation": normalise_annotation(annotation),
                             "required": bool(pydantic_fields[name].is_required())}
        elif name not in members:
            members[name] = {"kind": "attribute", "annotation": normalise_annotation(annotation)}
    if issubclass(cls, enum.Enum):
        for name, member in cls.__members__.items():
            members[name] = {"kind": "enum_member", "value": repr(member.value)}
    return members


def _class(cls: type, exported: dict[int, str]) -> dict[str, Any]:
    bases = []
    for klass in cls.__mro__[1:]:
        if klass is object:
            continue
        if _ours(klass):
            if id(klass) in exported:
                bases.append(exported[id(klass)])
        elif not klass.__name__.startswith("_"):
            bases.append(f"{klass.__module__}.{klass.__qualname__}")
    return {"kind": "class", "bases": bases, "members": _members(cls)}


def describe(value: Any, exported: dict[int, str] | None = None) -> dict[str, Any]:
    """The surface entry of one public object (``exported`` maps exported classes to their paths)."""
    exported = {} if exported is None else exported
    if isinstance(value, types.ModuleType):
        return {"kind": "module", "module": value.__name__}
    if isinstance(value, type):
        return _class(value, exported)
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return _function(value)
    if type(value).__module__ == "typing" or isinstance(value, types.GenericAlias | types.UnionType):
        return {"kind": "alias", "value": normalise_annotation(value)}
    if callable(value):
        entry = {"kind": "callable", "type": type(value).__name__}
        entry.update(signature_of(value) or {})
        return entry
    return {"kind": "constant", "type": type(value).__name__}


def public_names(module: types.ModuleType) -> list[str]:
    """``__all__``, or every public attribute the module defines itself."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return sorted(names)
    return sorted(
        name for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", module.__name__) == module.__name__
        and not isinstance(value, types.ModuleType)
    )


def _modules() -> Iterator[tuple[str, types.ModuleType | None]]:
    for name in MODULES:
        try:
            yield name, importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            yield name, None


def surface() -> dict[str, Any]:
    """The public surface of every module in :data:`MODULES` (absent modules are ``null``)."""
    modules = dict(_modules())
    values: dict[str, dict[str, Any]] = {}
    exported: dict[int, str] = {}
    for module_name, module in modules.items():
        if module is None:
            continue
        values[module_name] = {name: getattr(module, name) for name in public_names(module)}
        for name, value in values[module_name].items():
            if isinstance(value, type) and _ours(value):
                exported.setdefault(id(value), f"{module_name}.{name}")
    # Prefer the shortest public path (``foundry_tune.Job`` over ``foundry_tune.job.Job``) for bases.
    for module_name in sorted(values, key=lambda m: (m.count("."), m)):
        for name, value in values[module_name].items():
            if isinstance(value, type) and _ours(value):
                path = f"{module_name}.{name}"
                if path.count(".") < exported[id(value)].count("."):
                    exported[id(value)] = path
    result: dict[str, Any] = {}
    for module_name, module in modules.items():
        if module is None:
            result[module_name] = None
            continue
        result[module_name] = {name: describe(value, exported) for name, value in values[module_name].items()}
    return {"format": FORMAT, "modules": result}


def flatten(dump: dict[str, Any]) -> dict[str, Any]:
    """Every frozen item by dotted path: ``module:Name`` and ``module:Name.member``.

    A class item holds its bases and the names of its members; each member is its own item, so an
    added member shows as an addition and a changed one as a change of that member only.
    """
    items: dict[str, Any] = {}
    for module_name, names in dump["modules"].items():
        if names is None:
            continue
        for name, entry in names.items():
            key = f"{module_name}:{name}"
            if entry["kind"] == "class":
                items[key] = {"kind": "class", "bases": entry["bases"]}
                for member, member_entry in entry["members"].items():
                    items[f"{key}.{member}"] = member_entry
            else:
                items[key] = entry
    return items


@dataclasses.dataclass(frozen=True)
class Comparison:
    """How a surface differs from a frozen one."""

    removed: list[str]
    changed: list[str]
    added: list[str]

    @property
    def compatible(self) -> bool:
        """Nothing frozen was removed or changed."""
        return not self.removed and not self.changed


def _bases_compatible(old: dict[str, Any], new: dict[str, Any]) -> bool:
    # A class keeps every public ancestor it had; gaining one is not a break.
    return old.get("kind") == new.get("kind") and set(old["bases"]) <= set(new["bases"])


def _new_parameters(old: dict[str, Any], new: dict[str, Any]) -> list[str] | None:
    """The parameters ``new`` adds to ``old`` compatibly, or ``None`` when it is not compatible.

    Compatible: everything else equal, the old parameters kept in order and unchanged, and each
    new one optional (it has a default, is ``*args`` / ``**kwargs``, or comes after every old one
    and is keyword-only with a default).
    """
    rest = {k: v for k, v in old.items() if k != "parameters"}
    if rest != {k: v for k, v in new.items() if k != "parameters"}:
        return None
    old_params, new_params = old.get("parameters"), new.get("parameters")
    if not isinstance(old_params, list) or not isinstance(new_params, list):
        return None
    kept = [p for p in new_params if p["name"] in {q["name"] for q in old_params}]
    if kept != old_params:
        return None
    added = [p for p in new_params if p not in old_params]
    optional = ("VAR_POSITIONAL", "VAR_KEYWORD")
    if any(p["default"] is None and p["kind"] not in optional for p in added):
        return None
    # A new positional parameter before an old one would shift positional calls.
    last_old = max((new_params.index(p) for p in kept), default=-1)
    positional = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
    if any(p["kind"] in positional and new_params.index(p) < last_old for p in added):
        return None
    return [p["name"] for p in added]


_READABLE = frozenset({"property", "field", "attribute"})


def _same_reading(old: dict[str, Any], new: dict[str, Any]) -> bool:
    # A read-only property that became a dataclass field (or back) reads the same for users.
    return old.get("kind") in _READABLE and new.get("kind") in _READABLE and (
        old.get("annotation") == new.get("annotation")
    )


def compare(frozen: dict[str, Any], current: dict[str, Any]) -> Comparison:
    """Compare ``current`` against ``frozen`` item by item.

    Attributes compare by what reading them gives: a property, a dataclass field and a class
    attribute with the same annotation are the same item.

    ``added`` holds new items (``module:Name``, ``module:Class.member``) and new optional
    parameters of frozen callables (``module:Class.member(param)``).
    """
    old, new = flatten(frozen), flatten(current)
    removed = sorted(key for key in old if key not in new)
    changed: list[str] = []
    added = [key for key in new if key not in old]
    for key in old:
        if key not in new or old[key] == new[key]:
            continue
        if old[key].get("kind") == "class" and _bases_compatible(old[key], new[key]):
            continue
        if _same_reading(old[key], new[key]):
            continue
        params = _new_parameters(old[key], new[key])
        if params is None:
            changed.append(key)
        else:
            added.extend(f"{key}({name})" for name in params)
    return Comparison(removed=removed, changed=sorted(changed), added=sorted(added))


def dumps(dump: dict[str, Any]) -> str:
    """The stable JSON text of a dump."""
    return json.dumps(dump, indent=1, sort_keys=True) + "\n"


def _explain(comparison: Comparison, frozen: dict[str, Any], current: dict[str, Any],
             write: Callable[[str], Any]) -> None:
    old, new = flatten(frozen), flatten(current)
    for key in comparison.removed:
        write(f"removed: {key}\n")
    for key in comparison.changed:
        write(f"changed: {key}\n  was: {json.dumps(old[key], sort_keys=True)}\n"
              f"  now: {json.dumps(new[key], sort_keys=True)}\n")
    for key in comparison.added:
        write(f"added:   {key}\n")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", metavar="FILE", help="compare with a frozen dump instead of printing")
    args = parser.parse_args(argv)
    current = surface()
    if args.check is None:
        sys.stdout.write(dumps(current))
        return 0
    with open(args.check, encoding="utf-8") as fh:
        frozen = json.load(fh)
    comparison = compare(frozen, current)
    _explain(comparison, frozen, current, sys.stdout.write)
    return 0 if comparison.compatible else 1


if __name__ == "__main__":
    sys.exit(main())
