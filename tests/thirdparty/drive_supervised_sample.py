"""Drive the helper functions of azure-ai-projects' supervised fine-tuning sample against the emulator.

The sample's ``main()`` only uploads and creates a job; its other functions (retrieve, list, pause,
resume, events, checkpoints, cancel, deploy with azure-mgmt-cognitiveservices, infer) are there to be
"uncommented". This script imports the unmodified sample (its ``main()`` does not run on import) and
calls each function in the order a user would, on a job ``main()`` created:

    python drive_supervised_sample.py SAMPLE.py

The environment is the sample's (``FOUNDRY_PROJECT_ENDPOINT``, the ``AZURE_AI_PROJECTS_AZURE_*`` ARM
coordinates, a trusted CA) plus ``EMULATOR_ARM_ENDPOINT``: azure-mgmt-cognitiveservices always talks to
``management.azure.com``, so this driver (never the sample) points its cloud endpoints at the emulator.
It also shortens two client-side waits that only cost time: the 5 s between ``files.wait_for_processing``
polls and the 30 s between ARM operation polls (Azure sends no ``Retry-After``, so azure-mgmt waits its
default 30 s there too). Progress lines starting with ``DRIVER`` let the test see how far it went.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import openai

TIMEOUT = 60.0
POLL_SECONDS = 0.2


def _point_arm_at_the_emulator() -> None:
    """azure-mgmt-cognitiveservices takes its ARM endpoint from the cloud; send it to the emulator."""
    import azure.mgmt.cognitiveservices._cognitive_services_management_client as sync_client
    import azure.mgmt.cognitiveservices.aio._cognitive_services_management_client as async_client

    arm = os.environ["EMULATOR_ARM_ENDPOINT"]
    for module in (sync_client, async_client):
        original = module.get_arm_endpoints

        def endpoints(cloud: Any, _original: Any = original) -> dict[str, Any]:
            return {**_original(cloud), "resource_manager": arm}

        module.get_arm_endpoints = endpoints  # type: ignore[assignment]


def _shorten_client_polling() -> None:
    """Poll faster than the client defaults (timing only: every request and answer stays the same)."""
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient as SyncClient
    from azure.mgmt.cognitiveservices.aio import CognitiveServicesManagementClient as AsyncClient
    from openai.resources.files import AsyncFiles, Files

    for client_class in (SyncClient, AsyncClient):
        init = client_class.__init__

        def faster_init(self: Any, *args: Any, _init: Any = init, **kwargs: Any) -> None:
            kwargs.setdefault("polling_interval", POLL_SECONDS)
            _init(self, *args, **kwargs)

        client_class.__init__ = faster_init  # type: ignore[method-assign]
    for files_class in (Files, AsyncFiles):
        wait = files_class.wait_for_processing

        def faster_wait(self: Any, file_id: str, *, _wait: Any = wait, **kwargs: Any) -> Any:
            kwargs.setdefault("poll_interval", POLL_SECONDS)
            return _wait(self, file_id, **kwargs)

        files_class.wait_for_processing = faster_wait  # type: ignore[method-assign,assignment]


def _load(path: Path) -> ModuleType:
    sys.path.insert(0, str(path.parent))  # the sample imports its fine_tuning_sample_helper
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_STARTED = time.monotonic()


def _step(name: str) -> None:
    print(f"DRIVER {name}", flush=True)
    print(f"  ({time.monotonic() - _STARTED:.1f}s)", file=sys.stderr, flush=True)


def answering(call: Any) -> None:
    """Wait until a new deployment answers, as Azure's own deploy-and-infer test waits before inferring
    (a deployment answers 404 DeploymentNotFound for a while after its operation Succeeded)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            call()
            return
        except openai.NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_SECONDS)


async def answering_async(call: Any) -> None:
    """``answering`` for the async client."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            await call()
            return
        except openai.NotFoundError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(POLL_SECONDS)


def _drive_sync(sample: ModuleType) -> None:
    from azure.ai.projects import AIProjectClient
    from azure.identity import DefaultAzureCredential

    with (
        DefaultAzureCredential() as credential,
        AIProjectClient(endpoint=sample.endpoint, credential=credential) as project_client,
        project_client.get_openai_client() as client,
    ):

        def newest_job() -> str:
            return str(client.fine_tuning.jobs.list(limit=1).data[0].id)

        def wait_for(job_id: str, *statuses: str) -> None:
            deadline = time.monotonic() + TIMEOUT
            while (status := client.fine_tuning.jobs.retrieve(job_id).status) not in statuses:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{job_id} stayed {status!r}, expected one of {statuses}")
                time.sleep(0.2)

        sample.main()
        job_id = newest_job()
        _step(f"created {job_id}")
        sample.retrieve_job(client, job_id)
        sample.list_jobs(client)
        wait_for(job_id, "running")
        sample.pause_job(client, job_id)
        wait_for(job_id, "paused")
        _step("paused")
        sample.resume_job(client, job_id)
        _step("resumed")
        wait_for(job_id, "succeeded")
        sample.list_events(client, job_id)
        sample.list_checkpoints(client, job_id)
        _step("succeeded")
        deployment_name = sample.deploy_model(client, credential, job_id)
        _step(f"deployed {deployment_name}")
        answering(lambda: client.responses.create(model=deployment_name, input="ping"))
        sample.infer(client, deployment_name)
        _step("inferred")
        sample.main()
        second = newest_job()
        sample.cancel_job(client, second)
        _step(f"cancelled {second}")


async def _drive_async(sample: ModuleType) -> None:
    from azure.ai.projects.aio import AIProjectClient
    from azure.identity.aio import DefaultAzureCredential

    async with (
        DefaultAzureCredential() as credential,
        AIProjectClient(endpoint=sample.endpoint, credential=credential) as project_client,
        project_client.get_openai_client() as client,
    ):

        async def newest_job() -> str:
            return str((await client.fine_tuning.jobs.list(limit=1)).data[0].id)

        async def wait_for(job_id: str, *statuses: str) -> None:
            deadline = time.monotonic() + TIMEOUT
            while (status := (await client.fine_tuning.jobs.retrieve(job_id)).status) not in statuses:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{job_id} stayed {status!r}, expected one of {statuses}")
                await asyncio.sleep(0.2)

        await sample.main()
        job_id = await newest_job()
        _step(f"created {job_id}")
        await sample.retrieve_job(client, job_id)
        await sample.list_jobs(client)
        await wait_for(job_id, "running")
        await sample.pause_job(client, job_id)
        await wait_for(job_id, "paused")
        _step("paused")
        await sample.resume_job(client, job_id)
        _step("resumed")
        await wait_for(job_id, "succeeded")
        await sample.list_events(client, job_id)
        await sample.list_checkpoints(client, job_id)
        _step("succeeded")
        deployment_name = await sample.deploy_model(client, credential, job_id)
        _step(f"deployed {deployment_name}")
        await answering_async(lambda: client.responses.create(model=deployment_name, input="ping"))
        await sample.infer(client, deployment_name)
        _step("inferred")
        await sample.main()
        second = await newest_job()
        await sample.cancel_job(client, second)
        _step(f"cancelled {second}")


def main() -> None:
    """Run the sample's functions, sync or async as the sample is written."""
    _point_arm_at_the_emulator()
    _shorten_client_polling()
    sample = _load(Path(sys.argv[1]).resolve())
    if inspect.iscoroutinefunction(sample.main):
        asyncio.run(_drive_async(sample))
    else:
        _drive_sync(sample)
    _step("done")


if __name__ == "__main__":
    main()
