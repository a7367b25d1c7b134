"""ARM deployments on the emulator: provisioning states, idempotent PUT, and the errors Azure gives
(api-version required, unknown model, name in use, sixth fine-tuned deployment, not-ready window);
plus the project endpoint's read-only deployments API over TLS with the unmodified AIProjectClient."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import httpx2
import openai
import pytest
from _emulator_helpers import (
    ARM_API_VERSION,
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

pytestmark = pytest.mark.emulator
API = {"api-version": ARM_API_VERSION}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(job_duration=1.5, deployment_provision_delay=0.5, deployment_ready_delay=1.0) as emu:
        yield emu


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


def _error(answer: httpx.Response) -> dict[str, str]:
    body = answer.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, str] = body["error"]
    return error


def test_api_version_is_required(emulator: Emulator) -> None:
    answer = arm_client(emulator.info).get(deployment_path(emulator.info, "x"))
    assert answer.status_code == 400
    assert _error(answer)["code"] == "MissingApiVersionParameter"


def test_unknown_model_is_refused(emulator: Emulator) -> None:
    answer = deploy(
        arm_client(emulator.info), emulator.info, "ghost", "gpt-4o-mini-2024-07-18.ft-doesnotexist"
    )
    assert answer.status_code == 400
    assert _error(answer)["code"] == "DeploymentModelNotSupported"


def test_wrong_account_is_not_found(emulator: Emulator) -> None:
    path = deployment_path(emulator.info, "x").replace(emulator.info.account_name, "other-account")
    answer = arm_client(emulator.info).get(path, params=API)
    assert answer.status_code == 404


def test_provisioning_then_not_ready_window_then_answers(emulator: Emulator, tuned_model: str) -> None:
    arm = arm_client(emulator.info)
    created = deploy(arm, emulator.info, "window", tuned_model)
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Accepted"
    states = set()

    def succeeded() -> bool:
        state = arm.get(deployment_path(emulator.info, "window"), params=API).json()["properties"]
        states.add(state["provisioningState"])
        return bool(state["provisioningState"] == "Succeeded")

    wait_until(succeeded, interval=0.05)
    assert "Creating" in states
    client = openai_client(emulator.info, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="window", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "DeploymentNotReady"
    reply = wait_until(lambda: _try_chat(client, "window"), timeout=10)
    assert "capital" in reply.lower()
    assert arm.delete(deployment_path(emulator.info, "window"), params=API).status_code == 202
    wait_until(lambda: arm.get(deployment_path(emulator.info, "window"), params=API).status_code == 404)


def _try_chat(client: openai.OpenAI, name: str) -> str | None:
    try:
        answer = client.chat.completions.create(
            model=name, messages=[{"role": "user", "content": "What is the capital of country number 3?"}]
        )
    except openai.NotFoundError:
        return None
    return answer.choices[0].message.content


def test_put_is_idempotent_and_a_taken_name_conflicts(emulator: Emulator, tuned_model: str) -> None:
    arm = arm_client(emulator.info)
    assert deploy(arm, emulator.info, "same", tuned_model).status_code == 201
    again = deploy(arm, emulator.info, "same", tuned_model, capacity=10)
    assert again.status_code == 200
    assert again.json()["sku"]["capacity"] == 10
    clash = deploy(arm, emulator.info, "same", "gpt-4.1-mini")
    assert clash.status_code == 409
    assert _error(clash)["code"] == "DeploymentNameInUse"
    names = [
        d["name"] for d in arm.get(deployment_path(emulator.info, "").rstrip("/"), params=API).json()["value"]
    ]
    assert names.count("same") == 1
    arm.delete(deployment_path(emulator.info, "same"), params=API)
    wait_until(lambda: arm.get(deployment_path(emulator.info, "same"), params=API).status_code == 404)


def test_sixth_finetuned_deployment_exceeds_the_quota(emulator: Emulator, tuned_model: str) -> None:
    arm = arm_client(emulator.info)
    for i in range(5):
        assert deploy(arm, emulator.info, f"q{i}", tuned_model).status_code == 201
    assert deploy(arm, emulator.info, "base-is-free", "gpt-4o-mini").status_code == 201
    sixth = deploy(arm, emulator.info, "q5", tuned_model)
    assert sixth.status_code == 400
    error = _error(sixth)
    assert error["code"] == "InsufficientQuota" and "5" in error["message"]
    for i in range(5):
        arm.delete(deployment_path(emulator.info, f"q{i}"), params=API)
    wait_until(lambda: deploy(arm, emulator.info, "q5", tuned_model).status_code == 201)


def test_project_deployments_api_over_tls() -> None:
    with Emulator(tls=True, deployment_provision_delay=0.2, deployment_ready_delay=0.2) as emu:
        info = emu.info
        assert info.project_endpoint.startswith("https://") and info.ca_cert
        arm = httpx.Client(
            base_url=info.arm_endpoint,
            headers={"Authorization": "Bearer t"},
            verify=ssl.create_default_context(cafile=info.ca_cert),
        )
        assert deploy(arm, info, "base-mini", "gpt-4.1-mini").status_code == 201
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
