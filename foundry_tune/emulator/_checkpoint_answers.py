"""How well a checkpoint answers: a checkpoint whose validation loss is worse than its job's best
one answers a share of prompts less well (the trained answer followed by an off-point sentence, as
an overfit model rambles; never cut mid-phrase), so that comparing a job's checkpoints on held-out
data shows a difference that follows their validation metrics.

Deterministic per (model, prompt). A job trained without a validation file, a model that is not a
checkpoint of a job, the job's best checkpoint, and any checkpoint asked a prompt it was trained on
(an overfit model still knows its training data by heart) answer as the training data says.
"""

from __future__ import annotations

import dataclasses
import hashlib

from foundry_tune.emulator._answers import Reply
from foundry_tune.emulator._state import Context
from foundry_tune.emulator._store import Doc

__all__ = ["for_checkpoint", "weak_share"]

_METRICS = ("full_valid_loss", "valid_loss")
_SLOPE = 0.6  # share of weaker answers per unit of relative excess validation loss
_MAX_SHARE = 0.9
_RAMBLE = (
    "I hope this helps, and please let me know if there is anything else at all that I can help you "
    "with today."
)


def weak_share(loss: float, best: float) -> float:
    """The share of prompts a checkpoint with validation ``loss`` answers less well than the job's
    ``best`` one: 0 for the best, growing with the relative excess, at most 0.9."""
    if best <= 0 or loss <= best:
        return 0.0
    return min(_MAX_SHARE, _SLOPE * (loss - best) / best)


def _loss(checkpoint: Doc, key: str) -> float | None:
    value = (checkpoint.get("metrics") or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _share_of(ctx: Context, job: Doc, model: str) -> float:
    checkpoints = ctx.store.all("checkpoint", job["id"])
    for key in _METRICS:
        losses = {c["fine_tuned_model_checkpoint"]: _loss(c, key) for c in checkpoints}
        known = [v for v in losses.values() if v is not None]
        mine = losses.get(model)
        if known and mine is not None:
            return weak_share(mine, min(known))
    return 0.0


def _draw(model: str, prompt: str) -> float:
    digest = hashlib.sha256(f"{model}\n{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def for_checkpoint(
    ctx: Context, job: Doc | None, model: str, prompt: str, reply: Reply, *, memorized: bool = False
) -> Reply:
    """``reply`` as checkpoint ``model`` of ``job`` gives it: for a weaker checkpoint, on its share
    of prompts, the whole trained text followed by an off-point sentence (tool calls unchanged)."""
    if job is None or memorized or not reply.text or job.get("validation_file") is None:
        return reply
    if _draw(model, prompt) >= _share_of(ctx, job, model):
        return reply
    text = reply.text.rstrip()
    if text[-1] not in ".!?":
        text += "."
    return dataclasses.replace(reply, text=f"{text} {_RAMBLE}")
