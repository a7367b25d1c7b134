"""The doctor's read-only calls over an existing [`Foundry`][Foundry] connection.

Every call goes through the connection's retry policy, reads one page at most, and the whole run
stays inside a time bound; nothing is written or created. Only [`seed_emulator()`][seed_emulator], which runs
against a local emulator before a comparison, creates anything.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import openai

from foundry_tune._core.status import JobStatus
from foundry_tune.deployment import BillingWarning
from foundry_tune.doctor._record import Answer, api_description, build_record, compare_records
from foundry_tune.doctor._shapes import Difference, shape_of
from foundry_tune.errors import AuthenticationError, ConfigurationError, FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry
    from foundry_tune.job import Job

__all__ = [
    "DEFAULT_TIME_BOUND",
    "collect",
    "compare",
    "identifiers",
    "quiet_wire_logs",
    "record",
    "seed_emulator",
]

log = logging.getLogger("foundry_tune.doctor")

DEFAULT_TIME_BOUND = 120.0
"""Seconds a whole doctor run may take (each call's retries included)."""

FILES_LIMIT, JOBS_LIMIT, EVENTS_LIMIT, CHECKPOINTS_LIMIT = 20, 20, 50, 10
"""Page sizes: the doctor reads one page of each list."""

_IDENTIFYING = frozenset({"<id>", "<model>", "<filename>", "<url>", "<name>"})
_WIRE_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "azure", "urllib3")


class _Calls:
    """Makes the calls under the retry policy and the overall time bound."""

    def __init__(self, ft: Foundry, time_bound: float, clock: Callable[[], float]) -> None:
        self.ft = ft
        self.clock = clock
        self.deadline = clock() + time_bound
        api = api_description(str(ft.openai.base_url), ft.openai.default_query, None)
        self.prefix = api["data_plane"]
        self.query = {"api-version": api["api_version"]} if api["api_version"] else {}

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def data(self, name: str, template: str, fn: Callable[[openai.OpenAI], Any],
             params: Mapping[str, Any]) -> Answer:
        """One data-plane GET through the openai client's raw-response API."""
        query = {**self.query, **params}
        path = self.prefix + template
        if query:
            path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        if self.remaining() <= 0:
            return Answer(name, "GET", path, skipped="time bound reached")
        bound = max(0.5, min(self.ft.retry.total_timeout, self.remaining()))
        policy = self.ft.retry.replace(total_timeout=bound)

        def call() -> tuple[int, Any]:
            raw = fn(self.ft.openai)
            return raw.status_code, _json(raw.text)

        return self._answer(name, "GET", path, lambda: policy.call(call, what=f"doctor: {name}"))

    def arm(self, name: str, template: str, path: str) -> Answer:
        """One ARM GET (the ARM client applies the retry policy)."""
        shown = ("/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"
                 f"Microsoft.CognitiveServices/accounts/{{account}}{template}"
                 f"?api-version={self.ft.arm.api_version}")
        if self.remaining() <= 0:
            return Answer(name, "GET", shown, skipped="time bound reached")
        try:
            return self._answer(name, "GET", shown,
                                lambda: (200, self.ft.arm.request("GET", path, what=f"doctor: {name}")))
        except (AuthenticationError, ConfigurationError) as exc:  # the data-plane calls still count
            log.debug("doctor: %s could not sign in to ARM (%s)", name, type(exc).__name__)
            return Answer(name, "GET", shown, skipped=f"no ARM access ({type(exc).__name__})")

    def _answer(self, name: str, method: str, path: str, fn: Callable[[], tuple[int, Any]]) -> Answer:
        try:
            status, body = fn()
        except (AuthenticationError, ConfigurationError):
            raise
        except FoundryTuneError as exc:
            failed, body = _failure(exc)
            if failed is None:
                log.debug("doctor: %s failed without an answer (%s)", name, type(exc).__name__)
                return Answer(name, method, path, skipped=f"no answer ({type(exc).__name__})")
            status = failed
        log.debug("doctor: %s answered %s", name, status)
        return Answer(name, method, path, status=status, body=body)


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return "<not json>"


def _failure(exc: BaseException) -> tuple[int | None, Any]:
    """The HTTP status and body behind a translated error (from its cause chain)."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status, _json(str(getattr(response, "text", "") or ""))
        seen = seen.__cause__ or seen.__context__
    status = getattr(exc, "status", None)
    return (status if isinstance(status, int) else None), None


def _items(body: Any, key: str, id_key: str) -> list[dict[str, Any]]:
    listed = body.get(key) if isinstance(body, dict) else None
    if not isinstance(listed, list):
        return []
    return [item for item in listed if isinstance(item, dict) and isinstance(item.get(id_key), str)]


def _pick_job(body: Any, wanted: str | None) -> str | None:
    if wanted is not None:
        return wanted
    jobs = _items(body, "data", "id")

    def supervised(job: dict[str, Any]) -> bool:
        method = job.get("method")
        return not isinstance(method, dict) or method.get("type") == "supervised"

    def succeeded(job: dict[str, Any]) -> bool:
        status = job.get("status")
        return isinstance(status, str) and JobStatus(status) is JobStatus.SUCCEEDED

    done = [j for j in jobs if succeeded(j)]
    for pool in ([j for j in done if supervised(j)], done, jobs):
        if pool:
            return str(pool[0]["id"])
    return None


def _pick_deployment(body: Any, wanted: str | None, model: str | None) -> str | None:
    if wanted is not None:
        return wanted
    items = _items(body, "value", "name")
    for item in items:
        props = item.get("properties") or {}
        if model and isinstance(props, dict) and (props.get("model") or {}).get("name") == model:
            return str(item["name"])
    return str(items[0]["name"]) if items else None


def collect(
    ft: Foundry,
    *,
    job_id: str | None = None,
    deployment: str | None = None,
    time_bound: float = DEFAULT_TIME_BOUND,
    clock: Callable[[], float] = time.monotonic,
) -> list[Answer]:
    """Make the doctor's read-only calls and return their answers (bodies as received).

    Lists files and jobs, reads one job (``job_id``, else the newest succeeded supervised job),
    its events and checkpoints, and, when ARM settings are configured, lists deployments and
    reads one (``deployment``, else the one serving the job's model, else the first). One page
    per list; the whole run stays within ``time_bound`` seconds (later calls are skipped).
    Authentication and configuration errors are raised; any other failure is recorded as the
    status and error body the service answered.
    """
    calls = _Calls(ft, time_bound, clock)
    answers = [
        calls.data("files.list", "/files", lambda c: c.files.with_raw_response.list(limit=FILES_LIMIT),
                   {"limit": FILES_LIMIT}),
        calls.data("jobs.list", "/fine_tuning/jobs",
                   lambda c: c.fine_tuning.jobs.with_raw_response.list(limit=JOBS_LIMIT),
                   {"limit": JOBS_LIMIT}),
    ]
    job = _pick_job(answers[-1].body, job_id) if answers[-1].status == 200 or job_id else None
    job_body: Any = None
    job_calls = (("jobs.get", "", None), ("jobs.events", "/events", EVENTS_LIMIT),
                 ("jobs.checkpoints", "/checkpoints", CHECKPOINTS_LIMIT))
    for name, tail, limit in job_calls:
        template = "/fine_tuning/jobs/{job_id}" + tail
        if job is None:
            answers.append(Answer(name, "GET", calls.prefix + template,
                                  skipped="no fine-tuning job in the project"))
            continue
        fn = _job_call(name, job, limit)
        answers.append(calls.data(name, template, fn, {"limit": limit} if limit else {}))
        if name == "jobs.get":
            job_body = answers[-1].body
    model = job_body.get("fine_tuned_model") if isinstance(job_body, dict) else None
    answers.extend(_arm_calls(ft, calls, deployment, model if isinstance(model, str) else None))
    return answers


def _job_call(name: str, job: str, limit: int | None) -> Callable[[openai.OpenAI], Any]:
    if name == "jobs.get":
        return lambda c: c.fine_tuning.jobs.with_raw_response.retrieve(job)
    if name == "jobs.events":
        return lambda c: c.fine_tuning.jobs.with_raw_response.list_events(job, limit=limit or EVENTS_LIMIT)
    return lambda c: c.fine_tuning.jobs.checkpoints.with_raw_response.list(
        job, limit=limit or CHECKPOINTS_LIMIT)


def _arm_calls(ft: Foundry, calls: _Calls, wanted: str | None, model: str | None) -> list[Answer]:
    if ft.arm_settings.missing():
        reason = "ARM settings not configured (AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP)"
        return [Answer(n, "GET", "{arm}", skipped=reason) for n in ("deployments.list", "deployments.get")]
    listed = calls.arm("deployments.list", "/deployments", "/deployments")
    name = _pick_deployment(listed.body, wanted, model) if listed.status == 200 or wanted else None
    if name is None:
        path = listed.path.replace("/deployments?", "/deployments/{deployment}?")
        one = Answer("deployments.get", "GET", path, skipped="no deployment on the resource")
    else:
        one = calls.arm("deployments.get", "/deployments/{deployment}",
                        f"/deployments/{quote(name, safe='')}")
    return [listed, one]


_COMMON_SEGMENTS = frozenset({"subscriptions", "resourceGroups", "providers", "Microsoft.CognitiveServices",
                              "accounts", "deployments", "operationResults", "locations", "https:", "http:"})


def identifiers(ft: Foundry, answers: Iterable[Answer], *, connection: bool = True) -> set[str]:
    """Every string that names something in this project: the endpoint's host and project, the
    ARM settings (unless ``connection`` is false), and each distinctive id, name, model, file name
    and URL in the answers (at least six characters with a digit, or eight without: a grader called
    ``grader`` names nothing)."""
    found: set[str] = set()
    for answer in answers:
        _walk_identifiers(answer.body, shape_of(answer.body), found)
    found = {s for s in found if len(s) >= 8 or (len(s) >= 6 and any(c.isdigit() for c in s))}
    found -= _COMMON_SEGMENTS
    if not connection:
        return found
    parts = urlsplit(ft.endpoint)
    host = parts.hostname or ""
    found.update({parts.netloc, host})
    if not _is_ip(host):
        found.add(host.split(".")[0])
    found.update(s for s in parts.path.split("/") if s not in ("", "api", "projects", "openai", "v1"))
    settings = ft.arm_settings
    found.update(s for s in (settings.subscription_id, settings.resource_group, settings.account_name) if s)
    return {s for s in found if len(s) >= 3}


def _is_loopback(endpoint: str) -> bool:
    from foundry_tune._core.settings import is_loopback

    return is_loopback(urlsplit(endpoint).hostname or "")


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _walk_identifiers(value: Any, shape: Any, found: set[str]) -> None:
    if isinstance(value, str) and shape in _IDENTIFYING:
        found.add(value)
        found.update(seg for seg in value.split("/") if seg)
    elif isinstance(value, dict) and isinstance(shape, dict):
        for k, v in value.items():
            if k in shape:
                _walk_identifiers(v, shape[k], found)
    elif isinstance(value, list) and isinstance(shape, list):
        for item in value:
            for candidate in shape:
                _walk_identifiers(item, candidate, found)



def record(ft: Foundry, *, job_id: str | None = None, deployment: str | None = None,
           time_bound: float = DEFAULT_TIME_BOUND) -> dict[str, Any]:
    """The doctor's record of this connection's answers: shapes only, nothing that names the
    project (see [`foundry_tune.doctor.build_record()`][build_record]). Read-only; see
    [`collect()`][collect]."""
    return _record(ft, job_id=job_id, deployment=deployment, time_bound=time_bound, connection=True)


def _record(ft: Foundry, *, job_id: str | None, deployment: str | None, time_bound: float,
            connection: bool) -> dict[str, Any]:
    with quiet_wire_logs():
        answers = collect(ft, job_id=job_id, deployment=deployment, time_bound=time_bound)
        arm_version = None if ft.arm_settings.missing() else ft.arm.api_version
    api = api_description(str(ft.openai.base_url), ft.openai.default_query, arm_version)
    secrets = identifiers(ft, answers, connection=connection)
    return build_record(answers, api, sensitive=secrets)


def compare(recorded: Mapping[str, Any], ft: Foundry, *, time_bound: float = DEFAULT_TIME_BOUND) -> tuple[
        dict[str, Any], list[Difference]]:
    """Make the same calls on ``ft`` (an emulator) and compare: ``(current record, differences)``.

    The names of a local emulator (its ``default`` project, say) are not secrets: they are left in
    enum values, where cutting them out would show as a difference."""
    local = ft.is_emulator or _is_loopback(ft.endpoint)
    current = _record(ft, job_id=None, deployment=None, time_bound=time_bound, connection=not local)
    return current, compare_records(recorded, current)


@contextmanager
def quiet_wire_logs() -> Iterator[None]:
    """Drop the HTTP libraries' log records below ERROR while the doctor runs: they print request
    URLs, which name the account, project, subscription and ids."""

    def keep(rec: logging.LogRecord) -> bool:
        return rec.levelno >= logging.ERROR or not rec.name.startswith(_WIRE_LOGGERS)

    loggers = [logging.getLogger(n) for n in _WIRE_LOGGERS]
    handlers = list(logging.getLogger().handlers)
    for target in (*loggers, *handlers):
        target.addFilter(keep)
    try:
        yield
    finally:
        for target in (*loggers, *handlers):
            target.removeFilter(keep)


# -- seeding an emulator before a comparison ----------------------------------------------------

SEED_MODEL = "gpt-4.1-mini"
"""The base model of the job [`seed_emulator()`][seed_emulator] runs."""
SEED_DEPLOYMENT = "doctor-check"


def seed_emulator(
    ft: Foundry, *, timeout: float = 300.0, progress: Callable[[str], object] | None = None
) -> None:
    """Give an emulator what the doctor reads: a succeeded supervised job (two uploaded files,
    validation included) and a deployment of its model, unless it already has them.

    Refuses any connection that is not an emulator on this machine: it would create billable
    resources on a real project.
    """
    if not _is_loopback(ft.endpoint):
        raise ConfigurationError("the doctor only seeds a local emulator (a loopback endpoint), "
                                 "never a real project")
    say = progress or (lambda _line: None)
    retry = ft.retry
    jobs = retry.call(lambda: ft.openai.fine_tuning.jobs.list(limit=JOBS_LIMIT),
                      what="doctor: list emulator jobs")
    done = next((j for j in jobs.data
                 if JobStatus(j.status) is JobStatus.SUCCEEDED and j.fine_tuned_model), None)
    if done is None:
        say("starting a small supervised job on the emulator")
        job = _start_job(ft).wait(timeout=timeout, progress=False)
        model = job.fine_tuned_model
    else:
        model = done.fine_tuned_model
    if model and not ft.arm_settings.missing() and not ft.deployments.list():
        say("deploying its model on the emulator")
        with warnings.catch_warnings():  # an emulator's deployment bills nothing
            warnings.simplefilter("ignore", BillingWarning)
            ft.deployments.create(model, SEED_DEPLOYMENT, capacity=1, timeout=timeout, ready_check=False)


def _start_job(ft: Foundry) -> Job:
    """The seed job, started the library's way: each file uploaded once, the job created once."""
    from foundry_tune._demo_data import demo_records
    from foundry_tune.dataset import Dataset
    from foundry_tune.methods import Supervised

    rows = list(demo_records(30))
    train = Dataset.from_records(rows[:20], name="doctor-train.jsonl")
    validation = Dataset.from_records(rows[20:], name="doctor-valid.jsonl")
    builder = ft.fine_tune(SEED_MODEL).train_on(train).validate_on(validation)
    return builder.training_type("Standard").method(Supervised(n_epochs=1)).suffix("doctor").start()
