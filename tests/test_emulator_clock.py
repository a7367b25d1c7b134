"""The emulator's controllable clock and the service's time-based rules it plays out in seconds:
``/_emulator/clock`` and ``/_emulator/switches`` (token required, bad input refused), the
Developer tier's 24-hour deployments, deletion after 15 days without a call, Developer-tier
pre-emption (paused, then resumed by the service), a job that hangs, and the service pausing a
long reinforcement job at its $5,000 cap; the clock kept across a restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from _emulator_helpers import (
    ARM_API_VERSION,
    arm_client,
    deployment_path,
    openai_client,
    sft_rows,
    wait_until,
    write_jsonl,
)

from foundry_tune.emulator import Emulator
from foundry_tune.emulator._lifecycle import (
    PREEMPTED_MESSAGE,
    RESUMED_MESSAGE,
    SERVICE_SPEND_CAP_USD,
    SPEND_CAP_MESSAGE,
    training_per_hour,
)
from foundry_tune.errors import InvalidParameterError

TOKEN = "clock-test-token"
# An emulator of this module's own: the tests move its clock by days, which would expire the
# deployments of every other test on a shared one; and it needs a token.
pytestmark = [
    pytest.mark.emulator,
    pytest.mark.own_emulator(job_duration=1.0, deployment_provision_delay=0.1,
                             deployment_ready_delay=0.1, token=TOKEN),
]
API = {"api-version": ARM_API_VERSION}
HOUR = 3600.0


@pytest.fixture(autouse=True)
def _switches_off(emulator: Emulator) -> Iterator[None]:
    yield
    emulator.switches(preempt=None, hang=None, rft_hours=None)


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> openai.OpenAI:
    return openai_client(emulator.info, key=TOKEN, max_retries=0)


@pytest.fixture(scope="module")
def arm(emulator: Emulator) -> Iterator[httpx.Client]:
    with arm_client(emulator.info, token=TOKEN) as arm:
        yield arm


@pytest.fixture(scope="module")
def sft_file(client: openai.OpenAI, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_jsonl(tmp_path_factory.mktemp("clock") / "train.jsonl", sft_rows(20))
    with path.open("rb") as fh:
        file_id = client.files.create(file=fh, purpose="fine-tune").id
    assert client.files.wait_for_processing(file_id, poll_interval=0.1).status == "processed"
    return file_id


def _job(client: openai.OpenAI, job_id: str, status: str) -> Any:
    return wait_until(lambda: (j := client.fine_tuning.jobs.retrieve(job_id)).status == status and j,
                      timeout=60)


def _status(client: openai.OpenAI, job_id: str) -> str:
    return str(client.fine_tuning.jobs.retrieve(job_id).status)  # `paused` is Azure's, not in the SDK's types


def _messages(client: openai.OpenAI, job_id: str) -> list[str]:
    return [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=1000).data]


@pytest.fixture(scope="module")
def tuned_model(client: openai.OpenAI, sft_file: str) -> str:
    job = client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=sft_file,
                                         extra_body={"trainingType": "GlobalStandard"})
    return str(_job(client, job.id, "succeeded").fine_tuned_model)


def _deploy(arm: httpx.Client, emulator: Emulator, client: openai.OpenAI, name: str, model: str,
            sku: str) -> None:
    body = {"sku": {"name": sku, "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
    assert arm.put(deployment_path(emulator.info, name), params=API, json=body).status_code == 201
    wait_until(lambda: _answers(client, name), timeout=30)


def _answers(client: openai.OpenAI, name: str) -> bool:
    try:
        client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hello"}])
    except openai.NotFoundError as exc:
        assert exc.code == "DeploymentNotFound"
        return False
    return True


def _exists(arm: httpx.Client, emulator: Emulator, name: str) -> bool:
    status = arm.get(deployment_path(emulator.info, name), params=API).status_code
    every = deployment_path(emulator.info, name).rsplit("/", 1)[0]
    listed = name in [d["name"] for d in arm.get(every, params=API).json()["value"]]
    assert (status == 200) == listed, (status, listed)
    return status == 200


def _delete(arm: httpx.Client, emulator: Emulator, name: str) -> None:
    arm.delete(deployment_path(emulator.info, name), params=API)
    wait_until(lambda: not _exists(arm, emulator, name), timeout=30)


# --- the routes ----------------------------------------------------------------------------------


def test_advance_moves_the_clock_forward_and_new_objects_are_stamped_with_it(
    emulator: Emulator, client: openai.OpenAI, tmp_path: Path
) -> None:
    before = emulator.now()
    after = emulator.advance(hours=2, minutes=30)
    assert after - before >= 2.5 * HOUR
    assert after - time.time() >= 2.5 * HOUR - 60
    clock = httpx.get(f"{emulator.info.arm_endpoint}/_emulator/clock", headers={"api-key": TOKEN}).json()
    assert clock["offset_seconds"] >= 2.5 * HOUR and abs(clock["now"] - emulator.now()) < 60
    path = write_jsonl(tmp_path / "stamped.jsonl", sft_rows(10))
    with path.open("rb") as fh:
        created = client.files.create(file=fh, purpose="fine-tune").created_at
    assert abs(created - emulator.now()) < 60


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"hours": -1}', "hours"),
        (b'{"advance_seconds": "ten"}', "advance_seconds"),
        (b'{"minutes": true}', "minutes"),
        (b'{"hours": NaN}', None),
        (b'{"weeks": 1}', "weeks"),
        (b"{}", None),
        (b"[1]", None),
        (b'{"days": 1e9}', None),
    ],
)
def test_the_clock_route_refuses_bad_input_and_the_clock_stays(
    emulator: Emulator, body: bytes, param: str | None
) -> None:
    before = httpx.get(f"{emulator.info.arm_endpoint}/_emulator/clock", headers={"api-key": TOKEN}).json()
    answer = httpx.post(f"{emulator.info.arm_endpoint}/_emulator/clock", content=body,
                        headers={"api-key": TOKEN, "content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalidPayload" and answer.json()["error"]["param"] == param
    after = httpx.get(f"{emulator.info.arm_endpoint}/_emulator/clock", headers={"api-key": TOKEN}).json()
    assert after["offset_seconds"] == before["offset_seconds"]


@pytest.mark.parametrize("route", ["/_emulator/clock", "/_emulator/switches"])
@pytest.mark.parametrize("headers", [{}, {"api-key": "not-the-token"}, {"Authorization": "Bearer wrong"}])
def test_the_control_routes_need_the_token(emulator: Emulator, route: str, headers: dict[str, str]) -> None:
    url = emulator.info.arm_endpoint + route
    assert httpx.get(url, headers=headers).status_code == 401
    answer = httpx.post(url, headers=headers, json={"hours": 1} if "clock" in route else {"hang": True})
    assert answer.status_code == 401 and TOKEN not in answer.text
    assert emulator.switches() == {}
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_switches_merge_keep_unknown_keys_and_null_removes(emulator: Emulator) -> None:
    assert emulator.switches(preempt=True, someone_elses={"url": "http://x"}) == {
        "preempt": True, "someone_elses": {"url": "http://x"}}
    assert emulator.switches(rft_hours=12.5) == {"preempt": True, "someone_elses": {"url": "http://x"},
                                                 "rft_hours": 12.5}
    assert emulator.switches(someone_elses=None, preempt=None) == {"rft_hours": 12.5}
    assert emulator.switches() == {"rft_hours": 12.5}


@pytest.mark.parametrize("values",
                         [{"preempt": "yes"}, {"hang": 1}, {"rft_hours": -2}, {"rft_hours": 10_000}])
def test_switch_values_are_checked(emulator: Emulator, values: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterError, match=next(iter(values))):
        emulator.switches(**values)
    assert emulator.switches() == {}


def test_advance_refuses_going_back_before_asking(emulator: Emulator) -> None:
    before = emulator.now()
    for bad in ({"hours": -1}, {"minutes": float("nan")}, {"seconds": float("inf")}):
        with pytest.raises(InvalidParameterError):
            emulator.advance(**bad)
    assert emulator.now() - before < 60


# --- deployments ---------------------------------------------------------------------------------


def test_a_developer_deployment_is_deleted_after_24_hours_a_standard_one_is_not(
    emulator: Emulator, arm: httpx.Client, client: openai.OpenAI, tuned_model: str
) -> None:
    _deploy(arm, emulator, client, "clock-dev", tuned_model, "DeveloperTier")
    _deploy(arm, emulator, client, "clock-std", tuned_model, "GlobalStandard")
    try:
        emulator.advance(hours=23)
        assert _exists(arm, emulator, "clock-dev") and _answers(client, "clock-dev")
        emulator.advance(hours=2)
        assert not _exists(arm, emulator, "clock-dev")
        with pytest.raises(openai.NotFoundError) as gone:
            client.chat.completions.create(model="clock-dev", messages=[{"role": "user", "content": "hi"}])
        assert gone.value.code == "DeploymentNotFound"
        assert _exists(arm, emulator, "clock-std") and _answers(client, "clock-std")
    finally:
        _delete(arm, emulator, "clock-std")


def test_a_fine_tuned_deployment_without_a_call_for_15_days_is_deleted(
    emulator: Emulator, arm: httpx.Client, client: openai.OpenAI, tuned_model: str
) -> None:
    _deploy(arm, emulator, client, "clock-idle", tuned_model, "GlobalStandard")
    _deploy(arm, emulator, client, "clock-used", tuned_model, "GlobalStandard")
    emulator.advance(days=10)
    assert _answers(client, "clock-used")  # a call on day 10 moves its deletion to day 25
    emulator.advance(days=5, hours=1)
    assert not _exists(arm, emulator, "clock-idle")
    assert _exists(arm, emulator, "clock-used")
    emulator.advance(days=10)
    assert not _exists(arm, emulator, "clock-used")


# --- jobs ----------------------------------------------------------------------------------------


def test_a_developer_job_is_preempted_then_resumed_by_the_service(
    emulator: Emulator, client: openai.OpenAI, sft_file: str
) -> None:
    emulator.switches(preempt=True)
    job = client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=sft_file,
                                         extra_body={"trainingType": "developerTier"})
    _job(client, job.id, "paused")
    paused = _messages(client, job.id)
    assert paused[0] == PREEMPTED_MESSAGE
    emulator.advance(minutes=9)  # far longer than the whole job: training does not advance while paused
    assert _status(client, job.id) == "paused"
    assert _messages(client, job.id) == paused
    emulator.advance(minutes=1)
    assert _status(client, job.id) in {"running", "succeeded"}
    assert RESUMED_MESSAGE in _messages(client, job.id)
    _job(client, job.id, "succeeded")
    assert _messages(client, job.id).count(PREEMPTED_MESSAGE) == 1  # once per job

    other = client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=sft_file,
                                           extra_body={"trainingType": "GlobalStandard"})
    _job(client, other.id, "succeeded")
    assert PREEMPTED_MESSAGE not in _messages(client, other.id)  # only the Developer tier is pre-emptible


def test_a_hanging_job_stays_running_silently_until_the_switch_is_off(
    emulator: Emulator, client: openai.OpenAI, sft_file: str
) -> None:
    emulator.switches(hang=True)
    job = client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=sft_file,
                                         extra_body={"trainingType": "GlobalStandard"})
    _job(client, job.id, "running")
    said = _messages(client, job.id)
    emulator.advance(hours=3)
    assert _status(client, job.id) == "running"
    assert _messages(client, job.id) == said
    emulator.switches(hang=False)
    _job(client, job.id, "succeeded")
    assert len(_messages(client, job.id)) > len(said)


def test_the_service_pauses_a_long_reinforcement_job_at_its_5000_dollar_cap(
    emulator: Emulator, client: openai.OpenAI, tmp_path: Path
) -> None:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus {i}?"}], "answer": str(2 * i)}
            for i in range(12)]
    files = []
    for name in ("rft-train.jsonl", "rft-valid.jsonl"):
        with write_jsonl(tmp_path / name, rows).open("rb") as fh:
            files.append(client.files.create(file=fh, purpose="fine-tune").id)
        client.files.wait_for_processing(files[-1], poll_interval=0.1)
    grader = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "eq"}
    cap_hours = SERVICE_SPEND_CAP_USD / training_per_hour("o4-mini", "GlobalStandard")  # 50 at $100/h
    run_hours = 1.6 * cap_hours  # 10% of it data import, then training that reaches the cap
    emulator.switches(rft_hours=run_hours)
    job = client.fine_tuning.jobs.create(
        model="o4-mini", training_file=files[0], validation_file=files[1],
        method={"type": "reinforcement", "reinforcement": {"grader": grader}},  # type: ignore[arg-type]
        extra_body={"trainingType": "GlobalStandard"},
    )
    _job(client, job.id, "running")
    emulator.advance(hours=0.1 * run_hours + cap_hours - 1)
    assert _status(client, job.id) == "running"
    emulator.advance(hours=2)
    assert _status(client, job.id) == "paused"
    events = client.fine_tuning.jobs.list_events(job.id, limit=1000).data
    assert events[0].message == SPEND_CAP_MESSAGE and "$5,000" in events[0].message
    started = next(e.created_at for e in events if e.message == "Training started.")
    assert abs(events[0].created_at - started - cap_hours * HOUR) <= 2  # training hours x rate = $5,000
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and checkpoints[0].created_at == events[0].created_at  # a deployable checkpoint
    emulator.advance(hours=40)
    assert _status(client, job.id) == "paused"  # the service does not resume it
    client.fine_tuning.jobs.resume(job.id)
    _job(client, job.id, "running")
    emulator.advance(hours=0.9 * run_hours - cap_hours + 1)  # the rest of its training: no second cap
    assert _job(client, job.id, "succeeded").fine_tuned_model
    assert _messages(client, job.id).count(SPEND_CAP_MESSAGE) == 1


# --- restart -------------------------------------------------------------------------------------


def test_the_clock_survives_a_restart_on_the_same_data_dir(
    tmp_path: Path, make_emulator: Callable[..., Emulator]
) -> None:
    first = make_emulator(data_dir=tmp_path / "data")
    moved = first.advance(hours=5) - time.time()
    first.kill()
    second = make_emulator(data_dir=tmp_path / "data")
    assert abs((second.now() - time.time()) - moved) < 60
    assert second.switches() == {}  # switches last until the process stops
