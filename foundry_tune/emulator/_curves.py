"""Deterministic, plausible training curves: the same seed and plan always give the same numbers."""

from __future__ import annotations

import math
import random

from foundry_tune._method_kind import MethodKind

CSV_HEADER = [
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
]
# A reinforcement job's results also carry its reward per step (the two top-level reward metrics
# of Azure's and OpenAI's RFT guides).
REWARD_COLUMNS = ["train_reward_mean", "valid_reward_mean"]


def results_header(kind: MethodKind) -> list[str]:
    """The columns of a job's ``results.csv``: the supervised ones, and the rewards for RFT."""
    return CSV_HEADER + REWARD_COLUMNS if kind is MethodKind.REINFORCEMENT else list(CSV_HEADER)


def results_row(
    kind: MethodKind, data: dict[str, float | int | None], full: tuple[object, object] = ("", "")
) -> list[object]:
    """One ``results.csv`` row in [`results_header()`][results_header]'s order, from
    [`metrics_at()`][metrics_at]'s
    ``data`` and the epoch's full-validation loss and accuracy (empty cells when none)."""
    row: list[object] = [
        data["step"],
        data["train_loss"],
        data["train_mean_token_accuracy"],
        _cell(data["valid_loss"]),
        _cell(data["valid_mean_token_accuracy"]),
        *full,
    ]
    if kind is MethodKind.REINFORCEMENT:
        row += [_cell(data.get(name)) for name in REWARD_COLUMNS]
    return row


def _cell(value: object) -> object:
    return "" if value is None else value


def _noise(seed: int, step: int, salt: str) -> float:
    return random.Random(f"{seed}:{step}:{salt}").uniform(-1.0, 1.0)  # noqa: S311 (simulation, not security)


def metrics_at(
    kind: MethodKind, seed: int, step: int, total_steps: int, *, has_validation: bool
) -> dict[str, float | int | None]:
    """The metrics the service reports at ``step`` (1-based) of ``total_steps``."""
    progress = step / max(total_steps, 1)
    base = random.Random(f"{seed}:shape")  # noqa: S311
    if kind is MethodKind.DPO:
        start, floor = math.log(2), 0.05 + 0.1 * base.random()
    else:
        start, floor = 1.6 + 0.8 * base.random(), 0.15 + 0.25 * base.random()
    decay = 3.0 + 2.0 * base.random()
    clean = floor + (start - floor) * math.exp(-decay * progress)
    train_loss = max(0.0, clean * (1 + 0.12 * _noise(seed, step, "train")))
    train_acc = min(1.0, max(0.0, 1.0 - clean / (start * 1.25) + 0.03 * _noise(seed, step, "acc")))
    data: dict[str, float | int | None] = {
        "step": step,
        "total_steps": total_steps,
        "train_loss": round(train_loss, 6),
        "train_mean_token_accuracy": round(train_acc, 6),
        "valid_loss": None,
        "valid_mean_token_accuracy": None,
    }
    if has_validation:
        gap = 1.08 + 0.05 * progress
        over = overfitting(seed, progress)
        data["valid_loss"] = round(
            max(0.0, (clean * gap + over * start) * (1 + 0.15 * _noise(seed, step, "valid"))), 6
        )
        data["valid_mean_token_accuracy"] = round(
            max(0.0, train_acc - over - 0.04 * abs(_noise(seed, step, "va"))), 6
        )
    if kind is MethodKind.REINFORCEMENT:
        reward = 0.15 + 0.7 * (1 - math.exp(-decay * progress))
        data["train_reward_mean"] = round(min(1.0, max(0.0, reward + 0.05 * _noise(seed, step, "r"))), 6)
        data["valid_reward_mean"] = round(
            min(1.0, max(0.0, reward - 0.03 + 0.05 * _noise(seed, step, "vr"))), 6
        )
    return data


def overfitting(seed: int, progress: float) -> float:
    """How far validation has drifted from training at ``progress`` (0..1) of the run: the job
    starts to memorise its training data late in the run, so its final checkpoint is not always
    its best one. Deterministic per seed: a third of the jobs never overfit, the others from a
    point between 40% and 70% of the run, mildly or strongly."""
    shape = random.Random(f"{seed}:overfit")  # noqa: S311
    strength = (0.0, 0.25, 0.6)[shape.randrange(3)]
    onset = 0.4 + 0.3 * shape.random()
    return strength * max(0.0, progress - onset)


def full_validation(kind: MethodKind, seed: int, step: int, total_steps: int) -> tuple[float, float]:
    """The full-validation-set loss and accuracy computed at the end of an epoch."""
    data = metrics_at(kind, seed, step, total_steps, has_validation=True)
    loss = float(data["valid_loss"] or 0.0) * 0.97
    acc = float(data["valid_mean_token_accuracy"] or 0.0)
    return round(loss, 6), round(acc, 6)
