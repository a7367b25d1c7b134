"""Secrets are masked wherever foundry-tune prints: the masking rules (table-driven), the reprs of
graders, plans, builders and connections, error messages, log records (ours and the HTTP
clients'), and the job fingerprint, which hashes a mask instead of an endpoint grader's keys."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx2
import pytest

from foundry_tune import graders
from foundry_tune._async._builder import AsyncFineTuneBuilder
from foundry_tune._core.fingerprint import fingerprint
from foundry_tune._core.redact import (
    MASK,
    RedactingFilter,
    install_log_redaction,
    mask_url,
    redact_json,
    redact_text,
)
from foundry_tune._core.spec import JobSpec
from foundry_tune._core.translate import scrub, translate
from foundry_tune._sync._builder import FineTuneBuilder
from foundry_tune._sync._credentials import StaticTokenCredential
from foundry_tune.client import Foundry
from foundry_tune.dataset import Dataset
from foundry_tune.errors import FoundryTuneError, GraderError
from foundry_tune.methods import Reinforcement, Supervised

CANARY = "canary7Q3xZ"


# --- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    (f"https://user:{CANARY}@proxy.example.com:8080", f"https://user:{MASK}@proxy.example.com:8080"),
    (f"https://{CANARY}@host.example.com/x", f"https://{MASK}@host.example.com/x"),
    (f"https://acct.blob.core.windows.net/c/f.jsonl?sv=2024-01-01&sp=r&sig={CANARY}",
     f"https://acct.blob.core.windows.net/c/f.jsonl?sv=2024-01-01&sp=r&sig={MASK}"),
    (f"https://fn.azurewebsites.net/api/grade?code={CANARY}", f"https://fn.azurewebsites.net/api/grade?code={MASK}"),
    (f"https://h/p?api-key={CANARY}&api-version=2025-04-01-preview",
     f"https://h/p?api-key={MASK}&api-version=2025-04-01-preview"),
    (f"https://h/p?access_token={CANARY}", f"https://h/p?access_token={MASK}"),
    (f"https://h/p?password={CANARY}&client_secret={CANARY}", f"https://h/p?password={MASK}&client_secret={MASK}"),
    (f"https://h/p?x=1#token={CANARY}", f"https://h/p?x=1#token={MASK}"),
    ("https://h/openai/v1/fine_tuning/jobs?after=ftjob-1&limit=10",
     "https://h/openai/v1/fine_tuning/jobs?after=ftjob-1&limit=10"),
])
def test_mask_url_hides_passwords_and_secret_query_values(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_an_endpoint_grader_url_has_every_query_value_masked() -> None:
    url = f"https://u:{CANARY}@grader.example.net/api/grade?mode=strict&code={CANARY}"
    assert mask_url(url, every_value=True) == f"https://u:{MASK}@grader.example.net/api/grade?mode={MASK}&code={MASK}"


@pytest.mark.parametrize("text", [
    f"POST https://fn.example.net/api/grade?code={CANARY} failed",
    f"connect to https://user:{CANARY}@proxy.example.com:3128 refused",
    f"blob ?sv=1&sig={CANARY}&se=2030",
    f'grader {{"type": "endpoint", "headers": {{"X-Canary": "{CANARY}"}}}}',
    f"Endpoint(headers={{'X-Canary': '{CANARY}'}})",
    f'{{"client_secret": "{CANARY}", "password": "{CANARY}"}}',
    f"Authorization: Bearer {CANARY}",
    f"api-key: {CANARY}",
    f"x-functions-key={CANARY}",
])
def test_redact_text_masks_every_form_a_secret_is_printed_in(text: str) -> None:
    masked = redact_text(text)
    assert CANARY not in masked
    assert redact_text(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize("text", [
    'HTTP Request: GET https://acct.services.ai.azure.com/openai/v1/fine_tuning/jobs?limit=10 "HTTP/1.1 200"',
    '{"error": {"code": "invalid_request_error", "message": "bad", "param": "training_file"}}',
    "job ftjob-abc123 failed: training_file file-xyz is not valid; max_tokens 4096",
])
def test_redact_text_keeps_what_is_not_a_secret(text: str) -> None:
    assert redact_text(text) == text


def test_redact_json_masks_request_options_as_the_openai_client_logs_them() -> None:
    options = {
        "method": "post",
        "url": f"/fine_tuning/jobs?code={CANARY}",
        "headers": {"api-key": CANARY, "Authorization": f"Bearer {CANARY}", "Idempotency-Key": "stainless-1"},
        "json_data": {"model": "o4-mini", "method": {"type": "reinforcement", "reinforcement": {
            "grader": {"type": "multi", "calculate_output": "a", "graders": {"a": {
                "type": "endpoint", "url": f"https://g.example.net/grade?code={CANARY}",
                "headers": {"X-Canary": CANARY}}}}}},
            "hyperparameters": {"max_tokens": 100}},
    }
    masked = redact_json(options)
    assert CANARY not in json.dumps(masked)
    assert masked["json_data"]["hyperparameters"] == {"max_tokens": 100}
    assert masked["json_data"]["model"] == "o4-mini"
    grader = masked["json_data"]["method"]["reinforcement"]["grader"]["graders"]["a"]
    assert grader["headers"] == {"X-Canary": MASK} and grader["url"] == f"https://g.example.net/grade?code={MASK}"
    assert CANARY in json.dumps(options)  # a copy: what is sent keeps the real values


# --- log records ---------------------------------------------------------------------------------


def _record(name: str, msg: Any, args: Any, exc_info: Any = None) -> logging.LogRecord:
    return logging.LogRecord(name, logging.DEBUG, __file__, 1, msg, args, exc_info)


def test_the_filter_masks_message_arguments_and_traceback_and_keeps_the_record() -> None:
    keep = RedactingFilter()
    httpx_line = _record("httpx2", 'HTTP Request: %s %s "%s %d %s"',
                         ("POST", httpx2.URL(f"https://g.example.net/x?sig={CANARY}"), "HTTP/1.1", 200, "OK"))
    assert keep.filter(httpx_line)
    assert CANARY not in httpx_line.getMessage() and "200 OK" in httpx_line.getMessage()
    options = _record("openai._base_client", "Request options: %s",
                      ({"headers": {"api-key": CANARY}, "json_data": {"x": f"https://u:{CANARY}@h"}},))
    assert keep.filter(options) and CANARY not in options.getMessage()
    mapping = _record("foundry_tune.job", "grader %(url)s", ({"url": f"https://h/?code={CANARY}"},))
    assert keep.filter(mapping) and CANARY not in mapping.getMessage()
    try:
        raise RuntimeError(f"failed at https://h/grade?code={CANARY}")
    except RuntimeError:
        failed = _record("foundry_tune.job", f"oops https://u:{CANARY}@h", (), sys.exc_info())
    assert keep.filter(failed)
    text = logging.Formatter().format(failed)
    assert CANARY not in text and "RuntimeError" in text


def test_install_is_idempotent_and_covers_the_http_clients_loggers(caplog: pytest.LogCaptureFixture) -> None:
    late = logging.getLogger("httpcore.late_child_for_test")
    install_log_redaction()
    install_log_redaction()
    for name in ("httpx", "httpx2", "httpcore.http11", "httpcore.proxy", "openai._base_client",
                 "azure.core.pipeline.policies.http_logging_policy", "foundry_tune.job", late.name):
        found = [f for f in logging.getLogger(name).filters if isinstance(f, RedactingFilter)]
        assert len(found) == 1, name
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpx").info("HTTP Request: %s %s", "GET", f"https://h/?sig={CANARY}")
    assert caplog.records and CANARY not in caplog.text and "HTTP Request: GET https://h/?sig=" in caplog.text


# --- objects: graders, plans, builders, connections, errors ---------------------------------------


def endpoint(key: str = CANARY, header: str = "X-Canary",
             url: str = "https://grader.example.net/api/grade") -> graders.Endpoint:
    return graders.Endpoint(name="remote", url=f"{url}?code={key}", headers={header: key})


def test_graders_never_show_a_key_in_repr_or_str() -> None:
    password = graders.Endpoint(name="r", url=f"https://u:{CANARY}@g.example.net/x")
    multi = graders.Multi(name="m", graders={"remote": endpoint(), "exact": graders.StringCheck(
        input="{{sample.output_text}}", reference="x", operation="eq")}, calculate_output="remote + exact")
    extra = graders.load({"type": "string_check", "input": "a", "reference": "b", "operation": "eq",
                          "api_key": CANARY}, strict=False)
    for grader in (endpoint(), password, multi, extra, Reinforcement(grader=multi)):
        assert CANARY not in repr(grader) and CANARY not in str(grader), type(grader).__name__
    assert "X-Canary" in repr(multi) and "grader.example.net/api/grade" in repr(multi)
    assert json.dumps(multi.to_dict()).count(CANARY) == 2  # the wire keeps them


def test_grader_errors_never_echo_a_key() -> None:
    with pytest.raises(GraderError) as info:
        graders.Endpoint(url=f"ftp://u:{CANARY}@g/?code={CANARY}", headers={"X-Canary": CANARY})
    assert CANARY not in str(info.value)


@pytest.fixture()
def rft_spec(tmp_path: Path) -> JobSpec:
    rows = [{"messages": [{"role": "user", "content": f"{i} x 3?"}], "answer": str(3 * i)} for i in range(20)]
    data = Dataset.from_records(rows, name="rft.jsonl")
    return (JobSpec("o4-mini").train_on(data).validate_on(data).method(Reinforcement(grader=endpoint()))
            .check_grader(False))


def test_a_plan_masks_the_grader_in_str_and_repr_but_keeps_it_in_method(rft_spec: JobSpec) -> None:
    plan = rft_spec.offline_plan()
    assert CANARY not in str(plan) and CANARY not in repr(plan)
    assert "X-Canary" in str(plan) and "fingerprint=" in repr(plan)
    assert CANARY in json.dumps(plan.method)  # what start() sends


@pytest.mark.parametrize("builder_class", [FineTuneBuilder, AsyncFineTuneBuilder])
def test_a_builder_masks_its_grader(builder_class: Any) -> None:
    multi = graders.Multi(name="m", graders={"remote": endpoint()}, calculate_output="remote")
    builder = builder_class(cast(Any, object()), "o4-mini").method(Reinforcement(grader=multi))
    text = repr(builder)
    assert CANARY not in text and CANARY not in str(builder)
    assert text.startswith(f"{builder_class.__name__}(model='o4-mini'") and "X-Canary" in text


@pytest.mark.parametrize("endpoint_url", [
    f"https://acct.services.ai.azure.com/api/projects/p?code={CANARY}",
    f"https://user:{CANARY}@acct.services.ai.azure.com/api/projects/p",
])
def test_a_connection_repr_masks_its_endpoint(endpoint_url: str) -> None:
    with Foundry(endpoint_url, StaticTokenCredential(CANARY)) as ft:
        assert CANARY not in repr(ft) and CANARY not in str(ft)
        assert "acct.services.ai.azure.com" in repr(ft)


@pytest.mark.parametrize("exc", [
    httpx2.ConnectError(f"cannot reach https://user:{CANARY}@proxy.example.com:3128"),
    httpx2.ReadError(f"reset while reading https://fn.example.net/grade?code={CANARY}"),
    RuntimeError(f'grader {{"headers": {{"X-Canary": "{CANARY}"}}}}'),
])
def test_translated_errors_mask_urls_and_headers(exc: BaseException) -> None:
    err = translate(exc, what="create job")
    assert CANARY not in str(err) and CANARY not in repr(err)
    assert CANARY not in scrub(str(exc))


# --- the fingerprint -------------------------------------------------------------------------------


def method_with(grader: graders.Grader) -> dict[str, Any]:
    return Reinforcement(grader=grader, n_epochs=1).to_wire()


def fp(method: dict[str, Any]) -> str:
    return fingerprint(model="o4-mini", training="sha256:a", validation="sha256:b", method=method,
                       suffix=None, seed=None, training_type="GlobalStandard")


BASE = fp(method_with(endpoint()))


@pytest.mark.parametrize(("grader", "same"), [
    (endpoint(key="rotated-key-2"), True),  # the header value and ?code= rotated
    (graders.Endpoint(name="remote", url="https://grader.example.net/api/grade?code=k3",
                      headers={"X-Canary": CANARY}), True),  # only ?code= rotated
    (graders.Endpoint(name="remote", url=f"https://grader.example.net/api/grade?code={CANARY}",
                      headers={"X-Canary": "k4"}), True),  # only the header rotated
    (endpoint(header="X-Other"), False),  # a header name counts
    (endpoint(url="https://other.example.net/api/grade"), False),  # the host counts
    (endpoint(url="https://grader.example.net/api/grade2"), False),  # the path counts
    (graders.Endpoint(name="remote", url=f"https://grader.example.net/api/grade?key={CANARY}",
                      headers={"X-Canary": CANARY}), False),  # a query parameter's name counts
    (graders.Endpoint(name="remote", url=f"https://grader.example.net/api/grade?code={CANARY}",
                      headers={"X-Canary": CANARY, "X-More": "1"}), False),  # another header counts
])
def test_rotating_an_endpoint_key_keeps_the_fingerprint(grader: graders.Grader, same: bool) -> None:
    assert (fp(method_with(grader)) == BASE) is same


def test_a_rotated_key_inside_a_multi_grader_keeps_the_fingerprint() -> None:
    def multi(key: str) -> graders.Multi:
        return graders.Multi(name="m", graders={"e": endpoint(key=key)}, calculate_output="e")

    assert fp(method_with(multi("k1"))) == fp(method_with(multi("k2")))


def test_graders_without_secrets_keep_the_fingerprint_jobs_were_tagged_with() -> None:
    # The recipe of ftfp1: old jobs (every grader but the endpoint one) are still found.
    method = Supervised(n_epochs=2).to_wire()
    payload = {"v": "v1", "model": "gpt-4.1-mini", "training": "sha256:a", "validation": None,
               "method": method, "suffix": "s", "seed": 3, "training_type": None}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    expected = "ftfp1-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]
    assert fingerprint(model="gpt-4.1-mini", training="sha256:a", validation=None, method=method,
                       suffix="s", seed=3, training_type=None) == expected


def test_a_spec_fingerprint_ignores_a_rotated_key(tmp_path: Path) -> None:
    data = Dataset.from_records([{"messages": [{"role": "user", "content": "2 x 3?"}], "answer": "6"}] * 10)
    specs = [JobSpec("o4-mini").train_on(data).validate_on(data).method(Reinforcement(grader=endpoint(key=k)))
             for k in ("k1", "k2")]
    assert specs[0].fingerprint() == specs[1].fingerprint()


# --- configuration errors name the URL or path they refuse: masked ------------------------------


def _bad_endpoint() -> None:
    Foundry(f"http://user:{CANARY}@evil.example.com/api/projects/p?sig={CANARY}", StaticTokenCredential("t"))


def _sas_training_file() -> None:
    # https would be imported by the service; plain http is refused, and the refusal hides the query
    JobSpec("gpt-4.1-mini").train_on(f"http://acct.blob.core.windows.net/c/train.jsonl?sv=1&sig={CANARY}")


@pytest.mark.parametrize("provoke", [_bad_endpoint, _sas_training_file])
def test_configuration_errors_mask_the_url_they_name(provoke: Callable[[], None]) -> None:
    with pytest.raises(FoundryTuneError) as info:
        provoke()
    assert CANARY not in str(info.value)


def test_a_format_string_that_looks_like_a_secret_still_formats() -> None:
    keep = RedactingFilter()
    record = _record("foundry_tune.job", "password=%s url=https://h/?code=%s n=%d", (CANARY, CANARY, 3))
    assert keep.filter(record)
    assert record.getMessage() == f"password={MASK} url=https://h/?code={MASK} n=3"
    plain = _record("foundry_tune.job", "started %s (%d files)", ("ftjob-1", 2))
    assert keep.filter(plain) and plain.args == ("ftjob-1", 2)  # nothing to mask: left as it is


@pytest.mark.parametrize("text", ["a." * 50_000, "a-" * 50_000, "key" * 50_000 + ":", "eyJ" * 50_000,
                                  "'api_key': '" + "\\" * 100_000, "https://h/?code=1&" * 5_000,
                                  "headers: {'a': '" * 10_000, "a=" * 50_000, "key=" * 50_000,
                                  "a: " * 50_000])
def test_masking_stays_linear_on_adversarial_text(text: str) -> None:
    import time

    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 2.0  # quadratic patterns took 30 s on the first of these


def test_the_trust_of_a_connection_masks_its_proxy_password() -> None:
    from foundry_tune._core.trust import Trust

    shown = repr(Trust(proxy=f"http://user:{CANARY}@proxy.example.com:8080"))
    assert CANARY not in shown and "proxy.example.com:8080" in shown
