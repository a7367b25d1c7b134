"""A fixed-token credential, for the local emulator and for tests. Never shows its token."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

__all__ = ["AsyncStaticTokenCredential"]


class AsyncStaticTokenCredential:
    """An azure-identity style credential that always returns the same token.

    Meant for the embedded emulator (which accepts a known token) and for tests; use
    ``DefaultAzureCredential`` or another azure-identity credential against Azure.
    """

    def __init__(self, token: str, *, lifetime: float = 3600.0) -> None:
        self._token = token
        self._lifetime = lifetime

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """The fixed token, valid for ``lifetime`` seconds from now, whatever the scope."""
        return AccessToken(self._token, int(time.time() + self._lifetime))

    async def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        """The fixed token in the newer ``SupportsTokenInfo`` shape."""
        return AccessTokenInfo(self._token, int(time.time() + self._lifetime))

    async def close(self) -> None:
        """Nothing to release."""

    async def __aenter__(self) -> AsyncStaticTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token=<hidden>)"
