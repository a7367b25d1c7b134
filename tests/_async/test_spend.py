"""On the emulator, with its clock: what bills and for how long (`ft.spend()`: a Standard deployment
bills by the hour, a Developer one does not, hours up follow the clock), and the reinforcement spend
watch of `wait()` (the user's cap pauses the job and raises; the service's own $5,000 pause is said
plainly instead of waiting on a paused job)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune import SpendLimitReachedError
from foundry_tune._async._flavour import sleep
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune._core.fingerprint import FINGERPRINT_KEY
from foundry_tune._core.spend import CAP_KEY, ESTIMATE_KEY
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import FoundryTuneError, InvalidParameterError
from foundry_tune.graders import StringCheck
from foundry_tune.job import JobEvent, JobStatus
from foundry_tune.methods import Reinforcement, Supervised

from ._helpers import WAIT, connect, finish, rft_rows, sft_data

# An emulator of this module's own: its clock moves by days, which would expire other tests' deployments.
pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=1.0, deployment_provision_delay=0.1, deployment_ready_delay=0.1),
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
    pytest.mark.filterwarnings("ignore::foundry_tune.catalog.RetirementWarning"),  # o4-mini's, as of today
]

PAUSED = (JobStatus.PAUSING, JobStatus.PAUSED)


def at(emulator: Emulator) -> dt.datetime:
    return dt.datetime.fromtimestamp(emulator.now(), dt.timezone.utc)


async def running(job: AsyncJob) -> AsyncJob:
    for _ in range(300):
        if (await job.refresh()).status == JobStatus.RUNNING:
            return job
        await sleep(0.1)
    raise AssertionError(f"job {job.id} is still {job.status}")


async def start_rft(ft: AsyncFoundry, suffix: str, max_cost: float | None = None) -> AsyncJob:
    # 100 examples x 4 epochs = 400 steps: a step line every 10 steps follows the clock closely.
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    builder = (ft.fine_tune("o4-mini")
               .train_on(Dataset.from_records(rft_rows(100, offset=1000), name="rft-spend.jsonl"))
               .validate_on(Dataset.from_records(rft_rows(10, offset=2000), name="rft-spend-val.jsonl"))
               .method(Reinforcement(grader=grader, n_epochs=4, batch_size=1))
               .training_type("GlobalStandard").suffix(suffix))
    return await running(await builder.start(max_cost=max_cost))


@pytest.mark.anyio
async def test_a_standard_deployment_bills_by_the_hour_and_a_developer_one_does_not(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    job = await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=61)).method(Supervised(n_epochs=1)) \
        .training_type("GlobalStandard").suffix("spend").start()
    model = (await finish(job)).fine_tuned_model
    assert model is not None
    standard = await ft.deployments.create(model, "spend-standard", sku="Standard", capacity=1)
    developer = await ft.deployments.create(model, "spend-developer", sku="Developer", capacity=1)
    try:
        first = await ft.spend(now=at(emulator))
        emulator.advance(hours=3)
        later = await ft.spend(now=emulator.now())  # Unix seconds work too
    finally:
        await standard.delete()
        await developer.delete()
    before = {d.name: d for d in first.deployments}
    after = {d.name: d for d in later.deployments}
    assert set(after) == {"spend-standard", "spend-developer"}
    assert after["spend-standard"].per_hour == pytest.approx(1.70)
    assert after["spend-developer"].per_hour == 0.0
    hours = after["spend-standard"].hours
    assert hours is not None and before["spend-standard"].hours is not None
    assert hours - before["spend-standard"].hours == pytest.approx(3.0, abs=0.01)
    assert after["spend-standard"].so_far == pytest.approx(1.70 * hours)
    assert after["spend-developer"].so_far == 0.0
    assert later.per_hour == pytest.approx(1.70)  # nothing else bills here
    assert later.so_far == pytest.approx(1.70 * hours)
    assert "spend-standard" in later.to_text() and later.to_dict()["per_hour_usd"] == pytest.approx(1.7)
    gone = await ft.spend(now=at(emulator))
    assert not gone.deployments and gone.per_hour == 0.0


@pytest.mark.anyio
async def test_wait_pauses_a_reinforcement_job_at_the_users_cap_and_raises(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    emulator.switches(rft_hours=20)  # 2 h of preparation, then 18 h of training at $100/h
    try:
        job = await start_rft(ft, "spend-cap")
        emulator.advance(hours=5)  # about 3 h of training: $300
        live = await ft.spend(now=at(emulator))
        line = next(j for j in live.jobs if j.id == job.id)
        assert line.billing_now and line.per_hour == pytest.approx(100.0)
        assert line.so_far is not None and 250 <= line.so_far <= 301
        # With no now, the report meters as the watch does: at the later of the local clock (5 h
        # behind the emulator's here) and the job's newest event, not at the local clock alone.
        plain = next(j for j in (await ft.spend()).jobs if j.id == job.id)
        assert plain.so_far is not None and 250 <= plain.so_far <= 301
        stream = io.StringIO()
        with pytest.raises(SpendLimitReachedError) as info:
            await job.wait(timeout=WAIT, poll=0.2, progress="plain", stream=stream, max_cost=200)
        err = info.value
        assert (err.by, err.cap, err.job_id) == ("user", 200.0, job.id)
        assert err.accrued is not None and 200 <= err.accrued <= 301
        assert err.accrued == pytest.approx(plain.so_far, abs=2.0)  # the two figures agree
        assert err.hint is not None and "resume" in err.hint and "checkpoint" in err.hint
        assert "reached its spend cap" in stream.getvalue()
        assert (await job.refresh()).status in PAUSED  # never left training past the cap
        with pytest.raises(SpendLimitReachedError):  # waiting again does not hang on the paused job
            await job.wait(timeout=WAIT, poll=0.2, progress=False, max_cost=200)
    finally:
        emulator.switches(rft_hours=None)
        await job.cancel()


@pytest.mark.anyio
async def test_the_cap_is_reached_while_waiting_as_the_clock_moves(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    emulator.switches(rft_hours=20)
    try:
        job = await start_rft(ft, "spend-cap-moving")
        emulator.advance(hours=2.5)  # half an hour of training: $50, under the cap
        moved: list[float] = []

        def on_event(event: JobEvent) -> None:  # the clock moves on while the job is watched
            if event.message.startswith("Step"):
                moved.append(emulator.advance(minutes=20))

        with pytest.raises(SpendLimitReachedError) as info:
            await job.wait(timeout=WAIT, poll=0.2, progress=False, max_cost=150, on_event=on_event)
        assert moved  # it was under the cap when the wait began
        assert info.value.accrued is not None and 150 <= info.value.accrued < 300
        assert (await job.refresh()).status in PAUSED
    finally:
        emulator.switches(rft_hours=None)
        await job.cancel()


@pytest.mark.anyio
async def test_the_job_cap_attribute_is_watched_too(ft: AsyncFoundry, emulator: Emulator) -> None:
    emulator.switches(rft_hours=20)
    try:
        job = await start_rft(ft, "spend-cap-attribute")
        emulator.advance(hours=5)
        job.max_cost = 150.0
        with pytest.raises(SpendLimitReachedError) as info:
            await job.wait(timeout=WAIT, poll=0.2, progress=False)
        assert info.value.cap == 150.0
        assert (await job.refresh()).status in PAUSED
    finally:
        emulator.switches(rft_hours=None)
        await job.cancel()


@pytest.mark.anyio
async def test_the_services_own_5000_dollar_pause_is_reported_not_waited_on(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    emulator.switches(rft_hours=80)  # the service pauses it after 50 h of training ($5,000 at $100/h)
    try:
        job = await start_rft(ft, "spend-service-cap")
        emulator.advance(hours=59)
        stream = io.StringIO()
        with pytest.raises(SpendLimitReachedError) as info:
            await job.wait(timeout=WAIT, poll=0.2, progress="plain", stream=stream)
        err = info.value
        assert (err.by, err.cap) == ("service", 5000.0)
        assert "paused by the service at its $5,000 spend cap" in str(err)
        assert err.hint is not None and "no further cost-based limit" in err.hint
        assert "paused by the service" in stream.getvalue()
        assert job.status == JobStatus.PAUSED
    finally:
        emulator.switches(rft_hours=None)
        await job.cancel()


@pytest.mark.anyio
async def test_a_moment_that_is_not_a_time_is_refused(ft: AsyncFoundry) -> None:
    with pytest.raises(InvalidParameterError, match="now must be a datetime or Unix seconds"):
        await ft.spend(now="yesterday")  # type: ignore[arg-type]
    for bad in (1e20, -1, float("nan"), 10**400):  # a raw OverflowError before; -1 was accepted
        with pytest.raises(InvalidParameterError, match="between 2000 and 2200"):
            await ft.spend(now=bad)


@pytest.mark.anyio
async def test_the_cap_start_set_survives_a_new_handle_and_is_watched_by_it(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    emulator.switches(rft_hours=20)
    try:
        job = await start_rft(ft, "spend-cap-recorded", max_cost=150)
        assert job.raw["metadata"][CAP_KEY] == "150.0"
        # The cap is not part of what the job is: the fingerprint is the one a start without it gives.
        assert job.fingerprint == job.raw["metadata"][FINGERPRINT_KEY]
        assert job.fingerprint == (await start_rft(ft, "spend-cap-recorded")).fingerprint
        # A new handle (after a restart, another process): ft.jobs.get() and attach() carry the cap.
        assert (await ft.jobs.get(job.id)).max_cost == 150.0
        later = await AsyncJob.attach(ft, job.id)
        assert later.max_cost == 150.0
        emulator.advance(hours=5)  # about 3 h of training: $300
        with pytest.raises(SpendLimitReachedError) as info:
            await later.wait(timeout=WAIT, poll=0.2, progress=False)  # no max_cost given: the recorded one
        assert (info.value.by, info.value.cap) == ("user", 150.0)
        assert (await job.refresh()).status in PAUSED
    finally:
        emulator.switches(rft_hours=None)
        await job.cancel()


@pytest.mark.anyio
async def test_where_metadata_is_dropped_the_cap_and_estimate_are_kept_on_this_machine(
    make_emulator: Callable[..., Emulator]
) -> None:
    other = make_emulator(drop_metadata=True, job_duration=1.0)
    async with connect(other.info) as dropped:
        job = await start_rft(dropped, "spend-cap-dropped", max_cost=75)
        assert not job.raw.get("metadata")  # the service kept none of it
        assert (await AsyncJob.attach(dropped, job.id)).max_cost == 75.0
        assert (await dropped.jobs.get(job.id)).max_cost == 75.0
        await job.cancel()
        other.switches(hang=True)  # running jobs stay running: live for the report
        data = sft_data(30, seed=71, name="spend-est.jsonl")
        builder = (dropped.fine_tune("gpt-4.1-mini").train_on(data).method(Supervised(n_epochs=2))
                   .training_type("GlobalStandard").suffix("spend-est-dropped"))
        estimate = builder.estimate().training_usd
        sft = await builder.start()
        try:
            line = next(j for j in (await dropped.spend()).jobs if j.id == sft.id)
            assert estimate is not None and line.estimate == pytest.approx(estimate)
        finally:
            other.switches(hang=None)
            await sft.cancel()


@pytest.mark.anyio
async def test_a_running_supervised_job_shows_the_estimate_start_recorded(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    emulator.switches(hang=True)  # running jobs stay running
    try:
        builder = (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(30, seed=72, name="spend-est.jsonl"))
                   .method(Supervised(n_epochs=2)).training_type("GlobalStandard").suffix("spend-est"))
        estimate = builder.estimate().training_usd
        job = await builder.start()  # no max_cost: recorded all the same
        assert estimate is not None and float(job.raw["metadata"][ESTIMATE_KEY]) == pytest.approx(estimate)
        assert job.fingerprint == builder.fingerprint()
        report = await ft.spend()
        line = next(j for j in report.jobs if j.id == job.id)
        assert line.billing == "tokens" and line.estimate == pytest.approx(estimate)
        assert f"~{estimate:,.2f}" in report.to_text()
        assert report.to_dict()["jobs"][[j.id for j in report.jobs].index(job.id)]["estimate_usd"] == \
            pytest.approx(round(estimate, 2))
        # The user's 14 pairs leave no room in the service's 16: the record goes to the state
        # folder only (the create is not refused for a 17th pair), and the report still finds it.
        full = await builder.suffix("spend-est-full").metadata({f"k{i}": "v" for i in range(14)}).start()
        assert len(full.raw["metadata"]) == 16 and ESTIMATE_KEY not in full.raw["metadata"]
        line = next(j for j in (await ft.spend()).jobs if j.id == full.id)
        assert line.estimate == pytest.approx(estimate)
        await full.cancel()
    finally:
        emulator.switches(hang=None)
        await job.cancel()


@pytest.mark.anyio
async def test_a_refused_pause_leaves_the_job_running_and_says_so(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    emulator.switches(rft_hours=20)
    try:
        job = await start_rft(ft, "spend-cap-pause-refused")
        emulator.advance(hours=5)

        async def refused() -> AsyncJob:
            raise FoundryTuneError("the service refused the pause (test)")

        job.pause = refused  # type: ignore[method-assign]
        stream = io.StringIO()
        with pytest.raises(SpendLimitReachedError) as info:
            await job.wait(timeout=WAIT, poll=0.2, progress="plain", stream=stream, max_cost=100)
        err = info.value
        assert "could NOT pause it" in str(err) and "pause failed: the service refused" in str(err)
        assert err.hint is not None and "job.pause()" in err.hint and "job.cancel()" in err.hint
        assert "STILL TRAINING" in stream.getvalue()
        assert (await job.refresh()).status == JobStatus.RUNNING  # not cancelled behind the user's back
    finally:
        emulator.switches(rft_hours=None)
        await job.cancel()


@pytest.mark.anyio
async def test_the_hint_shows_code_a_user_can_run(ft: AsyncFoundry, emulator: Emulator) -> None:
    emulator.switches(rft_hours=20)
    try:
        job = await start_rft(ft, "spend-cap-hint")
        emulator.advance(hours=4)
        with pytest.raises(SpendLimitReachedError) as info:
            await job.wait(timeout=WAIT, poll=0.2, progress=False, max_cost=100)
        hint = info.value.hint or ""
        # The sync hint once read job.deploy(checkpoint=(job.checkpoints())[-1]).
        assert "job.deploy(checkpoint=" in hint and "[-1])" in hint
        assert "(job.checkpoints())" not in hint
    finally:
        emulator.switches(rft_hours=None)
        await job.cancel()
