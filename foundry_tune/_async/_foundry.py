"""The connection to one Foundry project: the OpenAI data plane, ARM for deployments, the retry
policy, and the entry points to jobs, deployments and sweeps. The facade sits on top of the network
layer: nothing below it imports this module at run time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import openai
from azure.core.credentials_async import AsyncTokenCredential

from foundry_tune._async._credentials import AsyncStaticTokenCredential
from foundry_tune._async._flavour import (
    AsyncRetryPolicy,
    RetryPolicy,
    default_credential,
    project_openai_client,
    retry_runner,
)
from foundry_tune._async._transport import openai_http_client, pacing_hook
from foundry_tune._core.arm import DEFAULT_ARM_API_VERSION
from foundry_tune._core.connection import (
    EMULATOR_ENTRY_POINTS,
    EMULATOR_TOKEN,
    ConnectionState,
    connection_options,
    loopback_emulator_token,
)
from foundry_tune._core.pacing import Pacing
from foundry_tune._core.redact import install_log_redaction
from foundry_tune._core.retry import check_seconds
from foundry_tune._core.settings import ArmSettings, check_endpoint, settings_from_env
from foundry_tune._core.trust import Trust
from foundry_tune.errors import ConfigurationError

if TYPE_CHECKING:
    from foundry_tune._async._arm import AsyncArmClient
    from foundry_tune._async._builder import AsyncFineTuneBuilder
    from foundry_tune._async._deployments import AsyncDeploymentsAPI
    from foundry_tune._async._files import AsyncFilesAPI
    from foundry_tune._async._jobs import AsyncJobsAPI
    from foundry_tune._async._models import AsyncModelsAPI
    from foundry_tune._async._sweep import AsyncSweep
    from foundry_tune._core.audit import AuditReport
    from foundry_tune._core.spend import SpendReport
    from foundry_tune.emulator import Emulator

__all__ = ["AsyncFoundry"]


class AsyncFoundry(ConnectionState):
    """A connection to a Foundry project: the OpenAI client, the retry policy, ARM, jobs, deployments.

    ``project_endpoint`` is ``https://<account>.services.ai.azure.com/api/projects/<project>``;
    ``credential`` is any azure-identity credential (default ``DefaultAzureCredential``).
    The ARM settings (subscription, resource group, account, ARM endpoint) are needed only for
    deployments; the account defaults to the one in the endpoint's host. Plain http is refused
    for any host but loopback. ``retry`` replaces the default [`RetryPolicy`][RetryPolicy];
    ``timeout`` bounds each HTTP request; ``verify`` may name a CA bundle (default: the system's,
    or ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE``). The data plane and ARM share that trust and the
    proxy from ``HTTPS_PROXY`` / ``NO_PROXY``. ``arm_transport`` replaces the ARM client's httpx
    transport (tests, proxies). Use it as a context manager, or call [`close()`][close].
    """

    _project: Any

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
        if credential is None:
            credential = default_credential()
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
        http_client = openai_http_client(endpoint=self.endpoint, timeout=self._timeout, trust=self._trust,
                                         on_response=pacing_hook(self.pacing, self._retry.clock))
        self._project, self._openai = project_openai_client(
            self.endpoint, credential, http_client=http_client, timeout=self._timeout)

    def _setup(
        self,
        *,
        credential: AsyncTokenCredential | None,
        arm: ArmSettings,
        retry: RetryPolicy | None,
        timeout: float,
        arm_api_version: str,
        verify: bool | str,
        arm_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        install_log_redaction()  # also on the HTTP clients' loggers created since the last connection
        self._credential = credential
        self._arm_transport = arm_transport
        self._arm_settings = arm
        self._retry = retry_runner(retry)
        self._timeout = check_seconds(timeout, "timeout", zero=False)
        self._arm_api_version = arm_api_version
        self._trust = Trust(verify)
        self._arm: AsyncArmClient | None = None
        self._deployments: AsyncDeploymentsAPI | None = None
        self._emulator: Emulator | None = None
        self._project = None
        self._closed = False
        self.pacing = Pacing(self._retry.wall_clock)
        """What the service said about pacing (``Retry-After`` on a throttling answer, remaining
        requests), fed by the answers on this connection's own HTTP clients (inference answers
        aside); polling loops hold back by ``pacing.delay(clock())``. A connection made by
        ``from_openai_client`` does not hook the given client (the openai SDK has no public way to
        reach it): only its ARM answers feed its pacing."""

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
        """Connect with settings from the environment and ``DefaultAzureCredential``.

        Reads ``AZURE_AI_PROJECT_ENDPOINT`` (or ``FOUNDRY_PROJECT_ENDPOINT``), and for deployments
        ``AZURE_SUBSCRIPTION_ID``, ``AZURE_RESOURCE_GROUP``, ``AZURE_AI_ACCOUNT_NAME`` (default: from
        the endpoint's host) and ``AZURE_ARM_ENDPOINT`` (default the public cloud). A missing
        endpoint raises one [`ConfigurationError`][ConfigurationError] that also lists the missing
        deployment settings; with ``require_deployments=True`` those are required up front too.
        Otherwise they are checked (again all at once) when deployments are first used.

        An endpoint on loopback is taken for the local emulator: without an explicit ``credential``
        the connection presents the token in ``FOUNDRY_TUNE_EMULATOR_TOKEN`` (needed only when the
        emulator was started with ``--token``) instead of signing in with ``DefaultAzureCredential``.
        """
        endpoint, arm = settings_from_env(env, require_deployments=require_deployments)
        token = loopback_emulator_token(endpoint, env)
        if credential is None and token is not None:
            credential = AsyncStaticTokenCredential(token)
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
        """Wrap an existing OpenAI client, e.g. a key-based resource endpoint
        (``https://<account>.openai.azure.com/openai/v1``).

        A copy with the SDK's retries off is used, so that foundry-tune's policy is the only one.
        ``credential`` is used for ARM only (default ``DefaultAzureCredential``, created when
        deployments are first used). The given client's answers do not feed
        ``ft.pacing`` (the openai SDK has no public way to hook its HTTP client): polling
        loops on this connection hold back only for ARM's pacing headers; a 429 is still retried
        after its ``Retry-After``.
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
    def emulator(cls, *, retry: RetryPolicy | None = None, **options: Any) -> AsyncFoundry:
        """Start the embedded local emulator with ``options`` and connect to it.

        The returned connection owns the emulator and stops it on [`close()`][close]. Starting takes a
        moment and blocks. Needs the ``emulator`` extra (``pip install 'foundry-tune[emulator]'``).
        """
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
        """The OpenAI client for this project (SDK retries off: [`retry`][retry] is the policy)."""
        return self._openai

    @property
    def retry(self) -> AsyncRetryPolicy:
        """The retry policy every safe call goes through."""
        return self._retry

    @property
    def credential(self) -> AsyncTokenCredential:
        """The azure-identity credential used for tokens."""
        if self._credential is None:
            self._credential = default_credential()
        return self._credential

    @property
    def arm(self) -> AsyncArmClient:
        """The ARM client (created on first use; raises if ARM settings are missing)."""
        if self._arm is None:
            from foundry_tune._async._arm import AsyncArmClient

            self._arm = AsyncArmClient(
                self._arm_settings,
                self.credential,
                retry=self._retry,
                api_version=self._arm_api_version,
                timeout=min(self._timeout, 60.0),
                verify=self._trust.verify,
                transport=self._arm_transport,
            )
            # ARM's read budget (x-ms-ratelimit-remaining-subscription-reads) paces polling loops too
            self._arm._http.event_hooks["response"].append(pacing_hook(self.pacing, self._retry.clock))
        return self._arm

    @property
    def deployments(self) -> AsyncDeploymentsAPI:
        """Create, list, look up and clean up deployments."""
        if self._deployments is None:
            from foundry_tune._async._deployments import AsyncDeploymentsAPI

            self._deployments = AsyncDeploymentsAPI(self)
        return self._deployments

    @property
    def jobs(self) -> AsyncJobsAPI:
        """List, look up and attach to fine-tuning jobs."""
        from foundry_tune._async._jobs import AsyncJobsAPI

        return AsyncJobsAPI(self)

    @property
    def files(self) -> AsyncFilesAPI:
        """The files on the resource: list foundry-tune's uploads, delete one, clean them up."""
        from foundry_tune._async._files import AsyncFilesAPI

        return AsyncFilesAPI(self)

    @property
    def models(self) -> AsyncModelsAPI:
        """The fine-tuned models of the resource, with their base model, job and retirement dates."""
        from foundry_tune._async._models import AsyncModelsAPI

        return AsyncModelsAPI(self)

    async def audit(self, *, now: dt.datetime | float | None = None) -> AuditReport:
        """What the resource holds that bills or counts against a limit: tuned models (with
        retirement dates), deployments (with expiry, inactivity deletion and hourly cost), uploaded
        files (with the jobs that use them), and what is safe to delete, each with the reason and
        the exact call and command, as an [`AuditReport`][AuditReport] (``str()``, ``to_dict()``).
        Read-only. Every listing is bounded; the report's ``incomplete`` says which one was cut
        short or failed (deployments need the ARM settings). ``now`` (a datetime or Unix seconds;
        default: the current time) is the moment ages and expiry are measured from, e.g. the
        emulator's clock (``Emulator.now()``) after ``Emulator.advance()``."""
        from foundry_tune._async._audit import audit

        return await audit(self, now=now)

    def fine_tune(self, model: str) -> AsyncFineTuneBuilder:
        """Start describing a fine-tuning job on base model ``model`` (an immutable builder)."""
        from foundry_tune._async._builder import AsyncFineTuneBuilder

        return AsyncFineTuneBuilder(self, model)

    async def sweep(self, builder: AsyncFineTuneBuilder, grid: Mapping[str, Iterable[Any]],
                    **options: Any) -> AsyncSweep:
        """One job per point of ``grid`` over the builder's hyperparameters, paced to the service's
        limits (see [`foundry_tune.sweep.sweep()`][foundry_tune._sync._sweep.sweep] for ``rank_by``,
        ``max_active``...)."""
        from foundry_tune._async._sweep import sweep

        return await sweep(builder, grid, **options)

    async def spend(self, *, now: dt.datetime | float | None = None) -> SpendReport:
        """What is billing now and what it has cost so far: live deployments of fine-tuned models
        with their hourly rate and hours up, live jobs with their estimate (reinforcement jobs: hours
        of training x hourly rate so far), the totals and the prices' date and source, as a
        [`SpendReport`][SpendReport] (``to_text()``, ``to_dict()``). Every listing is bounded; what
        could not be listed or priced is named in the report. ``now`` (a datetime, naive meaning
        UTC, or Unix seconds, between the years 2000 and 2200, else
        [`InvalidParameterError`][InvalidParameterError]; default: the current time, or for a
        reinforcement job its newest event when that is later, as ``wait()`` meters it) is the
        moment priced up to, e.g. the emulator's clock (``Emulator.now()``) after
        ``Emulator.advance()``."""
        from foundry_tune._async._spend import spend

        return await spend(self, now=now)

    def __repr__(self) -> str:
        # The endpoint may carry a password (https://user:pass@host) or a key in its query.
        from foundry_tune._core.redact import redact_text

        return redact_text(super().__repr__())

    # -- lifetime ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the HTTP clients, the credential this object created, and an owned emulator."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._openai.close()
            if self._project is not None:
                await self._project.close()
            if self._arm is not None:
                await self._arm.close()
            close = getattr(self._credential, "close", None)
            if self._owns_credential and callable(close):
                await close()
        finally:
            if self._emulator is not None:
                self._emulator.stop()

    # unasync: remove-begin
    async def aclose(self) -> None:
        """The same as [`close()`][close] (the spelling of httpx and other async clients)."""
        await self.close()

    # unasync: remove-end
    async def __aenter__(self) -> AsyncFoundry:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def start_emulator(options: dict[str, Any]) -> Emulator:
    """Start an [`Emulator`][Emulator] with ``options`` through the entry point
    the emulator package owns (the library never imports the emulator)."""
    from importlib.metadata import entry_points

    found = entry_points(group=EMULATOR_ENTRY_POINTS, name="default")
    try:
        start = next(iter(found)).load()
    except (StopIteration, ImportError) as exc:
        raise ConfigurationError(
            "the embedded emulator is not available: pip install 'foundry-tune[emulator]' "
            f"(it registers the entry point group {EMULATOR_ENTRY_POINTS!r})"
        ) from exc
    emulator: Emulator = start(options)
    return emulator
