"""``foundry-tune jobs create``: the job described by a YAML job file and command-line flags.

A job file has the shape of the Azure Developer CLI fine-tuning extension's (``azd ai finetuning
jobs submit --file``)::

    model: gpt-4.1-mini
    training_file: local:./train.jsonl      # a path (``local:`` optional) or an uploaded file id
    validation_file: ./validation.jsonl
    method:
      type: supervised                      # supervised (sft), dpo or reinforcement (rft)
      supervised:
        hyperparameters: {epochs: 2, batch_size: 8, learning_rate_multiplier: 1.0}
    suffix: support
    seed: 7
    metadata: {team: support}
    extra_body: {trainingType: GlobalStandard}   # or training_type: GlobalStandard

A reinforcement method holds its ``grader`` (an object, or the path of a grader JSON file) and may
hold a ``response_format``. Relative paths are read from the job file's folder. Every key is
checked: an unknown key, a value of the wrong type or outside its range is a [`JobFileError`][JobFileError]
naming the file, the key and the rule, before anything is read from the service or uploaded.

Nothing here talks to the service: [`describe()`][describe] applies a [`JobRequest`][JobRequest] to a
``JobSpec`` (to check it) or to ``ft.fine_tune(model)`` (to start it), through the same methods.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from foundry_tune._method_kind import MethodKind
from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune.methods import TuningMethod

__all__ = [
    "HYPERPARAMETER_FLAGS",
    "METHOD_NAMES",
    "JobFileError",
    "JobRequest",
    "Setting",
    "describe",
    "load_job_file",
]

T = TypeVar("T")

_TOP_KEYS = ("model", "training_file", "validation_file", "method", "hyperparameters", "suffix", "seed",
             "metadata", "integrations", "training_type", "extra_body", "max_cost")
METHOD_NAMES = {name: kind.value for kind in MethodKind for name in (kind.value, kind.short)}
"""The method names ``jobs create`` takes (``supervised`` or ``sft``, ``dpo``, ``reinforcement`` or
``rft``), each with its wire name."""
_HYPERPARAMETER_ALIASES = {"epochs": "n_epochs"}  # the azd extension's name
HYPERPARAMETER_FLAGS = {
    "n_epochs": "--epochs",
    "batch_size": "--batch-size",
    "learning_rate_multiplier": "--learning-rate-multiplier",
    "beta": "--beta",
    "l2_multiplier": "--l2-multiplier",
    "compute_multiplier": "--compute-multiplier",
    "eval_interval": "--eval-interval",
    "eval_samples": "--eval-samples",
    "reasoning_effort": "--reasoning-effort",
}
"""Each hyperparameter the methods know, and the ``jobs create`` flag that sets it."""


class JobFileError(FoundryTuneError):
    """A job file (or flag) that cannot describe a job: the message names the file, the key and the rule."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """One value of the job and where it was given (``job.yaml: suffix`` or ``--suffix``)."""

    value: Any
    where: str


@dataclasses.dataclass
class JobRequest:
    """Everything ``jobs create`` was told about the job: from the job file, then the flags over it."""

    model: Setting | None = None
    training: Setting | None = None
    validation: Setting | None = None
    method: Setting | None = None
    """``supervised``, ``dpo`` or ``reinforcement``."""
    hyperparameters: dict[str, Setting] = dataclasses.field(default_factory=dict)
    grader: Setting | None = None
    response_format: Setting | None = None
    suffix: Setting | None = None
    seed: Setting | None = None
    training_type: Setting | None = None
    metadata: dict[str, Setting] = dataclasses.field(default_factory=dict)
    integrations: Setting | None = None
    max_cost: Setting | None = None
    """The training cost cap in USD (``start(max_cost=...)``): not part of the job description."""

    def over(self, base: JobRequest) -> JobRequest:
        """This request's settings over ``base``'s (flags over the job file)."""
        merged = dataclasses.replace(base)
        for field in dataclasses.fields(self):
            mine = getattr(self, field.name)
            if isinstance(mine, dict):
                setattr(merged, field.name, {**getattr(base, field.name), **mine})
            elif mine is not None:
                setattr(merged, field.name, mine)
        return merged


# -- reading the file --------------------------------------------------------------------------


def load_job_file(path: Path) -> JobRequest:
    """Read and check a YAML job file (every problem raises [`JobFileError`][JobFileError])."""
    import yaml

    label = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise JobFileError(f"{label}: no such job file") from None
    except IsADirectoryError:
        raise JobFileError(f"{label}: is a folder, not a job file") from None
    except OSError as exc:
        raise JobFileError(f"{label}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise JobFileError(f"{label}: is not UTF-8 text (byte {exc.start})") from None
    try:
        document = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join(str(exc.problem or exc).split())
        raise JobFileError(f"{label}: {where}not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise JobFileError(f"{label}: not valid YAML: {' '.join(str(exc).split())}") from None
    if document is None:
        raise JobFileError(f"{label}: the job file is empty; it needs at least model and training_file")
    if not isinstance(document, Mapping):
        raise JobFileError(f"{label}: a job file is a mapping of keys ({', '.join(_TOP_KEYS)}), "
                           f"not a {_yaml_type(document)}")
    return _Reader(label, path.resolve().parent).request(document)


@functools.cache
def _loader() -> type[Any]:
    """A ``yaml.SafeLoader`` that refuses a key given twice (PyYAML keeps the last one silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


class _Reader:
    """Checks one job file's document and turns it into a [`JobRequest`][JobRequest]."""

    def __init__(self, label: str, folder: Path) -> None:
        self.label = label
        self.folder = folder

    def where(self, key: str) -> str:
        return f"{self.label}: {key}"

    def fail(self, key: str, rule: str) -> JobFileError:
        return JobFileError(f"{self.where(key)}: {rule}")

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a mapping (keys: {', '.join(allowed)}), got {_yaml_type(value)}")
        for name in value:
            if name not in allowed:
                shown = name if isinstance(name, str) else repr(name)
                raise self.fail(f"{key}.{shown}" if key else str(shown),
                                f"unknown key; {key or 'a job file'} takes {', '.join(allowed)}")
        return value

    def text(self, value: Any, key: str) -> str:
        if isinstance(value, (bool, int, float)):  # YAML reads no, yes, 1.0 and 0123 as such
            raise self.fail(key, f"must be text, got {_yaml_type(value)} {value!r}: quote it in YAML")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be non-empty text, got {_yaml_type(value)}")
        return value

    def request(self, document: Mapping[str, Any]) -> JobRequest:
        doc = self.mapping(document, "", _TOP_KEYS)
        request = JobRequest()
        if "model" in doc:
            request.model = Setting(self.text(doc["model"], "model"), self.where("model"))
        for key in ("training_file", "validation_file"):
            if key in doc and doc[key] is not None:
                source = self.data_source(doc[key], key)
                setattr(request, "training" if key == "training_file" else "validation",
                        Setting(source, self.where(key)))
        if "suffix" in doc:
            request.suffix = Setting(self.text(doc["suffix"], "suffix"), self.where("suffix"))
        if "seed" in doc:
            seed = doc["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise self.fail("seed", f"must be a whole number from 0 to 2147483647, got "
                                        f"{_yaml_type(seed)}")
            request.seed = Setting(seed, self.where("seed"))
        if "metadata" in doc:
            metadata = doc["metadata"]
            if not isinstance(metadata, Mapping):
                raise self.fail("metadata", f"must be a mapping of text to text, got {_yaml_type(metadata)}")
            for name, value in metadata.items():
                key = f"metadata.{name}"
                if not isinstance(name, str) or not isinstance(value, str):
                    raise self.fail(key, "keys and values must be text (quote numbers and yes/no in YAML)")
                request.metadata[name] = Setting(value, self.where(key))
        if "integrations" in doc:
            request.integrations = Setting(self.integrations(doc["integrations"]), self.where("integrations"))
        if "max_cost" in doc:
            request.max_cost = Setting(self.max_cost(doc["max_cost"]), self.where("max_cost"))
        self.training_type(doc, request)
        self.method(doc, request)
        return request

    def max_cost(self, value: Any) -> float:
        from foundry_tune._core.start_checks import check_max_cost
        from foundry_tune.errors import InvalidParameterError

        try:
            cap = check_max_cost(value) if value is not None else None
        except InvalidParameterError:
            cap = None
        if cap is None:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            shown = f"{value!r:.40}" if number else _yaml_type(value)
            raise self.fail("max_cost", f"must be a finite number of USD >= 0, got {shown}")
        return cap

    def data_source(self, value: Any, key: str) -> str | Path:
        text = self.text(value, key)
        if text.startswith("local:"):
            return self.local_file(text.removeprefix("local:"), key)
        from foundry_tune._core.file_import import looks_like_url
        from foundry_tune._core.spec import looks_like_file_id

        if looks_like_url(text):
            return text  # imported by the service from that URL (its SAS query is never shown)

        if looks_like_file_id(text) and not (self.folder / text).exists():
            return text  # an uploaded file id
        return self.local_file(text, key)

    def local_file(self, text: str, key: str) -> Path:
        path = (self.folder / Path(text).expanduser()).resolve()
        if not path.is_file():
            problem = "is a folder, not a JSONL file" if path.exists() else "no such file"
            raise self.fail(key, f"{problem}: {path}")
        return path

    def integrations(self, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise self.fail("integrations", f"must be a list, got {_yaml_type(value)}")
        items = []
        for item in value:
            # The azd extension writes {type: wandb, config: {...}}; the service takes {type, wandb: {...}}.
            if isinstance(item, Mapping) and isinstance(item.get("type"), str) and "config" in item \
                    and item["type"] not in item:
                items.append({"type": item["type"], item["type"]: item["config"],
                              **{k: v for k, v in item.items() if k not in ("type", "config")}})
            else:
                items.append(dict(item) if isinstance(item, Mapping) else item)
        return items

    def training_type(self, doc: Mapping[str, Any], request: JobRequest) -> None:
        found: list[tuple[str, str]] = []  # (key, value)
        if "training_type" in doc:
            found.append(("training_type", self.text(doc["training_type"], "training_type")))
        if "extra_body" in doc:
            extra = self.mapping(doc["extra_body"], "extra_body", ("trainingType", "training_type"))
            for name, value in extra.items():
                key = f"extra_body.{name}"
                found.append((key, self.text(value, key)))
        if len(found) > 1:
            raise self.fail(found[1][0], f"the training type is already given by {found[0][0]}")
        if found:
            key, value = found[0]
            request.training_type = Setting(value, self.where(key))

    def method(self, doc: Mapping[str, Any], request: JobRequest) -> None:
        hyper_top = doc.get("hyperparameters")
        if "method" not in doc or doc["method"] is None:
            kind = "supervised"
            body: Mapping[str, Any] = {}
        elif isinstance(doc["method"], str):  # a shorthand: method: dpo
            kind = self.method_name(doc["method"], "method")
            body = {}
            request.method = Setting(kind, self.where("method"))
        else:
            method = self.mapping(doc["method"], "method", ("type", *sorted(set(METHOD_NAMES.values()))))
            given = [name for name in ("supervised", "dpo", "reinforcement") if name in method]
            if "type" in method:
                kind = self.method_name(method["type"], "method.type")
            elif len(given) == 1:
                kind = given[0]
            else:
                raise self.fail("method.type", "is required: supervised, dpo or reinforcement")
            for other in given:
                if other != kind:
                    raise self.fail(f"method.{other}", f"does not match method.type {kind}")
            key = "method.type" if "type" in method else f"method.{kind}"
            request.method = Setting(kind, self.where(key))
            body = method.get(kind) or {}
        allowed = ("hyperparameters", "grader", "response_format") if kind == "reinforcement" \
            else ("hyperparameters",)
        body = self.mapping(body, f"method.{kind}", allowed)
        if hyper_top is not None and body.get("hyperparameters") is not None:
            raise self.fail("hyperparameters",
                            f"give the hyperparameters once, under method.{kind}.hyperparameters")
        if body.get("hyperparameters") is not None:
            self.hyperparameters(body["hyperparameters"], f"method.{kind}.hyperparameters", kind, request)
        elif hyper_top is not None:
            self.hyperparameters(hyper_top, "hyperparameters", kind, request)
        for name in ("grader", "response_format"):
            if body.get(name) is not None:
                value = body[name]
                key = f"method.{kind}.{name}"
                if isinstance(value, str):
                    value = self.local_file(value, key)  # the path of a JSON file
                elif not isinstance(value, Mapping):
                    raise self.fail(key, "must be a mapping or the path of a JSON file, got "
                                         f"{_yaml_type(value)}")
                setattr(request, name, Setting(value, self.where(key)))

    def method_name(self, value: Any, key: str) -> str:
        name = value.strip().lower() if isinstance(value, str) else None
        if name not in METHOD_NAMES:
            raise self.fail(key, f"must be supervised (sft), dpo or reinforcement (rft), got {value!r}")
        return METHOD_NAMES[name]

    def hyperparameters(self, value: Any, key: str, kind: str, request: JobRequest) -> None:
        known = _hyperparameter_names(kind)
        spelled = tuple(sorted({*known, *(a for a, n in _HYPERPARAMETER_ALIASES.items() if n in known)}))
        for name, raw in self.mapping(value, key, spelled).items():
            library_name = _HYPERPARAMETER_ALIASES.get(name, name)
            if library_name in request.hyperparameters:
                raise self.fail(f"{key}.{name}", f"{library_name} is already given (epochs and n_epochs "
                                "are the same hyperparameter)")
            request.hyperparameters[library_name] = Setting(_number(raw), self.where(f"{key}.{name}"))


def _method_class(kind: str) -> type[TuningMethod]:
    from foundry_tune.methods import DPO, Reinforcement, Supervised

    classes: dict[str, type[TuningMethod]] = {"supervised": Supervised, "dpo": DPO,
                                              "reinforcement": Reinforcement}
    return classes[kind]


def _hyperparameter_names(kind: str) -> tuple[str, ...]:
    return tuple(name for name in _method_class(kind).model_fields if name in HYPERPARAMETER_FLAGS)


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-5`` as text: a hyperparameter given as a number in text is that number."""
    if isinstance(value, str) and value.strip().lower() != "auto":
        for convert in (int, float):
            try:
                return convert(value.strip())
            except ValueError:
                continue
    return value


def _yaml_type(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list"}.get(
        type(value), "a mapping" if isinstance(value, Mapping) else type(value).__name__)


# -- applying it -------------------------------------------------------------------------------


def _add_metadata(key: str, target: Any, value: str) -> Any:
    return target.metadata({key: value})


def describe(target: T, request: JobRequest) -> T:
    """``target`` (a ``JobSpec`` or a fine-tuning builder) described by ``request``: each value is
    given to the method of the same name, and a value it refuses raises [`JobFileError`][JobFileError]
    naming where the value came from (the job file's key or the flag)."""
    from foundry_tune.methods import Reinforcement

    def apply(setting: Setting | None, step: Callable[[Any, Any], Any]) -> None:
        nonlocal target
        if setting is None:
            return
        try:
            target = step(target, setting.value)
        except FoundryTuneError as exc:
            raise JobFileError(f"{setting.where}: {exc}") from None

    apply(request.training, lambda t, v: t.train_on(v))
    apply(request.validation, lambda t, v: t.validate_on(v))
    apply(request.suffix, lambda t, v: t.suffix(v))
    apply(request.seed, lambda t, v: t.seed(v))
    apply(request.training_type, lambda t, v: t.training_type(v))
    for name, setting in request.metadata.items():
        apply(setting, functools.partial(_add_metadata, name))
    apply(request.integrations, lambda t, v: t.integrations(v))

    kind = request.method.value if request.method is not None else "supervised"
    cls = _method_class(kind)
    extras: dict[str, Any] = {}
    if kind == "reinforcement":
        if request.grader is None:
            where = request.method.where if request.method is not None else "--method"
            raise JobFileError(f"{where}: a reinforcement job needs a grader (--grader GRADER.json, or "
                               "method.reinforcement.grader in the job file)")
        for name in ("grader", "response_format"):  # the grader first: the response format needs one
            setting = getattr(request, name)
            if setting is not None:
                extras[name] = setting.value
                try:
                    Reinforcement(**extras)
                except FoundryTuneError as exc:
                    raise JobFileError(f"{setting.where}: {exc}") from None
    else:
        for name in ("grader", "response_format"):
            setting = getattr(request, name)
            if setting is not None:
                raise JobFileError(f"{setting.where}: only a reinforcement job takes a {name}, not {kind}")
    allowed = _hyperparameter_names(kind)
    for name, setting in request.hyperparameters.items():
        if name not in allowed:
            raise JobFileError(f"{setting.where}: {kind} fine-tuning has no {name}; its hyperparameters are "
                               f"{', '.join(allowed)}")
        try:  # one at a time, so that a refused value is blamed on its own key or flag
            cls(**({**extras, name: setting.value} if kind == "reinforcement" else {name: setting.value}))
        except FoundryTuneError as exc:
            raise JobFileError(f"{setting.where}: {exc}") from None
    values = {name: setting.value for name, setting in request.hyperparameters.items()}
    method = cls(**extras, **values)
    target = target.method(method)  # type: ignore[attr-defined]
    return target
