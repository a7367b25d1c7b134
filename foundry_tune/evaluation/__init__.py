"""Evaluate and compare models: the base model against the fine-tuned one, on held-out data.

```pycon
>>> report = evaluate({"base model": Target("gpt-4.1-mini", system=LONG_PROMPT, few_shot=shots),
...                    "fine-tuned model": deployment}, validation, ["exact_match", "rouge_l"], foundry=ft)
>>> print(report)     # metric | base model | fine-tuned model | difference
```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from foundry_tune.evaluation import metrics
from foundry_tune.evaluation._completion import Completion
from foundry_tune.evaluation._cost import InferenceCost
from foundry_tune.evaluation._examples import Example, load_examples
from foundry_tune.evaluation._progress import ProgressUpdate
from foundry_tune.evaluation._report import EvaluationReport, MetricInfo, TargetResult
from foundry_tune.evaluation._samples import Sample
from foundry_tune.evaluation._stats import Estimate, PairedDifference
from foundry_tune.evaluation._targets import PromptTemplate, Target
from foundry_tune.evaluation.metrics import Metric

if TYPE_CHECKING:
    from foundry_tune.evaluation._sync._evaluate import Completer, FoundryCompleter, evaluate

# The runner loads the openai SDK: it is imported on first use, so that scoring and reports
# (`foundry_tune.evaluation.metrics`, `EvaluationReport`) stay quick to import.
_RUNNER = "foundry_tune.evaluation._sync._evaluate"
_LAZY = frozenset({"Completer", "FoundryCompleter", "evaluate"})


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'foundry_tune.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(_RUNNER), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)


__all__ = [
    "Completer",
    "Completion",
    "Estimate",
    "EvaluationReport",
    "Example",
    "FoundryCompleter",
    "InferenceCost",
    "Metric",
    "MetricInfo",
    "PairedDifference",
    "ProgressUpdate",
    "PromptTemplate",
    "Sample",
    "Target",
    "TargetResult",
    "evaluate",
    "load_examples",
    "metrics",
]
