"""A replay server: answers foundry-tune's calls with the real Azure answers recorded in
``../shared/data/azure-recordings`` (see its ``sources.md``), filling in only ids, times and echoes.

The answers are the recorded bodies, verbatim apart from:

- ids: ``sanitized-ftjob-id`` / ``sanitized-file-id`` / ... become fresh ids in the recorded style
  (``ftjob-`` / ``file-`` / ``ftevent-`` / ``ftchkpt-`` + 32 hex);
- times: ``created_at``, ``finished_at``, ``estimated_finish``, ARM ``systemData`` and operation
  times are the replay's own clock (durations kept as recorded);
- echoes: where Azure echoes the request, the request's values (model, file ids, suffix, seed,
  method and hyperparameters with ``-1`` for "auto", ``trainingType`` in the recorded camelCase,
  the ARM deployment's name, sku, model and tags) replace the recorded ones; the recorded
  ``Azure-AsyncOperation`` / ``Location`` URLs point at this server.

Which recorded answer a call gets is chosen by a :class:`Scenario` (a job's lifecycle, the ARM
long-running operation, errors). Nothing is invented where a recording exists; the few answers
no recording shows (a 404 for an unknown id, an empty page after a client looped on a cursor)
use Azure's error envelope and are listed in :data:`SYNTHESIZED`.

Every fixture an answer is built from is marked in :data:`USED` (and in ``server.served``), so a
test can check that every recording in the folder is exercised.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import email.parser
import email.policy
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from _emulator_helpers import RECORDINGS, needs_recordings

if TYPE_CHECKING:
    import foundry_tune
    import foundry_tune.aio

__all__ = [
    "RECORDINGS",
    "SYNTHESIZED",
    "USED",
    "RecordedRequest",
    "ReplayServer",
    "Scenario",
    "fixture",
    "fixture_names",
    "needs_recordings",
    "recorded_exchange",
]


USED: set[str] = set()
"""Fixtures (paths relative to :data:`RECORDINGS`) some answer or test was built from."""

SYNTHESIZED = (
    "404 for an id the project does not hold (files, jobs, ARM deployments): Azure's error envelope",
    "GET /files/{id}/content: no recorded results.csv, so 404 (foundry-tune then reads events)",
    "an empty GET /files page once a client asked for more than 20 continuation pages in a row",
    "ARM deployment list: the deployments of this server plus Azure's ListDeployments example",
)
"""The answers no recording shows, and what the replay sends instead."""

_NOT_FIXTURES = {"sources.md"}
_HEX = "0123456789abcdef"
_FILES_LOOP_CAP = 20


# --- fixtures --------------------------------------------------------------------------------


def fixture_names() -> list[str]:
    """Every recording in the folder (relative paths), except ``sources.md`` and the yaml spec."""
    names = []
    for path in sorted(RECORDINGS.rglob("*")):
        rel = path.relative_to(RECORDINGS).as_posix()
        if path.is_file() and rel not in _NOT_FIXTURES and path.suffix not in (".yaml", ".yml"):
            names.append(rel)
    return names


@cache
def _load(name: str) -> Any:
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))


def fixture(name: str) -> Any:
    """A deep copy of fixture ``name`` (marked as used)."""
    USED.add(name)
    return copy.deepcopy(_load(name))


def recorded_exchange(name: str, method: str, pattern: str, nth: int = 0) -> dict[str, Any]:
    """The ``nth`` exchange of recording ``name`` with this method whose URI matches ``pattern``
    (a copy; marks the recording as used)."""
    USED.add(name)
    return _exchange(name, method, pattern, nth)


def _exchange(name: str, method: str, pattern: str, nth: int = 0) -> dict[str, Any]:
    """:func:`recorded_exchange` without marking (the server marks what it serves)."""
    hits: list[dict[str, Any]] = [e for e in _load(name)["exchanges"]
                                  if e["method"] == method and re.search(pattern, e["uri"].split("?")[0])]
    return copy.deepcopy(hits[nth])


def _hex(n: int = 32) -> str:
    return uuid.uuid4().hex[:n] if n <= 32 else (uuid.uuid4().hex + uuid.uuid4().hex)[:n]


def _stable_hex(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:32]


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _replace_strings(obj: Any, mapping: Callable[[str], str]) -> Any:
    if isinstance(obj, dict):
        return {k: _replace_strings(v, mapping) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace_strings(v, mapping) for v in obj]
    if isinstance(obj, str):
        return mapping(obj)
    return obj


# --- requests --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request the server received: method, path, query, JSON body (None when not JSON),
    multipart form fields (file parts as ``{"filename", "bytes"}``) and the answer's status."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    form: dict[str, Any]
    status: int


# --- scenario --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scenario:
    """Which recorded answers the replay gives.

    ``job_answers="recorded"`` plays the azure-ai-projects recordings: a new file is ``pending`` for
    ``file_pending_polls`` GETs then ``processed``; a new job is ``pending``, ``running`` (pause_job's
    GET) for ``running_polls`` GETs, then ``succeeded`` (deploy_and_infer_oai_sft's GET, or
    deploy_oss_ministral's for a Ministral job) or, with ``job_outcome="failed"``, ``failed`` with
    the recorded error object. The DPO cookbook's 840 event messages are revealed progressively
    across those GETs. ``job_answers="spec"`` plays Azure's REST examples instead (``pending`` ->
    ``succeeded``, ``paused``, ``resuming``, ``cancelled``; the example's events and checkpoints).

    ARM: a PUT answers 201 ``Creating`` with ``Azure-AsyncOperation``; the operation answers
    ``Running`` for ``lro_polls`` polls (of the operation or of the deployment) then ``Succeeded``.
    ``arm_put_body="spec"`` answers the PUT with Azure's ``PutDeployment`` example (201 ``Accepted``).
    ``arm_put_error`` names an ``errors/arm_*.json`` fixture the first ``arm_put_error_times`` PUTs
    (all, when None) answer with. With ``not_ready_once`` the data plane answers the recorded
    ``DeploymentNotFound`` 404 once right after provisioning succeeded. ``echo_metadata`` keeps a
    job's metadata in its body (no recording shows it coming back, so it is off).
    """

    job_answers: Literal["recorded", "spec"] = "recorded"
    running_polls: int = 3
    file_pending_polls: int = 1
    job_outcome: Literal["succeeded", "failed"] = "succeeded"
    lro_polls: int = 1
    not_ready_once: bool = True
    arm_put_error: str | None = None
    arm_put_error_times: int | None = None
    echo_metadata: bool = False
    arm_put_body: Literal["recorded", "spec"] = "recorded"


# --- the recorded job answers ----------------------------------------------------------------

_SFT = "recordings/sft_create_cancel_events.json"
_JOBS = r"/fine_tuning/jobs/[^/]+$"
_DPO_KEYS = ("beta", "l2_multiplier", "n_epochs", "batch_size", "learning_rate_multiplier")
_SFT_KEYS = ("n_epochs", "batch_size", "learning_rate_multiplier")


def _job_template(state: str, *, model: str, flavour: str) -> tuple[str, dict[str, Any]]:
    """(fixture, body) of the recorded job answer for ``state``."""
    ministral = model.lower().startswith("ministral")
    if flavour == "spec":
        name = {
            "pending": "spec-examples/post_finetuning_job.json",
            "paused": "spec-examples/pause_finetuning_job.json",
            "pausing": "spec-examples/pause_finetuning_job.json",
            "resuming": "spec-examples/resume_finetuning_job.json",
            "cancelled": "spec-examples/cancel_finetuning_job.json",
        }.get(state, "spec-examples/get_finetuning_job.json")
        return name, fixture(name)["body"]
    if state == "pending":
        return _SFT, _exchange(_SFT, "POST", r"/fine_tuning/jobs$")["response"]
    if state == "cancelled":
        return _SFT, _exchange(_SFT, "POST", r"/cancel$")["response"]
    pause, resume = "recordings/pause_job.json", "recordings/resume_job.json"
    if state == "running":
        return pause, _exchange(pause, "GET", _JOBS)["response"]
    if state == "pausing":
        return pause, _exchange(pause, "POST", r"/pause$")["response"]
    if state == "paused":
        return resume, _exchange(resume, "GET", _JOBS)["response"]
    if state == "resuming":
        return resume, _exchange(resume, "POST", r"/resume$")["response"]
    name = "recordings/deploy_oss_ministral.json" if ministral else "recordings/deploy_and_infer_oai_sft.json"
    body = _exchange(name, "GET", _JOBS)["response"]
    if state == "failed":
        body = _failed_body(body)
    return name, body


def _failed_body(succeeded: dict[str, Any]) -> dict[str, Any]:
    """No failed Azure job body was recorded: the succeeded one without what only success leaves,
    with status ``failed`` and the recorded error object."""
    body = {k: v for k, v in succeeded.items()
            if k not in ("fine_tuned_model", "result_files", "trained_tokens")}
    body["status"] = "failed"
    body["error"] = fixture("errors/job_failed_invalid_n_examples.json")["error"]
    return body


_CREATE_TEMPLATES = {
    "ministral": "notebooks/sarcasm_job_create_ministral.json",
    "developer": "notebooks/sarcasm_job_create_nano_developer.json",
}


@cache
def _recorded_models() -> tuple[str, ...]:
    """Every base model named in a recorded job body (the service echoes versioned names)."""
    found: set[str] = set()

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("object") == "fine_tuning.job" and isinstance(obj.get("model"), str):
                found.add(obj["model"])
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    for name in fixture_names():
        if name.endswith(".json"):
            walk(_load(name))
    return tuple(sorted(found))


def resolve_model(model: str) -> str:
    """The model name Azure echoes for a requested base model: the recorded dated version
    (``gpt-4.1`` -> ``gpt-4.1-2025-04-14``) when one was recorded, else the request's."""
    for known in _recorded_models():
        rest = known[len(model) + 1:] if known.startswith(model + "-") else ""
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", rest):
            return known
    return model


def training_type_echo(value: str | None) -> str | None:
    """``trainingType`` as the recordings show the service echoing it (camelCase)."""
    if value is None:
        return None
    lowered = value.replace("_", "").replace("-", "").lower()
    return {"standard": "standard", "globalstandard": "globalStandard", "developer": "developerTier",
            "developertier": "developerTier", "datazone": "dataZone"}.get(lowered, value)


@dataclasses.dataclass
class _Job:
    """A job of the replayed project. ``fixed`` jobs answer one recorded body forever; the others
    follow the scenario's lifecycle, filling the recorded body of each state with their echoes."""

    id: str
    created_at: int
    model: str
    state: str
    flavour: str
    training_file: str | None = None
    validation_file: str | None = None
    suffix: str | None = None
    seed: int | None = None
    method: dict[str, Any] | None = None
    training_type: str | None = None
    metadata: dict[str, str] | None = None
    own: dict[str, tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=dict)
    """Recorded bodies of this very job, by state (they win over the scenario's templates)."""
    fixed: tuple[str, dict[str, Any]] | None = None
    running_seen: int = 0
    finished_at: int | None = None
    revealed: int = 1
    result_file: str = dataclasses.field(default_factory=lambda: f"file-{_hex()}")
    events_fixture: str = "notebooks/dpo_event_messages_newest_first.json"
    tuned_name: str | None = None

    @property
    def fine_tuned_model(self) -> str:
        """The tuned model's name, in the recorded style (``<model>.ft-<hex>[-<suffix>]``)."""
        if self.tuned_name is not None:
            return self.tuned_name
        suffix = f"-{self.suffix}" if self.suffix else ""
        return f"{self.model}.ft-{self.id.removeprefix('ftjob-')}{suffix}"


def _hyperparameters(method: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    """The recorded keys, the request's values where it gave one, ``-1`` ("auto") elsewhere."""
    kind = (method or {}).get("type") or "supervised"
    given = ((method or {}).get(kind) or {}).get("hyperparameters") or {}
    return {k: given.get(k, -1) for k in keys}


def _fill_job(job: _Job, template: dict[str, Any], echo_metadata: bool) -> dict[str, Any]:
    """The recorded ``template`` with ``job``'s ids, times and echoes."""
    body = copy.deepcopy(template)
    recorded_created = body.get("created_at")
    if isinstance(recorded_created, int) and isinstance(body.get("estimated_finish"), int):
        body["estimated_finish"] = job.created_at + (body["estimated_finish"] - recorded_created)
    body["id"] = job.id
    body["created_at"] = job.created_at
    body["model"] = job.model
    if "finished_at" in body:
        body["finished_at"] = job.finished_at or int(time.time())
    if job.training_file is not None:
        body["training_file"] = job.training_file
    if job.validation_file is not None:
        body["validation_file"] = job.validation_file
    else:
        body.pop("validation_file", None)
    if job.suffix is not None:
        body["suffix"] = job.suffix
    else:
        body.pop("suffix", None)
    if job.seed is not None and "seed" in body:
        body["seed"] = job.seed
    if body.get("fine_tuned_model"):
        body["fine_tuned_model"] = job.fine_tuned_model
    if body.get("result_files"):
        body["result_files"] = [job.result_file]
    kind = (job.method or {}).get("type") or "supervised"
    if job.flavour == "recorded":
        if job.method is not None and ("method" in body or job.state == "pending"):
            keys = _DPO_KEYS if kind == "dpo" else _SFT_KEYS
            body["method"] = {"type": kind, kind: {**{k: v for k, v in (job.method.get(kind) or {}).items()
                                                      if k != "hyperparameters"},
                                                   "hyperparameters": _hyperparameters(job.method, keys)}}
        if "hyperparameters" in body:
            if kind == "supervised":
                body["hyperparameters"] = _hyperparameters(job.method, _SFT_KEYS)
            else:
                body.pop("hyperparameters")
        if job.training_type is not None:
            body["trainingType"] = job.training_type
    if echo_metadata and job.metadata:
        body["metadata"] = dict(job.metadata)
    return body


# --- the server ------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    replay: ReplayServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _HTTPServer

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._body()
        status, headers, payload = self.server.replay.handle(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        return None


_ACCOUNT = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.CognitiveServices"
    r"/accounts/(?P<account>[^/]+)(?P<rest>/.*)?$", re.IGNORECASE)
_OPERATION = re.compile(
    r"^/subscriptions/[^/]+/providers/Microsoft\.CognitiveServices/locations/[^/]+/operationResults/(?P<op>[^/]+)$",
    re.IGNORECASE)
_DATA = re.compile(r"^(?:/api/projects/(?P<project>[^/]+))?/openai(?:/v1)?(?P<rest>/.*)$")

Answer = tuple[int, dict[str, str], Any]


@dataclasses.dataclass
class _Deployment:
    name: str
    body: dict[str, Any]
    template: str
    operation: str
    polls: int = 0
    deleting: bool = False
    answered_not_found: bool = False


@dataclasses.dataclass
class _Operation:
    id: str
    deployment: str
    template: str
    started: float
    kind: Literal["create", "delete"]
    polls: int = 0
    ended: float | None = None


class ReplayServer:
    """An HTTP server on 127.0.0.1 answering with the recorded Azure bodies (see the module doc).

    Use as a context manager. ``requests`` lists every request received, in order; ``served``
    names the fixtures the answers were built from; ``job_ids`` maps a fixture holding a job body
    to the id of that job in the replayed project (jobs of the recordings and notebooks are
    there from the start, as on a real project that ran them).
    """

    subscription_id = "00000000-0000-0000-0000-000000000000"
    resource_group = "replay-rg"
    account_name = "replay-account"
    project = "replay-project"

    def __init__(self, scenario: Scenario | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.requests: list[RecordedRequest] = []
        self.served: set[str] = set()
        self.job_ids: dict[str, str] = {}
        self.loop_guard_trips = 0
        self._lock = threading.RLock()
        self._files: dict[str, dict[str, Any]] = {}
        self._file_polls: dict[str, int] = {}
        self._static_files: dict[str, tuple[str, dict[str, Any]]] = {}
        self._jobs: dict[str, _Job] = {}
        self._session_jobs: list[str] = []
        self._page1: list[str] = []
        self._page2: list[str] = []
        self._deployments: dict[str, _Deployment] = {}
        self._operations: dict[str, _Operation] = {}
        self._put_errors = 0
        self._files_after_run = 0
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self._seed()

    # -- lifetime ----------------------------------------------------------------------------

    def start(self) -> ReplayServer:
        """Start serving on a free port."""
        http = _HTTPServer(("127.0.0.1", 0), _Handler)
        http.replay = self
        self._http = http
        self.url = f"http://127.0.0.1:{http.server_address[1]}"
        self._thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="replay-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def project_endpoint(self) -> str:
        """The project endpoint to connect to."""
        return f"{self.url}/api/projects/{self.project}"

    @property
    def arm_endpoint(self) -> str:
        """The ARM endpoint (ARM routes are served under ``/subscriptions/...``)."""
        return self.url

    def connection_options(self) -> dict[str, Any]:
        """The ARM settings of a Foundry / AsyncFoundry on this server."""
        return {"subscription_id": self.subscription_id, "resource_group": self.resource_group,
                "account_name": self.account_name, "arm_endpoint": self.arm_endpoint}

    def env(self) -> dict[str, str]:
        """The environment variables ``Foundry.from_env()`` (and the CLI) connect here with."""
        return {"AZURE_AI_PROJECT_ENDPOINT": self.project_endpoint,
                "AZURE_SUBSCRIPTION_ID": self.subscription_id, "AZURE_RESOURCE_GROUP": self.resource_group,
                "AZURE_AI_ACCOUNT_NAME": self.account_name, "AZURE_ARM_ENDPOINT": self.arm_endpoint}

    def foundry(self, **kwargs: Any) -> foundry_tune.Foundry:
        """A :class:`~foundry_tune.Foundry` connected here (static token, ARM settings)."""
        from foundry_tune import Foundry
        from foundry_tune.client import StaticTokenCredential

        return Foundry(self.project_endpoint, StaticTokenCredential("replay-token"),
                       **{**self.connection_options(), **kwargs})

    def async_foundry(self, **kwargs: Any) -> foundry_tune.aio.AsyncFoundry:
        """An :class:`~foundry_tune.aio.AsyncFoundry` connected here."""
        from foundry_tune.aio import AsyncFoundry, AsyncStaticTokenCredential

        return AsyncFoundry(self.project_endpoint, AsyncStaticTokenCredential("replay-token"),
                            **{**self.connection_options(), **kwargs})

    # -- what tests look at ------------------------------------------------------------------

    def requests_to(self, method: str, pattern: str) -> list[RecordedRequest]:
        """The requests with this method whose path matches the regex ``pattern``."""
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def event_messages(self) -> list[str]:
        """The recorded event messages, oldest first (what a job's events reveal)."""
        return list(reversed(_load("notebooks/dpo_event_messages_newest_first.json")["body"]))

    # -- seeding -----------------------------------------------------------------------------

    def _mark(self, name: str) -> None:
        USED.add(name)
        self.served.add(name)

    def _seed(self) -> None:
        """The jobs and files the recordings show on the project, under fresh ids."""
        listing = _exchange("recordings/list_jobs_page1_head.json", "GET", r"/fine_tuning/jobs$")
        for raw in listing["response"]["data"]:
            self._page1.append(self._add_fixed_job("recordings/list_jobs_page1_head.json", raw))
        for name in ("recordings/list_checkpoints.json", "recordings/deploy_and_infer_oai_sft.json",
                     "recordings/deploy_oss_ministral.json", "recordings/resume_job.json",
                     "recordings/pause_job.json"):
            raw = _exchange(name, "GET", _JOBS)["response"]
            self._page2.append(self._add_recorded_job(name, raw))
        for name in ("notebooks/chart_job_succeeded.json", "notebooks/video_job_succeeded.json",
                     "notebooks/breed_job_create.json", "notebooks/endpointgrader_rft_job_create.json",
                     "notebooks/sarcasm_job_create_ministral.json",
                     "notebooks/sarcasm_job_create_nano_developer.json"):
            raw = _load(name)["body"]
            self._page2.append(self._add_fixed_job(name, raw, keep_id=True))
        spec = _load("spec-examples/get_finetuning_job.json")["body"]
        spec_job = _Job(id=spec["id"], created_at=spec["created_at"], model=spec["model"], state="succeeded",
                        flavour="spec", training_file=spec["training_file"], finished_at=spec["finished_at"],
                        events_fixture="spec-examples/get_finetuning_job_events.json",
                        tuned_name=spec["fine_tuned_model"])
        self._jobs[spec_job.id] = spec_job
        self.job_ids["spec-examples/get_finetuning_job.json"] = spec_job.id
        for name in ("notebooks/sarcasm_file_train_processed.json",
                     "notebooks/sarcasm_file_valid_processed.json",
                     "notebooks/sarcasm_file_eval_processed.json", "notebooks/breed_batch_file.json"):
            body = _load(name)["body"]
            self._static_files[body["id"]] = (name, body)
        body = _load("spec-examples/get_file.json")["body"]
        self._static_files[body["id"]] = ("spec-examples/get_file.json", body)

    @property
    def recorded_list_ids(self) -> list[str]:
        """The ids given to the jobs of the recorded ``GET /fine_tuning/jobs`` page, in its order."""
        return list(self._page1)

    def _add_fixed_job(self, name: str, raw: dict[str, Any], *, keep_id: bool = False) -> str:
        job_id = raw["id"] if keep_id else f"ftjob-{_hex()}"
        files = iter(f"file-{_hex()}" for _ in range(10))
        body = _replace_strings(raw, lambda s: job_id if s == "sanitized-ftjob-id" else
                                (next(files) if s == "sanitized-file-id" else s))
        job = _Job(id=job_id, created_at=int(body.get("created_at") or 0), model=str(body.get("model")),
                   state=str(body.get("status")), flavour="recorded", fixed=(name, body))
        self._jobs[job_id] = job
        self.job_ids.setdefault(name, job_id)
        return job_id

    def _add_recorded_job(self, name: str, raw: dict[str, Any]) -> str:
        """A job of the recordings, living its recorded lifecycle from the recorded state."""
        job = _Job(id=f"ftjob-{_hex()}", created_at=raw["created_at"], model=raw["model"],
                   state=raw["status"], flavour="recorded", training_file=f"file-{_hex()}",
                   validation_file=f"file-{_hex()}" if "validation_file" in raw else None,
                   method=raw.get("method"), training_type=raw.get("trainingType"), seed=raw.get("seed"))
        if job.method is None and isinstance(raw.get("hyperparameters"), dict):
            job.method = {"type": "supervised", "supervised": {"hyperparameters": raw["hyperparameters"]}}
        job.own[job.state] = (name, raw)
        job.revealed = len(self.event_messages()) if job.state == "succeeded" else 11
        job.finished_at = raw.get("finished_at")
        self._jobs[job.id] = job
        self.job_ids[name] = job.id
        return job.id

    # -- dispatch ----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        """Answer one request (called by the HTTP handler threads)."""
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        payload: Any = None
        form: dict[str, Any] = {}
        ctype = headers.get("content-type", "")
        if body and "json" in ctype:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        elif body and ctype.startswith("multipart/form-data"):
            form = _multipart(ctype, body)
        with self._lock:
            try:
                answer = self._route(method, path, query, payload, form)
            except Exception as exc:  # a replay bug must show up as a 500, not a hung client
                answer = (500, {}, {"error": {"code": "ReplayError", "message": repr(exc)}})
            self.requests.append(RecordedRequest(method, path, query, payload, form, answer[0]))
            return answer

    def _route(self, method: str, path: str, query: dict[str, str], payload: Any,
               form: dict[str, Any]) -> Answer:
        op = _OPERATION.match(path)
        if op:
            return self._operation(op["op"], query)
        account = _ACCOUNT.match(path)
        if account:
            return self._arm(method, account["rest"] or "", query, payload)
        data = _DATA.match(path)
        if data:
            return self._data(method, data["rest"].rstrip("/"), query, payload, form)
        return _not_found("Resource not found")

    # -- data plane --------------------------------------------------------------------------

    def _data(self, method: str, rest: str, query: dict[str, str], payload: Any,
              form: dict[str, Any]) -> Answer:
        segs = rest.strip("/").split("/")
        if segs[0] == "files":
            return self._files_route(method, segs[1:], query, form)
        if segs[:2] == ["fine_tuning", "jobs"]:
            return self._jobs_route(method, segs[2:], query, payload)
        if rest == "/chat/completions" and method == "POST":
            return self._inference("chat", payload)
        if rest == "/responses" and method == "POST":
            return self._inference("responses", payload)
        return _not_found("Resource not found")

    def _files_route(self, method: str, segs: list[str], query: dict[str, str],
                     form: dict[str, Any]) -> Answer:
        if not segs and method == "POST":
            return self._create_file(form)
        if not segs and method == "GET":
            return self._list_files(query)
        file_id = segs[0] if segs else ""
        if len(segs) == 1 and method == "GET":
            return self._get_file(file_id)
        if len(segs) == 1 and method == "DELETE":
            if file_id not in self._files and file_id not in self._static_files:
                return _not_found(f"File {file_id} not found")
            self._files.pop(file_id, None)
            self._mark(_SFT)
            answer = _exchange(_SFT, "DELETE", r"/files/[^/]+$")["response"]
            return 200, {}, {**answer, "id": file_id}
        return _not_found(f"File {file_id} has no content here")

    def _create_file(self, form: dict[str, Any]) -> Answer:
        upload = form.get("file") or {}
        file_id = f"file-{_hex()}"
        self._mark(_SFT)
        body = _exchange(_SFT, "POST", r"/files$")["response"]
        body.update(id=file_id, created_at=int(time.time()), bytes=len(upload.get("bytes", b"")),
                    filename=upload.get("filename") or "upload.jsonl",
                    purpose=form.get("purpose", body["purpose"]))
        self._files[file_id] = body
        self._file_polls[file_id] = 0
        return 201, {"Location": f"{self.project_endpoint}/openai/v1/files/{file_id}"}, body

    def _file_body(self, file_id: str) -> dict[str, Any]:
        created = self._files[file_id]
        polls = self._file_polls[file_id]
        pending = polls < self.scenario.file_pending_polls
        recorded = _exchange(_SFT, "GET", r"/files/[^/]+$", 0 if pending else 1)["response"]
        return {**recorded, **{k: created[k] for k in ("id", "created_at", "bytes", "filename", "purpose")}}

    def _get_file(self, file_id: str) -> Answer:
        if file_id in self._files:
            self._mark(_SFT)
            body = self._file_body(file_id)
            self._file_polls[file_id] += 1
            return 200, {}, body
        if file_id in self._static_files:
            name, body = self._static_files[file_id]
            self._mark(name)
            return 200, {}, copy.deepcopy(body)
        return _not_found(f"File {file_id} not found")

    def _list_files(self, query: dict[str, str]) -> Answer:
        """Azure's ``GET /files`` example: the whole list, no ``has_more``, whatever the query."""
        self._mark("spec-examples/get_files.json")
        body = fixture("spec-examples/get_files.json")["body"]
        if "after" in query:
            self._files_after_run += 1
            if self._files_after_run > _FILES_LOOP_CAP:
                self.loop_guard_trips += 1
                return 200, {}, {"data": [], "object": "list"}
        else:
            self._files_after_run = 0
        if self._files:
            self._mark(_SFT)
        listed = [self._file_body(fid) for fid in reversed(self._files)]
        body["data"] = listed + body["data"]
        return 200, {}, body

    # -- jobs --------------------------------------------------------------------------------

    def _jobs_route(self, method: str, segs: list[str], query: dict[str, str], payload: Any) -> Answer:
        if not segs:
            if method == "POST":
                return self._create_job(payload if isinstance(payload, dict) else {})
            return self._list_jobs(query)
        job = self._jobs.get(segs[0])
        if job is None:
            return _not_found(f"Job {segs[0]} not found")
        action = segs[1] if len(segs) > 1 else ""
        if method == "GET" and not action:
            self._tick(job)
            return 200, {}, self._job_body(job)
        if method == "GET" and action == "events":
            return self._events(job, query)
        if method == "GET" and action == "checkpoints":
            return self._checkpoints(job)
        if method == "POST" and action in ("cancel", "pause", "resume"):
            return self._control(job, action)
        return _not_found("Resource not found")

    def _create_job(self, req: dict[str, Any]) -> Answer:
        model = str(req.get("model") or "")
        method = req.get("method") if isinstance(req.get("method"), dict) else None
        if method is None and isinstance(req.get("hyperparameters"), dict):
            method = {"type": "supervised", "supervised": {"hyperparameters": req["hyperparameters"]}}
        training_type = req.get("trainingType") or req.get("training_type")
        job = _Job(
            id=f"ftjob-{_hex()}", created_at=int(time.time()), model=resolve_model(model),
            state="pending", flavour=self.scenario.job_answers, training_file=req.get("training_file"),
            validation_file=req.get("validation_file"), suffix=req.get("suffix"), seed=req.get("seed"),
            method=method, training_type=training_type_echo(training_type) if training_type else None,
            metadata=req.get("metadata") if isinstance(req.get("metadata"), dict) else None,
        )
        if job.flavour == "spec":
            job.events_fixture = "spec-examples/get_finetuning_job_events.json"
        elif model.lower().startswith("ministral"):
            name = _CREATE_TEMPLATES["ministral"]
            job.own["pending"] = (name, _load(name)["body"])
        elif (training_type or "").lower() in ("developer", "developertier"):
            name = _CREATE_TEMPLATES["developer"]
            job.own["pending"] = (name, _load(name)["body"])
        self._jobs[job.id] = job
        self._session_jobs.insert(0, job.id)
        body = self._job_body(job)
        headers = {"Location": f"{self.project_endpoint}/openai/v1/fine_tuning/jobs/{job.id}"}
        return 201, headers, body

    def _job_body(self, job: _Job) -> dict[str, Any]:
        if job.fixed is not None:
            name, body = job.fixed
            self._mark(name)
            return copy.deepcopy(body)
        if job.state in job.own:
            name, template = job.own[job.state]
        else:
            name, template = _job_template(job.state, model=job.model, flavour=job.flavour)
        self._mark(name)
        if job.state == "failed":
            self._mark("errors/job_failed_invalid_n_examples.json")
        return _fill_job(job, template, self.scenario.echo_metadata)

    def _tick(self, job: _Job) -> None:
        """One GET of a job: the lifecycle moves on as the recordings show it moving."""
        if job.fixed is not None:
            return
        total = len(self.event_messages())
        if job.flavour == "spec":
            if job.state in ("pending", "resuming"):
                self._finish(job, "succeeded", total)
            return
        if job.state == "pending":
            job.state = "running"
        elif job.state == "pausing":
            job.state = "paused"
        elif job.state == "resuming":
            job.state = "running"
        elif job.state == "running":
            job.running_seen += 1
            if job.running_seen > self.scenario.running_polls:
                self._finish(job, self.scenario.job_outcome, total)
                return
        if job.state == "running":
            steps = 826 * (job.running_seen + 1) // (self.scenario.running_polls + 2)
            job.revealed = max(job.revealed, 10 + steps)

    def _finish(self, job: _Job, state: str, total: int) -> None:
        job.state = state
        job.finished_at = int(time.time())
        job.revealed = total if state == "succeeded" else max(job.revealed, 10)

    def _control(self, job: _Job, action: str) -> Answer:
        if job.fixed is not None:
            if job.state in ("succeeded", "failed", "cancelled") and action == "cancel":
                return 200, {}, self._job_body(job)
            return _error(400, "invalidJobState", f"Job {job.id} cannot be {action}d in state {job.state}")
        if job.flavour == "spec":  # Azure's examples answer each action whatever the state
            job.state = {"cancel": "cancelled", "pause": "paused", "resume": "resuming"}[action]
        elif action == "cancel":
            if job.state not in ("succeeded", "failed", "cancelled"):
                job.state = "cancelled"
                job.finished_at = int(time.time())
        elif action == "pause":
            if job.state not in ("running", "pending"):
                return _error(400, "invalidJobState", f"Job {job.id} is {job.state}: it cannot pause")
            job.state = "paused" if job.flavour == "spec" else "pausing"
        else:
            if job.state not in ("paused", "pausing"):
                return _error(400, "invalidJobState", f"Job {job.id} is {job.state}: it cannot resume")
            job.state = "resuming"
        return 200, {}, self._job_body(job)

    def _list_jobs(self, query: dict[str, str]) -> Answer:
        """The recorded page (``has_more: true``) after this session's jobs, then a last page."""
        if self.scenario.job_answers == "spec":
            self._mark("spec-examples/get_finetuning_jobs.json")
            body = fixture("spec-examples/get_finetuning_jobs.json")["body"]
            body["data"] = [self._job_body(self._jobs[j]) for j in self._session_jobs] + body["data"]
            return 200, {}, body
        self._mark("recordings/list_jobs_page1_head.json")
        recorded = sorted(self._page1 + self._page2, key=lambda j: -self._jobs[j].created_at)
        order = self._session_jobs + recorded
        page_end = max(order.index(j) for j in self._page1) + 1
        limit = max(1, int(query.get("limit") or 20))
        after = query.get("after")
        start = order.index(after) + 1 if after in order else 0
        end = min(start + limit, page_end if start < page_end else len(order))
        listed = order[start:end]
        name = "recordings/list_jobs_page1_head.json"
        body = _exchange(name, "GET", r"/fine_tuning/jobs$")["response"]
        body["data"] = [self._job_body(self._jobs[j]) for j in listed]
        body["has_more"] = end < len(order)
        return 200, {}, body

    def _event_objects(self, job: _Job) -> list[dict[str, Any]]:
        """The job's revealed events, newest first, in the recorded event object's shape."""
        if job.events_fixture.startswith("spec-examples"):  # served as Azure's example lists them
            self._mark(job.events_fixture)
            events: list[dict[str, Any]] = fixture(job.events_fixture)["body"]["data"]
            return events
        self._mark(job.events_fixture)
        self._mark(_SFT)
        template = _exchange(_SFT, "GET", r"/events$")["response"]["data"][0]
        messages = self.event_messages()
        if job.fixed is not None:
            revealed = len(messages) if job.state == "succeeded" else 1
        else:
            revealed = job.revealed
        out = []
        for i, recorded in enumerate(messages[:revealed]):
            message = re.sub(r"file-[0-9a-f]{32}", job.result_file, recorded)
            out.append({**template, "id": f"ftevent-{_stable_hex(job.id, i)}",
                        "created_at": job.created_at + i, "message": message})
        out.reverse()
        return out

    def _events(self, job: _Job, query: dict[str, str]) -> Answer:
        events = self._event_objects(job)
        if job.events_fixture.startswith("spec-examples"):
            body = fixture(job.events_fixture)["body"]
            body["data"] = events
            return 200, {}, body
        limit = max(1, int(query.get("limit") or 20))
        ids = [e["id"] for e in events]
        start = ids.index(query["after"]) + 1 if query.get("after") in ids else 0
        page = events[start:start + limit]
        body = _exchange(_SFT, "GET", r"/events$")["response"]
        body["data"] = page
        body["has_more"] = start + limit < len(events)
        return 200, {}, body

    def _checkpoints(self, job: _Job) -> Answer:
        if job.flavour == "spec":
            self._mark("spec-examples/get_finetuning_job_checkpoints.json")
            return 200, {}, fixture("spec-examples/get_finetuning_job_checkpoints.json")["body"]
        name = "recordings/list_checkpoints.json"
        self._mark(name)
        body = _exchange(name, "GET", r"/checkpoints$")["response"]
        model = job.fine_tuned_model if job.fixed is None else str(
            job.fixed[1].get("fine_tuned_model") or f"{job.model}.ft-{job.id.removeprefix('ftjob-')}")
        newest = body["data"][0]["created_at"] if body["data"] else 0
        finished = job.finished_at or int(time.time())
        for i, item in enumerate(body["data"]):
            item["id"] = f"ftchkpt-{_stable_hex(job.id, 'checkpoint', i)}"
            item["fine_tuning_job_id"] = job.id
            item["created_at"] = finished - (newest - item["created_at"])
            step = item["step_number"]
            item["fine_tuned_model_checkpoint"] = model if i == 0 else f"{model}:ckpt-step-{step}"
        return 200, {}, body

    # -- inference ---------------------------------------------------------------------------

    def _inference(self, kind: str, payload: Any) -> Answer:
        name = str((payload or {}).get("model") or "")
        dep = self._deployments.get(name)
        ready = dep is not None and not dep.deleting and \
            dep.body["properties"]["provisioningState"] == "Succeeded"
        if not ready or (self.scenario.not_ready_once and dep is not None and not dep.answered_not_found):
            if dep is not None and ready:
                dep.answered_not_found = True
            self._mark("errors/data_deployment_not_found.json")
            err = fixture("errors/data_deployment_not_found.json")
            return err["status"], {}, err["body"]
        now = int(time.time())
        if kind == "chat":
            self._mark("spec-examples/chat_completions.json")
            body = fixture("spec-examples/chat_completions.json")["body"]
            return 200, {}, {**body, "id": f"chatcmpl-{_hex(29)}", "created": now}
        name_rec = "recordings/deploy_and_infer_oai_sft.json"
        self._mark(name_rec)
        body = _exchange(name_rec, "POST", r"/responses$")["response"]
        resp_id, msg_id = f"resp_{_hex(50)}", f"msg_{_hex(50)}"
        body.update(id=resp_id, created_at=now, model=name)
        for item in body["output"]:
            item["id"] = msg_id
            item.setdefault("created_by", {})["response_id"] = resp_id
        return 200, {}, body

    # -- ARM ---------------------------------------------------------------------------------

    def _arm_id(self, name: str) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.CognitiveServices/accounts/{self.account_name}/deployments/{name}")

    def _arm(self, method: str, rest: str, query: dict[str, str], payload: Any) -> Answer:
        segs = rest.strip("/").split("/")
        if segs == ["deployments"] and method == "GET":
            return self._list_deployments()
        if len(segs) != 2 or segs[0] != "deployments":
            return _not_found("The resource was not found", code="ResourceNotFound")
        name = segs[1]
        api_version = query.get("api-version", "2024-10-01")
        if method == "GET":
            return self._get_deployment(name)
        if method == "PUT":
            return self._put_deployment(name, payload if isinstance(payload, dict) else {}, api_version)
        if method == "DELETE":
            return self._delete_deployment(name, api_version)
        return _not_found("The resource was not found", code="ResourceNotFound")

    def _operation_url(self, op: _Operation, api_version: str) -> str:
        recorded = _exchange(op.template, "PUT", r"/deployments/")["headers"]["Azure-AsyncOperation"]
        parts = urlsplit(recorded)
        path = parts.path.replace("sanitized-operation-id", op.id).replace(
            "00000000-0000-0000-0000-000000000000", self.subscription_id)
        query = re.sub(r"api-version=[^&]+", f"api-version={api_version}", parts.query)
        return f"{self.url}{path}?{query}"

    def _deployment_template(self, fmt: str) -> str:
        return "recordings/deploy_oss_ministral.json" if fmt.lower() == "mistral ai" else \
            "recordings/deploy_and_infer_oai_sft.json"

    def _put_deployment(self, name: str, req: dict[str, Any], api_version: str) -> Answer:
        times = self.scenario.arm_put_error_times
        if self.scenario.arm_put_error is not None and (times is None or self._put_errors < times):
            self._put_errors += 1
            err = fixture(self.scenario.arm_put_error)
            self._mark(self.scenario.arm_put_error)
            return err["status"], {}, err["body"]
        existing = self._deployments.get(name)
        if existing is not None and not existing.deleting:
            return 200, {}, copy.deepcopy(existing.body)
        model = (req.get("properties") or {}).get("model") or {}
        template = self._deployment_template(str(model.get("format") or "OpenAI"))
        self._mark(template)
        exchange = _exchange(template, "PUT", r"/deployments/")
        body = copy.deepcopy(exchange["response"])
        if self.scenario.arm_put_body == "spec":
            self._mark("arm/PutDeployment.json")
            body = fixture("arm/PutDeployment.json")["responses"]["201"]["body"]
        now = time.time()
        body["id"] = self._arm_id(name)
        body["name"] = name
        body["type"] = _load("arm/GetDeployment.json")["body"]["type"]
        self._mark("arm/GetDeployment.json")
        if isinstance(req.get("sku"), dict):
            body["sku"] = copy.deepcopy(req["sku"])
            if "currentCapacity" in body["properties"]:
                body["properties"]["currentCapacity"] = req["sku"].get("capacity")
        body["properties"]["model"] = {**body["properties"]["model"], **model}
        overrides = body["properties"].get("headerOverrides")
        if isinstance(overrides, dict) and "x-ms-model-mesh-model-name" in overrides:
            overrides["x-ms-model-mesh-model-name"] = str(model.get("name", "")).split(".ft-")[0]
        if isinstance(req.get("tags"), dict):
            body["tags"] = dict(req["tags"])
        if "systemData" in body:
            body["systemData"].update(createdAt=_iso(now), lastModifiedAt=_iso(now))
        etag = f'"{uuid.uuid4()}"'
        if "etag" in body:
            body["etag"] = etag
        op = _Operation(id=str(uuid.uuid4()), deployment=name, template=template, started=now, kind="create")
        self._operations[op.id] = op
        self._deployments[name] = _Deployment(name=name, body=body, template=template, operation=op.id)
        url = self._operation_url(op, api_version)
        headers = {"Azure-AsyncOperation": url, "Location": url}
        if "ETag" in exchange["headers"]:
            headers["ETag"] = etag
        return exchange["status"], headers, copy.deepcopy(body)

    def _advance(self, dep: _Deployment) -> None:
        """One poll (of the operation or of the deployment): Running for ``lro_polls``, then done."""
        op = self._operations[dep.operation]
        op.polls += 1
        if op.polls > self.scenario.lro_polls and op.ended is None:
            op.ended = time.time()
            if op.kind == "create":
                dep.body["properties"]["provisioningState"] = "Succeeded"
            else:
                self._deployments.pop(dep.name, None)

    def _get_deployment(self, name: str) -> Answer:
        dep = self._deployments.get(name)
        if dep is None:
            example = _load("arm/GetDeployment.json")["body"]
            if name == example["name"]:
                self._mark("arm/GetDeployment.json")
                return 200, {}, {**copy.deepcopy(example), "id": self._arm_id(name)}
            return _not_found(f"Deployment {name} not found", code="DeploymentNotFound")
        self._mark(dep.template)
        if dep.body["properties"]["provisioningState"] != "Succeeded" or dep.deleting:
            self._advance(dep)
        if name not in self._deployments:
            return _not_found(f"Deployment {name} not found", code="DeploymentNotFound")
        body = copy.deepcopy(dep.body)
        if dep.deleting:
            body["properties"]["provisioningState"] = "Deleting"
        return 200, {}, body

    def _list_deployments(self) -> Answer:
        self._mark("arm/ListDeployments.json")
        body = fixture("arm/ListDeployments.json")["body"]
        for item in body["value"]:
            item["id"] = self._arm_id(item["name"])
        listed = []
        for dep in self._deployments.values():
            item = copy.deepcopy(dep.body)
            if dep.deleting:
                item["properties"]["provisioningState"] = "Deleting"
            listed.append(item)
        body["value"] = listed + body["value"]
        return 200, {}, body

    def _delete_deployment(self, name: str, api_version: str) -> Answer:
        dep = self._deployments.get(name)
        if dep is None or dep.deleting:
            self._mark("arm/DeleteDeployment.json")
            return (204 if dep is None else 202), {}, None
        template = dep.template
        self._mark(template)
        recorded_delete = "recordings/deploy_and_infer_oai_sft.json"  # the one recorded DELETE
        self._mark(recorded_delete)
        exchange = _exchange(recorded_delete, "DELETE", r"/deployments/")
        op = _Operation(id=str(uuid.uuid4()), deployment=name, template=template, started=time.time(),
                        kind="delete")
        self._operations[op.id] = op
        dep.deleting = True
        dep.operation = op.id
        url = self._operation_url(op, api_version)
        return exchange["status"], {"Azure-AsyncOperation": url, "Location": url}, None

    def _operation(self, op_id: str, query: dict[str, str]) -> Answer:
        op = self._operations.get(op_id)
        if op is None:
            return _not_found(f"Operation {op_id} not found", code="ResourceNotFound")
        dep = self._deployments.get(op.deployment)
        if dep is not None and dep.operation == op.id:
            self._advance(dep)
        elif op.ended is None:
            op.polls += 1
            if op.polls > self.scenario.lro_polls:
                op.ended = time.time()
        self._mark(op.template)
        done = op.ended is not None
        body = _exchange(op.template, "GET", r"/operationResults/", 1 if done else 0)["response"]
        body["id"] = body["id"].replace("sanitized-operation-id", op.id).replace(
            "00000000-0000-0000-0000-000000000000", self.subscription_id)
        body["name"] = op.id
        body["startTime"] = _iso(op.started).split(".")[0] + "Z"
        if done and op.ended is not None:
            body["endTime"] = _iso(op.ended).split(".")[0] + "Z"
        return 200, {}, body


def _error(status: int, code: str, message: str) -> Answer:
    return status, {}, {"error": {"code": code, "message": message}}


def _not_found(message: str, *, code: str = "NotFound") -> Answer:
    return _error(404, code, message)


def _multipart(ctype: str, body: bytes) -> dict[str, Any]:
    """The fields of a multipart/form-data body: text fields as str, file parts as dicts."""
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            fields[str(name)] = {"filename": filename, "bytes": data}
        else:
            fields[str(name)] = data.decode("utf-8", errors="replace")
    return fields


def recorded_losses() -> dict[int, float]:
    """Step -> training loss, from the recorded DPO event messages."""
    out = {}
    for message in _load("notebooks/dpo_event_messages_newest_first.json")["body"]:
        m = re.match(r"Step (\d+): training loss=(\S+)$", message)
        if m:
            out[int(m[1])] = float(m[2])
    return out


def iter_job_bodies() -> Iterator[tuple[str, dict[str, Any]]]:
    """(fixture, body) of every job body in the folder."""
    for name in fixture_names():
        if not name.endswith(".json"):
            continue
        data = _load(name)
        stack: list[Any] = [data]
        while stack:
            obj = stack.pop()
            if isinstance(obj, dict):
                if obj.get("object") == "fine_tuning.job":
                    USED.add(name)
                    yield name, copy.deepcopy(obj)
                stack.extend(obj.values())
            elif isinstance(obj, list):
                stack.extend(obj)
