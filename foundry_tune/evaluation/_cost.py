"""Inference cost per request from the catalog's price table (the one the training estimate uses)."""

from __future__ import annotations

import dataclasses

from foundry_tune.catalog import price_for

__all__ = ["InferenceCost", "inference_cost"]


@dataclasses.dataclass(frozen=True)
class InferenceCost:
    """Estimated USD cost of one average request, at the ``model``'s base or fine-tuned list price."""

    model: str
    tuned: bool
    input_per_1m: float
    output_per_1m: float
    per_request: float

    @property
    def per_1k_requests(self) -> float:
        """USD per 1,000 requests like the average one."""
        return 1000 * self.per_request


def inference_cost(
    model: str, *, tuned: bool, prompt_tokens: float | None, completion_tokens: float | None
) -> InferenceCost | None:
    """Cost of a request with these mean token counts, or ``None`` for an unknown model or usage."""
    price = price_for(model)
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    input_price = price.tuned_input_per_1m if tuned else price.base_input_per_1m
    output_price = price.tuned_output_per_1m if tuned else price.base_output_per_1m
    per_request = (prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000
    return InferenceCost(model, tuned, input_price, output_price, per_request)
