"""``ft.models``: the fine-tuned models of the resource, from its job listing, with their base model,
job and the retirement dates the catalog knows."""

from __future__ import annotations

import builtins
import dataclasses
import logging
from typing import TYPE_CHECKING

from foundry_tune._async._files import list_jobs
from foundry_tune._async._listings import list_checkpoints
from foundry_tune._core.audit import TunedModel, tuned_models_of
from foundry_tune._core.lifecycle import parse_time

if TYPE_CHECKING:
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["AsyncModelsAPI"]

log = logging.getLogger("foundry_tune.files")


class AsyncModelsAPI:
    """Fine-tuned models of the connected resource (``ft.models``)."""

    def __init__(self, ft: AsyncFoundry) -> None:
        self._ft = ft

    async def list(self, *, checkpoints: bool = False) -> builtins.list[TunedModel]:
        """The fine-tuned models of the resource, newest first: every job that produced one
        (``fine_tuned_model``), with its base model, job id, creation time (the job's end) and the
        base model's retirement dates where the catalog knows them (``retires``,
        ``fine_tuning_retires``). With ``checkpoints=True`` each job's deployable checkpoints follow
        its model (one more request per job).

        The job listing is bounded (1,000 jobs, 60 s); a listing cut short is logged as a warning on
        the ``foundry_tune.files`` logger (``ft.audit()`` reports it too)."""
        jobs = await list_jobs(self._ft)
        if jobs.incomplete:
            log.warning("listing cut short (%s): the answer may be incomplete", jobs.incomplete)
        models = tuned_models_of(jobs.items)
        if not checkpoints:
            return models
        found: builtins.list[TunedModel] = []
        for model in models:
            found.append(model)
            for checkpoint in reversed(await list_checkpoints(self._ft, model.job_id)):
                if not checkpoint.model or checkpoint.model == model.id:
                    continue
                created = parse_time(checkpoint.created_at) or model.created_at
                found.append(dataclasses.replace(model, id=checkpoint.model, checkpoint_step=checkpoint.step,
                                                  created_at=created))
        return found

    def __repr__(self) -> str:
        return "AsyncModelsAPI()"
