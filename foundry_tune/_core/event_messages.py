"""Metrics from the text of a job's step events.

Azure sends a job's training progress as plain ``type: "message"`` events with no ``data``, e.g.
``Step 8250: training loss=3.814697265625E-06`` (every one of the 826 step events of the recorded
DPO cookbook job reads like that). OpenAI's ``metrics`` events carry the same line as their
``message`` next to a structured ``data`` row, in these wordings:

- ``Step 300/300: training loss=0.15, validation loss=0.27, full validation loss=0.40`` (OpenAI's
  supervised fine-tuning guide)
- ``Step 100: training loss=0.001647822093218565`` (Azure OpenAI's fine-tuning tutorial, a
  ``metrics`` event there)
- ``Step 10/20 , train mean reward=0.42, full validation mean reward=0.68, full validation mean
  parse error=0.00`` (OpenAI's reinforcement fine-tuning guide, "Training metrics")

[`parse_step_message()`][parse_step_message] reads all of them into the field names of a ``results.csv`` row
([`foundry_tune.job.MetricRow`][job.MetricRow]). Pure: no I/O, never raises.
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_step_message"]

_NUMBER = r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)"

# "Step 12", "Step 12/40", "step 12 of 40", then ":" / "," / "-" or nothing before the pairs.
_HEAD = re.compile(
    r"^\s*step\s*#?\s*(?P<step>\d+)(?:\s*(?:/|\bof\b)\s*(?P<total>\d+))?\s*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_SEP = re.compile(r"^[:,;\-\u2013|]\s*")
# "training loss=0.53", "validation token accuracy: 0.81", "loss = 1e-3", "accuracy=93.5%".
_PAIR = re.compile(
    rf"^\s*(?P<key>[a-z][a-z0-9 _\-./()]*?)\s*[=:]\s*(?P<value>{_NUMBER})\s*(?P<pct>%)?\s*\.?\s*$",
    re.IGNORECASE,
)

_WORDS = {"training": "train", "validation": "valid", "val": "valid", "eval": "valid"}

# Normalized key -> the MetricRow field (or the reward name the emulator's results use).
_ALIASES = {
    "loss": "train_loss",
    "train_loss": "train_loss",
    "token_accuracy": "train_mean_token_accuracy",
    "accuracy": "train_mean_token_accuracy",
    "train_accuracy": "train_mean_token_accuracy",
    "train_token_accuracy": "train_mean_token_accuracy",
    "train_mean_token_accuracy": "train_mean_token_accuracy",
    "valid_loss": "valid_loss",
    "valid_accuracy": "valid_mean_token_accuracy",
    "valid_token_accuracy": "valid_mean_token_accuracy",
    "valid_mean_token_accuracy": "valid_mean_token_accuracy",
    "full_valid_loss": "full_valid_loss",
    "full_valid_accuracy": "full_valid_mean_token_accuracy",
    "full_valid_token_accuracy": "full_valid_mean_token_accuracy",
    "full_valid_mean_token_accuracy": "full_valid_mean_token_accuracy",
    "reward": "train_reward_mean",
    "mean_reward": "train_reward_mean",
    "train_reward": "train_reward_mean",
    "train_mean_reward": "train_reward_mean",
    "train_reward_mean": "train_reward_mean",
    "valid_reward": "valid_reward_mean",
    "valid_mean_reward": "valid_reward_mean",
    "valid_reward_mean": "valid_reward_mean",
    "full_valid_reward": "full_valid_reward_mean",
    "full_valid_mean_reward": "full_valid_reward_mean",
    "full_valid_reward_mean": "full_valid_reward_mean",
}


def metric_key(name: str) -> str:
    """``"Full Validation Loss"`` -> ``"full_valid_loss"``: snake_case, ``training``/``validation``
    shortened as ``results.csv`` spells them, known names mapped to the MetricRow fields."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    key = "_".join(_WORDS.get(word, word) for word in words)
    return _ALIASES.get(key, key)


def _value(text: str, percent: bool) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if math.isnan(number):
        return None
    return number / 100.0 if percent else number


def parse_step_message(text: object) -> dict[str, float | int] | None:
    """The metrics row of a step line, or ``None`` when ``text`` is not one.

    ``"Step 100/1000: training loss=0.53, validation loss=0.61"`` gives ``{"step": 100,
    "total_steps": 1000, "train_loss": 0.53, "valid_loss": 0.61}``. Pairs are separated by commas
    and written ``name=value``, ``name: value`` or ``name = value`` in any case; values may be
    integers, decimals or scientific notation (``3.81E-06``), ``inf``; ``nan`` is left out. Known
    names become the [`MetricRow`][job.MetricRow] fields (``training loss`` ->
    ``train_loss``, ``validation token accuracy`` -> ``valid_mean_token_accuracy``, ``train mean
    reward`` -> ``train_reward_mean``); any other name is kept in snake_case. A line with no
    ``name=number`` pair after the step (``Step 2: uploading``) is not a step line.
    """
    if not isinstance(text, str) or len(text) > 4096:
        return None
    head = _HEAD.match(text)
    if head is None:
        return None
    rest = head.group("rest").strip()
    has_separator = _SEP.match(rest) is not None
    rest = _SEP.sub("", rest, count=1).strip()
    row: dict[str, float | int] = {"step": int(head.group("step"))}
    total = head.group("total")
    if total is not None and int(total) > 0:
        row["total_steps"] = int(total)
    if not rest:
        # "Step 12/40" alone is progress; "Step 12" alone could be any prose.
        return row if total is not None else None
    if not has_separator and rest[0].isdigit():
        return None  # "Step 12 3 ..." is not ours
    pairs = 0
    for segment in re.split(r"[,;]", rest):
        if not segment.strip():
            continue
        match = _PAIR.match(segment)
        if match is None:
            continue  # a word between the pairs ("..., checkpoint saved") is skipped
        pairs += 1
        key = metric_key(match.group("key"))
        if not key or key in ("step", "total_steps"):
            continue
        value = _value(match.group("value"), match.group("pct") is not None)
        if value is not None:
            row[key] = value
    return row if pairs else None
