"""A fixed-token async credential for the local emulator and tests. Never shows its token."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from foundry_tune.client._credentials import StaticTokenCredential

__all__ = ["AsyncStaticTokenCredential"]


class AsyncStaticTokenCredential:
    """An ``azure.identity.aio``-style credential that always returns the same token."""

    def __init__(self, token: str, *, lifetime: float = 3600.0) -> None:
        self._sync = StaticTokenCredential(token, lifetime=lifetime)

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """The fixed token, whatever the scope."""
        return self._sync.get_token(*scopes)

    async def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        """The fixed token in the ``SupportsTokenInfo`` shape."""
        return self._sync.get_token_info(*scopes)

    async def close(self) -> None:
        """Nothing to release."""

    async def __aenter__(self) -> AsyncStaticTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return "AsyncStaticTokenCredential(token=<hidden>)"
