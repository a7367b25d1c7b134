"""Shared helpers for the emulator tests: sample data, a fake Entra credential, ARM calls, polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo

from foundry_tune.emulator import EmulatorInfo

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "data" / "foundry-samples"
SPEC = SHARED / "spec" / "openai-openapi-finetuning.yaml"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample data not available")
needs_spec = pytest.mark.skipif(not SPEC.is_file(), reason="shared OpenAPI spec not available")
RECORDINGS = SHARED / "data" / "azure-recordings"
"""Real answers of the Azure service (``sources.md`` there says where each comes from)."""
needs_recordings = pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared Azure recordings not available")
ARM_API_VERSION = "2024-10-01"
T = TypeVar("T")


class StaticCredential:
    """An azure-identity style credential that hands out a fixed token (the emulator accepts any)."""

    def __init__(self, token: str = "entra-token-for-tests") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        self.scopes.append(scopes)
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


def openai_client(info: EmulatorInfo, key: str = "test-key", **kwargs: Any) -> openai.OpenAI:
    """A plain openai client on the resource endpoint with api-key auth."""
    return openai.OpenAI(base_url=info.openai_base_url, api_key=key, **kwargs)


def deployment_path(info: EmulatorInfo, name: str) -> str:
    """The ARM path of deployment ``name``."""
    return (
        f"/subscriptions/{info.subscription_id}/resourceGroups/{info.resource_group}/providers/"
        f"Microsoft.CognitiveServices/accounts/{info.account_name}/deployments/{name}"
    )


def arm_client(info: EmulatorInfo, token: str = "arm-token") -> httpx.Client:
    """An httpx client on the ARM endpoint."""
    return httpx.Client(base_url=info.arm_endpoint, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def deploy(
    arm: httpx.Client, info: EmulatorInfo, name: str, model: str, capacity: int = 50
) -> httpx.Response:
    """ARM PUT of a deployment, exactly as the cookbook sends it."""
    body = {
        "sku": {"name": "GlobalStandard", "capacity": capacity},
        "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
    }
    return arm.put(deployment_path(info, name), params={"api-version": ARM_API_VERSION}, json=body)


def wait_until(check: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def first_rows(path: Path, n: int) -> list[dict[str, Any]]:
    """The first ``n`` JSON rows of a JSONL file."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) == n:
                break
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` as JSONL."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sft_rows(n: int = 12) -> list[dict[str, Any]]:
    """``n`` small, valid supervised examples."""
    return [
        {
            "messages": [
                {"role": "system", "content": "You answer capital-city questions."},
                {"role": "user", "content": f"What is the capital of country number {i}?"},
                {"role": "assistant", "content": f"The capital of country {i} is City{i}."},
            ]
        }
        for i in range(n)
    ]


def read_recording(relative: str) -> Any:
    """One JSON file of the shared Azure recordings; skips the test where they are not available."""
    if not RECORDINGS.is_dir():
        pytest.skip("shared Azure recordings not available")
    return json.loads((RECORDINGS / relative).read_text(encoding="utf-8"))
