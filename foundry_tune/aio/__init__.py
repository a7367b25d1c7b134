"""The async API: :class:`AsyncFoundry` and the objects it returns, with the same names and
behaviour as the sync ones for everything that waits on the network.

Built on the async clients of the same SDKs: ``azure.ai.projects.aio`` (``openai.AsyncOpenAI``),
``httpx.AsyncClient`` for ARM and ``azure.identity.aio`` credentials. Needs the ``aio`` extra
(``aiohttp``, the async transport azure-core and azure-identity use).

>>> async with AsyncFoundry.emulator(job_duration=5) as ft:
...     builder = ft.fine_tune("gpt-4.1-mini").train_on(path).training_type("GlobalStandard")
...     jobs = [await builder.suffix(f"run-{i}").start() for i in range(3)]
...     await asyncio.gather(*(job.wait(progress=False) for job in jobs))
"""

from foundry_tune.aio._builder import AsyncFineTuneBuilder
from foundry_tune.aio._credentials import AsyncStaticTokenCredential
from foundry_tune.aio._deployments import AsyncDeployment, AsyncDeploymentsAPI
from foundry_tune.aio._evaluate import evaluate
from foundry_tune.aio._foundry import AsyncFoundry
from foundry_tune.aio._job import AsyncJob, AsyncJobsAPI
from foundry_tune.aio._retry import AsyncRetryPolicy

__all__ = [
    "AsyncDeployment",
    "AsyncDeploymentsAPI",
    "AsyncFineTuneBuilder",
    "AsyncFoundry",
    "AsyncJob",
    "AsyncJobsAPI",
    "AsyncRetryPolicy",
    "AsyncStaticTokenCredential",
    "evaluate",
]
