"""The doctor's record: what one run of the read-only calls answered, as shapes (pure: no I/O).

A record is a JSON document::

    {"doctor": 1, "tool": "foundry-tune 0.1.0", "recorded_on": "2026-12-01",
     "api": {"flavour": "azure", "paths": "v1", "data_plane": "{project}/openai/v1", ...},
     "calls": [{"name": "jobs.get", "method": "GET",
                "path": "{project}/openai/v1/fine_tuning/jobs/{job_id}",
                "status": 200, "shape": {...}}, ...]}

It holds no id, name, endpoint, secret or free text: paths are templates and bodies are shapes
([`foundry_tune.doctor.shape_of()`][shape_of]). [`compare_records()`][compare_records] lists how two records
differ.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from foundry_tune._version import __version__
from foundry_tune.doctor._shapes import Difference, diff, shape_of
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "CALLS",
    "RECORD_FORMAT",
    "Answer",
    "api_description",
    "build_record",
    "compare_records",
    "format_comparison",
    "load_record",
    "template_path",
]

RECORD_FORMAT = 1
"""Version of the record document (the ``doctor`` key)."""

CALLS = ("files.list", "jobs.list", "jobs.get", "jobs.events", "jobs.checkpoints",
         "deployments.list", "deployments.get")
"""The read-only calls the doctor makes, in order."""

_KNOWN_SEGMENTS = frozenset({"api", "projects", "openai", "v1", "deployments"})


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one call answered: the HTTP ``status`` and decoded ``body`` (``None`` when there was
    no answer), or why it was ``skipped``. ``path`` is a template such as
    ``{project}/openai/v1/fine_tuning/jobs/{job_id}``: it never holds a real id."""

    name: str
    method: str
    path: str
    status: int | None = None
    body: Any = None
    skipped: str | None = None


def template_path(url_path: str) -> str:
    """A data-plane base path with the project and any unknown segment replaced, e.g.
    ``/api/projects/p1/openai/v1`` -> ``{project}/openai/v1``."""
    path = re.sub(r"^/api/projects/[^/]+", "{project}", url_path.rstrip("/"))
    parts = path.split("/")
    return "/".join(p if (p in _KNOWN_SEGMENTS or p in ("", "{project}")) else "{segment}" for p in parts)


def api_description(
    base_url: str, default_query: Mapping[str, object], arm_api_version: str | None
) -> dict[str, Any]:
    """The ``api`` entry of a record: the flavour (``azure``, ``openai`` or ``other``), the path
    style (``v1`` or ``api-version``), the data-plane base path template and the api versions."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if "/api/projects/" in parts.path or host.endswith((".azure.com", ".azure.us", ".azure.cn")):
        flavour = "azure"
    elif host == "api.openai.com":
        flavour = "openai"
    elif host in ("localhost", "127.0.0.1", "::1"):
        flavour = "azure"  # the local emulator answers as Azure by default
    else:
        flavour = "other"
    api_version = default_query.get("api-version")
    base = template_path(parts.path)
    return {
        "flavour": flavour,
        "paths": "api-version" if api_version else ("v1" if base.endswith("/v1") else "other"),
        "data_plane": base,
        "api_version": str(api_version) if api_version else None,
        "arm_api_version": arm_api_version,
    }


def build_record(answers: Iterable[Answer], api: Mapping[str, Any], *, sensitive: Iterable[str] = (),
                 today: dt.date | None = None) -> dict[str, Any]:
    """The record document of ``answers`` (bodies become shapes; see [`shape_of()`][shape_of])."""
    secrets = list(sensitive)
    calls: list[dict[str, Any]] = []
    for a in answers:
        entry: dict[str, Any] = {"name": a.name, "method": a.method, "path": a.path}
        if a.skipped is not None:
            entry["skipped"] = a.skipped
        else:
            entry["status"] = a.status
            entry["shape"] = shape_of(a.body, sensitive=secrets)
        calls.append(entry)
    return {
        "doctor": RECORD_FORMAT,
        "tool": f"foundry-tune {__version__}",
        "recorded_on": (today or dt.datetime.now(dt.timezone.utc).date()).isoformat(),
        "api": dict(api),
        "calls": calls,
    }


def load_record(text: str, *, source: str = "record") -> dict[str, Any]:
    """Parse and check a record document; raises [`InvalidParameterError`][InvalidParameterError] naming the
    rule."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise InvalidParameterError(f"{source}: not JSON ({exc.__class__.__name__} at {exc})") from None
    if not isinstance(record, dict) or record.get("doctor") != RECORD_FORMAT:
        raise InvalidParameterError(
            f"{source}: not a foundry-tune doctor record (expected \"doctor\": {RECORD_FORMAT}; "
            "make one with 'foundry-tune doctor --record FILE')")
    calls = record.get("calls")
    if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                              for c in calls):
        raise InvalidParameterError(f"{source}: \"calls\" must be a list of objects with a \"name\"")
    for call in calls:
        if "skipped" not in call and "shape" not in call:
            raise InvalidParameterError(
                f"{source}: call {call['name']!r} has neither \"shape\" nor \"skipped\"")
    return record


def _calls(record: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c["name"]: c for c in record.get("calls", []) if isinstance(c, Mapping) and "name" in c}


def compare_records(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[Difference]:
    """How ``current`` differs from ``recorded``, call by call: a call one side could not make,
    a different HTTP status, then the shape differences of the bodies ([`diff()`][diff]). Calls the
    recording skipped are not compared."""
    out: list[Difference] = []
    now = _calls(current)
    for name, rec in _calls(recorded).items():
        if "skipped" in rec:
            continue
        cur = now.get(name)
        if cur is None or "skipped" in cur:
            reason = "not made" if cur is None else f"skipped ({cur['skipped']})"
            out.append(Difference(name, "call", "", f"status {rec.get('status')}", reason))
            continue
        if rec.get("status") != cur.get("status"):
            out.append(Difference(name, "status", "", str(rec.get("status")), str(cur.get("status"))))
            if _is_error(rec.get("status")) != _is_error(cur.get("status")):
                continue  # an error body against a success body says nothing more
        out.extend(diff(rec.get("shape"), cur.get("shape"), call=name))
    return out


def _is_error(status: object) -> bool:
    return not isinstance(status, int) or status >= 400


def format_comparison(recorded: Mapping[str, Any], current: Mapping[str, Any],
                      differences: Sequence[Difference], *, against: str) -> str:
    """The human-readable comparison: one line per call, its differences indented under it."""
    lines = [f"recorded {recorded.get('recorded_on', '?')} with {recorded.get('tool', '?')} "
             f"({_api_text(recorded.get('api'))}); compared with {against} ({_api_text(current.get('api'))})"]
    by_call: dict[str, list[Difference]] = {}
    for d in differences:
        by_call.setdefault(d.call, []).append(d)
    now = _calls(current)
    width = max([len(n) for n in _calls(recorded)] + [10])
    for name, rec in _calls(recorded).items():
        cur = now.get(name, {})
        path = str(rec.get("path", ""))
        if "skipped" in rec:
            lines.append(f"  {name:<{width}}  not compared: skipped when recorded ({rec['skipped']})")
            continue
        found = by_call.get(name, [])
        verdict = "same shape" if not found else f"{len(found)} difference{'s' * (len(found) != 1)}"
        lines.append(f"  {name:<{width}}  {rec.get('method', 'GET')} {path}  "
                     f"{rec.get('status')} -> {cur.get('status', '-')}  {verdict}")
        for d in found:
            where = d.path or "(call)"
            lines.append(f"      {d.kind:<12} {where}: recorded {d.recorded}; now {d.current}")
    total = len(differences)
    lines.append("no differences" if total == 0 else
                 f"{total} difference{'s' * (total != 1)} in {len(by_call)} call{'s' * (len(by_call) != 1)}")
    return "\n".join(lines) + "\n"


def _api_text(api: object) -> str:
    if not isinstance(api, Mapping):
        return "api unknown"
    text = f"{api.get('flavour', '?')}, {api.get('paths', '?')} paths"
    if api.get("api_version"):
        text += f", api-version {api['api_version']}"
    return text
