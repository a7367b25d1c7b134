"""Bad input through the public network entry points is refused with the library's own typed error
naming the parameter, before any request: nothing is read, created or deleted for it."""

from __future__ import annotations

import math
from typing import Any

import pytest

from foundry_tune._async._foundry import AsyncFoundry
from foundry_tune.errors import InvalidParameterError

pytestmark = pytest.mark.emulator

FT_MODEL = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef"


@pytest.mark.anyio
@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1.0, 0, True, "60"])
async def test_a_deployment_with_a_bad_timeout_is_not_created(ft: AsyncFoundry, timeout: Any) -> None:
    before = [d.name for d in await ft.deployments.list()]
    with pytest.raises(InvalidParameterError, match="timeout"):
        await ft.deployments.create(FT_MODEL, "bad-timeout", timeout=timeout)
    assert [d.name for d in await ft.deployments.list()] == before  # nothing was put


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["mydep\n", "mydep\r\n", " mydep", "", "a" * 65, "my dep"])
async def test_deployment_names_are_checked_in_full_by_get_and_delete(ft: AsyncFoundry, name: str) -> None:
    with pytest.raises(InvalidParameterError, match="deployment name"):
        await ft.deployments.get(name)
    with pytest.raises(InvalidParameterError, match="deployment name"):
        await ft.deployments.delete(name)


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [math.nan, True, 10**400, -1, 0, 1001, "5"])
async def test_a_job_listing_limit_outside_1_to_1000_is_refused(ft: AsyncFoundry, limit: Any) -> None:
    with pytest.raises(InvalidParameterError, match="limit"):
        await ft.jobs.list(limit=limit)


@pytest.mark.anyio
@pytest.mark.parametrize("job_id", ["ftjob-1\n", "ftjob 1", "", "../ftjob-1", 42, None])
async def test_a_job_id_that_is_no_job_id_is_refused(ft: AsyncFoundry, job_id: Any) -> None:
    with pytest.raises(InvalidParameterError, match="job_id"):
        await ft.jobs.get(job_id)
