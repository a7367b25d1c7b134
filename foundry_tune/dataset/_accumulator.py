"""Token counts of a dataset's examples, gathered one at a time in bounded memory (16 bytes per
example), summarised by [`TokenStats`][TokenStats]. Apart from the statistics' models so that a
validation pass loads no pydantic until it builds its report."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from foundry_tune.catalog import lookup_model

if TYPE_CHECKING:
    from foundry_tune.dataset._stats import TokenStats

__all__ = ["StatsAccumulator"]

_MAX_LISTED_LINES = 100


class StatsAccumulator:
    """Collects per-example counts one at a time, then [`result()`][result] summarises them.

    ``max_example_tokens`` is the model's per-example limit (see [`for_model()`][for_model]); examples
    above it are listed (the first 100 line numbers) and billed at the limit."""

    def __init__(self, max_example_tokens: int | None = None, *, encoding: str | None = None) -> None:
        self.max_example_tokens = max_example_tokens
        self.encoding = encoding
        self._totals = array("q")
        self._assistant = array("q")
        self._messages = 0
        self._over = 0
        self._over_lines: list[int] = []
        self._billable = 0

    @classmethod
    def for_model(cls, model: str | None, *, encoding: str | None = None) -> StatsAccumulator:
        """An accumulator checking against ``model``'s per-example token limit (if the model is known)."""
        info = lookup_model(model) if model else None
        return cls(info.max_example_tokens if info else None,
                   encoding=encoding or (info.encoding if info else None))

    @property
    def examples(self) -> int:
        """How many examples were added so far."""
        return len(self._totals)

    def add(self, tokens: int, assistant: int = 0, n_messages: int = 0, line: int | None = None) -> None:
        """Record one example: its total tokens, assistant tokens, message count and line number."""
        self._totals.append(tokens)
        self._assistant.append(assistant)
        self._messages += n_messages
        limit = self.max_example_tokens
        if limit is not None and tokens > limit:
            self._over += 1
            if line is not None and len(self._over_lines) < _MAX_LISTED_LINES:
                self._over_lines.append(line)
            self._billable += limit
        else:
            self._billable += tokens

    def add_many(self, totals: list[int], assistant: list[int], n_messages: int, lines: list[int]) -> None:
        """[`add()`][add] for many examples at once: their totals, assistant counts and line numbers
        (same lengths), and their message count summed."""
        limit = self.max_example_tokens
        if limit is not None and totals and max(totals) > limit:
            for tokens, learned, line in zip(totals, assistant, lines, strict=True):
                self.add(tokens, learned, 0, line)
            self._messages += n_messages
            return
        self._totals.fromlist(totals)
        self._assistant.fromlist(assistant)
        self._messages += n_messages
        self._billable += sum(totals)

    def parts(self) -> tuple[bytes, bytes, int, int, list[int], int]:
        """The accumulated state in a compact, picklable form (for [`merge()`][merge]): the per-example
        totals and assistant counts as packed 64-bit integers, the message count, how many examples
        are over the limit, their first line numbers and the billable tokens."""
        return (self._totals.tobytes(), self._assistant.tobytes(), self._messages, self._over,
                list(self._over_lines), self._billable)

    def merge(self, parts: tuple[bytes, bytes, int, int, list[int], int], line_offset: int = 0) -> None:
        """Add the examples of another accumulator's [`parts()`][parts], as if they were added here
        after the ones already added (their line numbers moved on by ``line_offset``)."""
        totals, assistant, messages, over, over_lines, billable = parts
        self._totals.frombytes(totals)
        self._assistant.frombytes(assistant)
        self._messages += messages
        self._over += over
        room = _MAX_LISTED_LINES - len(self._over_lines)
        self._over_lines.extend(line + line_offset for line in over_lines[:max(room, 0)])
        self._billable += billable

    def result(self) -> TokenStats:
        """The statistics of every example added so far."""
        from foundry_tune.dataset._stats import Distribution, TokenStats

        return TokenStats(
            encoding=self.encoding,
            examples=len(self._totals),
            messages=self._messages,
            total_tokens=sum(self._totals),
            assistant_tokens=sum(self._assistant),
            tokens_per_example=Distribution.of(self._totals),
            assistant_tokens_per_example=Distribution.of(self._assistant),
            max_example_tokens=self.max_example_tokens,
            over_limit=self._over,
            over_limit_lines=list(self._over_lines),
            billable_tokens=self._billable,
        )
