"""``Deployment``: one model deployment, to chat with, refresh, wait on and delete."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from foundry_tune.deployment import _inference
from foundry_tune.deployment._errors import deployment_error
from foundry_tune.deployment._info import DeploymentInfo
from foundry_tune.deployment._wait import ReadinessProbe, operation_done, poll_intervals, wait_until
from foundry_tune.errors import DeploymentError, FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry
    from foundry_tune.deployment._api import DeploymentsAPI

__all__ = ["Deployment", "DeploymentState"]

log = logging.getLogger("foundry_tune.deployment")


class DeploymentState:
    """What ARM said about a deployment the last time it was read: the read-only fields shared by
    :class:`Deployment` and :class:`foundry_tune.aio.AsyncDeployment`."""

    _info: DeploymentInfo

    # -- state -------------------------------------------------------------------------------

    @property
    def info(self) -> DeploymentInfo:
        """What ARM said the last time this object looked (see :meth:`refresh`)."""
        return self._info

    @property
    def name(self) -> str:
        """The deployment name (what inference calls pass as ``model``)."""
        return self._info.name

    @property
    def model(self) -> str | None:
        """The deployed model id, e.g. ``gpt-4.1-mini-2025-04-14.ft-...``."""
        return self._info.model

    @property
    def sku(self) -> str | None:
        """The deployment type (``GlobalStandard``, ``Standard``, ``Developer``, ...)."""
        return self._info.sku

    @property
    def capacity(self) -> int | None:
        """Capacity units (thousands of tokens per minute)."""
        return self._info.capacity

    @property
    def provisioning_state(self) -> str | None:
        """ARM's ``provisioningState``: Accepted, Creating, Succeeded, Failed, Deleting, ..."""
        return self._info.provisioning_state

    @property
    def tags(self) -> dict[str, str]:
        """The resource tags."""
        return dict(self._info.tags)

    @property
    def job_id(self) -> str | None:
        """The fine-tuning job this deployment was created from, when foundry-tune created it."""
        return self._info.job_id

    @property
    def created_by_foundry_tune(self) -> bool:
        """Whether foundry-tune created it (so :meth:`DeploymentsAPI.cleanup` may remove it)."""
        return self._info.created_by_foundry_tune

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, model={self.model!r}, sku={self.sku!r}, "
                f"state={self.provisioning_state!r})")


class Deployment(DeploymentState):
    """A model deployment on the Foundry resource.

    ``chat()`` and ``responses()`` call it through the OpenAI client; ``delete()`` removes it and
    waits until it is gone. Used as a context manager it is deleted when the block exits, also
    when the block raises.
    """

    def __init__(self, api: DeploymentsAPI, info: DeploymentInfo, *, operation: str | None = None) -> None:
        self._api = api
        self._info = info
        self._operation = operation

    @property
    def _ft(self) -> Foundry:
        return self._api.foundry

    def refresh(self) -> Deployment:
        """Re-read the deployment from ARM; returns self."""
        self._info = self._api.get_info(self.name)
        return self

    # -- waiting -----------------------------------------------------------------------------

    def wait(self, *, timeout: float = 1800.0, ready_check: bool = True) -> Deployment:
        """Wait until provisioning succeeded and (with ``ready_check``) the deployment answers.

        Right after :meth:`DeploymentsAPI.create` it follows the ``Azure-AsyncOperation`` that
        ARM answered the PUT with (as azure-mgmt-core does), then reads the deployment once more;
        otherwise it polls the deployment's ``provisioningState``. Raises :class:`DeploymentError`
        with Azure's code and message if provisioning fails, and :class:`WaitTimeoutError` after
        ``timeout`` seconds (the deployment is left as it is).
        """
        clock = self._ft.retry.clock
        started = clock()

        def provisioned() -> bool:
            if self._operation is not None:
                if not self._operation_done():
                    return False
                self._operation = None
            if not self._info.succeeded:
                self.refresh()
            if self._info.failed:
                raise DeploymentError(
                    f"deployment {self.name!r} failed to provision: "
                    f"{self._info.error_message or 'Azure gave no reason'}"
                    f" (state {self._info.provisioning_state}). Delete it with "
                    f"ft.deployments.get({self.name!r}).delete() before retrying.",
                    code=self._info.error_code or "ProvisioningFailed",
                )
            return self._info.succeeded

        wait_until(self._ft, provisioned, timeout=timeout, what=f"provisioning of deployment {self.name!r}",
                   poll=poll_intervals(0.5, 15.0))
        if ready_check:
            remaining = max(1.0, timeout - (clock() - started))
            wait_until(self._ft, ReadinessProbe(self._ft, self._info), timeout=remaining,
                       what=f"deployment {self.name!r} to answer", poll=poll_intervals(0.5, 10.0))
        return self

    def _operation_done(self) -> bool:
        assert self._operation is not None
        try:
            body = self._ft.arm.operation(self._operation, what=f"status of deployment {self.name!r}")
        except FoundryTuneError as exc:
            raise deployment_error(exc, name=self.name) from exc
        hint = f" Delete it with ft.deployments.get({self.name!r}).delete() before retrying."
        return operation_done(body, name=self.name, action="provisioning", hint=hint)

    # -- inference ---------------------------------------------------------------------------

    def chat(self, prompt_or_messages: str | Iterable[Mapping[str, Any]], *, system: str | None = None,
             **kwargs: Any) -> str:
        """Chat completion with this deployment; returns the answer's text.

        Takes a prompt string or a list of messages; ``system`` prepends a system message; other
        keyword arguments go to ``openai.chat.completions.create`` (``temperature``, ``max_tokens``...).
        """
        return _inference.chat(self._ft, self.name, prompt_or_messages, system=system, **kwargs)

    def responses(self, input: str | list[Any], **kwargs: Any) -> str:
        """Responses API call with this deployment; returns ``output_text``."""
        return _inference.respond(self._ft, self.name, input, **kwargs)

    # -- removal -----------------------------------------------------------------------------

    def delete(self, *, wait: bool = True, timeout: float = 600.0) -> None:
        """Delete the deployment; with ``wait`` return only once ARM no longer lists it."""
        self._api.delete(self.name, wait=wait, timeout=timeout)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.delete()
            return
        try:
            self.delete()
        except Exception:
            # The block's own error matters more; the failed delete is logged for cleanup later.
            log.exception("could not delete deployment %r after the block raised; "
                          "run ft.deployments.cleanup(dry_run=False) to remove leftovers", self.name)
