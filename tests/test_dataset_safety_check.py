"""`Dataset.safety_check()`: screening rows with Azure AI Content Safety, against a local fake of
the service (tests/_content_safety_fake.py) through the real azure-ai-contentsafety client."""

from __future__ import annotations

import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from _content_safety_fake import ContentSafetyFake
from _dataset_helpers import SAMPLES, dpo, sft
from _emulator_helpers import needs_samples

from foundry_tune import Dataset
from foundry_tune.dataset._safety_check import MAX_TEXT_CHARS, chunk_text, row_texts
from foundry_tune.errors import (
    AuthenticationError,
    ConfigurationError,
    DatasetError,
    InvalidParameterError,
    RateLimitError,
    RetryBudgetExceededError,
    ServiceUnreachableError,
)

KEY = "cs-key-7f3a9c2e5b1d4f60"


@pytest.fixture
def fake() -> Any:
    with ContentSafetyFake(key=KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_CONTENT_SAFETY_ENDPOINT", raising=False)
    monkeypatch.delenv("AZURE_CONTENT_SAFETY_KEY", raising=False)


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _flag_sft_line(line: bytes, word: str) -> bytes:
    record = json.loads(line)
    record["messages"][-1]["content"] += f" {word}"
    return json.dumps(record).encode()


@needs_samples
def test_a_sample_file_is_split_into_kept_and_dropped_rows_byte_for_byte(fake: Any, tmp_path: Path) -> None:
    source = (SAMPLES / "sample-sft-text-gsm8k" / "chat_validation.jsonl").read_bytes().splitlines()
    lines = list(source)
    lines[6] = _flag_sft_line(lines[6], "violencemed")          # line 7: Violence 5
    lines[30] = _flag_sft_line(lines[30], "hatewordhigh violencelow")  # line 31: Hate 6, Violence 3
    lines[40] = _flag_sft_line(lines[40], "violencelow")         # line 41: Violence 3 (Low)
    path = _write(tmp_path / "train.jsonl", lines)

    report = Dataset.from_jsonl(path).safety_check(fake.url, KEY, out_dir=tmp_path / "out",
                                                   threshold={"Violence": 4})

    assert report.examples == len(lines) == 50
    assert report.dropped_lines == (7, 31)    # line 41 is under Violence's threshold of 4
    assert (report.kept_count, len(report.dropped)) == (48, 2)
    assert report.dropped[0].categories == {"Violence": 5}
    assert report.dropped[1].categories == {"Hate": 6}   # Violence 3 is under 4: not a reason
    assert report.dropped[1].severities == {"Hate": 6, "SelfHarm": 0, "Sexual": 0, "Violence": 3}
    assert report.dropped_by_category == {"Hate": 1, "SelfHarm": 0, "Sexual": 0, "Violence": 1}
    assert report.severity_counts["Violence"] == {0: 47, 3: 2, 5: 1}
    # Every row is one request; the files hold the source's lines, unchanged.
    assert fake.analyzed == report.requests == 50
    assert report.kept_path.read_bytes() == b"".join(
        line + b"\n" for n, line in enumerate(lines, 1) if n not in (7, 31))
    dropped_lines = report.dropped_path.read_bytes().splitlines()
    for row, line in zip(report.dropped, dropped_lines, strict=True):
        assert line == lines[row.line - 1]
        assert any(fake.score(text)[c] == s for text in fake.texts for c, s in row.categories.items())
    # The kept rows are a new Dataset; the report file holds what the report says.
    assert isinstance(report.kept, Dataset) and report.kept.path == report.kept_path
    assert sum(1 for _ in report.kept.iter_records()) == 48
    assert report.kept.name == "train-kept.jsonl"
    saved = json.loads(report.report_path.read_text(encoding="utf-8"))
    assert saved == report.to_dict()
    assert [row["line"] for row in saved["dropped"]] == [7, 31]
    assert saved["dropped"][0] == {"line": 7, "categories": {"Violence": 5},
                                   "severities": {"Hate": 0, "SelfHarm": 0, "Sexual": 0, "Violence": 5}}
    assert not list((tmp_path / "out").glob("*.part"))
    text = report.to_text()
    assert "50 rows screened" in text and "48 kept, 2 dropped" in text
    assert "line 7: Violence Medium (5)" in text and "line 31: Hate High (6)" in text


@needs_samples
def test_every_text_of_a_dpo_pair_is_screened(fake: Any, tmp_path: Path) -> None:
    source = (SAMPLES / "dpo-intel-orca" / "validation.jsonl").read_bytes().splitlines()[:12]
    records = [json.loads(line) for line in source]
    records[4]["non_preferred_output"][0]["content"] += " selfharmmed"   # line 5: the rejected answer
    records[8]["input"]["messages"][-1]["content"] += " sexualwordhigh"  # line 9: the prompt
    path = _write(tmp_path / "dpo.jsonl", [json.dumps(r, ensure_ascii=False).encode() for r in records])

    report = Dataset.from_jsonl(path).safety_check(fake.url, KEY, out_dir=tmp_path)

    assert report.dropped_lines == (5, 9)
    assert report.dropped[0].categories == {"SelfHarm": 4}
    assert report.dropped[1].categories == {"Sexual": 6}
    assert fake.analyzed == 12
    joined = "\n".join(fake.texts)
    for record in records:
        assert record["preferred_output"][0]["content"][:60] in joined
        assert record["non_preferred_output"][0]["content"][:60] in joined
        assert record["input"]["messages"][-1]["content"][:60] in joined


def test_a_row_over_the_service_limit_is_sent_in_parts_and_keeps_its_worst(fake: Any, tmp_path: Path) -> None:
    long_answer = " ".join(f"word{i}" for i in range(3_000)) + " violencehigh"   # 25,902 characters
    rows = [sft(1), {"messages": [{"role": "user", "content": "Tell me a long story."},
                                  {"role": "assistant", "content": long_answer}]}, sft(2)]
    data = Dataset.from_records(rows, name="long.jsonl")

    report = data.safety_check(fake.url, KEY, out_dir=tmp_path)

    assert report.dropped_lines == (2,)
    assert report.dropped[0].categories == {"Violence": 7}   # only the last part holds the word
    assert report.requests == fake.analyzed == 2 + 3
    assert all(len(t) <= MAX_TEXT_CHARS for t in fake.texts)
    long_parts = [t for t in fake.texts if "word" in t]
    assert len(long_parts) == 3
    assert "".join(long_parts) == "Tell me a long story.\n" + long_answer   # nothing lost or repeated


def test_chunk_text_cuts_at_whitespace_under_the_limit() -> None:
    assert chunk_text(["short", "text"]) == ["short\ntext"]
    assert chunk_text([]) == [] and chunk_text(["   "]) == []
    parts = chunk_text(["aaaa bbbb cccc dddd"], limit=10)
    assert parts == ["aaaa bbbb ", "cccc dddd"]
    assert chunk_text(["x" * 25], limit=10) == ["x" * 10, "x" * 10, "x" * 5]   # no whitespace: hard cuts


def test_row_texts_takes_the_words_the_model_sees_and_learns() -> None:
    record = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "lookup", "arguments": '{"q": "cat"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I cannot say."}], "weight": 1},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Looks things up."}}],
        "reference_answer": "A cat.",
    }
    assert row_texts(record) == ["Be brief.", "What is in this image?", '{"q": "cat"}', "a cat",
                                 "I cannot say.", "A cat."]
    assert row_texts(dpo(3)) == ["Say the number 3 politely.", "Certainly: 3.", "3. Whatever."]


def test_throttling_and_server_errors_are_retried_then_succeed(tmp_path: Path) -> None:
    data = Dataset.from_records([sft(i) for i in range(3)] + [
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "selfharmhigh"}]}])
    with ContentSafetyFake(key=KEY, throttle=3, retry_after="0", fail=2, fail_retry_after="0.01") as fake:
        report = data.safety_check(fake.url, KEY, out_dir=tmp_path, concurrency=1)
    assert report.retries == 5
    assert fake.requests == 4 + 5 and fake.analyzed == report.requests == 4
    assert report.dropped_lines == (4,)
    assert "(5 retried)" in report.to_text()


def test_rows_are_sent_concurrency_at_a_time_and_written_in_file_order(tmp_path: Path) -> None:
    rows = [sft(i) for i in range(24)]
    rows[5]["messages"][-1]["content"] = "violencehigh"
    rows[17]["messages"][-1]["content"] = "sexualwordmed"
    with ContentSafetyFake(key=KEY, delay=0.03) as fake:
        report = Dataset.from_records(rows).safety_check(fake.url, KEY, out_dir=tmp_path, concurrency=3)
    assert fake.max_in_flight == 3
    assert report.dropped_lines == (6, 18)
    assert [json.loads(line) for line in report.kept_path.read_bytes().splitlines()] == [
        r for i, r in enumerate(rows) if i not in (5, 17)]


def test_throttling_past_the_time_bound_is_a_rate_limit_error_and_leaves_no_files(tmp_path: Path) -> None:
    data = Dataset.from_records([sft(i) for i in range(20)])
    out = tmp_path / "out"
    with (ContentSafetyFake(key=KEY, throttle=1_000, retry_after="30") as fake,
          pytest.raises(RateLimitError, match="429") as caught):
        data.safety_check(fake.url, KEY, out_dir=out, timeout=2)
    assert caught.value.retry_after == 30.0
    assert fake.analyzed == 0
    assert list(out.iterdir()) == []      # no half-written kept.jsonl


def test_a_server_that_keeps_failing_is_a_retry_budget_error(tmp_path: Path) -> None:
    with ContentSafetyFake(key=KEY, fail=1_000) as fake, pytest.raises(RetryBudgetExceededError, match="500"):
        Dataset.from_records([sft(1)]).safety_check(fake.url, KEY, out_dir=tmp_path, timeout=0.5)


def test_an_endpoint_that_refuses_connections_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServiceUnreachableError, match="cannot be reached"):
        Dataset.from_records([sft(1)]).safety_check(f"http://127.0.0.1:{port}", KEY, out_dir=tmp_path,
                                                     timeout=0.5)


def test_the_key_never_appears_in_logs_reports_files_or_errors(
    fake: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = Dataset.from_records([sft(i) for i in range(5)] + [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "hatewordmed"}]}])
    caplog.set_level(logging.DEBUG)
    report = data.safety_check(fake.url, KEY, out_dir=tmp_path)
    assert all(h.get("Ocp-Apim-Subscription-Key") == KEY for h in fake.headers)   # it was sent, as a header
    with pytest.raises(AuthenticationError) as wrong:
        data.safety_check(fake.url, KEY + "-wrong", out_dir=tmp_path / "wrong")
    assert wrong.value.status == 401
    with pytest.raises(ConfigurationError) as in_url:
        data.safety_check(fake.url + f"?subscription-key={KEY}", KEY)
    shown = [caplog.text, str(report), repr(report), json.dumps(report.to_dict()), str(wrong.value),
             repr(wrong.value), str(in_url.value)]
    shown += [p.read_text(encoding="utf-8") for p in tmp_path.rglob("*") if p.is_file()]
    assert "hatewordmed" in report.dropped_path.read_text(encoding="utf-8")
    assert caplog.text    # azure-core logged the requests (with the key header redacted)
    for text in shown:
        assert KEY not in text


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"endpoint": None}, ConfigurationError, "AZURE_CONTENT_SAFETY_ENDPOINT"),
        ({"endpoint": "  "}, ConfigurationError, "an empty string"),
        ({"endpoint": KEY}, ConfigurationError, "not a URL"),   # a key in the wrong argument: not echoed
        ({"endpoint": "http://safety.example.com"}, ConfigurationError, "plain http"),
        ({"endpoint": "ftp://safety.example.com"}, ConfigurationError, "https://"),
        ({"endpoint": "https://user:pw@safety.example.com"}, ConfigurationError, "no user"),
        ({"credential": None}, ConfigurationError, "AZURE_CONTENT_SAFETY_KEY"),
        ({"credential": ""}, ConfigurationError, "key is empty"),
        ({"credential": 42}, InvalidParameterError, "got int"),
        ({"threshold": 0}, InvalidParameterError, "from 1 to 7"),
        ({"threshold": 8}, InvalidParameterError, "from 1 to 7"),
        ({"threshold": True}, InvalidParameterError, "from 1 to 7"),
        ({"threshold": "4"}, InvalidParameterError, "from 1 to 7"),
        ({"threshold": {"Spam": 2}}, InvalidParameterError, "not a Content Safety category"),
        ({"threshold": {"Hate": 9}}, InvalidParameterError, "from 1 to 7"),
        ({"threshold": {"Hate": 2}, "categories": ["Violence"]}, InvalidParameterError, "leaves out"),
        ({"categories": ["Spam"]}, InvalidParameterError, "Hate, SelfHarm, Sexual, Violence"),
        ({"categories": []}, InvalidParameterError, "empty"),
        ({"categories": "Hate"}, InvalidParameterError, "list of category names"),
        ({"concurrency": 0}, InvalidParameterError, "concurrency"),
        ({"concurrency": 33}, InvalidParameterError, "concurrency"),
        ({"timeout": 0}, InvalidParameterError, "timeout"),
        ({"timeout": float("nan")}, InvalidParameterError, "timeout"),
        ({"out_dir": "   "}, InvalidParameterError, "out_dir"),   # would make a directory named "   "
        ({"out_dir": ""}, InvalidParameterError, "out_dir"),      # would write into the current directory
        ({"out_dir": " out"}, InvalidParameterError, "out_dir"),
        ({"out_dir": Path("out ")}, InvalidParameterError, "out_dir"),
    ],
)
def test_bad_arguments_are_typed_errors_before_any_request(
    fake: Any, tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    args: dict[str, Any] = {"endpoint": fake.url, "credential": KEY, "out_dir": tmp_path / "out"}
    args.update(kwargs)
    with pytest.raises(error, match=match) as caught:
        Dataset.from_records([sft(1)]).safety_check(**args)
    assert fake.requests == 0
    assert KEY not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_a_line_that_is_not_json_stops_the_check_before_any_request(fake: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl", [json.dumps(sft(1)).encode(), b"{not json"])
    with pytest.raises(DatasetError, match=r"line 2: invalid JSON.*nothing was sent"):
        Dataset.from_jsonl(path).safety_check(fake.url, KEY, out_dir=tmp_path / "out")
    assert fake.requests == 0


def test_without_the_extra_the_error_says_what_to_install(
    fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "azure.ai.contentsafety", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'foundry-tune\[safety\]'"):
        Dataset.from_records([sft(1)]).safety_check(fake.url, KEY, out_dir=tmp_path)
    assert fake.requests == 0


def test_endpoint_and_key_come_from_the_environment(
    fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CONTENT_SAFETY_ENDPOINT", fake.url + "/contentsafety/")
    monkeypatch.setenv("AZURE_CONTENT_SAFETY_KEY", KEY)
    report = Dataset.from_records([sft(1), sft(2)]).safety_check(out_dir=tmp_path)
    assert (report.examples, report.kept_count, fake.analyzed) == (2, 2, 2)
    assert report.endpoint == fake.url


def test_a_token_credential_is_sent_as_a_bearer_token(tmp_path: Path) -> None:
    from azure.core.credentials import AccessToken

    class Token:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            assert scopes == ("https://cognitiveservices.azure.com/.default",)
            return AccessToken("entra-token", 4_102_444_800)

    with ContentSafetyFake(key="unused", token="entra-token") as fake:
        report = Dataset.from_records([sft(1)]).safety_check(fake.url, Token(), out_dir=tmp_path)
    assert report.examples == 1 and fake.analyzed == 1
    assert fake.headers[0]["Authorization"] == "Bearer entra-token"


def test_a_credential_that_cannot_get_a_token_is_an_authentication_error(fake: Any, tmp_path: Path) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    class NoIdentity:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError("no identity is available in this environment")

    with pytest.raises(AuthenticationError, match="no identity is available"):
        Dataset.from_records([sft(1)]).safety_check(fake.url, NoIdentity(), out_dir=tmp_path)
    assert fake.requests == 0


def test_categories_limit_what_is_screened_and_rows_without_text_are_kept(fake: Any, tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "violencehigh"}]},
        {"messages": [{"role": "user", "content": "b"}, {"role": "assistant", "content": "hatewordlow"}]},
        {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]},
            {"role": "assistant", "content": ""}]},
    ]
    path = tmp_path / "rows.jsonl"
    lines = [json.dumps(r).encode() for r in rows]
    path.write_bytes(lines[0] + b"\n" + lines[1] + b"\n\n" + lines[2])   # a blank line 3, no final newline

    report = Dataset.from_jsonl(path).safety_check(fake.url, KEY, categories=["hate"], out_dir=tmp_path / "o")

    assert [b["categories"] for b in fake.bodies] == [["Hate"], ["Hate"]]
    assert all(b["outputType"] == "EightSeverityLevels" for b in fake.bodies)
    assert report.thresholds == {"Hate": 2}
    assert report.dropped_lines == (2,)           # Violence is not screened: line 1 is kept
    assert (report.examples, report.no_text, fake.analyzed) == (3, 1, 2)
    assert report.kept_path.read_bytes() == lines[0] + b"\n" + lines[2] + b"\n"   # line 4 kept as it is
