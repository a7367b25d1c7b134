"""Text-similarity metrics against values worked out by hand (derivations in the comments)."""

from __future__ import annotations

import math
import random

import pytest

from foundry_tune.graders import METRICS, similarity
from foundry_tune.graders._metrics import lcs_length, tokenize

CAT = "The cat sat on the mat."
CAT_REF = "the cat is on the mat"
FOX = "the quick brown fox jumps over the dog"
FOX_REF = "the quick brown fox jumped over the lazy dog"


def test_tokenize_lowercases_and_drops_punctuation() -> None:
    assert tokenize(CAT) == ["the", "cat", "sat", "on", "the", "mat"]


def test_fuzzy_match_kitten_sitting() -> None:
    # LCS("kitten", "sitting") = "ittn" = 4 characters; 2 * 4 / (6 + 7) = 8/13.
    assert similarity("fuzzy_match", "kitten", "sitting") == pytest.approx(8 / 13)
    assert similarity("fuzzy_match", "same", "same") == 1.0
    assert similarity("fuzzy_match", "", "") == 1.0
    assert similarity("fuzzy_match", "abc", "xyz") == 0.0


def test_fuzzy_match_is_case_sensitive_on_raw_strings() -> None:
    # "Yes" vs "yes": LCS "es" = 2; 2 * 2 / 6.
    assert similarity("fuzzy_match", "Yes", "yes") == pytest.approx(4 / 6)


def test_rouge_l_cat() -> None:
    # candidate: the cat sat on the mat (6) / reference: the cat is on the mat (6)
    # LCS = the cat on the mat = 5 -> P = R = 5/6 -> F1 = 5/6.
    assert similarity("rouge_l", CAT, CAT_REF) == pytest.approx(5 / 6)


def test_rouge_1_and_2_cat() -> None:
    # unigrams: the x2, cat, on, mat shared = 5 of 6 each side -> F1 = 5/6.
    assert similarity("rouge_1", CAT, CAT_REF) == pytest.approx(5 / 6)
    # bigrams: the-cat, on-the, the-mat shared = 3 of 5 each side -> F1 = 3/5.
    assert similarity("rouge_2", CAT, CAT_REF) == pytest.approx(3 / 5)
    # trigrams: only on-the-mat shared = 1 of 4 each side -> 1/4.
    assert similarity("rouge_3", CAT, CAT_REF) == pytest.approx(1 / 4)
    # no shared 4- or 5-gram.
    assert similarity("rouge_4", CAT, CAT_REF) == 0.0
    assert similarity("rouge_5", CAT, CAT_REF) == 0.0


def test_rouge_with_unequal_lengths() -> None:
    # candidate "a b" (2), reference "a b c d" (4): unigram overlap 2 -> P = 1, R = 1/2 -> F1 = 2/3.
    assert similarity("rouge_1", "a b", "a b c d") == pytest.approx(2 / 3)


def test_bleu_fox() -> None:
    # candidate 8 words, reference 9.
    # p1 = 7/8 (all but "jumps"), p2 = 4/7 (the-quick, quick-brown, brown-fox, over-the),
    # p3 = 2/6 (the-quick-brown, quick-brown-fox), p4 = 1/5 (the-quick-brown-fox).
    # product = 7/8 * 4/7 * 1/3 * 1/5 = 1/30; brevity penalty = exp(1 - 9/8).
    expected = math.exp(1 - 9 / 8) * (1 / 30) ** 0.25
    assert similarity("bleu", FOX, FOX_REF) == pytest.approx(expected)
    assert expected == pytest.approx(0.37708, abs=1e-5)


def test_bleu_identical_and_disjoint() -> None:
    assert similarity("bleu", FOX_REF, FOX_REF) == pytest.approx(1.0)
    assert similarity("bleu", "alpha beta", "gamma delta") == 0.0


def test_gleu_fox() -> None:
    # n-grams 1..4: candidate 8+7+6+5 = 26, reference 9+8+7+6 = 30, matches 7+4+2+1 = 14.
    # GLEU = min(14/26, 14/30) = 14/30.
    assert similarity("gleu", FOX, FOX_REF) == pytest.approx(14 / 30)


def test_meteor_cat() -> None:
    # exact matches: the, cat, on, the, mat = 5 -> P = R = 5/6 -> Fmean = 5/6.
    # alignment (0,0)(1,1) | (3,3)(4,4)(5,5): 2 chunks -> penalty = 0.5 * (2/5)^3 = 0.032.
    assert similarity("meteor", CAT, CAT_REF) == pytest.approx(5 / 6 * (1 - 0.032))


def test_cosine_is_a_term_frequency_stand_in() -> None:
    # vectors a:1 b:1 and a:1 c:1 -> dot 1 / (sqrt 2 * sqrt 2) = 0.5.
    assert similarity("cosine", "a b", "a c") == pytest.approx(0.5)
    assert similarity("cosine", "same words", "Same, words!") == pytest.approx(1.0)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_every_metric_is_bounded_and_total(metric: str) -> None:
    for candidate, reference in [(FOX, FOX_REF), ("", FOX), (FOX, ""), ("!!!", "???"), (FOX, FOX)]:
        score = similarity(metric, candidate, reference)
        assert 0.0 <= score <= 1.0 + 1e-12


def test_unknown_metric() -> None:
    with pytest.raises(ValueError, match="unknown evaluation_metric 'bleurt'"):
        similarity("bleurt", "a", "b")


def test_bit_parallel_lcs_matches_dynamic_programming() -> None:
    def reference_lcs(a: str, b: str) -> int:
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
        return table[-1][-1]

    rng = random.Random(7)
    for _ in range(300):
        a = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 40)))
        assert lcs_length(a, b) == reference_lcs(a, b)
