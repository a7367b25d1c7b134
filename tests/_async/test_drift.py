"""Regressions for the behaviours the two flavours once drifted apart on (issue 11): each holds in
both, since both are generated from one source now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiohttp")

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.dataset import Dataset
from foundry_tune.emulator import Emulator
from foundry_tune.errors import UploadError
from foundry_tune.evaluation import Completion, Target
from foundry_tune.evaluation._async._evaluate import evaluate
from foundry_tune.methods import Supervised

from ._helpers import sft_data

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning"),
]


@pytest.mark.anyio
async def test_a_file_uploaded_for_another_purpose_is_refused(
    ft: AsyncFoundry, emulator: Emulator, tmp_path: Path
) -> None:
    path = sft_data(12, seed=101).to_jsonl(tmp_path / "assistants.jsonl")
    with path.open("rb") as fh:
        other = await ft.openai.files.create(file=("assistants.jsonl", fh), purpose="assistants")
    jobs_before = emulator.stats()["jobs"]
    builder = ft.fine_tune("gpt-4.1-mini").train_on(other.id).training_type("GlobalStandard")
    with pytest.raises(UploadError, match="fine-tuning needs purpose 'fine-tune'") as info:
        await builder.start()
    assert other.id in str(info.value) and "'assistants'" in str(info.value)
    assert info.value.file_id == other.id
    assert emulator.stats()["jobs"] == jobs_before  # refused by the client, not by the service


@pytest.mark.anyio
async def test_sweep_runs_one_job_per_grid_point(ft: AsyncFoundry) -> None:
    train, validation = sft_data(40, seed=201).split(validation=0.25, seed=1)
    builder = (ft.fine_tune("gpt-4.1-mini").train_on(train).validate_on(validation)
               .training_type("GlobalStandard").method(Supervised(n_epochs=1)).suffix("sweep"))
    sweep = await ft.sweep(builder, {"n_epochs": [1, 2]})
    assert await sweep.wait(timeout=60, poll=0.2, progress=False) is sweep
    assert [t.params for t in sweep.trials] == [{"n_epochs": 1}, {"n_epochs": 2}]
    assert all(t.succeeded for t in sweep.trials)
    assert len({t.job.id for t in sweep.trials if t.job is not None}) == 2
    assert sweep.best in sweep.trials


@pytest.mark.anyio
async def test_evaluate_takes_a_custom_completer() -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"Capital of country {i}?"},
                      {"role": "assistant", "content": f"City{i}"}]}
        for i in range(4)
    ]
    asked: list[tuple[str, str]] = []

    # The async flavour awaits its completer, as it awaits everything that talks to a model.
    async def answer(target: Target, messages: list[Any]) -> Completion:
        question = str(messages[-1]["content"])
        asked.append((target.name, question))
        return Completion(text="City" + question.rsplit(maxsplit=1)[-1].rstrip("?"), prompt_tokens=3,
                          completion_tokens=1, latency=0.0)

    report = await evaluate({"base": Target("gpt-4.1-mini")}, Dataset.from_records(rows), ["exact_match"],
                            completer=answer, concurrency=2)
    assert sorted(q for _, q in asked) == sorted(f"Capital of country {i}?" for i in range(4))
    assert report["base"].answered == 4 and report["base"].scores["exact_match"].mean == 1.0


@pytest.mark.anyio
async def test_reattach_hint_names_the_job(ft: AsyncFoundry) -> None:
    job = await (ft.fine_tune("gpt-4.1-mini").train_on(sft_data(12, seed=301)).training_type("GlobalStandard")
                 .suffix("hint").start())
    try:
        hint = job.reattach_hint()  # no I/O: a plain method in both flavours
        assert isinstance(hint, str) and job.id in hint
        assert f"foundry-tune jobs watch {job.id}" in hint
    finally:
        await job.cancel()  # free the resource's running slot for the other tests
