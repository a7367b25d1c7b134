"""Training types as Azure spells them, the open models, their ARM formats and the Developer SKU.

Ground truth is ``../shared/data/azure-recordings``: what the real requests sent and what the
service echoed. Tests that need it are skipped when the folder is absent.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _client_fakes import FakeArm, FakeClock
from _emulator_helpers import SHARED

import foundry_tune
from foundry_tune import DPO, Dataset, Foundry, RetryPolicy, Supervised, TrainingType
from foundry_tune._core import billing as _billing
from foundry_tune._core.deployment_body import build_body, infer_format, normalize_sku
from foundry_tune.aio import AsyncFoundry, AsyncStaticTokenCredential
from foundry_tune.catalog import known_models, lookup_model, parse_training_type, price_for
from foundry_tune.client import StaticTokenCredential
from foundry_tune.dataset import TokenCounter
from foundry_tune.deployment import BillingWarning
from foundry_tune.errors import InvalidParameterError
from foundry_tune.evaluation._cost import inference_cost
from foundry_tune.methods import Reinforcement

RECORDINGS = SHARED / "data" / "azure-recordings"
needs_recordings = pytest.mark.skipif(not RECORDINGS.is_dir(), reason="azure-recordings not available")
OPEN_MODELS = ("Ministral-3B", "Qwen-32B", "Llama-3.3-70B-Instruct", "gpt-oss-20b")


def recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDINGS / name).read_text(encoding="utf-8"))
    return data


def exchange(name: str, method: str, uri_part: str) -> dict[str, Any]:
    return next(e for e in recording(name)["exchanges"] if e["method"] == method and uri_part in e["uri"])


# --- training types --------------------------------------------------------------------------------


@pytest.mark.parametrize(("spelling", "expected"), [
    ("Standard", TrainingType.STANDARD), ("STANDARD", TrainingType.STANDARD),
    ("GlobalStandard", TrainingType.GLOBAL_STANDARD), ("globalstandard", TrainingType.GLOBAL_STANDARD),
    ("Global", TrainingType.GLOBAL_STANDARD), ("global_standard", TrainingType.GLOBAL_STANDARD),
    ("DataZone", TrainingType.DATA_ZONE), ("DataZoneStandard", TrainingType.DATA_ZONE),
    ("datazone", TrainingType.DATA_ZONE), ("Developer", TrainingType.DEVELOPER),
    ("developerTier", TrainingType.DEVELOPER), ("DEVELOPERTIER", TrainingType.DEVELOPER),
    (TrainingType.DEVELOPER, TrainingType.DEVELOPER),
])
def test_training_types_are_read_in_every_documented_spelling(spelling: Any, expected: TrainingType) -> None:
    assert parse_training_type(spelling) is expected


@pytest.mark.parametrize("bad", ["Premium", "", "Provisioned", None, 3])
def test_unknown_training_types_name_the_accepted_spellings(bad: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        parse_training_type(bad)
    for accepted in ("Standard", "GlobalStandard", "Global", "DataZone", "DataZoneStandard", "Developer",
                     "developerTier"):
        assert accepted in str(info.value)


@needs_recordings
def test_wire_and_echo_spellings_are_the_recorded_ones() -> None:
    create = exchange("recordings/sft_create_cancel_events.json", "POST", "/fine_tuning/jobs?")
    assert create["request"]["trainingType"] == TrainingType.STANDARD.wire
    assert create["response"]["trainingType"] == TrainingType.STANDARD.echo
    ministral = recording("notebooks/sarcasm_job_create_ministral.json")
    assert ministral["body"]["trainingType"] == TrainingType.GLOBAL_STANDARD.echo
    assert "globalstandard" in ministral["note"]  # what was sent: the service matches any casing
    assert TrainingType.GLOBAL_STANDARD.wire.lower() == "globalstandard"
    developer = recording("notebooks/sarcasm_job_create_nano_developer.json")["body"]["trainingType"]
    assert developer == TrainingType.DEVELOPER.wire == TrainingType.DEVELOPER.echo == "developerTier"
    for t in TrainingType:  # every echo reads back as its own type
        assert parse_training_type(t.echo) is t and parse_training_type(t.wire) is t


def test_training_type_is_exported_from_the_package() -> None:
    assert foundry_tune.TrainingType is TrainingType
    assert foundry_tune.parse_training_type("global") is TrainingType.GLOBAL_STANDARD
    assert "TrainingType" in foundry_tune.__all__


# --- the catalog -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("Ministral-3B", "Ministral-3B"), ("ministral-3b", "Ministral-3B"),
    ("Ministral-3B.ft-b96671bea6bb41aeb145a67aef0a463b", "Ministral-3B"),
    ("Qwen-32B", "Qwen-32B"), ("Qwen3-32B", "Qwen-32B"),
    ("Llama-3.3-70B-Instruct", "Llama-3.3-70B-Instruct"), ("gpt-oss-20b", "gpt-oss-20b"),
    ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"), ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
    ("o4-mini-2025-04-16", "o4-mini"), ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("gpt-4.1-2025-04-14", "gpt-4.1"),
])
def test_open_models_and_the_recorded_dated_names_resolve(name: str, expected: str) -> None:
    info = lookup_model(name)
    assert info is not None and info.name == expected


def test_open_models_are_supervised_global_and_data_zone_with_approximate_tokens() -> None:
    for name in OPEN_MODELS:
        info = known_models()[name]
        assert info.methods == {foundry_tune.MethodKind.SUPERVISED}
        # the supported-models table: Data Zone "US", Global yes, Standard "Not supported", Developer no
        assert info.training_types == {TrainingType.GLOBAL_STANDARD, TrainingType.DATA_ZONE}
        assert not info.exact_tokens and price_for(name) is None
    assert known_models()["gpt-4.1-nano"].supports_training_type(TrainingType.DEVELOPER)
    assert not known_models()["o4-mini"].supports_training_type(TrainingType.DEVELOPER)


@needs_recordings
@pytest.mark.parametrize("name", ["recordings/deploy_oss_ministral.json",
                                  "recordings/deploy_and_infer_oai_sft.json"])
def test_deployment_body_is_the_recorded_request(name: str) -> None:
    put = exchange(name, "PUT", "/deployments/")
    sent = put["request"]
    model = sent["properties"]["model"]["name"]
    body = build_body(model, sku=sent["sku"]["name"], capacity=sent["sku"]["capacity"], tags={})
    assert body["sku"] == sent["sku"]
    assert body["properties"]["model"] == sent["properties"]["model"]  # format "Mistral AI" / "OpenAI"


def test_each_open_model_family_gets_its_arm_format() -> None:
    assert infer_format("Ministral-3B.ft-b96671bea6bb41aeb145a67aef0a463b") == "Mistral AI"
    assert infer_format("gpt-oss-20b.ft-0123") == "OpenAI-OSS"
    assert infer_format("Llama-3.3-70B-Instruct.ft-0123") == "Meta"
    assert infer_format("Qwen-32B.ft-0123") == "Alibaba"
    assert infer_format("gpt-4.1-mini-2025-04-14.ft-0123") == "OpenAI"
    assert infer_format("ftchkpt-e559c011ecc04fc68eaa339d8227d02d") == "OpenAI"  # unknown: OpenAI
    assert build_body("Ministral-3B.ft-1", sku="GlobalStandard", capacity=1, tags={},
                      model_format="Custom")["properties"]["model"]["format"] == "Custom"


# --- local refusals ----------------------------------------------------------------------------------


def test_methods_an_open_model_lacks_are_refused_naming_what_it_supports() -> None:
    with pytest.raises(InvalidParameterError) as info:
        DPO().check_model("Ministral-3B")
    text = str(info.value)
    assert "Ministral-3B" in text and "DPO" in text and "with: supervised" in text
    grader = {"type": "string_check", "name": "g", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "eq"}
    with pytest.raises(InvalidParameterError, match="gpt-oss-20b does not support reinforcement"):
        Reinforcement(grader=grader).check_model("gpt-oss-20b")
    assert Supervised().check_model("Llama-3.3-70B-Instruct") is not None


# --- tokens and prices ------------------------------------------------------------------------------


def test_open_model_token_counts_are_marked_approximate() -> None:
    assert not TokenCounter("Ministral-3B").exact and TokenCounter("gpt-4.1-mini").exact
    rows = [{"messages": [{"role": "user", "content": f"question {i}"},
                          {"role": "assistant", "content": f"answer {i}"}]} for i in range(12)]
    data = Dataset.from_records(rows, name="open.jsonl")
    report = data.validate(Supervised(), model="Ministral-3B")
    assert report.valid and report.estimate is not None
    assert report.estimate.training_usd is None  # no public price: no cost, no crash
    assert report.approximate_tokens is not None and "Ministral-3B" in report.approximate_tokens
    assert "approximate" in report.to_text() and report.to_dict()["tokens_approximate"]
    exact = data.validate(Supervised(), model="gpt-4.1-mini")
    assert exact.approximate_tokens is None and "approximate" not in exact.to_text()
    assert inference_cost("Ministral-3B.ft-1", tuned=True, prompt_tokens=10, completion_tokens=5) is None


# --- Developer tier deployments ---------------------------------------------------------------------


@pytest.mark.parametrize("sku", ["Developer", "developer", "DeveloperTier", "developertier",
                                 "DEVELOPER_TIER"])
def test_developer_sku_is_sent_as_developer_tier(sku: str) -> None:
    assert normalize_sku(sku) == "DeveloperTier"
    assert build_body("m.ft-1", sku=sku, capacity=1, tags={})["sku"]["name"] == "DeveloperTier"


def test_other_skus_keep_azure_spelling_and_unknown_ones_pass_through() -> None:
    assert normalize_sku("globalstandard") == "GlobalStandard"
    assert normalize_sku("datazonestandard") == "DataZoneStandard"
    assert normalize_sku("SomeFutureSku") == "SomeFutureSku"
    with pytest.raises(InvalidParameterError, match="sku"):
        normalize_sku("  ")


@pytest.fixture(autouse=True)
def fresh_billing_warning() -> Iterator[None]:
    _billing._reset_for_tests()
    yield
    _billing._reset_for_tests()


def test_billing_reminder_names_developer_tier_and_skips_it() -> None:
    assert 'sku="DeveloperTier"' in _billing.MESSAGE
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for sku in ("DeveloperTier", "Developer", "developertier"):
            assert _billing.warn_hosting_cost_once(sku) is False
        assert _billing.warn_hosting_cost_once("GlobalStandard") is True
    assert [w.category for w in caught] == [BillingWarning]


def _sync_foundry(arm: FakeArm) -> Foundry:
    clock = FakeClock()
    retry = RetryPolicy(sleep=clock.sleep, clock=clock, rng=lambda: 0.0)
    return Foundry("http://127.0.0.1:9/api/projects/p", StaticTokenCredential("t"), subscription_id="sub",
                   resource_group="rg", account_name="acct", retry=retry,
                   arm_transport=httpx.MockTransport(arm.handler))


def _sent(arm: FakeArm) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(arm.puts()[-1].content)
    return body


def test_deploying_an_open_model_sends_its_format_and_the_developer_tier_sku() -> None:
    arm = FakeArm()
    with _sync_foundry(arm) as ft:
        dep = ft.deployments.create("Ministral-3B.ft-b96671bea6bb41aeb145a67aef0a463b", "mini-dev",
                                    sku="developer", ready_check=False)
    sent = _sent(arm)
    assert sent["sku"]["name"] == "DeveloperTier" and dep.sku == "DeveloperTier"
    assert sent["properties"]["model"]["format"] == "Mistral AI"


def test_async_deploy_sends_the_same_body() -> None:
    arm = FakeArm()
    clock = FakeClock()

    async def main() -> None:
        async with AsyncFoundry("http://127.0.0.1:9/api/projects/p", AsyncStaticTokenCredential("t"),
                                subscription_id="sub", resource_group="rg", account_name="acct",
                                retry=RetryPolicy(sleep=clock.sleep, clock=clock, rng=lambda: 0.0),
                                arm_transport=httpx.MockTransport(arm.handler)) as ft:
            await ft.deployments.create("gpt-oss-20b.ft-0123", "oss-dev", sku="Developer", ready_check=False)

    asyncio.run(main())
    sent = _sent(arm)
    assert sent["sku"]["name"] == "DeveloperTier"
    assert sent["properties"]["model"]["format"] == "OpenAI-OSS"
