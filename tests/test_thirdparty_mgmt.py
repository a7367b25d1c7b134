"""The unmodified azure-mgmt-cognitiveservices client (the one the recordings were made with)
deploys, lists and deletes fine-tuned models on the emulator over ``--tls`` exactly as on Azure:
its long-running-operation pollers follow the emulator's ``Azure-AsyncOperation`` to Succeeded,
an open model deploys with the format the recording shows (``Mistral AI``) and a wrong format is
refused with ARM's error code."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from _emulator_helpers import SHARED, StaticCredential, sft_rows, wait_until, write_jsonl

from foundry_tune.emulator import Emulator

mgmt = pytest.importorskip("azure.mgmt.cognitiveservices")
from azure.core.exceptions import HttpResponseError  # noqa: E402
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient  # noqa: E402
from azure.mgmt.cognitiveservices.models import (  # noqa: E402
    Deployment,
    DeploymentModel,
    DeploymentProperties,
    PatchResourceTagsAndSku,
    Sku,
)

pytestmark = pytest.mark.emulator
RECORDINGS = SHARED / "data" / "azure-recordings" / "recordings"
needs_recordings = pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared Azure recordings not available")
FAST = {"polling_interval": 0.05}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(
        tls=True, job_duration=1.0, deployment_provision_delay=0.3, deployment_ready_delay=0.2
    ) as emu:
        assert emu.info.ca_cert and emu.info.arm_endpoint.startswith("https://")
        yield emu


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> Iterator[CognitiveServicesManagementClient]:
    info = emulator.info
    with CognitiveServicesManagementClient(
        StaticCredential(), info.subscription_id, base_url=info.arm_endpoint, connection_verify=info.ca_cert
    ) as mgmt_client:
        yield mgmt_client


def _tuned(emulator: Emulator, tmp_path: Path, model: str, **extra: Any) -> str:
    """A succeeded fine-tuning job's ``fine_tuned_model`` on the emulator."""
    info = emulator.info
    assert info.ca_cert
    data = openai.OpenAI(
        base_url=info.openai_base_url,
        api_key="k",
        http_client=httpx.Client(verify=ssl.create_default_context(cafile=info.ca_cert)),
    )
    path = write_jsonl(tmp_path / "train.jsonl", sft_rows(12))
    with path.open("rb") as fh:
        file = data.files.create(file=fh, purpose="fine-tune")
    job = data.fine_tuning.jobs.create(model=model, training_file=file.id, extra_body=extra or None)
    done = wait_until(lambda: (j := data.fine_tuning.jobs.retrieve(job.id)).status == "succeeded" and j,
                      timeout=60)
    assert done.fine_tuned_model
    return str(done.fine_tuned_model)


def _deployment(fmt: str, model: str, capacity: int = 1) -> Deployment:
    return Deployment(
        sku=Sku(name="GlobalStandard", capacity=capacity),
        properties=DeploymentProperties(model=DeploymentModel(format=fmt, name=model, version="1")),
    )


@needs_recordings
def test_create_list_and_delete_a_finetuned_deployment(
    emulator: Emulator, client: CognitiveServicesManagementClient, tmp_path: Path
) -> None:
    recorded = json.loads((RECORDINGS / "deploy_and_infer_oai_sft.json").read_text(encoding="utf-8"))
    (put,) = [x for x in recorded["exchanges"] if x["method"] == "PUT"]
    rg, account = emulator.info.resource_group, emulator.info.account_name
    model = _tuned(emulator, tmp_path, "gpt-4.1-mini", trainingType="globalstandard")

    sent: list[tuple[str, str]] = []

    def record(request: Any) -> None:
        sent.append((request.http_request.method, request.http_request.url))

    poller = client.deployments.begin_create_or_update(
        rg, account, "tuned", _deployment("OpenAI", model, capacity=put["request"]["sku"]["capacity"]),
        raw_request_hook=record, **FAST,
    )
    assert poller.status() not in {"Succeeded", "Failed"}  # the PUT answered Creating, as recorded
    created = poller.result()
    # the poller followed the operation the PUT pointed at, then read the deployment, as on Azure
    methods = [m for m, _ in sent]
    assert methods[0] == "PUT" and methods[-1] == "GET" and "/deployments/tuned" in sent[-1][1]
    assert any("/operationResults/" in url for _, url in sent)
    assert all(url.startswith(emulator.info.arm_endpoint + "/") for _, url in sent)
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.model.name == model and created.properties.model.format == "OpenAI"
    assert created.sku.capacity == put["request"]["sku"]["capacity"]
    assert created.properties.rate_limits and created.properties.capabilities["chatCompletion"] == "true"

    update = PatchResourceTagsAndSku(sku=Sku(name="GlobalStandard", capacity=2), tags={"team": "a"})
    updated = client.deployments.begin_update(rg, account, "tuned", update, **FAST).result()
    assert updated.sku.capacity == 2 and updated.tags == {"team": "a"}

    listed = list(client.deployments.list(rg, account))
    assert [d.name for d in listed] == ["tuned"]
    assert client.deployments.get(rg, account, "tuned").properties.provisioning_state == "Succeeded"

    deleting = client.deployments.begin_delete(rg, account, "tuned", **FAST)
    assert client.deployments.get(rg, account, "tuned").properties.provisioning_state == "Deleting"
    assert deleting.result() is None
    with pytest.raises(HttpResponseError) as caught:
        client.deployments.get(rg, account, "tuned")
    assert caught.value.status_code == 404 and caught.value.error.code == "DeploymentNotFound"
    assert list(client.deployments.list(rg, account)) == []


def test_a_wrong_format_is_refused_with_the_arm_code(
    emulator: Emulator, client: CognitiveServicesManagementClient
) -> None:
    rg, account = emulator.info.resource_group, emulator.info.account_name
    with pytest.raises(HttpResponseError) as caught:
        client.deployments.begin_create_or_update(
            rg, account, "wrong", _deployment("Mistral AI", "gpt-4.1-mini"), **FAST
        ).result()
    assert caught.value.status_code == 400
    assert caught.value.error.code == "DeploymentModelNotSupported"
    assert "Format:Mistral AI" in caught.value.error.message


def test_a_failed_provisioning_fails_the_poller(
    emulator: Emulator, client: CognitiveServicesManagementClient
) -> None:
    rg, account = emulator.info.resource_group, emulator.info.account_name
    failing = _deployment("OpenAI", "gpt-4.1-mini")
    failing.tags = {"foundry-tune-emulator": "fail-provisioning"}
    with pytest.raises(HttpResponseError):
        client.deployments.begin_create_or_update(rg, account, "fails", failing, **FAST).result()
    assert client.deployments.get(rg, account, "fails").properties.provisioning_state == "Failed"
    client.deployments.begin_delete(rg, account, "fails", **FAST).result()


@needs_recordings
def test_an_open_model_deploys_with_the_recorded_format(
    emulator: Emulator, client: CognitiveServicesManagementClient, tmp_path: Path
) -> None:
    recorded = json.loads((RECORDINGS / "deploy_oss_ministral.json").read_text(encoding="utf-8"))
    (put,) = [x for x in recorded["exchanges"] if x["method"] == "PUT"]
    fmt = put["request"]["properties"]["model"]["format"]
    rg, account = emulator.info.resource_group, emulator.info.account_name
    model = _tuned(emulator, tmp_path, "Ministral-3B", trainingType="globalstandard")

    with pytest.raises(HttpResponseError) as caught:
        client.deployments.begin_create_or_update(rg, account, "oss", _deployment("OpenAI", model), **FAST)
    assert caught.value.error.code == "DeploymentModelNotSupported"

    created = client.deployments.begin_create_or_update(
        rg, account, "oss", _deployment(fmt, model), **FAST
    ).result()
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.model.format == fmt
    overrides = created.properties.additional_properties.get("headerOverrides") or {}
    assert set(overrides) == set(put["response"]["properties"]["headerOverrides"])
    client.deployments.begin_delete(rg, account, "oss", **FAST).result()
