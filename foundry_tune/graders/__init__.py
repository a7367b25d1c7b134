"""Graders for reinforcement fine-tuning: typed, loaded from and saved to the JSON users already have.

```pycon
>>> from foundry_tune import graders
>>> g = graders.StringCheck(name="exact", input="{{sample.output_text}}",
...                         reference="{{item.answer}}", operation="eq")
>>> sorted(g.item_references())
['answer']
>>> graders.run_locally(g, "42", {"answer": "42"}).score
1.0
```
"""

from foundry_tune.graders._execution import GraderResult, run_locally
from foundry_tune.graders._execution import make_sample as make_sample
from foundry_tune.graders._formula import FormulaError
from foundry_tune.graders._loading import GraderSource, load
from foundry_tune.graders._loading import reject_top_level_label_model as reject_top_level_label_model
from foundry_tune.graders._metrics import METRICS as METRICS
from foundry_tune.graders._metrics import similarity
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
from foundry_tune.graders._python_source import MAX_SOURCE_BYTES as MAX_SOURCE_BYTES
from foundry_tune.graders._templates import TemplateRefs, template_references

# The `name as name` imports are internal helpers: importable as before, not in __all__ (issue 11).
__all__ = [
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
    "run_locally",
    "similarity",
    "template_references",
]
