"""Credentials never leak: a distinctive fake Entra token and API key go through a whole workflow
with DEBUG logging, a failing upload, a failing job, a failing deployment and a rejected key; the
secrets appear in no log record, repr, exception text, progress output or file written."""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._demo_data import demo_records
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.errors import (
    AuthenticationError,
    DeploymentError,
    FoundryTuneError,
    JobFailedError,
    UploadError,
)
from foundry_tune.job import Job
from foundry_tune.methods import Supervised

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::foundry_tune._core.billing.BillingWarning")]

TOKEN = "ftsecretTOKEN9c1e5d2b7a44"
API_KEY = "ftsecretAPIKEY4b8e0f3c61"
SECRETS = (TOKEN, API_KEY)


class Everything(logging.Handler):
    """Keeps every record, fully formatted (message, arguments and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record) + repr(record.args) + repr(getattr(record, "__dict__", {})))


@pytest.fixture
def debug_logs() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc) + str(exc)


def expect_failure(kind: type[BaseException], fn: Any, seen: list[str]) -> BaseException:
    with pytest.raises(kind) as info:
        fn()
    seen.append(exception_text(info.value))
    return info.value


def test_no_secret_in_logs_reprs_errors_progress_or_files(debug_logs: Everything, tmp_path: Path) -> None:
    seen: list[str] = []  # every text a user or a log could see
    progress = io.StringIO()
    with Foundry.emulator(token=TOKEN, job_duration=1.0, deployment_ready_delay=0.2,
                          deployment_provision_delay=0.2, data_dir=tmp_path / "emulator") as ft:
        info = ft.emulator_instance.info if ft.emulator_instance else None
        assert info is not None
        seen += [repr(ft), repr(ft.retry), repr(ft.credential), repr(ft.deployments), repr(info),
                 repr(ft.emulator_instance), repr(ft.arm_settings)]

        # A full workflow.
        train = Dataset.from_records(demo_records(24, seed=61), name="secret-train.jsonl")
        train.to_jsonl(tmp_path / "train.jsonl")
        job = (ft.fine_tune("gpt-4.1-mini").train_on(train).method(Supervised(n_epochs=1))
               .suffix("secrets").training_type("GlobalStandard")
               .start(on_progress=lambda line: progress.write(line + "\n")))
        job.wait(timeout=120, progress="plain", stream=progress)
        seen += [repr(job), job._repr_html_(), repr(job.metrics()), repr(job.checkpoints()),
                 repr(job.events())]
        with job.deploy(capacity=1) as deployment:
            seen += [repr(deployment), deployment.chat("How heavy is the Ridgeline 2 tent?")]

        # A file the service rejects, and a job that fails on it.
        bad = tmp_path / "bad.jsonl"
        bad.write_text("".join(f"this is not JSON {i}\n" for i in range(12)))
        with bad.open("rb") as fh:
            rejected = ft.openai.files.create(file=("bad.jsonl", fh), purpose="fine-tune")
        expect_failure(UploadError, lambda: ft.fine_tune("gpt-4.1-mini").train_on(rejected.id)
                       .training_type("GlobalStandard").start(), seen)
        raw = ft.openai.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=rejected.id,
                                                extra_body={"trainingType": "GlobalStandard"})
        failed = expect_failure(JobFailedError, lambda: Job.attach(ft, raw.id).wait(
            timeout=60, progress="plain", stream=progress), seen)
        assert isinstance(failed, JobFailedError) and failed.job_id == raw.id

        # A deployment that fails.
        expect_failure(DeploymentError,
                       lambda: ft.deployments.create("not-a-model-x", "broken", capacity=1), seen)

        # A rejected API key (the emulator requires the token) and a rejected token.
        keyed = openai.OpenAI(base_url=info.openai_base_url, api_key=API_KEY)
        with Foundry.from_openai_client(keyed) as by_key:
            seen.append(repr(by_key))
            expect_failure(AuthenticationError, lambda: by_key.jobs.list(limit=1), seen)
        from foundry_tune._sync._credentials import StaticTokenCredential

        with Foundry(info.project_endpoint, StaticTokenCredential(API_KEY)) as wrong:
            seen.append(repr(wrong))
            expect_failure(FoundryTuneError, lambda: wrong.jobs.get(job.id), seen)
        data_dir = Path(info.data_dir)

    seen.append(progress.getvalue())
    seen += debug_logs.texts
    assert len(debug_logs.texts) > 50  # DEBUG logging really was on (openai, httpx, foundry_tune)
    assert "started job" in progress.getvalue()
    for secret in SECRETS:
        leaks = [text[:300] for text in seen if secret in text]
        assert not leaks, f"{secret} leaked in: {leaks[:3]}"
    written = [p for p in [*tmp_path.rglob("*"), *data_dir.rglob("*")] if p.is_file()]
    assert any(p.name == "emulator.sqlite3" for p in written)
    for path in written:
        content = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in content, f"{secret} written to {path}"
