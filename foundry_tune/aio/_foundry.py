"""``AsyncFoundry``: the async connection to a Foundry project (``openai.AsyncOpenAI`` from
``azure.ai.projects.aio``, ``httpx.AsyncClient`` for ARM, ``azure.identity.aio`` credentials)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import openai
from azure.core.credentials_async import AsyncTokenCredential

from foundry_tune.aio._arm import AsyncArmClient
from foundry_tune.aio._credentials import AsyncStaticTokenCredential
from foundry_tune.aio._retry import AsyncRetryPolicy
from foundry_tune.client._arm import DEFAULT_ARM_API_VERSION
from foundry_tune.client._emulated import (
    EMULATOR_TOKEN,
    ConnectionState,
    connection_options,
    loopback_emulator_token,
    start_emulator,
)
from foundry_tune.client._retry import RetryPolicy
from foundry_tune.client._settings import (
    ArmSettings,
    check_endpoint,
    settings_from_env,
    ssl_verify,
)
from foundry_tune.errors import ConfigurationError

if TYPE_CHECKING:
    from azure.ai.projects.aio import AIProjectClient

    from foundry_tune.aio._builder import AsyncFineTuneBuilder
    from foundry_tune.aio._deployments import AsyncDeploymentsAPI
    from foundry_tune.aio._job import AsyncJobsAPI
    from foundry_tune.emulator import Emulator

__all__ = ["AsyncFoundry"]



class AsyncFoundry(ConnectionState):
    """The async twin of :class:`foundry_tune.Foundry`: the same constructors, attributes and
    methods, with every call that waits on the network awaited.

    ``credential`` is an ``azure.identity.aio`` credential (default ``DefaultAzureCredential``).
    ``retry`` is the same :class:`~foundry_tune.RetryPolicy` the sync client takes; it runs
    under :class:`AsyncRetryPolicy`. Use ``async with``, or ``await ft.aclose()``.

    >>> async with AsyncFoundry.emulator(job_duration=5) as ft:
    ...     job = await ft.fine_tune("gpt-4.1-mini").train_on("train.jsonl").start()
    ...     await job.wait()
    """

    _project: AIProjectClient | None

    def __init__(
        self,
        project_endpoint: str,
        credential: AsyncTokenCredential | None = None,
        *,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        account_name: str | None = None,
        arm_endpoint: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        arm_api_version: str = DEFAULT_ARM_API_VERSION,
        verify: bool | str = True,
        arm_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = check_endpoint(project_endpoint, what="project endpoint")
        self._owns_credential = credential is None
        credential = credential or _default_credential()
        self._setup(
            credential=credential,
            arm=ArmSettings.resolve(subscription_id, resource_group, account_name, arm_endpoint,
                                    data_endpoint=self.endpoint),
            retry=retry,
            timeout=timeout,
            arm_api_version=arm_api_version,
            verify=verify,
            arm_transport=arm_transport,
        )
        project, self._openai = _project_openai_client(self.endpoint, credential, timeout=timeout,
                                                       verify=verify)
        self._project = project

    def _setup(self, *, credential: AsyncTokenCredential | None, arm: ArmSettings, retry: RetryPolicy | None,
               timeout: float, arm_api_version: str, verify: bool | str,
               arm_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._credential = credential
        self._arm_settings = arm
        self._retry = AsyncRetryPolicy(retry)
        self._timeout = timeout
        self._arm_api_version = arm_api_version
        self._verify = verify
        self._arm_transport = arm_transport
        self._arm: AsyncArmClient | None = None
        self._deployments: AsyncDeploymentsAPI | None = None
        self._emulator: Emulator | None = None
        self._project = None
        self._closed = False

    # -- alternative constructors -------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        credential: AsyncTokenCredential | None = None,
        require_deployments: bool = False,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> AsyncFoundry:
        """Connect with settings from the environment, as :meth:`foundry_tune.Foundry.from_env`
        (a loopback endpoint is the local emulator: see there)."""
        endpoint, arm = settings_from_env(env, require_deployments=require_deployments)
        token = loopback_emulator_token(endpoint, env)
        if credential is None and token is not None:
            credential = AsyncStaticTokenCredential(token)
        return cls(endpoint, credential, subscription_id=arm.subscription_id,
                   resource_group=arm.resource_group, account_name=arm.account_name,
                   arm_endpoint=arm.endpoint, retry=retry, **kwargs)

    @classmethod
    def from_openai_client(
        cls,
        client: openai.AsyncOpenAI,
        *,
        credential: AsyncTokenCredential | None = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        account_name: str | None = None,
        arm_endpoint: str | None = None,
        retry: RetryPolicy | None = None,
        arm_api_version: str = DEFAULT_ARM_API_VERSION,
        verify: bool | str = True,
    ) -> AsyncFoundry:
        """Wrap an existing ``openai.AsyncOpenAI`` client (a copy with the SDK's retries off)."""
        endpoint = check_endpoint(str(client.base_url), what="OpenAI base URL")
        self = cls.__new__(cls)
        self.endpoint = endpoint
        self._owns_credential = credential is None
        self._setup(
            credential=credential,
            arm=ArmSettings.resolve(subscription_id, resource_group, account_name, arm_endpoint,
                                    data_endpoint=endpoint),
            retry=retry,
            timeout=float(client.timeout) if isinstance(client.timeout, (int, float)) else 120.0,
            arm_api_version=arm_api_version,
            verify=verify,
        )
        self._openai = client.with_options(max_retries=0)
        return self

    @classmethod
    def emulator(cls, *, retry: RetryPolicy | None = None, **options: Any) -> AsyncFoundry:
        """Start the embedded local emulator with ``options`` and connect to it (``async with``
        closes both). Starting takes a moment and blocks; needs the ``emulator`` extra."""
        emulator = start_emulator(options)
        info = emulator.info
        try:
            ft = cls(info.project_endpoint, AsyncStaticTokenCredential(info.token or EMULATOR_TOKEN),
                     retry=retry, **connection_options(info))
        except BaseException:
            emulator.stop()
            raise
        ft._emulator = emulator
        return ft

    # -- attributes --------------------------------------------------------------------------

    @property
    def openai(self) -> openai.AsyncOpenAI:
        """The async OpenAI client for this project (SDK retries off: :attr:`retry` is the policy)."""
        return self._openai

    @property
    def retry(self) -> AsyncRetryPolicy:
        """The async retry policy every safe call goes through (``.policy`` is its configuration)."""
        return self._retry

    @property
    def credential(self) -> AsyncTokenCredential:
        """The ``azure.identity.aio`` credential used for tokens."""
        if self._credential is None:
            self._credential = _default_credential()
        return self._credential

    @property
    def arm(self) -> AsyncArmClient:
        """The async ARM client (created on first use; raises if ARM settings are missing)."""
        if self._arm is None:
            self._arm = AsyncArmClient(
                self._arm_settings,
                self.credential,
                retry=self._retry,
                api_version=self._arm_api_version,
                timeout=min(self._timeout, 60.0),
                verify=self._verify,
                transport=self._arm_transport,
            )
        return self._arm

    @property
    def deployments(self) -> AsyncDeploymentsAPI:
        """Create, list, look up and clean up deployments."""
        if self._deployments is None:
            from foundry_tune.aio._deployments import AsyncDeploymentsAPI

            self._deployments = AsyncDeploymentsAPI(self)
        return self._deployments

    @property
    def jobs(self) -> AsyncJobsAPI:
        """List, look up and attach to fine-tuning jobs."""
        from foundry_tune.aio._job import AsyncJobsAPI

        return AsyncJobsAPI(self)

    def fine_tune(self, model: str) -> AsyncFineTuneBuilder:
        """Start describing a fine-tuning job on base model ``model`` (an immutable builder)."""
        from foundry_tune.aio._builder import AsyncFineTuneBuilder

        return AsyncFineTuneBuilder.create(self, model)

    # -- lifetime ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP clients, the credential this object created, and an owned emulator."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._openai.close()
            if self._project is not None:
                await self._project.close()
            if self._arm is not None:
                await self._arm.aclose()
            if self._owns_credential and self._credential is not None:
                await self._credential.close()
        finally:
            if self._emulator is not None:
                self._emulator.stop()

    async def __aenter__(self) -> AsyncFoundry:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _default_credential() -> AsyncTokenCredential:
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()


def _project_openai_client(
    endpoint: str, credential: AsyncTokenCredential, *, timeout: float, verify: bool | str
) -> tuple[AIProjectClient, openai.AsyncOpenAI]:
    """The project's AsyncOpenAI client from ``azure.ai.projects.aio``, with the SDK's retries off."""
    from azure.ai.projects.aio import AIProjectClient

    from foundry_tune.aio._transport import async_budget_http_client

    try:
        project = AIProjectClient(endpoint=endpoint, credential=credential)
    except ImportError as exc:  # azure-core's async pipeline imports aiohttp when it is built
        raise ConfigurationError(
            f"AsyncFoundry needs the 'aio' extra ({exc.name or 'aiohttp'} is missing): "
            "pip install 'foundry-tune[aio]'"
        ) from exc
    client = project.get_openai_client(
        max_retries=0,
        timeout=timeout,
        http_client=async_budget_http_client(timeout=timeout, verify=ssl_verify(verify)),
    )
    return project, client
