"""Evaluate and compare models: the base model against the fine-tuned one, on held-out data.

>>> report = evaluate({"base model": Target("gpt-4.1-mini", system=LONG_PROMPT, few_shot=shots),
...                    "fine-tuned model": deployment}, validation, ["exact_match", "rouge_l"], foundry=ft)
>>> print(report)     # metric | base model | fine-tuned model | difference
"""

from foundry_tune.evaluation import metrics
from foundry_tune.evaluation._completion import Completer, Completion, FoundryCompleter
from foundry_tune.evaluation._cost import InferenceCost
from foundry_tune.evaluation._evaluate import evaluate
from foundry_tune.evaluation._examples import Example, load_examples
from foundry_tune.evaluation._progress import ProgressUpdate
from foundry_tune.evaluation._report import EvaluationReport, MetricInfo, TargetResult
from foundry_tune.evaluation._runner import Sample
from foundry_tune.evaluation._stats import Estimate, PairedDifference
from foundry_tune.evaluation._targets import PromptTemplate, Target
from foundry_tune.evaluation.metrics import Metric

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
