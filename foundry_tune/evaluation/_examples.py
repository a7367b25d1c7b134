"""Turn held-out dataset rows into evaluation examples: the prompt, the reference, the grader item."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from foundry_tune.errors import DatasetError

__all__ = [
    "REFERENCE_FIELDS",
    "REQUEST_FIELDS",
    "Example",
    "few_shot_messages",
    "load_examples",
    "message_text",
]

Message = dict[str, Any]

REFERENCE_FIELDS = ("reference_answer", "reference", "answer", "target", "expected", "label", "output")
"""Row fields tried, in this order, as the reference of rows whose last message is not the answer."""


@dataclasses.dataclass(frozen=True)
class Example:
    """One held-out row, ready to be prompted and scored.

    ``messages`` is the conversation up to (not including) the answer; ``reference`` the expected
    answer (the SFT assistant turn, the DPO preferred output, or an RFT reference field);
    ``item`` the row's other fields, the ``item`` namespace of graders (``item["reference"]`` is
    always set when there is a reference). ``tool_calls`` holds the reference turn's tool calls
    (``None`` when it makes none; ``reference`` is then their JSON text unless the turn also has
    text) and ``params`` the request parameters the row carries (``tools``, ``tool_choice``,
    ``parallel_tool_calls``), sent with the row's request.
    """

    line: int
    messages: tuple[Message, ...]
    reference: str | None
    item: Mapping[str, Any]
    tool_calls: tuple[Mapping[str, Any], ...] | None = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def input(self) -> str:
        """Text of the last user message (empty when there is none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message)
        return ""


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message whose ``content`` is a string or a list of text parts."""
    content = message.get("content")
    if content is None:
        calls = message.get("tool_calls")
        return json.dumps(calls, sort_keys=True) if calls else ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


REQUEST_FIELDS = ("tools", "tool_choice", "parallel_tool_calls")
"""Row fields (of a DPO row: of its ``input``) sent with the row's chat completion request."""


def _tool_calls(message: object) -> tuple[Mapping[str, Any], ...] | None:
    calls = message.get("tool_calls") if isinstance(message, Mapping) else None
    if not isinstance(calls, list) or not calls:
        return None
    return tuple(dict(c) if isinstance(c, Mapping) else c for c in calls)


def _params(source: Mapping[str, Any]) -> dict[str, Any]:
    params = {k: source[k] for k in REQUEST_FIELDS if source.get(k) is not None}
    if not params.get("tools"):  # no tools: tool_choice and parallel_tool_calls mean nothing
        params = {}
    return params


def _example(line: int, row: Mapping[str, Any], reference_field: str | None) -> Example:
    reference: str | None = None
    answer: object = None
    if isinstance(row.get("input"), Mapping) and "preferred_output" in row:  # DPO
        messages = list(row["input"].get("messages") or [])
        preferred = row.get("preferred_output") or []
        if preferred:
            answer = preferred[-1]
        params = _params(row["input"])
        skip = {"input", "preferred_output", "non_preferred_output"}
    else:
        messages = list(row.get("messages") or [])
        if messages and isinstance(messages[-1], Mapping) and messages[-1].get("role") == "assistant":
            answer = messages.pop()
        params = _params(row)
        skip = {"messages"}
    calls = _tool_calls(answer)
    if isinstance(answer, Mapping):
        reference = message_text(answer)
        if calls is not None and not reference.strip():
            reference = message_text({"tool_calls": list(calls)})
    item = {k: v for k, v in row.items() if k not in skip}
    if reference_field is not None:
        if reference_field not in row:
            raise DatasetError(f"line {line}: the reference field {reference_field!r} is missing")
        reference = _as_text(row[reference_field])
    elif reference is None:
        field = next((f for f in REFERENCE_FIELDS if f in row), None)
        reference = _as_text(row[field]) if field is not None else None
    if reference is not None:
        item.setdefault("reference", reference)
    return Example(line=line, messages=tuple(dict(m) for m in messages), reference=reference, item=item,
                   tool_calls=calls if reference_field is None else None, params=params)


def _records(data: object) -> Iterable[Mapping[str, Any]]:
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise DatasetError(f"{path}: no such file")
        return _read_jsonl(path)
    iter_records = getattr(data, "iter_records", None)
    if callable(iter_records):
        records: Iterable[Mapping[str, Any]] = iter_records()
        return records
    if isinstance(data, Iterable) and not isinstance(data, (bytes, Mapping)):
        return data
    raise DatasetError(f"cannot evaluate on a {type(data).__name__}: pass a Dataset, a JSONL path or records")


def _read_jsonl(path: Path) -> Iterable[Mapping[str, Any]]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}, line {number}: a row must be a JSON object")
            yield row


def load_examples(
    data: object, *, reference_field: str | None = None, limit: int | None = None
) -> list[Example]:
    """Read a Dataset, a JSONL path or an iterable of records into examples (at most ``limit``)."""
    examples: list[Example] = []
    for line, row in enumerate(_records(data), start=1):
        if limit is not None and len(examples) >= limit:
            break
        if not isinstance(row, Mapping):
            raise DatasetError(f"line {line}: a row must be a JSON object, not {type(row).__name__}")
        examples.append(_example(line, row, reference_field))
    if not examples:
        raise DatasetError("the evaluation data holds no examples")
    return examples


def few_shot_messages(shots: Sequence[object]) -> list[Message]:
    """Few-shot turns from ``(user, assistant)`` pairs or SFT rows (their user and assistant turns)."""
    messages: list[Message] = []
    for shot in shots:
        if isinstance(shot, Example):
            messages += [{"role": "user", "content": shot.input},
                         {"role": "assistant", "content": shot.reference or ""}]
        elif isinstance(shot, Mapping):
            for m in shot.get("messages") or []:
                if m.get("role") in ("user", "assistant"):
                    messages.append({"role": m["role"], "content": message_text(m)})
        elif isinstance(shot, Sequence) and not isinstance(shot, str) and len(shot) == 2:
            messages += [{"role": "user", "content": str(shot[0])},
                         {"role": "assistant", "content": str(shot[1])}]
        else:
            raise TypeError("a few-shot example is a (user, assistant) pair, an Example or an SFT row")
    return messages
