"""Auth and fault injection: the 401 shape, --token, reproducible faults, and a connection dropped
after the request took effect, as the real openai client sees it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from _emulator_helpers import openai_client, sft_rows, write_jsonl

from foundry_tune.emulator import Emulator
from foundry_tune.emulator._faults import FaultPlan

# An emulator of this module's own for the auth tests: it needs a token, and lists no files.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(token="s3cret-value", job_duration=2)]


def test_missing_credentials_get_401_in_the_official_shape(emulator: Emulator) -> None:
    answer = httpx.get(f"{emulator.info.openai_base_url}/files")
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "credentials" in error["message"]


def test_token_option_requires_that_exact_value(emulator: Emulator) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        openai_client(emulator.info, key="wrong", max_retries=0).files.list()
    assert caught.value.status_code == 401
    assert "s3cret-value" not in str(caught.value)
    assert openai_client(emulator.info, key="s3cret-value").files.list().data == []
    bearer = httpx.get(
        f"{emulator.info.openai_base_url}/files", headers={"Authorization": "Bearer s3cret-value"}
    )
    assert bearer.status_code == 200


def test_stats_and_health_need_no_auth(emulator: Emulator) -> None:
    root = emulator.info.arm_endpoint
    assert httpx.get(f"{root}/_emulator/health").json() == {"status": "ok"}
    stats = httpx.get(emulator.info.stats_url).json()
    assert {"files", "jobs", "deployments", "requests", "faults"} <= set(stats)
    assert emulator.stats()["faults"] == 0


def test_fault_plan_is_a_function_of_seed_and_request_number() -> None:
    plan = FaultPlan(0.4, seed=3)
    first = [plan.decide(n) for n in range(1, 500)]
    assert first == [FaultPlan(0.4, seed=3).decide(n) for n in range(1, 500)]
    assert first != [FaultPlan(0.4, seed=4).decide(n) for n in range(1, 500)]
    share = sum(f is not None for f in first) / len(first)
    assert 0.3 < share < 0.5
    assert {"rate_limit", "server_error", "unavailable", "slow", "drop"} == {f for f in first if f}
    assert all(FaultPlan(0.0, seed=3).decide(n) is None for n in range(1, 200))


def _outcomes(seed: int, n: int) -> list[str]:
    seen: list[str] = []
    with (
        Emulator(fault_rate=0.5, fault_seed=seed, slow_seconds=0.4) as emu,
        httpx.Client(base_url=emu.info.openai_base_url, headers={"api-key": "k"}, timeout=10) as client,
    ):
        for _ in range(n):
            started = time.monotonic()
            try:
                answer = client.get("/fine_tuning/jobs")
            except httpx.TransportError:
                seen.append("dropped")
                continue
            if answer.status_code == 429:
                assert answer.headers["Retry-After"] == "1"
            if answer.status_code >= 400:
                assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
            slow = time.monotonic() - started >= 0.4
            seen.append(f"{answer.status_code}{' slow' if slow else ''}")
        stats = emu.stats()
    assert stats["requests"] == n
    assert stats["faults"] == sum(1 for s in seen if s != "200")
    return seen


def test_faults_are_reproducible_with_a_seed() -> None:
    first = _outcomes(11, 24)
    assert first == _outcomes(11, 24)
    assert {"429", "dropped"} & set(first), first
    assert "200" in first


def _seed_whose_first_request_drops() -> int:
    return next(s for s in range(1000) if FaultPlan(1.0, s).decide(1) == "drop")


def test_dropped_connection_happens_after_the_request_took_effect(
    tmp_path: Path, make_emulator: Callable[..., Emulator]
) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", sft_rows())
    emu = make_emulator(fault_rate=1.0, fault_seed=_seed_whose_first_request_drops())
    client = openai_client(emu.info, max_retries=0)
    with pytest.raises(openai.APIConnectionError), data.open("rb") as fh:
        client.files.create(file=fh, purpose="fine-tune")
    stats = emu.stats()
    # the client saw no answer, yet the file exists: the ambiguous case that makes naive
    # clients upload (or start a job) twice
    assert stats["files"] == 1
    assert stats["faults_by_kind"] == {"drop": 1}
