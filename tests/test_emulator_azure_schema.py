"""The emulator's default (Azure) flavour answers in the shape of Azure's v1 OpenAPI subset
(``azure-recordings/spec/azure-v1-finetuning-subset.yaml``), widened only where the real recorded
Azure bodies disagree with it (the recordings win) and, once, for the documented error-body
difference. The first tests prove the widened schema accepts every recorded Azure body and that
each widening is forced by at least one of them; the walk then validates every JSON answer of the
files, fine-tuning and grader routes, on ``/openai/v1`` and on the ``?api-version=`` form.

The subset sets no ``additionalProperties: false``, so the extra keys Azure sends
(``trainingType``, ``additionalParameters``, ``suffix``, DPO ``l2_multiplier``, a score_model
grader's ``pass_threshold``) need no widening."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import pytest
import yaml
from _dataset_helpers import dpo, rft
from _emulator_helpers import SHARED, sft_rows, wait_until
from _openapi import as_json_schema, assert_schema, schema_problems, spec_registry
from referencing import Registry

from foundry_tune.emulator import Emulator

RECORDINGS = SHARED / "data" / "azure-recordings"
SUBSET = RECORDINGS / "spec" / "azure-v1-finetuning-subset.yaml"
pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=2.0),  # the shapes of a fresh resource, in-flight jobs
    pytest.mark.skipif(not SUBSET.is_file(), reason="shared Azure recordings not available"),
]
API_VERSION = "2025-11-15-preview"
JOB = "OpenAI.FineTuningJob"
FILE = "AzureOpenAIFile"
ERROR = "AzureErrorResponse"
Schemas = dict[str, Any]


# --- the subset and its widenings -----------------------------------------------------------------


def _subset() -> dict[str, Any]:
    spec: dict[str, Any] = as_json_schema(yaml.safe_load(SUBSET.read_text(encoding="utf-8")))
    return spec


# Keys of OpenAI.FineTuningJob.required that every recorded Azure job body carries.
RECORDED_JOB_KEYS = ["id", "created_at", "model", "object", "status", "training_file"]


def widen_job_required_keys(schemas: Schemas) -> None:
    """Azure leaves a job key out until it has a value (`error`, `fine_tuned_model`,
    `organization_id`, `metadata`, `result_files`, `trained_tokens`, `finished_at`, ...):
    recordings/sft_create_cancel_events.json (create: no `error`, `fine_tuned_model`,
    `finished_at`, `result_files`), recordings/list_jobs_page1_head.json (DPO / RFT jobs: no
    `hyperparameters`), recordings/list_checkpoints.json (no `validation_file`),
    spec-examples/post_finetuning_job.json (no `seed`)."""
    schemas[JOB]["required"] = list(RECORDED_JOB_KEYS)


def widen_job_statuses(schemas: Schemas) -> None:
    """Azure's job statuses beyond OpenAI's six: `pending` (recordings/sft_create_cancel_events.json,
    POST /fine_tuning/jobs), `pausing` (recordings/pause_job.json), `paused` and `resuming`
    (recordings/resume_job.json)."""
    schemas[JOB]["properties"]["status"]["enum"] += ["pending", "pausing", "paused", "resuming"]


def widen_job_empty_error(schemas: Schemas) -> None:
    """A job without an error may carry `error: {}`: notebooks/endpointgrader_rft_job_create.json
    (an o4-mini RFT create on the resource's /openai/v1)."""
    declared = schemas[JOB]["properties"]["error"]
    schemas[JOB]["properties"]["error"] = {"anyOf": [declared, {"type": "object", "maxProperties": 0}]}


def widen_multi_grader_members(schemas: Schemas) -> None:
    """A multi grader's members may be `python` and `endpoint` graders (the subset allows only
    string_check, text_similarity and score_model): notebooks/endpointgrader_rft_job_create.json."""
    schemas["AzureGraderEndpoint"] = {
        "type": "object",
        "required": ["type", "name", "url"],
        "properties": {"type": {"enum": ["endpoint"]}, "name": {"type": "string"}, "url": {"type": "string"}},
    }
    members = schemas["OpenAI.GraderMulti"]["properties"]["graders"]["additionalProperties"]["anyOf"]
    members += [
        {"$ref": "#/components/schemas/OpenAI.GraderPython"},
        {"$ref": "#/components/schemas/AzureGraderEndpoint"},
    ]


def widen_file_list_required_keys(schemas: Schemas) -> None:
    """Azure's file list need not carry `first_id`, `last_id` and `has_more`:
    spec-examples/get_files.json (no real v1 list is recorded; the emulator sends all five keys)."""
    schemas["AzureListFilesResponse"]["required"] = ["object", "data"]


# Each widening forced by a recorded Azure body (test_each_widening_is_forced_by_a_recording).
RECORDED_WIDENINGS: list[Callable[[Schemas], None]] = [
    widen_job_required_keys,
    widen_job_statuses,
    widen_job_empty_error,
    widen_multi_grader_members,
    widen_file_list_required_keys,
]


def widen_error_body_for_the_emulator(schemas: Schemas) -> None:
    """NOT forced by a recording: the emulator's data-plane errors are
    `{"error": {"code", "message", "param", "type"}}` with `param: null` and OpenAI `type` values
    (`invalid_request_error`, ...), as the project endpoint was seen answering (docs/emulator.md,
    "Known differences that remain"); the subset declares a string `param` and `type: "error"`.
    The one recorded data-plane error (errors/data_deployment_not_found.json) has neither key."""
    error = schemas[ERROR]["properties"]["error"]["properties"]
    error["param"] = {"type": ["string", "null"]}
    error["type"] = {
        "enum": ["invalid_request_error", "permission_error", "rate_limit_error", "server_error"]
    }


def widen_empty_file_list_ids_for_the_emulator(schemas: Schemas) -> None:
    """NOT forced by a recording: on an empty page the emulator's file list sends `first_id` and
    `last_id` as null (as OpenAI answers); the subset declares strings and no Azure list, empty or
    not, is recorded (spec-examples/get_files.json has neither key)."""
    ids = schemas["AzureListFilesResponse"]["properties"]
    ids["first_id"] = ids["last_id"] = {"type": ["string", "null"]}


def _widened(widenings: list[Callable[[Schemas], None]]) -> dict[str, Any]:
    spec = copy.deepcopy(_subset())
    for widen in widenings:
        widen(spec["components"]["schemas"])
    return spec


# Widenings for what the emulator sends and no recording shows (documented in docs/emulator.md).
EMULATOR_WIDENINGS = [widen_error_body_for_the_emulator, widen_empty_file_list_ids_for_the_emulator]
EVERY_WIDENING = [*RECORDED_WIDENINGS, *EMULATOR_WIDENINGS]


@cache
def _registry(names: tuple[str, ...]) -> Registry[Any]:
    """The registry of the subset widened by the widenings named."""
    return spec_registry(_widened([w for w in EVERY_WIDENING if w.__name__ in names]))


def _all_widened_spec() -> dict[str, Any]:
    return _widened(EVERY_WIDENING)


def _all_widened() -> Registry[Any]:
    return _registry(tuple(w.__name__ for w in EVERY_WIDENING))


def _unwidened() -> Registry[Any]:
    return _registry(())


# --- the recorded Azure bodies ------------------------------------------------------------------


def _kind(body: Any) -> str | None:
    """The subset schema a recorded body answers to, from its own shape."""
    if not isinstance(body, dict):
        return None
    if body.get("object") == "list" and body.get("data"):
        return {
            "file": "AzureListFilesResponse",
            "fine_tuning.job": "OpenAI.ListPaginatedFineTuningJobsResponse",
            "fine_tuning.job.event": "OpenAI.ListFineTuningJobEventsResponse",
            "fine_tuning.job.checkpoint": "OpenAI.ListFineTuningJobCheckpointsResponse",
        }.get(body["data"][0].get("object"))
    if body.get("object") == "file":
        return "OpenAI.DeleteFileResponse" if "deleted" in body else FILE
    if body.get("object") == "fine_tuning.job":
        return JOB
    return None


@dataclass(frozen=True)
class Recorded:
    source: str
    kind: str
    body: Any


@cache
def _recorded_bodies() -> tuple[Recorded, ...]:
    """Every recorded Azure body of files, jobs, job lists, events, checkpoints and deletes."""
    found: list[Recorded] = []
    for path in sorted((RECORDINGS / "recordings").glob("*.json")):
        for x in json.loads(path.read_text(encoding="utf-8"))["exchanges"]:
            route = x["uri"].split("?")[0]
            if "/openai/" not in route or route.endswith("/responses"):
                continue  # ARM and inference are not in the subset
            kind = _kind(x["response"])
            assert kind, f"unclassified {path.name} {x['method']} {route}"
            found.append(Recorded(f"recordings/{path.name} {x['method']} {route}", kind, x["response"]))
    for path in sorted((RECORDINGS / "notebooks").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "model_dump_json" in data["note"]:
            continue  # every SDK field, nulls included: not the keys the service sent
        kind = _kind(data["body"])
        if kind is None:
            assert "messages only" in data["note"], path.name  # dpo_event_messages_newest_first.json
            continue
        found.append(Recorded(f"notebooks/{path.name}", kind, data["body"]))
    for path in sorted((RECORDINGS / "spec-examples").glob("*.json")):
        if path.name == "chat_completions.json":
            continue  # inference: not in the subset
        body = json.loads(path.read_text(encoding="utf-8"))["body"]
        kind = _kind(body)
        assert kind, f"unclassified spec-examples/{path.name}"
        found.append(Recorded(f"spec-examples/{path.name}", kind, body))
    return tuple(found)


def _recorded_jobs() -> list[dict[str, Any]]:
    """Every recorded job body, on its own or in a list."""
    lists = [r.body["data"] for r in _recorded_bodies() if r.kind.endswith("FineTuningJobsResponse")]
    return [r.body for r in _recorded_bodies() if r.kind == JOB] + [j for page in lists for j in page]


def _failing(registry: Registry[Any]) -> list[str]:
    return [r.source for r in _recorded_bodies() if schema_problems(registry, r.kind, r.body)]


def test_every_recorded_azure_body_validates_against_the_widened_subset() -> None:
    kinds = {r.kind for r in _recorded_bodies()}
    assert kinds == {
        FILE,
        JOB,
        "AzureListFilesResponse",
        "OpenAI.DeleteFileResponse",
        "OpenAI.ListPaginatedFineTuningJobsResponse",
        "OpenAI.ListFineTuningJobEventsResponse",
        "OpenAI.ListFineTuningJobCheckpointsResponse",
    }
    for recorded in _recorded_bodies():
        assert_schema(_all_widened(), recorded.kind, recorded.body)


def test_the_unwidened_subset_rejects_recorded_azure_bodies() -> None:
    assert _failing(_unwidened())


@pytest.mark.parametrize("widening", RECORDED_WIDENINGS, ids=lambda w: w.__name__)
def test_each_widening_is_forced_by_a_recording(widening: Callable[[Schemas], None]) -> None:
    others = tuple(w.__name__ for w in RECORDED_WIDENINGS if w is not widening)
    assert _failing(_registry(others)), f"no recorded body needs {widening.__name__}"


def test_the_required_job_keys_are_those_every_recorded_job_carries() -> None:
    jobs = _recorded_jobs()
    carried = set.intersection(*(set(j) for j in jobs))
    declared = _subset()["components"]["schemas"][JOB]["required"]
    assert sorted(RECORDED_JOB_KEYS) == sorted(carried & set(declared))


def test_every_added_status_is_recorded() -> None:
    added = set(_all_widened_spec()["components"]["schemas"][JOB]["properties"]["status"]["enum"])
    added -= set(_subset()["components"]["schemas"][JOB]["properties"]["status"]["enum"])
    jobs = _recorded_jobs()
    assert added == {"pending", "pausing", "paused", "resuming"} <= {j["status"] for j in jobs}


def test_the_recorded_data_plane_error_fits_the_subset_before_and_after_widening() -> None:
    """The error widening only adds what the emulator sends (its 404 is checked in the walk)."""
    recorded = json.loads((RECORDINGS / "errors" / "data_deployment_not_found.json").read_text())["body"]
    assert_schema(_unwidened(), ERROR, recorded)
    assert_schema(_all_widened(), ERROR, recorded)


# --- the route walk -----------------------------------------------------------------------------


@dataclass
class Walk:
    """Calls the emulator and validates each JSON answer against the widened subset."""

    client: httpx.Client
    checked: set[str] = field(default_factory=set)
    statuses: set[str] = field(default_factory=set)

    def call(self, method: str, path: str, kind: str, expect: int = 200, **kwargs: Any) -> Any:
        answer = self.client.request(method, path, **kwargs)
        assert answer.status_code == expect, (method, path, answer.status_code, answer.text[:300])
        body = answer.json()
        assert_schema(_all_widened(), kind, body)
        self.checked.add(kind)
        if kind == JOB:
            self.statuses.add(body["status"])
        return body

    def job(self, job_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/fine_tuning/jobs/{job_id}", JOB)
        return found

    def until(self, job_id: str, status: str) -> dict[str, Any]:
        return wait_until(
            lambda: (j := self.job(job_id))["status"] == status and j, timeout=60, interval=0.05
        )

    def upload(self, name: str, rows: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        created = self.call(
            "POST", "/files", FILE, 201, files={"file": (name, data)}, data={"purpose": "fine-tune"}
        )
        assert created["status"] == "pending"
        file_id: str = created["id"]
        wait_until(lambda: self.call("GET", f"/files/{file_id}", FILE)["status"] == "processed")
        return file_id


LIFECYCLE = {"pending", "running", "pausing", "paused", "resuming", "succeeded", "cancelled"}
MULTI = {
    "type": "multi",
    "name": "exact or close",
    "graders": {
        "exact": {
            "type": "string_check",
            "name": "exact",
            "input": "{{sample.output_text}}",
            "reference": "{{item.answer}}",
            "operation": "eq",
        },
        "close": {
            "type": "text_similarity",
            "name": "close",
            "input": "{{sample.output_text}}",
            "reference": "{{item.answer}}",
            "evaluation_metric": "fuzzy_match",
        },
    },
    "calculate_output": "(exact + close) / 2",
}


@pytest.mark.parametrize("form", ["v1", "api-version"])
def test_every_azure_flavour_answer_fits_the_widened_subset(emulator: Emulator, form: str) -> None:
    base, params = ("/openai/v1", {}) if form == "v1" else ("/openai", {"api-version": API_VERSION})
    with httpx.Client(
        base_url=emulator.info.project_endpoint + base,
        params=params,
        headers={"Authorization": "Bearer entra-token-for-tests"},
        timeout=30,
    ) as client:
        walk = Walk(client)
        sft_file = walk.upload("sft.jsonl", sft_rows(20))
        dpo_file = walk.upload("dpo.jsonl", [dpo(i) for i in range(20)])
        rft_file = walk.upload("rft.jsonl", [rft(i) for i in range(20)])
        listed = walk.call("GET", "/files", "AzureListFilesResponse")
        assert {sft_file, dpo_file, rft_file} <= {f["id"] for f in listed["data"]}
        empty = walk.call("GET", "/files", "AzureListFilesResponse", params={"purpose": "batch"})
        assert empty["data"] == []
        # widen_empty_file_list_ids_for_the_emulator is needed, and only for the empty page
        assert schema_problems(_unwidened(), "AzureListFilesResponse", empty)
        assert not schema_problems(_unwidened(), "AzureListFilesResponse", listed)

        jobs = "/fine_tuning/jobs"
        sft = walk.call(
            "POST", jobs, JOB, 201,
            json={"model": "gpt-4.1-mini", "training_file": sft_file, "validation_file": sft_file,
                  "trainingType": "Standard", "suffix": "walk"},
        )  # fmt: skip
        dpo_job = walk.call(
            "POST", jobs, JOB, 201,
            json={"model": "gpt-4.1-mini", "training_file": dpo_file, "trainingType": "Standard",
                  "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}},
        )  # fmt: skip
        rft_job = walk.call(
            "POST", jobs, JOB, 201,
            json={"model": "o4-mini", "training_file": rft_file, "validation_file": rft_file,
                  "trainingType": "Standard",
                  "method": {"type": "reinforcement", "reinforcement": {"grader": MULTI}}},
        )  # fmt: skip
        assert walk.call("POST", f"{jobs}/{dpo_job['id']}/cancel", JOB)["status"] == "cancelled"

        walk.until(sft["id"], "running")
        assert walk.call("POST", f"{jobs}/{sft['id']}/pause", JOB)["status"] == "pausing"
        walk.until(sft["id"], "paused")
        assert walk.call("POST", f"{jobs}/{sft['id']}/resume", JOB)["status"] == "resuming"
        for job_id in (sft["id"], rft_job["id"]):
            done = walk.until(job_id, "succeeded")
            assert done["fine_tuned_model"]
            events = walk.call("GET", f"{jobs}/{job_id}/events", "OpenAI.ListFineTuningJobEventsResponse")
            assert events["data"]
            checkpoints = walk.call(
                "GET", f"{jobs}/{job_id}/checkpoints", "OpenAI.ListFineTuningJobCheckpointsResponse"
            )
            assert checkpoints["data"]
        page = walk.call("GET", jobs, "OpenAI.ListPaginatedFineTuningJobsResponse", params={"limit": 5})
        assert {sft["id"], dpo_job["id"], rft_job["id"]} <= {j["id"] for j in page["data"]}
        assert walk.statuses >= LIFECYCLE

        graders = "/fine_tuning/alpha/graders"
        validated = walk.call(
            "POST", f"{graders}/validate", "OpenAI.ValidateGraderResponse", json={"grader": MULTI}
        )
        assert validated["grader"]["type"] == "multi"
        ran = walk.call(
            "POST", f"{graders}/run", "OpenAI.RunGraderResponse",
            json={"grader": MULTI["graders"]["exact"], "model_sample": "4", "item": {"answer": "4"}},
        )  # fmt: skip
        assert ran["reward"] == 1.0

        missing = walk.call("GET", f"{jobs}/ftjob-{'0' * 32}", ERROR, 404)
        # widen_error_body_for_the_emulator is needed, and only for the emulator's own answer
        assert schema_problems(_unwidened(), ERROR, missing)
        deleted = walk.call("DELETE", f"/files/{dpo_file}", "OpenAI.DeleteFileResponse")
        assert deleted == {"object": "file", "deleted": True, "id": dpo_file}
        assert len(walk.checked) == 10
