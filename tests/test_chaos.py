"""A small chaos run in the test suite: one SFT, one DPO and one RFT workflow (validate, upload,
start, wait, deploy, chat, delete) against an emulator faulting 20% of requests. Every workflow
completes, nothing is duplicated, nothing is left behind. ``benchmarks/chaos.py`` is the N=30 soak."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::foundry_tune._core.billing.BillingWarning")]

CHAOS = Path(__file__).resolve().parents[1] / "benchmarks" / "chaos.py"


def load_chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("foundry_tune_chaos_benchmark", CHAOS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not CHAOS.is_file(), reason="benchmarks/ not shipped")
def test_three_workflows_under_faults_complete_once_each() -> None:
    chaos = load_chaos()
    report = chaos.run_chaos(3, fault_rate=0.2, fault_seed=11, job_duration=0.5, concurrency=3)
    assert report.failures == []
    assert report.completed == 3
    assert report.faults_injected > 0 and report.retries_logged > 0  # the faults were met and survived
    assert (report.files_created, report.jobs_created, report.deployments_created) == (9, 3, 3)
    assert (report.duplicate_files, report.duplicate_jobs, report.duplicate_deployments) == (0, 0, 0)
    assert report.deployments_left == 0
    assert report.passed
