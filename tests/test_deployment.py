"""Deployments over ARM (httpx.MockTransport in-memory ARM) with readiness checked over real HTTP."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import httpx
import pytest
from _client_fakes import FakeArm, FakeClock, Reply, ScriptedServer, chat_completion

from foundry_tune import Foundry, RetryPolicy
from foundry_tune._core import billing as _billing
from foundry_tune._core.deployment_body import build_body, validate_name
from foundry_tune.client import StaticTokenCredential
from foundry_tune.deployment import BillingWarning, Deployment, default_name
from foundry_tune.errors import (
    DeploymentError,
    DeploymentNotFoundError,
    DeploymentQuotaError,
    InvalidParameterError,
    NameInUseError,
    PermissionDeniedError,
    WaitTimeoutError,
)

FT_MODEL = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef"
CHAT = "/api/projects/p/openai/v1/chat/completions"
SECRET = "arm-token-SECRET-5b1d"


class RecordingCredential(StaticTokenCredential):
    def __init__(self) -> None:
        super().__init__(SECRET)
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: object):  # type: ignore[override]
        self.scopes.extend(scopes)
        return super().get_token(*scopes)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    s.default[CHAT] = Reply(200, chat_completion("tuned answer"))
    yield s
    s.close()


@pytest.fixture
def arm() -> FakeArm:
    return FakeArm()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cred() -> RecordingCredential:
    return RecordingCredential()


@pytest.fixture
def fake_ft(server, arm, clock, cred) -> Iterator[Foundry]:
    """A Foundry on the scripted server and the in-memory ARM (not the emulator's ``ft``)."""
    retry = RetryPolicy(sleep=clock.sleep, clock=clock, rng=lambda: 0.0)
    f = Foundry(server.url + "/api/projects/p", cred, subscription_id="sub", resource_group="rg",
                account_name="acct", retry=retry, arm_transport=httpx.MockTransport(arm.handler))
    yield f
    f.close()


@pytest.fixture(autouse=True)
def fresh_billing_warning() -> Iterator[None]:
    _billing._reset_for_tests()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BillingWarning)
        yield


def test_create_puts_the_body_azure_expects_and_waits_until_it_answers(fake_ft, arm, server, cred):
    server.queue(CHAT, Reply(404, {"error": {"code": "DeploymentNotFound", "message": "not yet"}}),
                 Reply(404, {"error": {"code": "DeploymentNotReady", "message": "not yet"}}))
    dep = fake_ft.deployments.create(FT_MODEL, "my-ft", capacity=10, job_id="ftjob-1")
    (put,) = arm.puts()
    assert put.url.path == ("/subscriptions/sub/resourceGroups/rg/providers/Microsoft.CognitiveServices/"
                            "accounts/acct/deployments/my-ft")
    assert put.url.params["api-version"] == "2024-10-01"
    assert put.headers["authorization"] == f"Bearer {SECRET}"
    assert cred.scopes == ["https://management.azure.com/.default"]
    body = json.loads(put.content)
    assert body["sku"] == {"name": "GlobalStandard", "capacity": 10}
    assert body["properties"]["model"] == {"format": "OpenAI", "name": FT_MODEL, "version": "1"}
    assert body["tags"]["created-by"] == "foundry-tune"
    assert body["tags"]["foundry-tune-job-id"] == "ftjob-1"
    assert dep.provisioning_state == "Succeeded"
    assert dep.created_by_foundry_tune and dep.job_id == "ftjob-1"
    # 2 not-ready answers, then ready: readiness polled until the deployment actually answered
    assert server.hits(CHAT) == 3
    sent = json.loads(server.seen[0].body)
    assert sent["model"] == "my-ft"
    assert dep.chat("hi") == "tuned answer"
    assert SECRET not in repr(dep)


def test_default_name_is_deterministic_so_a_second_create_reuses_the_deployment(fake_ft, arm):
    first = fake_ft.deployments.create(FT_MODEL, ready_check=False)
    second = fake_ft.deployments.create(FT_MODEL, ready_check=False)
    assert first.name == second.name == default_name(FT_MODEL)
    assert len(arm.puts()) == 1
    assert list(arm.deployments) == [first.name]


def test_name_used_by_another_model_is_refused_without_a_put(fake_ft, arm):
    arm.add("taken", "gpt-4o-mini-2024-07-18.ft-other")
    with pytest.raises(NameInUseError) as info:
        fake_ft.deployments.create(FT_MODEL, "taken")
    assert "gpt-4o-mini-2024-07-18.ft-other" in str(info.value)
    assert arm.puts() == []


def test_quota_error_is_typed_with_azures_code(fake_ft, arm):
    arm.put_errors.append(httpx.Response(400, json={"error": {
        "code": "InsufficientQuota", "message": "This operation require 50 new capacity in quota"}}))
    with pytest.raises(DeploymentQuotaError) as info:
        fake_ft.deployments.create(FT_MODEL, "q")
    assert info.value.code == "InsufficientQuota" and info.value.status == 400
    assert "50 new capacity" in str(info.value)


def test_name_in_use_reported_by_arm_is_typed(fake_ft, arm):
    arm.put_errors.append(httpx.Response(409, json={"error": {
        "code": "DeploymentNameInUse", "message": "in use"}}))
    with pytest.raises(NameInUseError):
        fake_ft.deployments.create(FT_MODEL, "n")
    assert len(arm.puts()) == 1  # a permanent conflict is not retried


def test_permission_error_is_typed(fake_ft, arm):
    arm.put_errors.append(httpx.Response(403, json={"error": {
        "code": "AuthorizationFailed", "message": "does not have authorization"}}))
    with pytest.raises(PermissionDeniedError) as info:
        fake_ft.deployments.create(FT_MODEL, "p")
    assert info.value.code == "AuthorizationFailed"
    assert "Cognitive Services Contributor" in str(info.value)


def test_transient_put_failure_is_retried_and_creates_one_deployment(fake_ft, arm, clock):
    arm.put_errors.extend([httpx.Response(503), httpx.Response(429, headers={"retry-after": "4"})])
    dep = fake_ft.deployments.create(FT_MODEL, "r", ready_check=False)
    assert len(arm.puts()) == 3
    assert 4.0 in clock.sleeps
    assert list(arm.deployments) == ["r"] and dep.provisioning_state == "Succeeded"


def test_failed_provisioning_raises_with_azures_reason(fake_ft, arm):
    arm.states = ("Creating", "Failed")
    arm.fail_provisioning = ("ModelNotSupported", "The model cannot be deployed with this SKU")
    with pytest.raises(DeploymentError) as info:
        fake_ft.deployments.create(FT_MODEL, "f")
    assert info.value.code == "ModelNotSupported"
    assert "cannot be deployed" in str(info.value)


def test_a_failed_deployment_of_the_same_model_is_put_again(fake_ft, arm):
    arm.add("again", FT_MODEL, state="Failed")
    fake_ft.deployments.create(FT_MODEL, "again", ready_check=False)
    assert len(arm.puts()) == 1


def test_provisioning_wait_times_out_without_deleting(fake_ft, arm, clock):
    arm.states = ("Creating",) * 1000
    with pytest.raises(WaitTimeoutError):
        fake_ft.deployments.create(FT_MODEL, "slow", timeout=30)
    assert clock.now - 1000.0 <= 31
    assert "slow" in arm.deployments


def test_delete_waits_until_gone(fake_ft, arm):
    arm.add("gone", FT_MODEL)
    arm.deleting_reads = 2
    fake_ft.deployments.get("gone").delete()
    assert "gone" not in arm.deployments
    gets = [r for r in arm.requests if r.method == "GET" and r.url.path.endswith("/gone")]
    assert len(gets) >= 3  # Deleting, Deleting, then 404
    fake_ft.deployments.delete("gone")  # already gone is fine


def test_get_missing_deployment(fake_ft):
    with pytest.raises(DeploymentNotFoundError):
        fake_ft.deployments.get("nope")


def test_context_manager_deletes_even_when_the_block_raises(fake_ft, arm):
    with pytest.raises(RuntimeError, match="user code failed"), \
            fake_ft.deployments.create(FT_MODEL, "ctx", ready_check=False) as dep:
        assert isinstance(dep, Deployment)
        raise RuntimeError("user code failed")
    assert "ctx" not in arm.deployments
    with fake_ft.deployments.create(FT_MODEL, "ctx2", ready_check=False):
        pass
    assert "ctx2" not in arm.deployments


def test_list_and_cleanup_only_touch_foundry_tune_deployments(fake_ft, arm):
    arm.add("theirs", "gpt-4o")
    arm.add("ours-old", FT_MODEL, tags={"created-by": "foundry-tune", "foundry-tune-job-id": "ftjob-a",
                                         "foundry-tune-created-at": "2020-01-01T00:00:00Z"})
    fake_ft.deployments.create(FT_MODEL, "ours-new", ready_check=False, job_id="ftjob-b")
    assert {d.name for d in fake_ft.deployments.list()} == {"theirs", "ours-old", "ours-new"}
    tagged = fake_ft.deployments.list(created_by_foundry_tune=True)
    assert {d.name for d in tagged} == {"ours-old", "ours-new"}

    planned = fake_ft.deployments.cleanup()  # dry run by default
    assert {d.name for d in planned} == {"ours-old", "ours-new"}
    assert set(arm.deployments) == {"theirs", "ours-old", "ours-new"}
    assert [d.name for d in fake_ft.deployments.cleanup(older_than=3600)] == ["ours-old"]
    assert [d.name for d in fake_ft.deployments.cleanup(job_id="ftjob-b")] == ["ours-new"]

    removed = fake_ft.deployments.cleanup(dry_run=False)
    assert {d.name for d in removed} == {"ours-old", "ours-new"}
    assert set(arm.deployments) == {"theirs"}


def test_list_follows_next_link(fake_ft, arm):
    first = True

    def paged(request: httpx.Request) -> httpx.Response:
        nonlocal first
        if request.url.path.endswith("/deployments") and first:
            first = False
            return httpx.Response(200, json={"value": [{"name": "a"}],
                                             "nextLink": str(request.url.copy_with(query=b"page=2"))})
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json={"value": [{"name": "b"}]})
        return arm.handler(request)

    fake_ft.arm._http._transport = httpx.MockTransport(paged)
    assert [d.name for d in fake_ft.deployments.list()] == ["a", "b"]


def test_billing_warning_is_shown_once_per_process(fake_ft):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fake_ft.deployments.create(FT_MODEL, "w1", ready_check=False)
        fake_ft.deployments.create(FT_MODEL, "w2", ready_check=False)
    billing = [w for w in caught if issubclass(w.category, BillingWarning)]
    assert len(billing) == 1
    assert "15 days" in str(billing[0].message) and "Developer" in str(billing[0].message)


def test_developer_tier_does_not_warn(fake_ft):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fake_ft.deployments.create(FT_MODEL, "dev", sku="Developer", ready_check=False)
    assert not [w for w in caught if issubclass(w.category, BillingWarning)]


def test_chat_and_responses_use_the_deployment_name_as_model(fake_ft, server):
    server.default["/api/projects/p/openai/v1/responses"] = Reply(200, {
        "id": "resp_1", "object": "response", "created_at": 0, "model": "m", "status": "completed",
        "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "via responses", "annotations": []}]}],
        "parallel_tool_calls": False, "tool_choice": "auto", "tools": []})
    dep = fake_ft.deployments.create(FT_MODEL, "inf", ready_check=False)
    assert dep.chat([{"role": "user", "content": "q"}], system="be brief", temperature=0) == "tuned answer"
    sent = json.loads(server.seen[-1].body)
    assert sent["model"] == "inf" and sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert dep.responses("q") == "via responses"
    assert json.loads(server.seen[-1].body)["model"] == "inf"


def test_names_and_bodies_are_checked():
    assert default_name("gpt-4.1-mini-2025-04-14.ft-0123456789abcdef0123456789abcdef-support") == (
        "gpt-4.1-mini-support-01234567")
    assert validate_name(default_name(FT_MODEL)) == default_name(FT_MODEL)
    long_model = "gpt-4.1-mini-2025-04-14.ft-" + "a" * 80
    name = default_name(long_model)
    assert len(name) <= 64 and validate_name(name) == name
    assert default_name(long_model) != default_name(long_model + "b")
    for bad in ("", "-lead", "has space", "a" * 65):
        with pytest.raises(InvalidParameterError):
            validate_name(bad)
    with pytest.raises(InvalidParameterError):
        build_body(FT_MODEL, sku="GlobalStandard", capacity=0, tags={})


def test_readiness_keeps_polling_through_errors_and_throttles(fake_ft, server):
    not_ready = Reply(404, {"error": {"code": "DeploymentNotReady", "message": "warming up"}})
    busy = Reply(503, {"error": {"code": "busy", "message": "try later"}})
    throttled = Reply(429, {"error": {"code": "rate_limit", "message": "slow"}}, {"retry-after": "1"})
    server.queue(CHAT, not_ready, busy, Reply(drop=True), throttled, not_ready)
    fake_ft.deployments.create(FT_MODEL, "rdy")
    assert server.hits(CHAT) == 6  # five "not yet" answers, then a real one


def test_sustained_throttling_counts_as_ready(fake_ft, server):
    throttled = Reply(429, {"error": {"code": "rate_limit", "message": "slow"}})
    server.queue(CHAT, throttled, throttled, throttled, throttled)
    fake_ft.deployments.create(FT_MODEL, "thr")
    assert server.hits(CHAT) == 3


def test_readiness_timeout_leaves_the_deployment(fake_ft, server, arm):
    server.default[CHAT] = Reply(404, {"error": {"code": "DeploymentNotReady", "message": "warming up"}})
    with pytest.raises(WaitTimeoutError, match="to answer"):
        fake_ft.deployments.create(FT_MODEL, "never", timeout=20)
    assert "never" in arm.deployments


def test_create_waits_out_a_deployment_being_deleted(fake_ft, arm):
    arm.add("busy-name", FT_MODEL, state="Deleting")
    arm.deleting_reads = 0
    arm._deleting["busy-name"] = 2
    dep = fake_ft.deployments.create(FT_MODEL, "busy-name", ready_check=False)
    assert len(arm.puts()) == 1 and dep.provisioning_state == "Succeeded"


def test_sovereign_cloud_uses_its_own_management_scope(server, clock):
    cred = RecordingCredential()
    arm = FakeArm()
    with Foundry(server.url + "/api/projects/p", cred, subscription_id="s", resource_group="r",
                 account_name="a", arm_endpoint="https://management.chinacloudapi.cn",
                 retry=RetryPolicy(sleep=clock.sleep, clock=clock),
                 arm_transport=httpx.MockTransport(arm.handler)) as f:
        f.deployments.list()
    assert cred.scopes == ["https://management.chinacloudapi.cn/.default"]
    assert arm.requests[0].url.host == "management.chinacloudapi.cn"


def test_arm_api_version_can_be_overridden(server, clock):
    arm = FakeArm()
    with Foundry(server.url + "/api/projects/p", StaticTokenCredential(SECRET), subscription_id="s",
                 resource_group="r", account_name="a", arm_api_version="2025-06-01",
                 retry=RetryPolicy(sleep=clock.sleep, clock=clock),
                 arm_transport=httpx.MockTransport(arm.handler)) as f:
        f.deployments.list()
    assert arm.requests[0].url.params["api-version"] == "2025-06-01"


def test_a_failing_delete_does_not_hide_the_blocks_error(fake_ft, arm, caplog):
    dep = fake_ft.deployments.create(FT_MODEL, "sticky", ready_check=False)
    original = arm.handler

    def no_delete(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(500, json={"error": {"code": "InternalError", "message": "down"}})
        return original(request)

    fake_ft.arm._http._transport = httpx.MockTransport(no_delete)
    with pytest.raises(KeyError), dep:
        raise KeyError("the user's error")
    assert "could not delete deployment 'sticky'" in caplog.text
    assert "sticky" in arm.deployments  # left for cleanup(), which finds it by its tag
    assert [d.name for d in fake_ft.deployments.cleanup()] == ["sticky"]


ARM = "https://management.azure.com"
OPERATION = (ARM + "/subscriptions/sub/providers/Microsoft.CognitiveServices/locations/eastus2"
             "/operationResults/op-1")


class LroArm:
    """FakeArm answering writes as the recordings show: 201 / 202 with ``Azure-AsyncOperation``
    (on ``op_url``), the operation answering ``statuses`` one per GET."""

    def __init__(self, arm: FakeArm, statuses: list[dict[str, object]], op_url: str = OPERATION) -> None:
        self.arm = arm
        self.statuses = statuses
        self.op_url = op_url
        self.seen: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.host}{request.url.path}")
        if "/operationResults/" in request.url.path:
            assert request.url.host == "management.azure.com"  # never another host
            body = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return httpx.Response(200, json={"id": request.url.path, "name": "op-1", **body})
        answer = self.arm.handler(request)
        if request.method in ("PUT", "DELETE") and answer.status_code in (201, 202):
            return httpx.Response(answer.status_code, content=answer.content,
                                  headers={**answer.headers, "Azure-AsyncOperation": self.op_url,
                                           "Location": self.op_url})
        return answer


def test_create_follows_the_async_operation_then_reads_the_deployment(fake_ft, arm):
    lro = LroArm(arm, [{"status": "Running"}, {"status": "Running"}, {"status": "Succeeded"}])
    fake_ft.arm._http._transport = httpx.MockTransport(lro.handler)
    dep = fake_ft.deployments.create(FT_MODEL, "lro", ready_check=False)
    assert dep.provisioning_state == "Succeeded"
    operations = [s for s in lro.seen if "/operationResults/" in s]
    assert len(operations) == 3
    # the deployment is read only once the operation ended (azure-mgmt-core's final GET)
    assert lro.seen.index(operations[-1]) < len(lro.seen) - 1 and lro.seen[-1].startswith("GET ")


def test_a_failed_async_operation_raises_with_its_code_and_message(fake_ft, arm):
    failed = {"status": "Failed",
              "error": {"code": "ResourceOperationFailure", "message": "no capacity in region"}}
    lro = LroArm(arm, [{"status": "Running"}, failed])
    fake_ft.arm._http._transport = httpx.MockTransport(lro.handler)
    with pytest.raises(DeploymentError) as caught:
        fake_ft.deployments.create(FT_MODEL, "lro-fails", ready_check=False)
    assert caught.value.code == "ResourceOperationFailure"
    assert "no capacity in region" in str(caught.value) and "lro-fails" in str(caught.value)


def test_an_operation_url_on_another_host_is_never_called(fake_ft, arm, cred):
    lro = LroArm(arm, [{"status": "Succeeded"}], op_url="https://elsewhere.example/operationResults/op-1")
    fake_ft.arm._http._transport = httpx.MockTransport(lro.handler)
    dep = fake_ft.deployments.create(FT_MODEL, "lro-offsite", ready_check=False)
    assert dep.provisioning_state == "Succeeded"  # by reading the deployment itself
    assert not [s for s in lro.seen if "elsewhere.example" in s or "/operationResults/" in s]


def test_delete_waits_for_its_operation_then_until_the_deployment_is_gone(fake_ft, arm):
    arm.add("bye", FT_MODEL)
    arm.deleting_reads = 2
    lro = LroArm(arm, [{"status": "Running"}, {"status": "Succeeded"}])
    fake_ft.arm._http._transport = httpx.MockTransport(lro.handler)
    fake_ft.deployments.delete("bye")
    assert "bye" not in arm.deployments
    after_delete = lro.seen[lro.seen.index(next(s for s in lro.seen if s.startswith("DELETE"))) + 1:]
    assert [s for s in after_delete if "/operationResults/" in s] == after_delete[:2]
    assert after_delete[-1].startswith("GET ") and "/deployments/bye" in after_delete[-1]


def test_delete_of_a_failed_deletion_raises(fake_ft, arm):
    arm.add("stuck", FT_MODEL)
    failed = {"status": "Failed", "error": {"code": "InternalServerError", "message": "try later"}}
    fake_ft.arm._http._transport = httpx.MockTransport(LroArm(arm, [failed]).handler)
    with pytest.raises(DeploymentError) as caught:
        fake_ft.deployments.delete("stuck")
    assert caught.value.code == "InternalServerError" and "try later" in str(caught.value)


def test_delete_gives_up_after_its_timeout_while_deleting(fake_ft, arm):
    arm.add("slow", FT_MODEL)
    fake_ft.arm._http._transport = httpx.MockTransport(LroArm(arm, [{"status": "Running"}]).handler)
    with pytest.raises(WaitTimeoutError):
        fake_ft.deployments.delete("slow", timeout=30)


def test_list_stops_at_a_next_link_that_repeats_its_page(fake_ft):
    calls = 0

    def looping(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"value": [{"name": "a", "id": "/x/a"}],
                                         "nextLink": str(request.url)})

    fake_ft.arm._http._transport = httpx.MockTransport(looping)
    assert [d.name for d in fake_ft.deployments.list()] == ["a"]
    assert calls == 2


def test_list_follows_at_most_the_page_cap(fake_ft):
    from foundry_tune._core.arm import ARM_LIST_MAX_PAGES

    calls = 0

    def endless(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"value": [{"name": f"d{calls}", "id": f"/x/d{calls}"}],
                                         "nextLink": str(request.url.copy_with(params={"page": calls}))})

    fake_ft.arm._http._transport = httpx.MockTransport(endless)
    assert len(fake_ft.deployments.list()) == calls == ARM_LIST_MAX_PAGES


def test_async_list_is_bounded_like_the_sync_one():
    import asyncio

    from foundry_tune._async._arm import AsyncArmClient
    from foundry_tune._async._flavour import AsyncRetryPolicy
    from foundry_tune._core.arm import ARM_LIST_MAX_PAGES
    from foundry_tune._core.settings import ArmSettings
    from foundry_tune.aio import AsyncStaticTokenCredential

    calls = 0
    repeat = False

    def pages(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        link = request.url if repeat else request.url.copy_with(params={"page": calls})
        item = "same" if repeat else f"d{calls}"
        return httpx.Response(200, json={"value": [{"name": item, "id": f"/x/{item}"}],
                                         "nextLink": str(link)})

    async def scan() -> list[str]:
        client = AsyncArmClient(ArmSettings("sub", "rg", "acct"), AsyncStaticTokenCredential("t"),
                                retry=AsyncRetryPolicy(), transport=httpx.MockTransport(pages))
        try:
            return [item["name"] async for item in client.list("/deployments", what="list deployments")]
        finally:
            await client.aclose()

    assert len(asyncio.run(scan())) == calls == ARM_LIST_MAX_PAGES
    calls, repeat = 0, True
    assert asyncio.run(scan()) == ["same"] and calls == 2


def test_readiness_check_refused_for_lack_of_rights_raises_at_once(fake_ft, server):
    server.queue(CHAT, Reply(403, {"error": {"code": "PermissionDenied", "message": "no data-plane role"}}))
    with pytest.raises(PermissionDeniedError, match="readiness check of deployment 'denied'"):
        fake_ft.deployments.create(FT_MODEL, "denied")
    assert server.hits(CHAT) == 1


@pytest.mark.parametrize("bad", [{"capacity": 10**400}, {"capacity": 0}, {"model": "gpt-4.1-mini\n"},
                                 {"tags": {"k": 1}}, {"tags": {f"t{i}": "v" for i in range(60)}},
                                 {"tags": {"k": "v" * 300}}])
def test_bad_deployment_arguments_are_refused_before_any_request(fake_ft, arm, bad):
    args: dict[str, object] = {"model": FT_MODEL, "name": "my-ft", "capacity": 10}
    args.update(bad)
    with pytest.raises(InvalidParameterError):
        fake_ft.deployments.create(**args)
    assert arm.requests == []
