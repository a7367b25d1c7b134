"""On the emulator: a reinforcement job's `job.metrics()` includes the reward columns by default
(no `source=` needed); a supervised job's metrics are its result file, unchanged."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.dataset import Dataset
from foundry_tune.graders import StringCheck
from foundry_tune.methods import Reinforcement

from ._helpers import finish, rft_rows, sft_data

pytestmark = [pytest.mark.emulator]

_SFT_COLUMNS = ["step", "train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy",
                "full_valid_loss", "full_valid_mean_token_accuracy"]


@pytest.mark.anyio
async def test_rft_job_metrics_include_the_rewards_by_default(ft: AsyncFoundry) -> None:
    grader = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                         operation="eq")
    job = await (ft.fine_tune("o4-mini")
                 .train_on(Dataset.from_records(rft_rows(20, offset=400), name="rft-metrics.jsonl"))
                 .validate_on(Dataset.from_records(rft_rows(10, offset=500), name="rft-metrics-val.jsonl"))
                 .method(Reinforcement(grader=grader, n_epochs=1))
                 .start())
    await finish(job)
    assert job.result_files  # "auto" starts from the result file
    metrics = await job.metrics()
    assert metrics.has_rewards
    for name in ("train_reward_mean", "valid_reward_mean"):
        values = [v for v in metrics.column(name) if v is not None]
        assert values and all(0.0 <= v <= 1.0 for v in values)
    assert {"train_reward_mean", "valid_reward_mean"} <= set(metrics.to_pandas().columns)


@pytest.mark.anyio
async def test_sft_job_metrics_are_the_result_file_unchanged(ft: AsyncFoundry) -> None:
    job = await ft.fine_tune("gpt-4.1-mini").train_on(sft_data(20, seed=41)).start()
    await finish(job)
    metrics = await job.metrics()
    assert metrics.source == "results" and not metrics.has_rewards
    assert list(metrics.to_pandas().columns) == _SFT_COLUMNS
