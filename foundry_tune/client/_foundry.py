"""``Foundry``: one connection to a Foundry project (OpenAI data plane + ARM for deployments)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import openai
from azure.core.credentials import TokenCredential

from foundry_tune.client._arm import DEFAULT_ARM_API_VERSION, ArmClient
from foundry_tune.client._credentials import StaticTokenCredential
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

if TYPE_CHECKING:
    from foundry_tune.deployment import DeploymentsAPI
    from foundry_tune.emulator import Emulator
    from foundry_tune.job import FineTuneBuilder, JobsAPI
    from foundry_tune.sweep import Sweep

__all__ = ["Foundry"]



class Foundry(ConnectionState):
    """A connection to a Foundry project: the OpenAI client, the retry policy, ARM, jobs, deployments.

    ``project_endpoint`` is ``https://<account>.services.ai.azure.com/api/projects/<project>``;
    ``credential`` is any azure-identity ``TokenCredential`` (default ``DefaultAzureCredential``).
    The ARM settings (subscription, resource group, account, ARM endpoint) are needed only for
    deployments; the account defaults to the one in the endpoint's host. Plain http is refused
    for any host but loopback. ``retry`` replaces the default :class:`RetryPolicy`; ``timeout``
    bounds each HTTP request; ``verify`` may name a CA bundle; ``arm_transport`` replaces the ARM
    client's httpx transport (tests, proxies). Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        project_endpoint: str,
        credential: TokenCredential | None = None,
        *,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        account_name: str | None = None,
        arm_endpoint: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        arm_api_version: str = DEFAULT_ARM_API_VERSION,
        verify: bool | str = True,
        arm_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = check_endpoint(project_endpoint, what="project endpoint")
        self._owns_credential = credential is None
        if credential is None:
            credential = _default_credential()
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
        self._openai = _project_openai_client(self.endpoint, credential, timeout=timeout, verify=verify)

    def _setup(
        self,
        *,
        credential: TokenCredential | None,
        arm: ArmSettings,
        retry: RetryPolicy | None,
        timeout: float,
        arm_api_version: str,
        verify: bool | str,
        arm_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._credential = credential
        self._arm_transport = arm_transport
        self._arm_settings = arm
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._arm_api_version = arm_api_version
        self._verify = verify
        self._arm: ArmClient | None = None
        self._deployments: DeploymentsAPI | None = None
        self._emulator: Emulator | None = None
        self._closed = False

    # -- alternative constructors -------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        credential: TokenCredential | None = None,
        require_deployments: bool = False,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> Foundry:
        """Connect with settings from the environment and ``DefaultAzureCredential``.

        Reads ``AZURE_AI_PROJECT_ENDPOINT`` (or ``FOUNDRY_PROJECT_ENDPOINT``), and for deployments
        ``AZURE_SUBSCRIPTION_ID``, ``AZURE_RESOURCE_GROUP``, ``AZURE_AI_ACCOUNT_NAME`` (default: from
        the endpoint's host) and ``AZURE_ARM_ENDPOINT`` (default the public cloud). A missing
        endpoint raises one :class:`ConfigurationError` that also lists the missing deployment
        settings; with ``require_deployments=True`` those are required up front too. Otherwise they
        are checked (again all at once) when deployments are first used.

        An endpoint on loopback is taken for the local emulator: without an explicit ``credential``
        the connection presents the token in ``FOUNDRY_TUNE_EMULATOR_TOKEN`` (needed only when the
        emulator was started with ``--token``) instead of signing in with ``DefaultAzureCredential``.
        """
        endpoint, arm = settings_from_env(env, require_deployments=require_deployments)
        token = loopback_emulator_token(endpoint, env)
        if credential is None and token is not None:
            credential = StaticTokenCredential(token)
        return cls(
            endpoint,
            credential,
            subscription_id=arm.subscription_id,
            resource_group=arm.resource_group,
            account_name=arm.account_name,
            arm_endpoint=arm.endpoint,
            retry=retry,
            **kwargs,
        )

    @classmethod
    def from_openai_client(
        cls,
        client: openai.OpenAI,
        *,
        credential: TokenCredential | None = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        account_name: str | None = None,
        arm_endpoint: str | None = None,
        retry: RetryPolicy | None = None,
        arm_api_version: str = DEFAULT_ARM_API_VERSION,
        verify: bool | str = True,
    ) -> Foundry:
        """Wrap an existing ``openai.OpenAI`` client, e.g. a key-based resource endpoint
        (``https://<account>.openai.azure.com/openai/v1``).

        A copy with the SDK's retries off is used, so that foundry-tune's policy is the only one.
        ``credential`` is used for ARM only (default ``DefaultAzureCredential``, created when
        deployments are first used).
        """
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
    def emulator(cls, *, retry: RetryPolicy | None = None, **options: Any) -> Foundry:
        """Start the embedded local emulator with ``options`` and connect to it.

        The returned Foundry owns the emulator and stops it on :meth:`close`. Needs the
        ``emulator`` extra (``pip install 'foundry-tune[emulator]'``).
        """
        emulator = start_emulator(options)
        info = emulator.info
        try:
            ft = cls(info.project_endpoint, StaticTokenCredential(info.token or EMULATOR_TOKEN), retry=retry,
                     **connection_options(info))
        except BaseException:
            emulator.stop()
            raise
        ft._emulator = emulator
        return ft

    # -- attributes --------------------------------------------------------------------------

    @property
    def openai(self) -> openai.OpenAI:
        """The OpenAI client for this project (SDK retries off: :attr:`retry` is the policy)."""
        return self._openai

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy every safe call goes through."""
        return self._retry

    @property
    def credential(self) -> TokenCredential:
        """The azure-identity credential used for tokens."""
        if self._credential is None:
            self._credential = _default_credential()
        return self._credential

    @property
    def arm(self) -> ArmClient:
        """The ARM client (created on first use; raises if ARM settings are missing)."""
        if self._arm is None:
            self._arm = ArmClient(
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
    def deployments(self) -> DeploymentsAPI:
        """Create, list, look up and clean up deployments."""
        if self._deployments is None:
            from foundry_tune.deployment import DeploymentsAPI

            self._deployments = DeploymentsAPI(self)
        return self._deployments

    @property
    def jobs(self) -> JobsAPI:
        """List, look up and attach to fine-tuning jobs."""
        from foundry_tune.job import JobsAPI

        return JobsAPI(self)

    def fine_tune(self, model: str) -> FineTuneBuilder:
        """Start describing a fine-tuning job on base model ``model`` (an immutable builder)."""
        from foundry_tune.job import FineTuneBuilder

        return FineTuneBuilder(self, model)

    def sweep(self, builder: FineTuneBuilder, grid: Mapping[str, Iterable[Any]], **options: Any) -> Sweep:
        """One job per point of ``grid`` over the builder's hyperparameters, paced to the service's
        limits (see :func:`foundry_tune.sweep.sweep` for ``rank_by``, ``max_active``...)."""
        from foundry_tune.sweep import sweep

        return sweep(builder, grid, **options)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP clients, the credential this object created, and an owned emulator."""
        if self._closed:
            return
        self._closed = True
        try:
            self._openai.close()
            if self._arm is not None:
                self._arm.close()
            close = getattr(self._credential, "close", None)
            if self._owns_credential and callable(close):
                close()
        finally:
            if self._emulator is not None:
                self._emulator.stop()

    def __enter__(self) -> Foundry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _default_credential() -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def _project_openai_client(
    endpoint: str, credential: TokenCredential, *, timeout: float, verify: bool | str
) -> openai.OpenAI:
    """The project's OpenAI client from azure-ai-projects, with the SDK's own retries off."""
    from azure.ai.projects import AIProjectClient

    from foundry_tune.client._transport import budget_http_client

    kwargs: dict[str, Any] = {
        "max_retries": 0,
        "timeout": timeout,
        "http_client": budget_http_client(timeout=timeout, verify=ssl_verify(verify)),
    }
    project = AIProjectClient(endpoint=endpoint, credential=credential)
    try:
        return project.get_openai_client(**kwargs)
    finally:
        project.close()
