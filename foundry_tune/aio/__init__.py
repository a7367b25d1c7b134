"""The async API: [`AsyncFoundry`][AsyncFoundry] and the objects it returns, with the same names and
behaviour as the sync ones for everything that waits on the network.

Built on the async clients of the same SDKs: ``azure.ai.projects.aio`` (``openai.AsyncOpenAI``),
``httpx.AsyncClient`` for ARM and ``azure.identity.aio`` credentials. Needs the ``aio`` extra
(``aiohttp``, the async transport azure-core and azure-identity use).

```pycon
>>> async with AsyncFoundry.emulator(job_duration=5) as ft:
...     builder = ft.fine_tune("gpt-4.1-mini").train_on(path).training_type("GlobalStandard")
...     jobs = [await builder.suffix(f"run-{i}").start() for i in range(3)]
...     await asyncio.gather(*(job.wait(progress=False) for job in jobs))
```
"""

from foundry_tune._async._arm import AsyncArmClient
from foundry_tune._async._builder import AsyncFineTuneBuilder
from foundry_tune._async._credentials import AsyncStaticTokenCredential
from foundry_tune._async._deployment import AsyncDeployment
from foundry_tune._async._deployments import AsyncDeploymentsAPI
from foundry_tune._async._files import AsyncFilesAPI
from foundry_tune._async._flavour import AsyncRetryPolicy
from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune._async._job import AsyncJob
from foundry_tune._async._jobs import AsyncJobsAPI
from foundry_tune._async._models import AsyncModelsAPI
from foundry_tune._async._sweep import AsyncSweep, AsyncTrial, sweep
from foundry_tune._async._webhooks import AsyncWebhookReceiver
from foundry_tune.evaluation._async._evaluate import Completer, FoundryCompleter, evaluate

__all__ = [
    "AsyncArmClient",
    "AsyncDeployment",
    "AsyncDeploymentsAPI",
    "AsyncFilesAPI",
    "AsyncFineTuneBuilder",
    "AsyncFoundry",
    "AsyncJob",
    "AsyncJobsAPI",
    "AsyncModelsAPI",
    "AsyncRetryPolicy",
    "AsyncStaticTokenCredential",
    "AsyncSweep",
    "AsyncTrial",
    "AsyncWebhookReceiver",
    "Completer",
    "FoundryCompleter",
    "evaluate",
    "sweep",
]
