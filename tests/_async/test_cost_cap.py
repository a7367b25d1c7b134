"""On the emulator: `start(max_cost=...)` refuses a job whose estimate is over the cap (or has no
price) before any request, upload or job; a job within the cap starts and carries the cap, and so
does the same job returned again by a re-start; a reinforcement job is not refused on its hourly
rate and carries the cap for `wait()` to watch, but one with no known hourly rate (gpt-5) is refused
before any request, as a token-billed job without a price is."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import CostLimitError, InvalidParameterError
from foundry_tune.graders import StringCheck
from foundry_tune.methods import Reinforcement, Supervised

from ._helpers import rft_rows, sft_data

pytestmark = [pytest.mark.emulator]

COUNTED = ("files", "uploads", "jobs", "requests")


def counts(emulator: Emulator) -> dict[str, int]:
    stats = emulator.stats()
    return {key: stats[key] for key in COUNTED}


@pytest.mark.anyio
async def test_over_the_cap_nothing_is_sent(ft: AsyncFoundry, emulator: Emulator) -> None:
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(30, seed=501, name="cap-over.jsonl"))
               .method(Supervised(n_epochs=3)).training_type("GlobalStandard").suffix("cap-over"))
    estimate = builder.estimate()
    assert estimate.training_usd is not None and estimate.training_usd > 0
    before = counts(emulator)
    with pytest.raises(CostLimitError) as info:
        await builder.start(max_cost=estimate.training_usd * 0.9)
    assert counts(emulator) == before  # no request at all: no lookup, no upload, no job
    assert info.value.estimate == pytest.approx(estimate.training_usd)
    assert "x 3 epochs x $5 per 1M tokens" in info.value.how and "GlobalStandard training" in info.value.how
    with pytest.raises(InvalidParameterError):
        await builder.start(max_cost=-5)
    assert counts(emulator) == before


@pytest.mark.anyio
async def test_an_open_model_without_a_price_is_refused(ft: AsyncFoundry, emulator: Emulator) -> None:
    builder = (ft.fine_tune("Ministral-3B").train_on(sft_data(20, seed=502, name="cap-open.jsonl"))
               .training_type("GlobalStandard"))
    before = counts(emulator)
    with pytest.raises(CostLimitError, match="cannot be estimated"):
        await builder.start(max_cost=10_000)
    assert counts(emulator) == before


@pytest.mark.anyio
async def test_within_the_cap_the_job_and_its_restart_carry_it(ft: AsyncFoundry, emulator: Emulator) -> None:
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(30, seed=503, name="cap-within.jsonl"))
               .training_type("Developer").suffix("cap-within"))
    estimate = builder.estimate()
    assert estimate.training_usd is not None
    cap = estimate.training_usd + 1
    before = emulator.stats()["jobs"]
    job = await builder.start(max_cost=cap)
    again = await builder.start(max_cost=cap)
    assert emulator.stats()["jobs"] == before + 1
    assert (job.max_cost, again.max_cost, again.reused, again.id) == (cap, cap, True, job.id)
    assert (await builder.start()).max_cost is None  # no cap given: none set
    await job.cancel()


@pytest.mark.anyio
async def test_reinforcement_is_not_refused_on_its_hourly_rate(ft: AsyncFoundry) -> None:
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    job = await (ft.fine_tune("o4-mini")
                 .train_on(Dataset.from_records(rft_rows(20, offset=700), name="cap-rft.jsonl"))
                 .validate_on(Dataset.from_records(rft_rows(10, offset=800), name="cap-rft-val.jsonl"))
                 .method(Reinforcement(grader=grader, n_epochs=1)).training_type("GlobalStandard")
                 .start(max_cost=0.5))  # under an hour at $100: wait() watches it, start() does not refuse
    assert job.max_cost == 0.5
    await job.cancel()


@pytest.mark.anyio
async def test_reinforcement_without_an_hourly_rate_is_refused_before_any_request(
    ft: AsyncFoundry, emulator: Emulator
) -> None:
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    builder = (ft.fine_tune("gpt-5")
               .train_on(Dataset.from_records(rft_rows(20, offset=900), name="cap-rft-gpt5.jsonl"))
               .validate_on(Dataset.from_records(rft_rows(10, offset=950), name="cap-rft-gpt5-val.jsonl"))
               .method(Reinforcement(grader=grader, n_epochs=1)).training_type("GlobalStandard"))
    before = counts(emulator)
    with pytest.raises(CostLimitError, match="cannot be watched") as info:
        await builder.start(max_cost=500)
    assert counts(emulator) == before  # no grader check, no upload, no job
    assert "set_price" in str(info.value) and info.value.cap == 500.0
