"""The public surface is frozen: what users import keeps its name and signature (issue 11).

``tests/data/public_surface_baseline.json`` is the surface of the code before issue 11's refactor,
written once by ``scripts/public_surface.py`` from an untouched export of commit 80fb509 and never
regenerated. (To see what changed: ``python scripts/public_surface.py --check
tests/data/public_surface_baseline.json``.)

Rules:

- **Nothing frozen changes.** Every name and class member in the baseline exists with the same
  description (kind, ``async``, parameter names / kinds / defaults / annotations in order, return
  annotation; bases may only grow). A callable may gain optional parameters after its old ones:
  that is an addition. The one exception to "same ``__all__``": a *helper* (see below) may leave
  a subpackage's ``__all__`` if it stays importable from the same module, unchanged.
  The constructors of the classes users never construct (``HANDED_OUT`` in the script: ``Job``,
  ``AsyncJob``, the builders, ...) are not frozen.
  Deliberate annotation changes that keep every call working are listed in
  :data:`ANNOTATION_CHANGES`, old and new text exactly.
- **Every addition is in the changelog.** Each added name, class member or parameter is named in
  ``CHANGELOG.md``'s ``## [Unreleased]`` section, in backticks (a "span" below is the text between
  two backticks; a span "names X" when X appears in it as a dotted identifier, ``foo.X`` or ``X``,
  not as part of a longer one):

  * a new name ``N``: a span whose text up to its first ``(`` ends with ``N`` (``AsyncSweep``,
    ``foundry_tune.aio.AsyncSweep``, ``AsyncSweep(...)``);
  * a new member ``m`` of class ``C``: a span naming ``C.m`` (``AsyncFoundry.close()``), or a line
    with a span naming ``C`` (``AsyncFoundry``, ``foundry_tune.aio.AsyncFoundry``) and a span that
    is exactly the member (``close``, ``close()``, ``.close``, ``close(...)``);
  * members of a new class come with it; constructors of ``HANDED_OUT`` classes are exempt;
  * a new parameter ``p`` of ``f`` (a function or ``C.m``): a line that documents ``f`` as above
    and has a span starting with ``p=`` or exactly ``p``, or one span naming ``f`` followed by
    ``p=`` (``evaluate(..., completer=...)``);
    a new constructor parameter ``p`` of class ``C``: also a span ``C(..., p=...)``.

- The root ``foundry_tune/__init__.py`` keeps three lists by hand: the ``TYPE_CHECKING`` imports,
  the ``_LAZY`` table and ``__all__``. They agree exactly, and each lazy name resolves to what the
  table says.
- **Subpackage ``__all__`` lists export no helpers.** A *helper* is a name in the ``__all__`` of a
  module of :data:`SUBPACKAGES` that is a plain function or a constant (not a class, module or type
  alias) and either is one of :data:`INTERNAL` (named internal by issue 11 / its review), or is
  neither exported by the root package nor documented for users. *Documented* means that
  ``README.md`` or a page under ``docs/`` (the reference pages ``docs/reference/*`` included)
  names it: a ``::: <module>.<name>`` directive, a dotted reference ``<module>.<name>`` (or with the
  module's last component, ``graders.load``), an import ``from <module> import ... <name>``, or a
  backticked span that is exactly ``<name>`` or ``<name>(...)``. A whole-module directive
  (``::: foundry_tune.graders``) does not count: it documents whatever ``__all__`` holds.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from _scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tests" / "data" / "public_surface_baseline.json"


surface = load_script("public_surface.py")

ANNOTATION_CHANGES: dict[tuple[str, str], tuple[str, str]] = {
    # issue 11: "errors names no dataset type"; a ValidationReport is a ReportLike.
    ("DatasetValidationError.__init__", "report"): ("ValidationReport", "ReportLike"),
    # issue 11: "the connection has one name throughout": the Connection protocol of the old job
    # package and evaluate's untyped `foundry` are the flavour's Foundry (a field: param "").
    ("FineTuneBuilder.ft", ""): ("Connection", "Foundry"),
    ("Job.attach", "ft"): ("Connection", "Foundry"),
    ("evaluate", "foundry"): ("object|None", "Foundry|None"),
    # issue 11, parity: an async callback may be a plain or a coroutine function (widened, not narrowed)
    ("AsyncFineTuneBuilder.start", "on_progress"): ("Callable[[str],None]|None",
                                                    "Callable[[str],MaybeAwaitable[None]]|None"),
    ("AsyncJob.wait", "on_event"): ("Callable[[JobEvent],None]|None",
                                    "Callable[[JobEvent],MaybeAwaitable[None]]|None"),
    # issue 13: progress= takes the same strings everywhere (widened: adds str, as Job.wait has).
    # The key covers foundry_tune.evaluation and the root; foundry_tune.aio:evaluate is in
    # APPROVED_CHANGES and AsyncSweep is not frozen, so neither needs its own entry.
    ("evaluate", "progress"): ("bool|Callable[[ProgressUpdate],None]|None",
                               "bool|str|Callable[[ProgressUpdate],None]|None"),
    ("Sweep.wait", "progress"): ("bool|Callable[[Sweep],None]|None",
                                 "bool|str|Callable[[Sweep],None]|None"),
    # issue 14: training and validation data may be a URL the service imports (widened).
    ("FineTuneBuilder.training", ""): ("Dataset|_RemoteFile|None", "Dataset|_RemoteFile|FileURL|None"),
    ("FineTuneBuilder.validation", ""): ("Dataset|_RemoteFile|None", "Dataset|_RemoteFile|FileURL|None"),
    # issue 14: a plan may say a file is imported from a URL (widened).
    ("PlannedFile.action", ""): ("Literal[upload,reuse,use]", "Literal[upload,reuse,use,import]"),
    ("PlannedFile.__init__", "action"): ("Literal[upload,reuse,use]", "Literal[upload,reuse,use,import]"),
}
APPROVED_CHANGES: dict[str, str] = {
    # issue 11: the async builder no longer wraps a connection-less sync builder (its old `spec`
    # field); `spec` is now the JobSpec description both flavours hold (named in CHANGELOG.md).
    "foundry_tune.aio:AsyncFineTuneBuilder.spec": "JobSpec, not a sync FineTuneBuilder",
    # issue 11, parity: gains `completer=` (an addition, named in CHANGELOG.md) and its `progress`
    # callback may also be a coroutine function (widened).
    "foundry_tune.aio:evaluate": "completer= added; progress may be a coroutine function",
    # issue 13: chat() can return the whole message (overloads: str by default); it gains the
    # keyword-only `message=`, `tools=`, `tool_choice=` (named in CHANGELOG.md), so the
    # implementation's return annotation is `str | ChatCompletionMessage`.
    "foundry_tune.aio:AsyncDeployment.chat": "message=/tools=/tool_choice= added; str unless message=True",
    "foundry_tune.deployment:Deployment.chat": "message=/tools=/tool_choice= added; str unless message=True",
    "foundry_tune:Deployment.chat": "message=/tools=/tool_choice= added; str unless message=True",
    # issue 14: start() gains the keyword-only `max_cost=` after the parameters it had (named in
    # CHANGELOG.md); its on_progress was widened in issue 11 (ANNOTATION_CHANGES), and one entry
    # cannot hold both kinds of change.
    "foundry_tune.aio:AsyncFineTuneBuilder.start": "max_cost= added",
    # issue 14: wait() gains the keyword-only `max_cost=`, `via=`, `receiver=`, `safety_poll=`
    # after the parameters it had (named in CHANGELOG.md); on_event was widened in issue 11.
    "foundry_tune.aio:AsyncJob.wait": "max_cost=/via=/receiver=/safety_poll= added",
    # issue 14: checkpoints() returns `Checkpoints`, a list[Checkpoint] subclass (every list use
    # keeps working) that prints as a table of the checkpoints' metrics.
    "foundry_tune.aio:AsyncJob.checkpoints": "returns Checkpoints, a list[Checkpoint]",
    "foundry_tune.job:Job.checkpoints": "returns Checkpoints, a list[Checkpoint]",
    "foundry_tune:Job.checkpoints": "returns Checkpoints, a list[Checkpoint]",
}
"""(``Class.member`` or function name, parameter name or ``"return"``) -> (old, new) annotation."""

SUBPACKAGES = tuple(m for m in surface.MODULES if m != "foundry_tune")
"""The modules whose ``__all__`` must hold no helpers (every frozen module but the root)."""

INTERNAL = frozenset({"translate", "remaining_budget"})
"""Names issue 11 calls internal helpers, whatever the docs say about them."""

# Helpers in subpackage __all__ lists that are tolerated: none since issue 11 (the 34 it found left
# __all__ or were documented). Keep it empty: a helper in a subpackage __all__ fails the test.
KNOWN_HELPER_EXPORTS: frozenset[str] = frozenset()


@cache
def baseline() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(BASELINE.read_text(encoding="utf-8"))
    return result


@cache
def current() -> dict[str, Any]:
    result: dict[str, Any] = surface.surface()
    return result


# --- helpers (the definition in the module docstring) ------------------------------------------


@cache
def _docs_text() -> str:
    pages = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages if page.is_file())


def is_documented(module: str, name: str, text: str) -> bool:
    """``name`` of ``module`` is named for users in ``text`` (the rule in the module docstring)."""
    n, m, last = re.escape(name), re.escape(module), re.escape(module.rsplit(".", 1)[-1])
    pattern = (
        rf"^:::\s*(?:{m}|foundry_tune)\.{n}\s*$"
        rf"|(?<![\w.])(?:{m}|{last})\.{n}(?!\w)"
        rf"|\bfrom\s+{m}\s+import\s+(?:\([^)]*|[^\n]*)(?<!\w){n}(?!\w)"
        rf"|`{n}(?:\([^`]*\))?`"
    )
    return re.search(pattern, text, re.MULTILINE) is not None


def _is_function_or_constant(entry: dict[str, Any]) -> bool:
    return entry["kind"] in {"function", "constant", "callable"}


def is_helper(module: str, name: str, entry: dict[str, Any], root_names: set[str], text: str) -> bool:
    """A plain function or constant that is internal or neither root-exported nor documented."""
    if not _is_function_or_constant(entry):
        return False
    return name in INTERNAL or (name not in root_names and not is_documented(module, name, text))


def helper_exports(dump: dict[str, Any], text: str) -> set[str]:
    root_names = set(dump["modules"]["foundry_tune"] or {})
    found = set()
    for module in SUBPACKAGES:
        for name, entry in (dump["modules"].get(module) or {}).items():
            if is_helper(module, name, entry, root_names, text):
                found.add(f"{module}:{name}")
    return found


# --- (a) nothing frozen is removed or changed -------------------------------------------------


def _allowed_annotation_change(key: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """``old`` -> ``new`` differs only in annotations listed in :data:`ANNOTATION_CHANGES`."""
    where = key.split(":", 1)[1]
    if old.get("kind") == new.get("kind") == "field":
        rest_old = {k: v for k, v in old.items() if k != "annotation"}
        rest_new = {k: v for k, v in new.items() if k != "annotation"}
        return rest_old == rest_new and ANNOTATION_CHANGES.get((where, "")) == (
            old.get("annotation"), new.get("annotation"))
    if old.get("parameters") is None or new.get("parameters") is None:
        return False
    if len(old["parameters"]) != len(new["parameters"]):
        return False
    changes = [("return", old.get("returns"), new.get("returns"))]
    for before, after in zip(old["parameters"], new["parameters"], strict=True):
        if {k: v for k, v in before.items() if k != "annotation"} != {
            k: v for k, v in after.items() if k != "annotation"
        }:
            return False
        changes.append((before["name"], before["annotation"], after["annotation"]))
    if {k: v for k, v in old.items() if k not in ("parameters", "returns")} != {
        k: v for k, v in new.items() if k not in ("parameters", "returns")
    }:
        return False
    differing = [(param, a, b) for param, a, b in changes if a != b]
    return bool(differing) and all(
        ANNOTATION_CHANGES.get((where, param)) == (a, b) for param, a, b in differing
    )


def _still_importable_helper(key: str, entry: dict[str, Any]) -> bool:
    """A frozen helper that left ``__all__`` but is still importable from its module, unchanged."""
    module_name, name = key.split(":", 1)
    if "." in name or module_name not in SUBPACKAGES:
        return False
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
        return False
    root_names = set(current()["modules"]["foundry_tune"] or {})
    now = surface.describe(getattr(module, name))
    return now == entry and is_helper(module_name, name, entry, root_names, _docs_text())


def _handed_out_constructor(key: str) -> bool:
    where = key.split(":", 1)[1]
    return where.endswith(".__init__") and where.rsplit(".", 1)[0] in surface.HANDED_OUT


def frozen_differences(frozen: dict[str, Any], now: dict[str, Any]) -> list[str]:
    comparison = surface.compare(frozen, now)
    old, new = surface.flatten(frozen), surface.flatten(now)
    problems = [
        f"removed: {key}" for key in comparison.removed if not _still_importable_helper(key, old[key])
    ]
    problems += [
        f"changed: {key}\n  was: {json.dumps(old[key], sort_keys=True)}"
        f"\n  now: {json.dumps(new[key], sort_keys=True)}"
        for key in comparison.changed
        if not _allowed_annotation_change(key, old[key], new[key]) and not _handed_out_constructor(key)
        and key not in APPROVED_CHANGES
    ]
    return problems


def test_the_baseline_is_the_pre_refactor_surface() -> None:
    dump = baseline()
    assert dump["format"] == surface.FORMAT
    assert set(dump["modules"]) == set(surface.MODULES)
    flat = surface.flatten(dump)
    # spot checks that it is the code before issue 11: sync-only names, async gaps
    assert "foundry_tune.client:Foundry.sweep" in flat and "foundry_tune.aio:AsyncFoundry.sweep" not in flat
    assert "foundry_tune.aio:AsyncFoundry.aclose" in flat
    assert "foundry_tune.aio:AsyncFoundry.close" not in flat
    assert "foundry_tune.job:Job.reattach_hint" in flat
    assert "foundry_tune.aio:AsyncJob.reattach_hint" not in flat


def test_no_public_name_or_signature_was_removed_or_changed() -> None:
    problems = frozen_differences(baseline(), current())
    assert not problems, "the frozen public surface changed:\n" + "\n".join(problems)


def test_the_freeze_catches_removals_and_changes() -> None:
    frozen = baseline()
    now = json.loads(json.dumps(frozen))
    foundry = now["modules"]["foundry_tune.client"]["Foundry"]["members"]
    del foundry["fine_tune"]
    foundry["sweep"]["parameters"][0]["name"] = "b"  # a renamed parameter
    now["modules"]["foundry_tune.aio"]["AsyncFoundry"]["members"]["aclose"]["parameters"].append(
        {"name": "force", "kind": "KEYWORD_ONLY", "default": "False", "annotation": "bool"})
    problems = frozen_differences(frozen, now)
    assert [p.split("\n")[0] for p in problems] == [
        "removed: foundry_tune.client:Foundry.fine_tune",
        "changed: foundry_tune.client:Foundry.sweep",
    ]
    assert "foundry_tune.aio:AsyncFoundry.aclose(force)" in additions_to_document(frozen, now)


def test_members_of_a_new_class_come_with_it() -> None:
    frozen = baseline()
    now = json.loads(json.dumps(frozen))
    aio = now["modules"]["foundry_tune.aio"]
    aio["AsyncSweep"] = json.loads(json.dumps(now["modules"]["foundry_tune.sweep"]["Sweep"]))
    aio["AsyncFoundry"]["members"]["close"] = aio["AsyncFoundry"]["members"]["aclose"]
    aio["AsyncJob"]["members"]["__init__"]["parameters"].append(
        {"name": "extra", "kind": "KEYWORD_ONLY", "default": "None", "annotation": None})
    assert additions_to_document(frozen, now) == [
        "foundry_tune.aio:AsyncFoundry.close",
        "foundry_tune.aio:AsyncSweep",
    ]


# --- (b) additions are in the changelog -------------------------------------------------------


def unreleased_section(changelog: str) -> str:
    match = re.search(r"^## \[Unreleased\]\s*$(.*?)(?=^## \[|\Z)", changelog, re.MULTILINE | re.DOTALL)
    assert match, "CHANGELOG.md has no '## [Unreleased]' section"
    return match.group(1)


def _spans(line: str) -> list[str]:
    return re.findall(r"`([^`]+)`", line)


def _names(span: str, dotted: str) -> bool:
    """``span`` holds ``dotted`` as an identifier (``foo.dotted`` counts, ``xdotted`` does not)."""
    return re.search(rf"(?<![\w]){re.escape(dotted)}(?!\w)", span) is not None


def _documents_name(span: str, name: str) -> bool:
    head = span.split("(", 1)[0].strip()
    return head == name or head.endswith("." + name)


def _is_member_span(span: str, member: str) -> bool:
    return re.fullmatch(rf"\.?{re.escape(member)}(?:\(.*\))?", span.strip()) is not None


def _line_documents(line: str, owner: str | None, member: str) -> bool:
    spans = _spans(line)
    if owner is None:
        return any(_documents_name(span, member) for span in spans)
    if any(_names(span, f"{owner}.{member}") for span in spans):
        return True
    return any(_documents_name(s, owner) for s in spans) and any(_is_member_span(s, member) for s in spans)


def addition_is_documented(addition: str, section: str) -> bool:
    """``addition`` (``module:Name``, ``module:Class.member``, ``...(param)``) per the docstring rule."""
    where = addition.split(":", 1)[1]
    param = None
    if where.endswith(")"):
        where, param = where[:-1].split("(", 1)
    owner, _, member = where.rpartition(".")
    owner_or_none = owner or None
    for line in section.splitlines():
        if param is None:
            if _line_documents(line, owner_or_none, member):
                return True
            continue
        spans = _spans(line)
        target = f"{owner}.{member}" if owner else member
        if any(_names(s, target) and re.search(rf"(?<!\w){re.escape(param)}=", s) for s in spans):
            return True
        if member == "__init__" and any(  # a constructor parameter: ``RetryPolicy(create_settle=...)``
            re.search(rf"(?<![\w.]){re.escape(owner)}\((?:.*[\s,(])?{re.escape(param)}=", s) for s in spans
        ):
            return True
        if _line_documents(line, owner_or_none, member) and any(
            s.strip() == param or s.strip().startswith(param + "=") for s in spans
        ):
            return True
    return False


def additions_to_document(frozen: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The additions the changelog must name: members of a new class come with the class, and the
    constructors of ``HANDED_OUT`` classes are no promise."""
    added = surface.compare(frozen, now).added
    flat = surface.flatten(now)
    new_classes = {key for key in added if flat.get(key, {}).get("kind") == "class"}
    result = []
    for key in added:
        module, where = key.split(":", 1)
        owner = where.split("(", 1)[0].rpartition(".")[0]
        if owner and f"{module}:{owner}" in new_classes:
            continue
        if owner in surface.HANDED_OUT and where.split("(", 1)[0].endswith(".__init__"):
            continue
        result.append(key)
    return result


def test_every_addition_is_in_the_changelog() -> None:
    section = unreleased_section((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    added = additions_to_document(baseline(), current())
    missing = [a for a in added if not addition_is_documented(a, section)]
    assert not missing, "additions not named in CHANGELOG.md's [Unreleased] section: " + ", ".join(missing)


@pytest.mark.parametrize(
    ("addition", "line", "documented"),
    [
        ("foundry_tune.aio:AsyncSweep", "- `foundry_tune.aio.AsyncSweep`: the async sweep.", True),
        ("foundry_tune.aio:AsyncSweep", "- `AsyncSweep(...)` runs a sweep.", True),
        ("foundry_tune.aio:AsyncSweep", "- an async sweep (`Sweep`).", False),
        ("foundry_tune.aio:AsyncFoundry.close", "- `AsyncFoundry.close()`, like httpx.", True),
        ("foundry_tune.aio:AsyncFoundry.close", "- `AsyncFoundry`: `close()` (`aclose()` works).", True),
        ("foundry_tune.aio:AsyncFoundry.close", "- `AsyncFoundry`: `aclose()` still works.", False),
        ("foundry_tune.aio:AsyncFoundry.close", "- `Foundry`: `close()`.", False),
        ("foundry_tune.aio:AsyncFoundry.sweep", "- `AsyncFoundry` now has `ft.sweep`.", False),
        ("foundry_tune.aio:evaluate(completer)", "- `foundry_tune.aio.evaluate(..., completer=...)`.", True),
        ("foundry_tune.aio:evaluate(completer)", "- async `evaluate()` takes `completer=`.", True),
        ("foundry_tune.aio:evaluate(completer)", "- async `evaluate()` takes a completer.", False),
        ("foundry_tune:RetryPolicy.__init__(create_settle)", "- `RetryPolicy(create_settle=30.0)`.", True),
        ("foundry_tune:RetryPolicy.__init__(create_settle)", "- `RetryPolicy(jitter=0, create_settle=1)`.",
         True),
        ("foundry_tune:RetryPolicy.__init__(create_settle)", "- `AsyncRetryPolicy(create_settle=1)`.", False),
        ("foundry_tune:RetryPolicy.__init__(create_settle)", "- `RetryPolicy(settle=1)`.", False),
    ],
)
def test_the_changelog_rule(addition: str, line: str, documented: bool) -> None:
    assert addition_is_documented(addition, line) is documented


# --- (c) the root package's three lists agree -------------------------------------------------


Table = dict[str, tuple[str, str | None]]


def _root_lists() -> tuple[Table, Table, list[str], set[str]]:
    """(TYPE_CHECKING imports, _LAZY, __all__, eager public imports) of ``foundry_tune/__init__.py``."""
    import foundry_tune

    tree = ast.parse(Path(foundry_tune.__file__).read_text(encoding="utf-8"))
    checking: Table = {}
    lazy: Table = {}
    exported: list[str] = []
    eager: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module, "only `from x import y` there"
                for alias in imp.names:
                    name = alias.asname or alias.name
                    assert name not in checking, f"{name} imported twice under TYPE_CHECKING"
                    full = f"{imp.module}.{alias.name}"
                    is_module = imp.module == "foundry_tune" and importlib.util.find_spec(full) is not None
                    checking[name] = (full, None) if is_module else (imp.module, alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("foundry_tune"):
            eager.update(a.asname or a.name for a in node.names if not (a.asname or a.name).startswith("_")
                         or (a.asname or a.name) == "__version__")
        elif isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if "_LAZY" in names:
                assert node.value is not None
                value = ast.literal_eval(node.value)
                lazy = {k: (v[0], v[1]) for k, v in value.items()}
            elif "__all__" in names:
                assert node.value is not None
                exported = list(ast.literal_eval(node.value))
    return checking, lazy, exported, eager


def test_the_root_packages_three_lists_agree() -> None:
    checking, lazy, exported, eager = _root_lists()
    assert lazy, "no _LAZY table found in foundry_tune/__init__.py"
    assert checking == lazy, "TYPE_CHECKING imports and _LAZY differ"
    assert len(exported) == len(set(exported)), "__all__ lists a name twice"
    assert set(exported) == set(lazy) | eager, (
        f"__all__ vs lazy + eager names: only in __all__ {sorted(set(exported) - set(lazy) - eager)}, "
        f"missing from __all__ {sorted((set(lazy) | eager) - set(exported))}"
    )
    assert not set(lazy) & eager, "a name is both imported eagerly and lazy"


def test_every_lazy_name_resolves() -> None:
    import foundry_tune

    _, lazy, _, _ = _root_lists()
    for name, (module_name, attribute) in lazy.items():
        module = importlib.import_module(module_name)
        expected = module if attribute is None else getattr(module, attribute)
        assert getattr(foundry_tune, name) is expected, name
    assert set(lazy) <= set(dir(foundry_tune))


# --- (d) subpackage __all__ lists export no helpers -------------------------------------------


def test_subpackage_all_lists_export_no_helpers() -> None:
    found = helper_exports(current(), _docs_text())
    assert found - KNOWN_HELPER_EXPORTS == set(), "helpers exported in a subpackage __all__"
    assert KNOWN_HELPER_EXPORTS - found == set(), "helpers left __all__: drop them from KNOWN_HELPER_EXPORTS"


def test_the_helper_rule() -> None:
    text = "::: foundry_tune.graders\n`foundry_tune.doctor.record(ft)` and `redact()`\n" \
           "from foundry_tune.job import Job, fingerprint\n"
    assert is_documented("foundry_tune.doctor", "record", text)
    assert is_documented("foundry_tune.doctor", "redact", text)
    assert is_documented("foundry_tune.job", "fingerprint", text)
    assert not is_documented("foundry_tune.graders", "make_sample", text)  # a whole-module directive
    cli_flag = "`foundry-tune doctor --compare`, report.compare()"
    assert not is_documented("foundry_tune.doctor", "compare", cli_flag)
    constant = {"kind": "constant", "type": "int"}
    assert is_helper("foundry_tune.client", "translate", {"kind": "function"}, set(), text)
    assert is_helper("foundry_tune.job", "DEFAULT_PART_SIZE", constant, set(), text)
    assert not is_helper("foundry_tune.job", "DEFAULT_PART_SIZE", constant, {"DEFAULT_PART_SIZE"}, text)
    assert not is_helper("foundry_tune.job", "Job", {"kind": "class"}, set(), text)
