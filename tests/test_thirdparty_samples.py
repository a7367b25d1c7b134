"""The unmodified azure-ai-projects fine-tuning samples, run against the emulator over TLS.

The samples (``tests/thirdparty/azure_ai_projects_samples``, copied byte for byte from the
azure-ai-projects 2.10.0 release, see its README) run as a user runs them: ``python sample.py`` in a
subprocess, configured only through the environment variables they document. Nothing in them is
patched: ``DefaultAzureCredential`` is satisfied by an ``az`` on ``PATH`` that prints a token (picked
with ``AZURE_TOKEN_CREDENTIALS=AzureCliCredential``, a variable azure-identity documents), and the
emulator's CA is trusted through ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE``. The emulator requires
exactly that token, so every answer proves the sample authenticated through azure-identity.

Each sample must finish, and the emulator must hold what it made: both files, processed, with the
bytes of the sample's data, and one job with the sample's model, method, hyperparameters and the
training type echoed as Azure echoes it. The supervised sample's other functions (retrieve, list,
pause, resume, events, checkpoints, cancel, deploy with azure-mgmt-cognitiveservices, infer) are
driven by ``thirdparty/drive_supervised_sample.py``. The runs of a group start together, since most
of their time is spent waiting on polls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
from _emulator_helpers import ARM_API_VERSION, SHARED, deployment_path

from foundry_tune.emulator import Emulator

THIRDPARTY = Path(__file__).resolve().parent / "thirdparty"
SAMPLES = THIRDPARTY / "azure_ai_projects_samples"
DRIVER = THIRDPARTY / "drive_supervised_sample.py"
RECORDINGS = SHARED / "data" / "azure-recordings"
DPO_RECORDING = THIRDPARTY / "azure_sdk_assets" / "dpo_create_job_standard.json"
TOKEN = "token-from-the-az-cli-on-path"
RUN_TIMEOUT = 240
NEEDED = ("dotenv", "azure.mgmt.cognitiveservices", "aiohttp")

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(sys.platform == "win32", reason="the stand-in `az` is a POSIX shell script"),
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in NEEDED),
        reason="the samples need python-dotenv, azure-mgmt-cognitiveservices and aiohttp",
    ),
    pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared Azure recordings not available"),
]

# sample -> what its job must look like (the values written in the sample)
EXPECTED: dict[str, dict[str, Any]] = {
    "sample_finetuning_supervised_job": {
        "data": ("sft_training_set.jsonl", "sft_validation_set.jsonl"),
        "model": "gpt-4.1",
        "method": "supervised",
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0},
        "training_type": "Standard",
    },
    "sample_finetuning_dpo_job": {
        "data": ("dpo_training_set.jsonl", "dpo_validation_set.jsonl"),
        "model": "gpt-4o-mini",
        "method": "dpo",
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0},
        "training_type": "Standard",
    },
    "sample_finetuning_reinforcement_job": {
        "data": ("rft_training_set.jsonl", "rft_validation_set.jsonl"),
        "model": "o4-mini",
        "method": "reinforcement",
        "hyperparameters": {
            "n_epochs": 1,
            "batch_size": 4,
            "learning_rate_multiplier": 2,
            "eval_interval": 5,
            "eval_samples": 2,
            "reasoning_effort": "medium",
        },
        "training_type": "Standard",
    },
    "sample_finetuning_oss_models_supervised_job": {
        "data": ("sft_training_set.jsonl", "sft_validation_set.jsonl"),
        "model": "Ministral-3B",
        "method": "supervised",
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0},
        "training_type": "GlobalStandard",
    },
}
SAMPLE_FILES = [f"{name}{suffix}.py" for name in EXPECTED for suffix in ("", "_async")]
SUPERVISED_FILES = ["sample_finetuning_supervised_job.py", "sample_finetuning_supervised_job_async.py"]


def _recorded_training_type_echo() -> dict[str, str]:
    """Spelling sent -> spelling Azure echoed, from the recordings (a create and a notebook output)."""
    echoes: dict[str, str] = {}
    recording = json.loads((RECORDINGS / "recordings" / "sft_create_cancel_events.json").read_text())
    for exchange in recording["exchanges"]:
        if exchange.get("request") and "trainingType" in exchange["request"]:
            echoes[exchange["request"]["trainingType"]] = exchange["response"]["trainingType"]
    ministral = json.loads((RECORDINGS / "notebooks" / "sarcasm_job_create_ministral.json").read_text())
    assert "trainingType=globalstandard" in ministral["note"]
    echoes["GlobalStandard"] = ministral["body"]["trainingType"]
    return echoes


def _recorded_final_file_status() -> dict[tuple[str, int], str]:
    """(filename, bytes) -> the last status Azure answered for that upload of the DPO sample's data."""
    recording = json.loads(DPO_RECORDING.read_text())
    final: dict[tuple[str, int], str] = {}
    for exchange in recording["exchanges"]:
        body = exchange["response"]
        if body.get("object") == "file":
            final[(body["filename"], body["bytes"])] = body["status"]
    return final


def _fake_az(folder: Path) -> Path:
    """A folder with an ``az`` that answers ``az account get-access-token`` as the Azure CLI does."""
    folder.mkdir(parents=True, exist_ok=True)
    answer = {
        "accessToken": TOKEN,
        "expiresOn": "2100-01-01 00:00:00.000000",
        "expires_on": 4102444800,
        "tokenType": "Bearer",
    }
    az = folder / "az"
    az.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(answer)}\nEOF\n")
    az.chmod(az.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


def _environment(emu: Emulator, az_folder: Path) -> dict[str, str]:
    """The environment the samples document, pointing at the emulator."""
    info = emu.info
    assert info.ca_cert
    dropped = {
        "MODEL_NAME",
        "TRAINING_FILE_PATH",
        "VALIDATION_FILE_PATH",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    }
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        {
            "PATH": f"{az_folder}{os.pathsep}{env.get('PATH', '')}",
            "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
            "FOUNDRY_PROJECT_ENDPOINT": info.project_endpoint,
            "AZURE_AI_PROJECTS_AZURE_SUBSCRIPTION_ID": info.subscription_id,
            "AZURE_AI_PROJECTS_AZURE_RESOURCE_GROUP": info.resource_group,
            "AZURE_AI_PROJECTS_AZURE_AOAI_ACCOUNT": info.account_name,
            "SSL_CERT_FILE": info.ca_cert,
            "REQUESTS_CA_BUNDLE": info.ca_cert,
            "NO_PROXY": "localhost,127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",  # leave the third-party folder as it is
            # read by the driver only: azure-mgmt-cognitiveservices has no setting for the ARM host
            "EMULATOR_ARM_ENDPOINT": info.arm_endpoint,
        }
    )
    return env


def _start(**options: Any) -> Emulator:
    settings: dict[str, Any] = {
        "tls": True,
        "token": TOKEN,
        "job_duration": 3.0,
        "deployment_provision_delay": 0.3,
        "deployment_ready_delay": 0.5,
    }
    settings.update(options)
    return Emulator(**settings)


@dataclasses.dataclass
class Run:
    """One ``python ...`` started in the background, its output going to files."""

    args: list[str]
    folder: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, args: list[str], env: dict[str, str], folder: Path) -> Run:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "stdout").open("wb") as out, (folder / "stderr").open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, *args], env=env, cwd=folder, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
        return cls(args, folder, process)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stdout(self) -> str:
        """Wait for the run to end; its standard output if it succeeded, else fail with both outputs."""
        try:
            code = self.process.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            code = None
        out = (self.folder / "stdout").read_text(errors="replace")
        err = (self.folder / "stderr").read_text(errors="replace")
        assert code == 0, f"{Path(self.args[-1]).name} exited {code}:\n{out[-4000:]}\n{err[-6000:]}"
        return out


def _client(emu: Emulator) -> openai.OpenAI:
    """An openai client of our own, to look at what the samples left on the emulator."""
    context = ssl.create_default_context(cafile=emu.info.ca_cert)
    return openai.OpenAI(
        base_url=emu.info.openai_base_url, api_key=TOKEN, http_client=httpx2.Client(verify=context)
    )


@pytest.fixture(scope="module")
def az_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fake_az(tmp_path_factory.mktemp("az"))


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with _start() as emu:
        yield emu


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> Iterator[openai.OpenAI]:
    with _client(emulator) as our_client:
        yield our_client


@pytest.fixture(scope="module")
def sample_runs(
    emulator: Emulator, az_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Run]]:
    """Every sample, started at once on one emulator."""
    env = _environment(emulator, az_folder)
    root = tmp_path_factory.mktemp("samples")
    runs = {name: Run.start([str(SAMPLES / name)], env, root / name) for name in SAMPLE_FILES}
    yield runs
    for run in runs.values():
        run.stop()


@pytest.fixture(scope="module")
def driven_runs(
    az_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Emulator, Run]]]:
    """The supervised sample's functions, sync and async, each on its own emulator, started at once."""
    root = tmp_path_factory.mktemp("driven")
    with contextlib.ExitStack() as stack:
        runs: dict[str, tuple[Emulator, Run]] = {}
        for name in SUPERVISED_FILES:
            emu = stack.enter_context(_start(job_duration=6.0))
            run = Run.start([str(DRIVER), str(SAMPLES / name)], _environment(emu, az_folder), root / name)
            stack.callback(run.stop)
            runs[name] = (emu, run)
        yield runs


def test_the_samples_are_the_published_files() -> None:
    """Byte for byte what azure-ai-projects 2.10.0 ships (SHA256SUMS), and nothing else runs."""
    sums = {}
    for line in (SAMPLES / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name] = digest
    for name, digest in sums.items():
        assert hashlib.sha256((SAMPLES / name).read_bytes()).hexdigest() == digest, name
    assert {p.name for p in SAMPLES.glob("*.py")} == {n for n in sums if n.endswith(".py")}
    assert set(SAMPLE_FILES) <= set(sums)


@pytest.mark.parametrize("sample_file", SAMPLE_FILES)
def test_sample_uploads_and_creates_its_job(
    client: openai.OpenAI, sample_runs: dict[str, Run], sample_file: str
) -> None:
    expected = EXPECTED[sample_file.removesuffix(".py").removesuffix("_async")]
    out = sample_runs[sample_file].stdout()

    uploaded = re.findall(r"Uploaded (?:training|validation) file with ID: (\S+)", out)
    assert len(uploaded) == 2, out
    created = re.search(r"FineTuningJob\(id='([^']+)'", out)
    assert created, out

    job = client.fine_tuning.jobs.retrieve(created.group(1))
    assert (job.training_file, job.validation_file) == tuple(uploaded)
    assert job.model.startswith(expected["model"])
    assert job.method is not None and job.method.type == expected["method"]
    sent = getattr(job.method, expected["method"]).hyperparameters.model_dump(exclude_none=True)
    assert {k: sent[k] for k in expected["hyperparameters"]} == expected["hyperparameters"]
    if expected["method"] == "reinforcement":
        grader = job.method.reinforcement.grader  # type: ignore[union-attr]
        assert (grader.type, grader.name, list(grader.range or [])) == (
            "score_model",
            "Response Quality Grader",
            [0.0, 10.0],
        )
    echo = _recorded_training_type_echo()[expected["training_type"]]
    assert (job.model_extra or {}).get("trainingType") == echo

    recorded_status = _recorded_final_file_status()
    for file_id, data_name in zip(uploaded, expected["data"], strict=True):
        data = (SAMPLES / "data" / data_name).read_bytes()
        assert client.files.content(file_id).content == data
        # Azure processed these very files (the DPO validation set has 2 examples)
        azure = recorded_status.get((data_name, len(data)), "processed")
        status = client.files.retrieve(file_id)
        assert (status.status, status.status_details) == (azure, None), data_name


@pytest.mark.parametrize("sample_file", SUPERVISED_FILES)
def test_supervised_sample_functions_train_pause_deploy_and_answer(
    driven_runs: dict[str, tuple[Emulator, Run]], sample_file: str
) -> None:
    emu, run = driven_runs[sample_file]
    out = run.stdout()
    steps = [line.removeprefix("DRIVER ").split() for line in out.splitlines() if line.startswith("DRIVER ")]
    assert [step[0] for step in steps] == [
        "created",
        "paused",
        "resumed",
        "succeeded",
        "deployed",
        "inferred",
        "cancelled",
        "done",
    ]
    trained, cancelled = steps[0][1], steps[6][1]
    with _client(emu) as client:
        job = client.fine_tuning.jobs.retrieve(trained)
        cancelled_status = client.fine_tuning.jobs.retrieve(cancelled).status
    assert job.status == "succeeded" and job.fine_tuned_model
    assert cancelled_status == "cancelled"

    # the sample printed the job's events, and its final checkpoint is the job's model
    assert "FineTuningJobEvent(" in out and "Step " in out
    assert f"fine_tuned_model_checkpoint='{job.fine_tuned_model}'" in out

    # deploy_model() left the deployment the sample names, on the model the job made
    with httpx.Client(
        base_url=emu.info.arm_endpoint,
        headers={"Authorization": f"Bearer {TOKEN}"},
        verify=ssl.create_default_context(cafile=emu.info.ca_cert),
    ) as arm:
        answer = arm.get(
            deployment_path(emu.info, "gpt-4-1-fine-tuned"), params={"api-version": ARM_API_VERSION}
        )
    assert answer.status_code == 200, answer.text
    properties = answer.json()["properties"]
    assert properties["provisioningState"] == "Succeeded"
    assert properties["model"] == {"format": "OpenAI", "name": job.fine_tuned_model, "version": "1"}
    assert answer.json()["sku"] == {"name": "GlobalStandard", "capacity": 100}

    # infer() printed the fine-tuned deployment's answer
    response = re.search(r"Model response: (.+)", out)
    assert response and response.group(1).strip()
