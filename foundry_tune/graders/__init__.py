"""Graders for reinforcement fine-tuning: typed, loaded from and saved to the JSON users already have.

>>> from foundry_tune import graders
>>> g = graders.StringCheck(name="exact", input="{{sample.output_text}}",
...                         reference="{{item.answer}}", operation="eq")
>>> sorted(g.item_references())
['answer']
>>> graders.run_locally(g, "42", {"answer": "42"}).score
1.0
"""

from foundry_tune.graders._execution import GraderResult, make_sample, run_locally
from foundry_tune.graders._formula import FormulaError
from foundry_tune.graders._loading import GraderSource, load, reject_top_level_label_model
from foundry_tune.graders._metrics import METRICS, similarity
from foundry_tune.graders._models import (
    Endpoint,
    Grader,
    GraderMessage,
    LabelModel,
    Multi,
    Python,
    ScoreModel,
    StringCheck,
    SubGrader,
    TextSimilarity,
    TextSimilarityMetric,
)
from foundry_tune.graders._python_source import MAX_SOURCE_BYTES
from foundry_tune.graders._templates import TemplateRefs, template_references

__all__ = [
    "MAX_SOURCE_BYTES",
    "METRICS",
    "Endpoint",
    "FormulaError",
    "Grader",
    "GraderMessage",
    "GraderResult",
    "GraderSource",
    "LabelModel",
    "Multi",
    "Python",
    "ScoreModel",
    "StringCheck",
    "SubGrader",
    "TemplateRefs",
    "TextSimilarity",
    "TextSimilarityMetric",
    "load",
    "make_sample",
    "reject_top_level_label_model",
    "run_locally",
    "similarity",
    "template_references",
]
