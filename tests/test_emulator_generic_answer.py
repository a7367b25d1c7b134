"""The emulator's base-model reply quotes the question: whole, or cut at a word with an ellipsis,
so a demo or a notebook never shows a question cut off mid-phrase."""

from __future__ import annotations

from foundry_tune.emulator._answers import generic_answer


def test_a_question_of_twenty_words_is_quoted_whole() -> None:
    question = ("What warranty do I get on the Nimbus rain jacket if I bought it in the outlet "
                "store last spring?")
    assert f'"{question}"' in generic_answer("gpt-4.1-mini", question)


def test_a_very_long_question_is_cut_at_a_word_with_an_ellipsis() -> None:
    question = " ".join(f"word{i}" for i in range(100))
    answer = generic_answer("gpt-4.1-mini", question)
    quoted = answer.split('"')[1]
    assert quoted.endswith(" ...")
    assert quoted[: -len(" ...")].split() == question.split()[:40]
