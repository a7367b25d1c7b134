"""``ft.models.list()``, the deployments' expiry fields and ``ft.audit()`` on the emulator, whose
clock is moved forward (``Emulator.advance``) to age what it holds."""

from __future__ import annotations

import datetime as dt
import json

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune import catalog
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.emulator import Emulator

from ._helpers import finish, sft_data

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=1),
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]


def _rate(base: str, sku: str) -> float:
    rate = catalog.hosting_per_hour(base, sku)
    assert rate is not None
    return rate


def _at(emulator: Emulator) -> dt.datetime:
    return dt.datetime.fromtimestamp(emulator.now(), dt.timezone.utc)


@pytest.mark.anyio
async def test_models_list_names_each_tuned_model_with_its_base_and_retirement(ft: AsyncFoundry) -> None:
    job = await finish(await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=41)).suffix("m").start())
    assert job.fine_tuned_model is not None

    models = {m.id: m for m in await ft.models.list()}
    model = models[job.fine_tuned_model]
    assert model.job_id == job.id and model.base_model == job.model and model.checkpoint_step is None
    assert model.created_at is not None
    info = catalog.lookup_model(job.model)
    assert info is not None
    assert info.retires is not None and info.fine_tuning_retires is not None  # the catalog has both
    assert (model.retires, model.fine_tuning_retires) == (info.retires, info.fine_tuning_retires)

    with_checkpoints = await ft.models.list(checkpoints=True)
    steps = [m.checkpoint_step for m in with_checkpoints if m.job_id == job.id and m.checkpoint_step]
    assert steps and all(m.base_model == job.model for m in with_checkpoints if m.job_id == job.id)


@pytest.mark.anyio
async def test_deployments_expiry_and_the_audit(ft: AsyncFoundry, emulator: Emulator) -> None:
    job = await finish(await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=42)).suffix("a").start())
    model = job.fine_tuned_model
    assert model is not None
    dev = await ft.deployments.create(model, "audit-dev", sku="Developer", ready_check=False, job_id=job.id)
    std = await ft.deployments.create(model, "audit-std", ready_check=False, job_id=job.id)

    for dep in (dev, std):
        created = dep.info.created_at
        assert created is not None and dep.info.is_fine_tuned
        assert dep.info.inactivity_deletion_at == created + dt.timedelta(days=15)
    assert dev.info.is_developer_tier and dev.info.expires_at == dev.info.created_at + dt.timedelta(hours=24)
    assert std.info.expires_at is None and not std.info.is_developer_tier
    now = _at(emulator)
    assert "Developer tier: 24 hours" in (dev.info.lifecycle_note(now) or "")
    assert "deleted if unused until" in (std.info.lifecycle_note(now) or "")

    emulator.advance(hours=25)
    report = await ft.audit(now=emulator.now())
    assert report.complete, report.incomplete
    audited = {d.info.name: d for d in report.deployments}
    assert "audit-std" in audited
    assert audited["audit-std"].hourly_cost == pytest.approx(_rate(job.model, "GlobalStandard"))
    if "audit-dev" in audited:  # the service deletes it 24 hours after creation
        assert audited["audit-dev"].hourly_cost == 0.0
    deletable = {d.id: d for d in report.deletable}
    std_entry = deletable["audit-std"]
    assert std_entry.kind == "deployment" and "25 h" in std_entry.reason
    assert std_entry.call == 'ft.deployments.delete("audit-std")'
    assert std_entry.command == "foundry-tune deploy delete audit-std"
    training = deletable[job.training_file or ""]
    assert training.kind == "file" and job.id in training.reason
    assert training.command == f"foundry-tune files delete {job.training_file}"
    assert job.fine_tuned_model in {m.id for m in report.models}

    data = json.loads(report.to_json())
    assert data["complete"] is True and data["hourly_cost"] == pytest.approx(report.hourly_cost)
    assert {"deployment", "file"} <= {d["kind"] for d in data["deletable"]}
    assert "safe to delete" in str(report) and "ft.deployments.delete" in str(report)


@pytest.mark.anyio
async def test_audit_without_deployment_settings_says_what_it_could_not_list(ft: AsyncFoundry) -> None:
    # the same emulator, without the ARM settings deployments need
    async with AsyncFoundry.from_openai_client(ft.openai) as bare:
        report = await bare.audit()
    assert not report.complete and report.deployments == ()
    assert any(note.startswith("deployments: not listed") for note in report.incomplete)
    assert "incomplete: deployments: not listed" in str(report)
