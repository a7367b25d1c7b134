"""One BLEU and one ROUGE-L: the evaluation metrics and the text_similarity grader run locally
score every pair alike, with the convention docs/methods-and-graders.md states, and match the
reference implementations (NLTK, sacreBLEU, rouge-score) where those are installed.

The conventions, in short: NFKC-normalized, lower-cased ``\\w+`` tokens; sentence BLEU up to
4-grams with the effective order (fewer orders for shorter answers) and epsilon-0.1 smoothing;
ROUGE-L F1; a side without a word token scores 0.0, also when both are empty.
"""

from __future__ import annotations

import math
import random

import pytest

from foundry_tune import graders
from foundry_tune.evaluation import Example, metrics
from foundry_tune.graders._metrics import tokenize

# (id, candidate, reference, bleu, rouge_l): the expected scores are derived by hand.
CASES: list[tuple[str, str, str, float, float]] = [
    # The pair the two implementations used to disagree on (evaluation 0.639, grader 0.537):
    # p1 = 5/6, p2 = 3/5, p3 = 2/4, p4 = 1/3, same length; LCS 5 of 6.
    ("one-word-swapped", "the cat sat on a mat", "the cat sat on the mat",
     (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, 5 / 6),
    ("identical", "The quick brown fox.", "the quick brown fox", 1.0, 1.0),
    # short answers: one word, one order.
    ("short-equal", "Paris", "paris", 1.0, 1.0),
    ("short-disjoint", "Rome", "Paris", 0.0, 0.0),
    # one word against two: p1 = 1, brevity penalty exp(1 - 2/1); P = 1, R = 1/2.
    ("short-vs-longer", "Paris.", "Paris, France", math.exp(-1), 2 / 3),
    # p1 = 2/2, p2 = 0 -> 0.1/1; c = r = 2; LCS 1: P = R = 1/2.
    ("two-words-reordered", "France Paris", "Paris France", 0.1 ** 0.5, 1 / 2),
    # repeated words: clipped unigrams 1/4, no bigram etc.: 0.1/3, 0.1/2, 0.1/1; c > r, no penalty.
    # LCS 1: P = 1/4, R = 1/2, F = 1/3.
    ("repeated-words", "the the the the", "the cat", (1 / 4 * 0.1 / 3 * 0.1 / 2 * 0.1) ** 0.25, 1 / 3),
    # p1 = 3/4 (the, cat, sat), p2 = 1/3 (the-cat), p3 = 0 -> 0.1/2, p4 = 0 -> 0.1/1; LCS 3: F = 3/4.
    ("repeated-in-reference", "the cat the sat", "the cat sat sat",
     (3 / 4 * 1 / 3 * 0.1 / 2 * 0.1 / 1) ** 0.25, 3 / 4),
    # unicode: NFKC folds the ligature and full-width letters, lower() folds case, accents stay.
    ("unicode-nfkc", "ﬁne Ｃａｆé", "fine CAFÉ", 1.0, 1.0),
    ("unicode-accents-differ", "cafe", "café", 0.0, 0.0),
    # runs of letters in any script are words; without spaces a CJK sentence is one token.
    ("unicode-cjk", "東京 は 首都", "東京 は 日本 の 首都",
     math.exp(1 - 5 / 3) * (1 * 1 / 2 * 0.1 / 1) ** (1 / 3), 2 * 1 * 3 / 5 / (1 + 3 / 5)),
    ("unicode-cjk-unspaced", "東京は首都", "東京 は 首都", 0.0, 0.0),
    # no word token on one side, or on both: 0.0 (as NLTK, sacreBLEU and rouge-score).
    ("empty-candidate", "", "the cat", 0.0, 0.0),
    ("empty-reference", "the cat", "", 0.0, 0.0),
    ("empty-vs-empty", "", "", 0.0, 0.0),
    ("punctuation-only", "!!!", "???", 0.0, 0.0),
    ("whitespace-vs-empty", "  \n", "", 0.0, 0.0),
]
IDS = [case[0] for case in CASES]
METRIC_NAMES = ("bleu", "rouge_l")


def example(reference: str) -> Example:
    return Example(line=1, messages=({"role": "user", "content": "q"},), reference=reference,
                   item={"reference": reference})


def evaluation_score(name: str, candidate: str, reference: str) -> float:
    metric = metrics.resolve(name)
    assert isinstance(metric, metrics.Metric)
    return metric.score(candidate, example(reference))


def grader_score(name: str, candidate: str, reference: str) -> float:
    grader = graders.TextSimilarity(name="sim", input="{{sample.output_text}}",
                                    reference="{{item.reference}}", evaluation_metric=name)
    return graders.run_locally(grader, candidate, {"reference": reference}).score


@pytest.mark.parametrize("name", METRIC_NAMES)
@pytest.mark.parametrize(("case_id", "candidate", "reference", "bleu", "rouge_l"), CASES, ids=IDS)
def test_evaluation_metric_and_local_grader_agree(
    name: str, case_id: str, candidate: str, reference: str, bleu: float, rouge_l: float
) -> None:
    expected = {"bleu": bleu, "rouge_l": rouge_l}[name]
    from_evaluation = evaluation_score(name, candidate, reference)
    from_grader = grader_score(name, candidate, reference)
    assert from_evaluation == from_grader  # one implementation: the very same float
    assert from_grader == graders.similarity(name, candidate, reference)
    assert from_evaluation == pytest.approx(expected, abs=1e-12)


def test_the_formerly_disagreeing_pair() -> None:
    # Issue 11: the evaluation gave 0.639 (add-one smoothing) and the grader 0.537 here.
    pair = ("the cat sat on a mat", "the cat sat on the mat")
    assert evaluation_score("bleu", *pair) == grader_score("bleu", *pair) == pytest.approx(0.5373, abs=1e-4)
    # and empty vs empty was 1.0 in the evaluation, 0.0 in the grader.
    assert evaluation_score("rouge_l", "", "") == evaluation_score("bleu", "", "") == 0.0


def test_bleu_max_n_is_the_graders_order_cap() -> None:
    # bleu(max_n=4) is the grader's bleu; a lower max_n only caps the orders.
    candidate, reference = "the cat sat on a mat", "the cat sat on the mat"
    four = metrics.bleu(max_n=4).score(candidate, example(reference))
    assert four == grader_score("bleu", candidate, reference)
    assert metrics.bleu(max_n=1).score(candidate, example(reference)) == pytest.approx(5 / 6)


def _random_corpus() -> list[tuple[str, str]]:
    # Small vocabulary, so repeated words, partial orders and empty sides are all frequent.
    rng = random.Random(11)
    vocabulary = ["the", "cat", "sat", "on", "mat", "a", "dog"]

    def sentence() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12)))

    return [(sentence(), sentence()) for _ in range(300)]


CORPUS = [(candidate, reference) for _, candidate, reference, _, _ in CASES] + _random_corpus()


def test_agreement_on_a_random_corpus() -> None:
    for candidate, reference in _random_corpus():
        for name in METRIC_NAMES:
            assert evaluation_score(name, candidate, reference) == grader_score(name, candidate, reference)


def test_bleu_is_nltk_sentence_bleu_with_method1_and_auto_reweigh() -> None:
    bleu_score = pytest.importorskip("nltk.translate.bleu_score")
    smoothing = bleu_score.SmoothingFunction().method1
    for candidate, reference in CORPUS:
        expected = bleu_score.sentence_bleu([tokenize(reference)], tokenize(candidate),
                                            smoothing_function=smoothing, auto_reweigh=True)
        assert graders.similarity("bleu", candidate, reference) == pytest.approx(expected, abs=1e-9), (
            candidate, reference)


def test_bleu_is_sacrebleu_floor_smoothing() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    for candidate, reference in CORPUS:
        # No matching word (empty sides included) is 0 in all three: sacreBLEU's floor smoothing
        # only lifts orders once some n-gram matches.
        hypothesis, ref = tokenize(candidate), tokenize(reference)
        expected = sacrebleu.sentence_bleu(" ".join(hypothesis), [" ".join(ref)], smooth_method="floor",
                                           smooth_value=0.1, tokenize="none").score / 100
        assert graders.similarity("bleu", candidate, reference) == pytest.approx(expected, abs=1e-9), (
            candidate, reference)


def test_rouge_l_is_rouge_score_rouge_l_fmeasure() -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    rouge_tokenize = pytest.importorskip("rouge_score.tokenize")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    compared = 0
    for candidate, reference in CORPUS:
        # rouge-score keeps only ASCII letters and digits; compare where it sees our tokens.
        if any(rouge_tokenize.tokenize(text, None) != tokenize(text) for text in (candidate, reference)):
            continue
        expected = scorer.score(reference, candidate)["rougeL"].fmeasure
        assert graders.similarity("rouge_l", candidate, reference) == pytest.approx(expected, abs=1e-12), (
            candidate, reference)
        compared += 1
    assert compared > 300
