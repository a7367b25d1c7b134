"""The spend arithmetic without a service: rates, training time from events, the meter a wait uses
to pause a reinforcement job at the user's cap, the service's $5,000 pause, and the report."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from typing import Any

import pytest

from foundry_tune import SpendLimitReachedError, catalog
from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.events import JobEvent
from foundry_tune._core.job_state import JobState
from foundry_tune._core.spend import (
    ESTIMATE_KEY,
    SpendMeter,
    build_report,
    cap_cli_hint,
    check_max_cost,
    check_now,
    deployment_created_at,
    hosting_rate,
    is_fine_tuned_model,
    job_note,
    job_note_text,
    job_spend,
    paused_by_service,
    recorded_usd,
    service_cap_event,
    training_rate,
    training_seconds,
    user_cap_message,
    with_note,
)
from foundry_tune._core.status import JobStatus
from foundry_tune.errors import InvalidParameterError

HOUR = 3600.0
T0 = 1_765_000_000
RFT_ID = "ftjob-" + "a" * 32
SFT_ID = "ftjob-" + "b" * 32
TUNED = "gpt-4.1-mini-2025-04-14.ft-" + "c" * 32
# The emulator's wording of the service's pause (foundry_tune/emulator/_lifecycle.py), from the docs.
CAP_SAID = ("Training paused: per-job billing is capped at $5,000. A deployable checkpoint was created. "
            "Validate the training job, metrics, and logs, then decide whether to resume.")
PREEMPTED = ("Job paused by the system: Developer tier training runs on pre-emptible spot capacity. "
             "The job will resume automatically.")


def ev(at: float, message: str) -> JobEvent:
    return JobEvent(id=f"ftevent-{at}", created_at=int(at), level="info", message=message, type="message",
                    data=None)


class Listed(JobState):
    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw


def rft_job(status: str = "running", model: str = "o4-mini") -> Listed:
    grader = {"type": "string_check", "name": "x", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "eq"}
    method = {"type": "reinforcement", "reinforcement": {"grader": grader, "hyperparameters": {}}}
    return Listed({"id": RFT_ID, "status": status, "model": model, "trainingType": "globalStandard",
                   "method": method})


def sft_job(**extra: Any) -> Listed:
    return Listed({"id": SFT_ID, "status": "running", "model": "gpt-4.1-mini-2025-04-14",
                   "trainingType": "globalStandard",
                   "method": {"type": "supervised", "supervised": {"hyperparameters": {}}}, **extra})


def arm(name: str, model: str, sku: str, created: str | None, state: str = "Succeeded") -> DeploymentInfo:
    body: dict[str, Any] = {"name": name, "sku": {"name": sku, "capacity": 1},
                            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"},
                                           "provisioningState": state}}
    if created is not None:
        body["systemData"] = {"createdAt": created}
    return DeploymentInfo.from_arm(body)


def iso(at: float) -> str:
    # seven fractional digits, as Azure writes them
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


# --- rates ------------------------------------------------------------------------------------


def test_hosting_rates_follow_the_sku_and_the_developer_tier_bills_nothing() -> None:
    assert hosting_rate(TUNED, "Standard") == pytest.approx(1.70)
    assert hosting_rate(TUNED, "GlobalStandard") == pytest.approx(1.70)
    assert hosting_rate(TUNED, "DeveloperTier") == 0.0
    assert hosting_rate(TUNED, "developer") == 0.0
    assert hosting_rate(TUNED, "ProvisionedManaged") is None  # billed by PTU: not priced here
    assert hosting_rate("my-own-model.ft-1", "Standard") is None
    assert hosting_rate(TUNED, None) is None


def test_reinforcement_trains_at_the_catalog_hourly_rate() -> None:
    assert training_rate("o4-mini") == pytest.approx(100.0)
    assert training_rate("o4-mini-2025-04-16", catalog.TrainingType.GLOBAL_STANDARD) == pytest.approx(100.0)
    assert training_rate("not-a-model") is None


def test_fine_tuned_models_are_told_from_base_models() -> None:
    assert is_fine_tuned_model(TUNED)
    assert is_fine_tuned_model("ft:gpt-4o-mini-2024-07-18:org::abc")
    assert is_fine_tuned_model(TUNED + ":ckpt-step-10")
    assert not is_fine_tuned_model("gpt-4.1-mini")
    assert not is_fine_tuned_model(None)


@pytest.mark.parametrize("bad", [-5, float("nan"), float("inf"), True, "100", 10**400])
def test_a_cap_must_be_a_finite_number_of_usd(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="max_cost"):
        check_max_cost(bad)


def test_a_cap_is_a_float_or_none_and_zero_is_one_as_start_takes_it() -> None:
    # One rule for start(max_cost=...) and wait(max_cost=...): a 0 start() accepted must not make
    # the job's wait() raise.
    assert check_max_cost(None) is None
    assert check_max_cost(250) == 250.0
    assert check_max_cost(0) == 0.0


# --- training time ----------------------------------------------------------------------------


def test_training_time_runs_from_training_started_not_from_the_job_start() -> None:
    events = [ev(T0, "Job started."), ev(T0 + 600, "Training started."), ev(T0 + 900, "Step 1/100 , x=1")]
    assert training_seconds(events, T0 + 600 + 2 * HOUR) == pytest.approx(2 * HOUR)


def test_paused_spans_that_the_events_show_are_not_billed() -> None:
    events = [ev(T0, "Training started."), ev(T0 + HOUR, "Job paused."), ev(T0 + 3 * HOUR, "Job resumed."),
              ev(T0 + 3.5 * HOUR, PREEMPTED),
              ev(T0 + 4 * HOUR, "Job resumed automatically after a pre-emption.")]
    assert training_seconds(events, T0 + 5 * HOUR) == pytest.approx(2.5 * HOUR)


def test_a_paused_job_without_a_pause_event_counts_up_to_its_last_event() -> None:
    # Azure writes no event when a job pauses: its last step is the best bound.
    events = [ev(T0, "Training started."), ev(T0 + HOUR, "Step 10: training loss=0.5")]
    assert training_seconds(events, T0 + 9 * HOUR, status=JobStatus.PAUSED) == pytest.approx(HOUR)
    assert training_seconds(events, T0 + 9 * HOUR, status=JobStatus.RUNNING) == pytest.approx(9 * HOUR)


def test_no_training_yet_is_none() -> None:
    events = [ev(T0, "Job started."), ev(T0, "Job queued, waiting for GPUs.")]
    assert training_seconds(events, T0 + HOUR) is None


def test_the_meter_counts_running_intervals_only() -> None:
    meter = SpendMeter(per_hour=100.0)
    events = [ev(T0, "Training started.")]
    assert meter.observe(JobStatus.RUNNING, events, T0 + HOUR) == pytest.approx(HOUR)  # seeded by the events
    meter.observe(JobStatus.PAUSED, events, T0 + 2 * HOUR)  # it ran until this poll saw it paused
    meter.observe(JobStatus.PAUSED, events, T0 + 5 * HOUR)
    meter.observe(JobStatus.RUNNING, events, T0 + 6 * HOUR)
    meter.observe(JobStatus.RUNNING, events, T0 + 6.5 * HOUR)
    assert meter.hours == pytest.approx(2.5)
    assert meter.accrued == pytest.approx(250.0)
    assert meter.reached(250.0) and not meter.reached(250.01) and not meter.reached(None)


def test_the_meter_follows_a_service_clock_ahead_of_the_local_one() -> None:
    # The emulator's clock moved 3 h forward: its events are stamped ahead of the local clock.
    meter = SpendMeter(per_hour=100.0)
    events = [ev(T0, "Training started."), ev(T0 + 60, "Step 1")]
    meter.observe(JobStatus.RUNNING, events, T0 + 60)
    events.append(ev(T0 + 3 * HOUR, "Step 300"))
    meter.observe(JobStatus.RUNNING, events, T0 + 90)  # local clock: 30 s later
    assert meter.hours == pytest.approx(3.0)
    meter.observe(JobStatus.RUNNING, events, T0 + 120)  # never goes back
    assert meter.hours == pytest.approx(3.0)


def test_without_a_rate_nothing_is_reached() -> None:
    meter = SpendMeter(per_hour=None)
    meter.observe(JobStatus.RUNNING, [ev(T0, "Training started.")], T0 + 100 * HOUR)
    assert meter.accrued is None and not meter.reached(1.0)


def test_the_service_cap_pause_is_recognised_and_a_preemption_is_not() -> None:
    events = [ev(T0, "Training started."), ev(T0 + HOUR, PREEMPTED)]
    assert service_cap_event(events) is None
    events.append(ev(T0 + 50 * HOUR, CAP_SAID))
    found = service_cap_event(events)
    assert found is not None and found.message == CAP_SAID
    assert service_cap_event([ev(T0, "Step 5000/6000 , train mean reward=0.5")]) is None


def test_the_cap_error_says_what_happened_and_what_to_do_and_pickles() -> None:
    message = user_cap_message(RFT_ID, accrued=201.5, cap=200.0, hours=2.015, per_hour=100.0, paused=True)
    assert "$201.50" in message and "max_cost=$200.00" in message and "paused it" in message
    err = SpendLimitReachedError(message, job_id=RFT_ID, by="user", cap=200.0, accrued=201.5,
                                 hint="resume it with job.resume()")
    again = pickle.loads(pickle.dumps(err))
    assert (again.job_id, again.by, again.cap, again.accrued, again.hint) == (RFT_ID, "user", 200.0, 201.5,
                                                                               "resume it with job.resume()")
    assert str(again) == str(err) and "hint: resume it" in str(err)


# --- the report ---------------------------------------------------------------------------------


def test_azure_creation_times_are_read_from_system_data() -> None:
    info = arm("d", TUNED, "Standard", "2026-02-04T04:17:12.9981593Z")  # deploy_and_infer_oai_sft.json
    assert deployment_created_at(info) == dt.datetime(2026, 2, 4, 4, 17, 12, 998159, tzinfo=dt.timezone.utc)
    tags = {"foundry-tune-created-at": "2026-02-04T04:00:00Z"}
    tagged = DeploymentInfo.from_arm({"name": "t", "tags": tags})
    assert deployment_created_at(tagged) == dt.datetime(2026, 2, 4, 4, tzinfo=dt.timezone.utc)


def report_now() -> Any:
    now = T0 + 10 * HOUR
    deployments = [
        arm("standard-one", TUNED, "Standard", iso(now - 2 * HOUR)),
        arm("developer-one", TUNED, "DeveloperTier", iso(now - 5 * HOUR)),
        arm("base-model", "gpt-4.1-mini", "GlobalStandard", iso(now - HOUR)),
        arm("broken", TUNED, "Standard", iso(now - HOUR), state="Failed"),
        arm("no-time", TUNED, "GlobalStandard", None),
    ]
    rft_events = [ev(now - 2 * HOUR, "Training started."), ev(now - 60, "Step 40")]
    jobs = [(rft_job(), rft_events), (sft_job(), None),
            (Listed({**sft_job().raw, "id": "ftjob-" + "d" * 32, ESTIMATE_KEY: None,
                     "metadata": {ESTIMATE_KEY: "12.5"}}), None)]
    return build_report(now, deployments, jobs, incomplete=["live jobs: only the newest 300 jobs were read"])


def test_the_report_prices_hosting_and_reinforcement_training() -> None:
    report = report_now()
    by_name = {d.name: d for d in report.deployments}
    assert sorted(by_name) == ["developer-one", "no-time", "standard-one"]  # failed and base model left out
    assert report.other_deployments == 1
    assert by_name["standard-one"].hours == pytest.approx(2.0)
    assert by_name["standard-one"].so_far == pytest.approx(3.40)
    assert by_name["developer-one"].per_hour == 0.0 and by_name["developer-one"].so_far == 0.0
    assert by_name["no-time"].hours is None and by_name["no-time"].so_far is None
    rft, sft, estimated = report.jobs
    assert (rft.billing, rft.per_hour, rft.hours, rft.so_far) == ("hours", 100.0, pytest.approx(2.0),
                                                                 pytest.approx(200.0))
    assert rft.billing_now
    assert sft.billing == "tokens" and sft.so_far is None and sft.estimate is None and not sft.billing_now
    assert estimated.estimate == pytest.approx(12.5)  # recorded by start() in the job's metadata
    assert report.per_hour == pytest.approx(1.70 + 0.0 + 1.70 + 100.0)
    assert report.so_far == pytest.approx(3.40 + 200.0)
    assert any("no-time" in item and "hours up unknown" in item for item in report.unpriced)
    assert report.incomplete == ("live jobs: only the newest 300 jobs were read",)


def test_finished_token_jobs_are_priced_from_trained_tokens() -> None:
    job = sft_job(trained_tokens=2_000_000)
    report = build_report(T0, [], [(job, None)])
    expected = catalog.training_price(job.model, job.training_type, "supervised")
    assert expected is not None and expected.per_1m is not None
    assert report.jobs[0].estimate == pytest.approx(2 * expected.per_1m)


def test_an_unpriced_reinforcement_model_is_named() -> None:
    report = build_report(T0 + HOUR, [], [(rft_job(model="gpt-5"), [ev(T0, "Training started.")])])
    assert report.jobs[0].hours == pytest.approx(1.0) and report.jobs[0].so_far is None
    assert any(RFT_ID in item and "gpt-5" in item for item in report.unpriced)


def test_the_text_fits_100_columns_and_never_cuts_an_id() -> None:
    report = report_now()
    text = report.to_text()
    assert all(len(line) <= 100 for line in text.splitlines()), text
    assert RFT_ID in text and SFT_ID in text and "standard-one" in text
    assert "billing now: $103.40/h" in text
    assert "not priced: deployment no-time" in text and "incomplete: live jobs" in text
    assert f"prices: hosting fees as of {catalog.PRICES_AS_OF}" in text  # each price with its own date
    long_name = "x" * 64
    wide = build_report(T0, [arm(long_name, TUNED, "GlobalStandard", iso(T0))], [])
    assert long_name in wide.to_text()


def test_the_dict_is_json_ready() -> None:
    data = json.loads(json.dumps(report_now().to_dict()))
    assert data["per_hour_usd"] == pytest.approx(103.4)
    assert data["so_far_usd"] == pytest.approx(203.4)
    assert {d["name"] for d in data["deployments"]} == {"standard-one", "developer-one", "no-time"}
    assert data["jobs"][0]["id"] == RFT_ID and data["jobs"][0]["so_far_usd"] == pytest.approx(200.0)
    assert data["prices_as_of"] == catalog.PRICES_AS_OF and data["prices_source"]
    assert data["at"].endswith("Z")


def test_nothing_live_says_so() -> None:
    text = build_report(T0, [], []).to_text()
    assert "no live deployments of fine-tuned models" in text and "no live fine-tuning jobs" in text
    assert "billing now: $0.00/h" in text


def test_a_queued_reinforcement_job_has_cost_nothing_yet() -> None:
    report = build_report(T0, [], [(rft_job(status="pending"), None)])
    (line,) = report.jobs
    assert (line.hours, line.so_far, line.billing_now) == (0.0, 0.0, False)
    assert report.unpriced == () and report.per_hour == 0.0


# --- one meter for the watch and the report -------------------------------------------------------


def test_the_watch_and_the_report_give_the_same_figure_at_the_same_moment() -> None:
    # The service's clock is 3 h ahead of the local one (the emulator's, moved forward): the review
    # saw the watch at 3.6 h while spend() said 4.0 h. Both meter at the later of the local clock
    # and the newest event now, with one function.
    events = [ev(T0, "Training started."), ev(T0 + 60, "Step 1"), ev(T0 + 3 * HOUR, "Step 300")]
    local = T0 + 90  # the local clock, behind the service's
    meter = SpendMeter(per_hour=100.0)
    meter.observe(JobStatus.RUNNING, events, local)
    line = job_spend(rft_job(), local, events)
    assert line.hours == pytest.approx(meter.hours) == pytest.approx(3.0)
    assert line.so_far == pytest.approx(meter.accrued)
    events.append(ev(T0 + 4 * HOUR, "Step 400"))
    meter.observe(JobStatus.RUNNING, events, local + 30)
    assert job_spend(rft_job(), local + 30, events).hours == pytest.approx(meter.hours) == pytest.approx(4.0)


def test_a_user_pause_after_resuming_past_the_service_cap_is_not_the_services() -> None:
    events = [ev(T0, "Training started."), ev(T0 + 50 * HOUR, CAP_SAID)]
    assert service_cap_event(events) is not None  # paused by the service, still
    events.append(ev(T0 + 51 * HOUR, "Job resumed."))
    events.append(ev(T0 + 52 * HOUR, "Step 6000/7000 , train mean reward=0.5"))
    assert service_cap_event(events) is None  # paused again later (at $5,200): by the user
    events.append(ev(T0 + 80 * HOUR, CAP_SAID))  # the service says so once more
    assert service_cap_event(events) is not None


def test_a_pause_past_5000_dollars_is_the_services_only_if_the_job_was_never_resumed() -> None:
    started = [ev(T0, "Training started.")]
    assert paused_by_service([*started, ev(T0 + 50 * HOUR, CAP_SAID)], accrued=5000.0)
    assert paused_by_service(started, accrued=5000.0)  # no event read, never resumed: the service's
    assert not paused_by_service(started, accrued=4999.0)
    assert not paused_by_service(started, accrued=None)
    resumed = [*started, ev(T0 + 50 * HOUR, CAP_SAID), ev(T0 + 51 * HOUR, "Job resumed.")]
    assert not paused_by_service(resumed, accrued=5200.0)  # the review's case: the user paused it


@pytest.mark.parametrize("bad", [1e20, -1, 0, 946684799.0, float("nan"), float("inf"), True, "now", 10**400,
                                 dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(9999, 1, 1)])
def test_spend_now_is_a_time_in_a_sane_range(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="now must be a datetime or Unix seconds"):
        check_now(bad)


def test_spend_now_takes_datetimes_and_unix_seconds() -> None:
    assert check_now(T0) == float(T0)
    assert check_now(dt.datetime.fromtimestamp(T0, dt.timezone.utc)) == float(T0)
    assert check_now(dt.datetime.fromtimestamp(T0, dt.timezone.utc).replace(tzinfo=None)) == float(T0)  # UTC


def test_recorded_figures_are_read_only_when_they_are_costs() -> None:
    assert recorded_usd("150.0") == 150.0 and recorded_usd(12.5) == 12.5 and recorded_usd("0") == 0.0
    for bad in (None, "", "nan", "inf", "-1", "lots", True, [1]):
        assert recorded_usd(bad) is None
    note = job_note(job_note_text(max_cost=150.0, estimate=12.5))
    assert note == {"max_cost_usd": 150.0, "estimate_usd": 12.5}
    assert job_note(with_note(note, max_cost=200.0)) == {"max_cost_usd": 200.0, "estimate_usd": 12.5}
    for torn in ("", "{", "[1]", '{"max_cost_usd": "150"}', '{"max_cost_usd": NaN}', '{"estimate_usd": -3}'):
        assert job_note(torn) == {}


def test_the_cli_hint_names_cli_commands() -> None:
    hint = cap_cli_hint(RFT_ID, service=False)
    for command in (f"foundry-tune jobs checkpoints {RFT_ID}", f"create CHECKPOINT_MODEL --job-id {RFT_ID}",
                    f"foundry-tune jobs resume {RFT_ID}", f"foundry-tune jobs watch {RFT_ID} --max-cost"):
        assert command in hint
    assert "job." not in hint and "[-1]" not in hint  # no Python in the command line's hint
    failed = cap_cli_hint(RFT_ID, service=False, paused=False)
    assert f"foundry-tune jobs pause {RFT_ID}" in failed and f"foundry-tune jobs cancel {RFT_ID}" in failed


def test_a_failed_pause_says_loudly_that_the_job_still_trains() -> None:
    message = user_cap_message(RFT_ID, accrued=201.5, cap=200.0, hours=2.015, per_hour=100.0, paused=False)
    assert "could NOT pause it" in message and "STILL TRAINING AND BILLING" in message
