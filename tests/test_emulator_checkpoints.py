"""The emulator's checkpoints: validation curves that overfit for some jobs (so the final
checkpoint is not always the best, deterministically per job seed), and checkpoints that answer
held-out prompts less well as their validation loss is worse than the job's best."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("starlette")

from foundry_tune._method_kind import MethodKind
from foundry_tune.emulator._answers import Reply
from foundry_tune.emulator._checkpoint_answers import for_checkpoint, weak_share
from foundry_tune.emulator._curves import full_validation, metrics_at


def _best_of_four(seed: int) -> int:
    losses = [full_validation(MethodKind.SUPERVISED, seed, step, 80)[0] for step in (20, 40, 60, 80)]
    return losses.index(min(losses))


def test_the_final_checkpoint_is_not_always_the_best() -> None:
    best = [_best_of_four(seed) for seed in range(60)]
    assert best == [_best_of_four(seed) for seed in range(60)]  # deterministic per seed
    final = best.count(3)
    assert 10 <= final <= 50, best  # some jobs overfit, some do not


def test_training_curves_do_not_overfit() -> None:
    for seed in range(20):
        first = metrics_at(MethodKind.SUPERVISED, seed, 8, 80, has_validation=True)
        last = metrics_at(MethodKind.SUPERVISED, seed, 80, 80, has_validation=True)
        assert last["train_loss"] < first["train_loss"]  # type: ignore[operator]


def test_weak_share() -> None:
    assert weak_share(0.5, 0.5) == 0.0 and weak_share(0.4, 0.5) == 0.0
    assert weak_share(0.6, 0.5) == pytest.approx(0.12)
    assert weak_share(5.0, 0.5) == 0.9


class _Store:
    def __init__(self, checkpoints: list[dict[str, Any]]) -> None:
        self.checkpoints = checkpoints

    def all(self, kind: str, parent: str) -> list[dict[str, Any]]:
        assert kind == "checkpoint" and parent == "ftjob-1"
        return self.checkpoints


def _ctx(losses: dict[str, float]) -> Any:
    checkpoints = [{"fine_tuned_model_checkpoint": model, "metrics": {"full_valid_loss": loss}}
                   for model, loss in losses.items()]
    return SimpleNamespace(store=_Store(checkpoints))


def test_a_worse_checkpoint_answers_some_prompts_less_well() -> None:
    ctx = _ctx({"m:ckpt-step-1": 2.0, "m:ckpt-step-30": 0.5, "m": 0.6})
    job = {"id": "ftjob-1", "validation_file": "file-v"}
    reply = Reply("You have 100 days to return unused items for a full refund.")
    prompts = [f"question {i}" for i in range(200)]

    def weakened(model: str) -> int:
        return sum(for_checkpoint(ctx, job, model, p, reply) != reply for p in prompts)

    assert weakened("m:ckpt-step-30") == 0  # the best answers as trained
    assert 10 <= weakened("m") <= 45  # 12% of prompts
    assert weakened("m:ckpt-step-1") >= 160  # 90% (at most)
    weaker = next(for_checkpoint(ctx, job, "m:ckpt-step-1", p, reply) for p in prompts
                  if for_checkpoint(ctx, job, "m:ckpt-step-1", p, reply) != reply)
    assert weaker.text.startswith(reply.text + " ") and weaker.text.endswith(".")  # never cut mid-phrase
    assert len(weaker.text.split()) > 2 * len(reply.text.split())
    assert [for_checkpoint(ctx, job, "m", p, reply) for p in prompts] == \
        [for_checkpoint(ctx, job, "m", p, reply) for p in prompts]  # deterministic
    # a prompt it was trained on is answered as trained, by every checkpoint
    assert all(for_checkpoint(ctx, job, "m:ckpt-step-1", p, reply, memorized=True) == reply for p in prompts)
    no_validation = {"id": "ftjob-1", "validation_file": None}
    assert all(for_checkpoint(ctx, no_validation, "m:ckpt-step-1", p, reply) == reply for p in prompts)
