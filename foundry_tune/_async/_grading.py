"""A service-side grader's score for one answer: the grader ``run`` request, written once.

``evaluate()`` scores with it, and so does `GraderMetric.score
<foundry_tune.evaluation.metrics.GraderMetric.score>()` (with the blocking flavour). A grader runs
on the connection it is bound to, which must send requests the way this flavour does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from foundry_tune._async import _flavour
from foundry_tune.errors import ConfigurationError, GraderError

if TYPE_CHECKING:
    from foundry_tune.evaluation._examples import Example
    from foundry_tune.evaluation._grader_metric import GraderMetric

__all__ = ["grader_reward", "score_on_service", "service_connection"]


_BIND = ": bind it to AsyncFoundry(...)"


def service_connection(metric: GraderMetric, *, hint: str = _BIND) -> Any:
    """The connection ``metric``'s grader runs on; ConfigurationError, before any request, when
    there is none or it sends requests in the other flavour (``hint`` ends that message)."""
    metric.check_runnable()
    connection = metric.connection
    if not isinstance(getattr(connection, "retry", None), _flavour.AsyncRetryPolicy):
        raise ConfigurationError(
            f"the {metric.definition.get('type')} grader {metric.name!r} runs on the service and is bound "
            f"to a connection ({type(connection).__name__}) that cannot send its requests here{hint}")
    return connection


async def score_on_service(metric: GraderMetric, output: str, example: Example, *,
                           hint: str = _BIND) -> float:
    """The grader's score for one answer from the service's grader ``run`` endpoint, through the
    connection's retry policy; GraderError when the service could not run it."""
    connection = service_connection(metric, hint=hint)
    graders = connection.openai.fine_tuning.alpha.graders

    async def run_grader() -> Any:
        return await graders.run(grader=dict(metric.definition), model_sample=output, item=dict(example.item))

    return grader_reward(await connection.retry.call(run_grader, what="grader run"))


def grader_reward(response: Any) -> float:
    """The reward of a grader ``run`` response; GraderError when the service could not run it."""
    errors = getattr(getattr(response, "metadata", None), "errors", None)
    if errors is not None:
        failed = [k for k, v in errors.model_dump().items() if v is True]
        if failed:
            raise GraderError(f"the service could not run the grader: {', '.join(failed)}")
    return float(response.reward)

