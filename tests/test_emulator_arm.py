"""ARM deployments on the emulator, held against the recordings of the real service
(``recordings/deploy_and_infer_oai_sft.json``, ``deploy_oss_ministral.json``, ``arm/*``,
``errors/*``): 201 ``Creating`` with an ``Azure-AsyncOperation`` that goes Running then Succeeded,
DELETE 202 then ``Deleting`` until the operation ends, ARM's error envelope, the wrong
``model.format`` refused, the not-ready window answered as Azure does, both data-plane path forms;
plus the project endpoint's read-only deployments API over TLS with the unmodified AIProjectClient."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import httpx2
import openai
import pytest
from _emulator_helpers import (
    ARM_API_VERSION,
    SHARED,
    StaticCredential,
    arm_client,
    deploy,
    deployment_path,
    openai_client,
    sft_rows,
    wait_until,
    write_jsonl,
)
from azure.ai.projects import AIProjectClient

from foundry_tune.emulator import Emulator

# An emulator of this module's own: its delays let the tests see a deployment Creating, then not yet
# answering; and it lists every deployment on the resource.
pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=1.5, deployment_provision_delay=0.5, deployment_ready_delay=1.0),
]
API = {"api-version": ARM_API_VERSION}
RECORDINGS = SHARED / "data" / "azure-recordings"
needs_recordings = pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared Azure recordings not available")


def _recorded(name: str) -> Any:
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))


def _exchanges(name: str, method: str, marker: str) -> list[dict[str, Any]]:
    return [x for x in _recorded(name)["exchanges"] if x["method"] == method and marker in x["uri"]]


@pytest.fixture(scope="module")
def tuned_model(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> str:
    client = openai_client(emulator.info)
    path = write_jsonl(tmp_path_factory.mktemp("arm") / "train.jsonl", sft_rows(12))
    with path.open("rb") as fh:
        file = client.files.create(file=fh, purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=file.id, extra_body={"trainingType": "globalstandard"}
    )
    done = wait_until(
        lambda: (j := client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded" and j, timeout=60
    )
    assert done.fine_tuned_model
    return done.fine_tuned_model


def _arm_error(answer: httpx.Response) -> dict[str, str]:
    """ARM's envelope: code and message only (no OpenAI ``type`` / ``param``)."""
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    error: dict[str, str] = body["error"]
    return error


def _follow(arm: httpx.Client, url: str) -> list[dict[str, Any]]:
    """Poll an operation URL until it leaves Running; every body seen."""
    seen: list[dict[str, Any]] = []

    def done() -> bool:
        answer = arm.get(url)
        assert answer.status_code == 200
        seen.append(answer.json())
        return bool(seen[-1]["status"] != "Running")

    wait_until(done, interval=0.05)
    return seen


def test_api_version_is_required(emulator: Emulator) -> None:
    answer = arm_client(emulator.info).get(deployment_path(emulator.info, "x"))
    assert answer.status_code == 400
    assert _arm_error(answer)["code"] == "MissingApiVersionParameter"


def test_arm_errors_use_the_arm_envelope(emulator: Emulator) -> None:
    anonymous = httpx.get(emulator.info.arm_endpoint + deployment_path(emulator.info, "x"), params=API)
    assert anonymous.status_code == 401
    assert _arm_error(anonymous)["code"] == "AuthenticationFailed"
    missing = arm_client(emulator.info).get(deployment_path(emulator.info, "never-made"), params=API)
    assert missing.status_code == 404
    assert _arm_error(missing)["code"] == "DeploymentNotFound"
    no_route = arm_client(emulator.info).get("/subscriptions/x/no/such/thing", params=API)
    assert no_route.status_code == 404 and _arm_error(no_route)["code"]
    # the data plane keeps its own shape
    data = httpx.get(emulator.info.openai_base_url + "/files/file-missing", headers={"api-key": "k"})
    assert set(data.json()["error"]) == {"code", "message", "param", "type"}


def test_unknown_model_is_refused(emulator: Emulator) -> None:
    answer = deploy(
        arm_client(emulator.info), emulator.info, "ghost", "gpt-4o-mini-2024-07-18.ft-doesnotexist"
    )
    assert answer.status_code == 400
    assert _arm_error(answer)["code"] == "DeploymentModelNotSupported"


def test_a_wrong_model_format_is_refused_naming_format_name_and_version(emulator: Emulator) -> None:
    body = {
        "sku": {"name": "GlobalStandard", "capacity": 1},
        "properties": {"model": {"format": "Mistral AI", "name": "gpt-4.1-mini", "version": "1"}},
    }
    answer = arm_client(emulator.info).put(deployment_path(emulator.info, "wrong"), params=API, json=body)
    assert answer.status_code == 400
    error = _arm_error(answer)
    assert error["code"] == "DeploymentModelNotSupported"
    assert "Format:Mistral AI,Name:gpt-4.1-mini,Version:1" in error["message"]


def test_wrong_account_is_not_found(emulator: Emulator) -> None:
    path = deployment_path(emulator.info, "x").replace(emulator.info.account_name, "other-account")
    answer = arm_client(emulator.info).get(path, params=API)
    assert answer.status_code == 404


@needs_recordings
def test_put_answers_201_creating_with_the_recorded_shape_and_an_operation(
    emulator: Emulator, tuned_model: str
) -> None:
    (recorded,) = _exchanges("recordings/deploy_and_infer_oai_sft.json", "PUT", "/deployments/")
    arm = arm_client(emulator.info)
    created = deploy(arm, emulator.info, "window", tuned_model)
    assert created.status_code == recorded["status"] == 201
    body = created.json()
    assert set(body) == set(recorded["response"])
    assert set(body["properties"]) == set(recorded["response"]["properties"])
    assert set(body["systemData"]) == set(recorded["response"]["systemData"])
    assert set(body["properties"]["capabilities"]) == set(recorded["response"]["properties"]["capabilities"])
    assert body["properties"]["provisioningState"] == "Creating"
    assert body["properties"]["currentCapacity"] == body["sku"]["capacity"] == 50
    assert body["properties"]["rateLimits"] == recorded["response"]["properties"]["rateLimits"]
    for header in recorded["headers"]:
        assert header in created.headers
    operation = created.headers["Azure-AsyncOperation"]
    parts = urlsplit(operation)
    assert f"{parts.scheme}://{parts.netloc}" == emulator.info.arm_endpoint
    assert "/providers/Microsoft.CognitiveServices/locations/" in parts.path
    assert "/operationResults/" in parts.path and "api-version=" in parts.query

    # the operation answers the recorded keys: Running, then Succeeded with an endTime
    (running, succeeded) = _exchanges("recordings/deploy_and_infer_oai_sft.json", "GET", "operationResults")
    first = arm.get(operation).json()
    assert set(first) == set(running["response"]) and first["status"] == "Running"
    state = arm.get(deployment_path(emulator.info, "window"), params=API).json()["properties"]
    assert state["provisioningState"] == "Creating"
    final = _follow(arm, operation)[-1]
    assert set(final) == set(succeeded["response"]) and final["status"] == "Succeeded"
    state = arm.get(deployment_path(emulator.info, "window"), params=API).json()["properties"]
    assert state["provisioningState"] == "Succeeded"

    # right after Succeeded the data plane answers as Azure's did: 404 DeploymentNotFound
    not_found = _recorded("errors/data_deployment_not_found.json")
    client = openai_client(emulator.info, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="window", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == not_found["body"]["error"]["code"]
    assert not_found["body"]["error"]["message"] in caught.value.message
    reply = wait_until(lambda: _try_chat(client, "window"), timeout=10)
    assert "capital" in reply.lower()


@needs_recordings
def test_delete_answers_202_and_stays_deleting_until_its_operation_ends(
    emulator: Emulator, tuned_model: str
) -> None:
    (recorded,) = _exchanges("recordings/deploy_and_infer_oai_sft.json", "DELETE", "/deployments/")
    arm = arm_client(emulator.info)
    assert deploy(arm, emulator.info, "doomed", tuned_model).status_code == 201
    deleted = arm.delete(deployment_path(emulator.info, "doomed"), params=API)
    assert deleted.status_code == recorded["status"] == 202
    assert deleted.content == b""
    assert {h.lower() for h in recorded["headers"]} <= {h.lower() for h in deleted.headers}
    state = arm.get(deployment_path(emulator.info, "doomed"), params=API).json()["properties"]
    assert state["provisioningState"] == "Deleting"
    again = arm.delete(deployment_path(emulator.info, "doomed"), params=API)
    assert again.status_code == 202
    assert again.headers["Azure-AsyncOperation"] == deleted.headers["Azure-AsyncOperation"]
    assert _follow(arm, deleted.headers["Azure-AsyncOperation"])[-1]["status"] == "Succeeded"
    assert arm.get(deployment_path(emulator.info, "doomed"), params=API).status_code == 404
    # deleting what is gone is fine, as Azure's example allows
    assert arm.delete(deployment_path(emulator.info, "doomed"), params=API).status_code == 204


def test_location_header_follows_arms_location_protocol(emulator: Emulator) -> None:
    arm = arm_client(emulator.info)
    created = deploy(arm, emulator.info, "by-location", "gpt-4.1-mini")
    location = created.headers["Location"]
    assert arm.get(location).status_code == 202
    final = wait_until(lambda: (a := arm.get(location)).status_code == 200 and a, interval=0.05)
    assert final.json()["properties"]["provisioningState"] == "Succeeded"
    gone = arm.delete(deployment_path(emulator.info, "by-location"), params=API)
    wait_until(lambda: arm.get(gone.headers["Location"]).status_code == 204, interval=0.05)


def test_a_failed_provisioning_reports_the_error_on_the_operation(emulator: Emulator) -> None:
    arm = arm_client(emulator.info)
    body = {
        "sku": {"name": "GlobalStandard", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": "gpt-4.1-mini", "version": "1"}},
        "tags": {"foundry-tune-emulator": "fail-provisioning"},
    }
    created = arm.put(deployment_path(emulator.info, "fails"), params=API, json=body)
    assert created.status_code == 201
    final = _follow(arm, created.headers["Azure-AsyncOperation"])[-1]
    assert final["status"] == "Failed" and final["error"]["code"] and final["error"]["message"]
    state = arm.get(deployment_path(emulator.info, "fails"), params=API).json()["properties"]
    assert state["provisioningState"] == "Failed"
    arm.delete(deployment_path(emulator.info, "fails"), params=API)


def _try_chat(client: openai.OpenAI, name: str) -> str | None:
    try:
        answer = client.chat.completions.create(
            model=name, messages=[{"role": "user", "content": "What is the capital of country number 3?"}]
        )
    except openai.NotFoundError:
        return None
    return answer.choices[0].message.content


def test_update_put_answers_200_and_a_taken_name_conflicts(emulator: Emulator, tuned_model: str) -> None:
    arm = arm_client(emulator.info)
    assert deploy(arm, emulator.info, "same", tuned_model).status_code == 201
    again = deploy(arm, emulator.info, "same", tuned_model, capacity=10)
    assert again.status_code == 200
    assert again.json()["sku"]["capacity"] == 10
    clash = deploy(arm, emulator.info, "same", "gpt-4.1-mini")
    assert clash.status_code == 409
    assert _arm_error(clash)["code"] == "DeploymentNameInUse"
    names = [
        d["name"] for d in arm.get(deployment_path(emulator.info, "").rstrip("/"), params=API).json()["value"]
    ]
    assert names.count("same") == 1
    arm.delete(deployment_path(emulator.info, "same"), params=API)
    wait_until(lambda: arm.get(deployment_path(emulator.info, "same"), params=API).status_code == 404)


def test_sixth_finetuned_deployment_exceeds_the_quota(emulator: Emulator, tuned_model: str) -> None:
    arm = arm_client(emulator.info)
    listing = deployment_path(emulator.info, "").rstrip("/")
    for found in arm.get(listing, params=API).json()["value"]:
        arm.delete(deployment_path(emulator.info, found["name"]), params=API)
    wait_until(lambda: not arm.get(listing, params=API).json()["value"])
    for i in range(5):
        assert deploy(arm, emulator.info, f"q{i}", tuned_model).status_code == 201
    assert deploy(arm, emulator.info, "base-is-free", "gpt-4o-mini").status_code == 201
    sixth = deploy(arm, emulator.info, "q5", tuned_model)
    assert sixth.status_code == 400
    error = _arm_error(sixth)
    assert error["code"] == "InsufficientQuota" and "5" in error["message"]
    for i in range(5):
        arm.delete(deployment_path(emulator.info, f"q{i}"), params=API)
    wait_until(lambda: deploy(arm, emulator.info, "q5", tuned_model).status_code == 201)


@needs_recordings
def test_both_data_plane_path_forms_are_served(emulator: Emulator) -> None:
    recorded = {
        urlsplit(x["uri"]).path
        for name in ("recordings/deploy_and_infer_oai_sft.json", "recordings/sft_create_cancel_events.json")
        for x in _recorded(name)["exchanges"]
        if "/openai/" in x["uri"]
    }
    assert any("/openai/v1/" not in p for p in recorded)  # the recorded clients used the dated form
    root = emulator.info.arm_endpoint
    project = emulator.info.project_endpoint
    key = {"api-key": "k"}
    dated = {"api-version": "2025-11-15-preview"}
    for base in (f"{project}/openai", f"{project}/openai/v1", f"{root}/openai", f"{root}/openai/v1"):
        jobs = httpx.get(f"{base}/fine_tuning/jobs", params=dated, headers=key)
        assert jobs.status_code == 200 and jobs.json()["object"] == "list"
        files = httpx.get(f"{base}/files", params=dated, headers=key)
        assert files.status_code == 200 and files.json()["object"] == "list"
        answer = httpx.post(f"{base}/responses", params=dated, headers=key,
                            json={"model": "gpt-4.1-mini", "input": "Tell me about rivers"})
        assert answer.status_code == 200 and answer.json()["object"] == "response"
    for base in (f"{project}/openai", f"{root}/openai"):
        chat = httpx.post(f"{base}/deployments/gpt-4.1-mini/chat/completions", params=dated, headers=key,
                          json={"messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 200 and chat.json()["object"] == "chat.completion"


def test_operations_survive_a_restart(tmp_path: Path) -> None:
    with Emulator(data_dir=tmp_path, deployment_provision_delay=0.5) as first:
        created = deploy(arm_client(first.info), first.info, "kept", "gpt-4.1-mini")
        operation = urlsplit(created.headers["Azure-AsyncOperation"])
    with Emulator(data_dir=tmp_path, deployment_provision_delay=0.5) as second:
        arm = arm_client(second.info)
        url = f"{second.info.arm_endpoint}{operation.path}?{operation.query}"
        assert _follow(arm, url)[-1]["status"] == "Succeeded"
        state = arm.get(deployment_path(second.info, "kept"), params=API).json()["properties"]
        assert state["provisioningState"] == "Succeeded"


def test_project_deployments_api_over_tls() -> None:
    with Emulator(tls=True, deployment_provision_delay=0.2, deployment_ready_delay=0.2) as emu:
        info = emu.info
        assert info.project_endpoint.startswith("https://") and info.ca_cert
        arm = httpx.Client(
            base_url=info.arm_endpoint,
            headers={"Authorization": "Bearer t"},
            verify=ssl.create_default_context(cafile=info.ca_cert),
        )
        created = deploy(arm, info, "base-mini", "gpt-4.1-mini")
        assert created.status_code == 201
        assert created.headers["Azure-AsyncOperation"].startswith(info.arm_endpoint + "/")
        project = AIProjectClient(
            endpoint=info.project_endpoint,
            credential=StaticCredential(),
            connection_verify=info.ca_cert,
        )
        found = wait_until(lambda: list(project.deployments.list()))
        assert [(d.name, d["modelName"]) for d in found] == [("base-mini", "gpt-4.1-mini")]
        assert project.deployments.get("base-mini")["modelPublisher"] == "OpenAI"
        client = project.get_openai_client(
            http_client=httpx2.Client(verify=ssl.create_default_context(cafile=info.ca_cert))
        )
        assert client.files.list().data == []
        with pytest.raises(httpx2.ConnectError):
            httpx2.get(info.stats_url)  # untrusted without the emulator's CA


def test_streamed_chat_gives_the_same_answer(emulator: Emulator) -> None:
    client = openai_client(emulator.info)
    messages = [{"role": "user", "content": "Tell me about rivers"}]
    whole = client.chat.completions.create(model="gpt-4.1-mini", messages=messages)  # type: ignore[arg-type]
    stream = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, stream=True)  # type: ignore[arg-type]
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
