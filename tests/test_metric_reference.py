"""Every text metric that has a well-known reference implementation, checked against it on one
corpus of pairs: short answers, repeated words, unicode (accents, CJK, emoji), empty texts on
either side or both, punctuation and casing.

The references (rapidfuzz, NLTK, sacreBLEU, rouge-score) are test dependencies only. Each metric
is compared with the reference set up as docs/methods-and-graders.md says the name is computed;
where that convention differs from the reference's defaults, a test asserts the documented
difference on a pair that shows it, so that a silent change of convention fails here.
"""

from __future__ import annotations

import random
import re
import string
import unicodedata
import warnings

import pytest

from foundry_tune import graders
from foundry_tune.evaluation import Example, metrics
from foundry_tune.graders import _metrics
from foundry_tune.graders._metrics import tokenize

rapidfuzz = pytest.importorskip("rapidfuzz")
bleu_score = pytest.importorskip("nltk.translate.bleu_score")
gleu_score = pytest.importorskip("nltk.translate.gleu_score")
meteor_score = pytest.importorskip("nltk.translate.meteor_score")
sacrebleu = pytest.importorskip("sacrebleu")
rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
rouge_tokenize = pytest.importorskip("rouge_score.tokenize")

NFD_CAFE = unicodedata.normalize("NFD", "café")
CASES: dict[str, list[tuple[str, str]]] = {
    "short": [
        ("Paris", "Paris"), ("Paris", "paris"), ("Paris.", "Paris, France"), ("yes", "no"),
        ("New York", "new york city"), ("42", "42"), ("4 2", "42"), ("France Paris", "Paris France"),
    ],
    "repeated": [
        ("the the the the", "the cat"), ("a a b", "a b"), ("b a a", "a b a"), ("no no no", "no"),
        ("the cat the sat", "the cat sat sat"), ("ha ha ha ha ha", "ha ha"),
        ("on the mat on the mat", "the mat on the"),
    ],
    "accents": [
        ("café", "cafe"), ("Café crème", "café CRÈME"), ("naïve résumé", "naive resume"),
        ("ﬁne Ｃａｆé", "fine CAFÉ"), (NFD_CAFE, "café"), ("Ångström units", "angstrom units"),
    ],
    "cjk": [
        ("東京 は 首都", "東京 は 日本 の 首都"), ("東京は首都", "東京 は 首都"), ("北京", "北京"),
        ("日本語のテキスト", "日本語 の テキスト"), ("서울 은 수도", "서울 은 한국 의 수도"),
    ],
    "emoji": [
        ("👍", "👍"), ("great 👍", "great"), ("👍 ok", "ok 👍"), ("I ❤️ NY", "i love ny"),
        ("👨‍👩‍👧 family", "family 👨‍👩‍👧"), ("🙂", "🙃"),
    ],
    "empty": [
        ("", ""), ("", "Paris"), ("Paris", ""), ("   ", ""), ("\n\t", "x"), ("", "!!!"),
    ],
    "punctuation-and-case": [
        ("Hello, World!", "hello world"), ("!!!", "???"), ("e.g.", "eg"), ("U.S.A.", "USA"),
        ("It's", "its"), ("HELLO", "hello"), ("foo_bar", "foo bar"), ("3.14", "3 14"),
        ("The answer is: 42.", "the answer is 42"),
    ],
    "sentences": [
        ("the cat sat on a mat", "the cat sat on the mat"),
        ("the quick brown fox jumps over the dog", "the quick brown fox jumped over the lazy dog"),
        ("It is a guide to action which ensures that the military always obeys the commands of the party",
         "It is a guide to action that ensures that the military will forever heed Party commands"),
    ],
}


def _random_pairs(count: int) -> list[tuple[str, str]]:
    # A small mixed vocabulary, so repeats, partial n-gram orders and empty sides are all frequent.
    rng = random.Random(13)
    vocabulary = ["the", "cat", "Cat", "sat", "on", "mat", "a", "café", "東京", "👍", "!", "dog,", "42", ""]

    def text() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 9)))

    return [(text(), text()) for _ in range(count)]


CORPUS = [pair for pairs in CASES.values() for pair in pairs] + _random_pairs(400)
CASE_IDS = [f"{kind}-{index}" for kind, pairs in CASES.items() for index in range(len(pairs))]
HAND_PICKED = [pair for pairs in CASES.values() for pair in pairs]


def similarity(name: str, candidate: str, reference: str) -> float:
    return graders.similarity(name, candidate, reference)


def test_the_corpus_covers_every_kind_of_pair() -> None:
    kinds = {
        "one-word answer": any(len(tokenize(c)) == 1 for c, _ in CORPUS),
        "repeated word": any(len(set(tokenize(c))) < len(tokenize(c)) for c, _ in CORPUS),
        "accent": any("é" in c or "é" in r for c, r in CORPUS),
        "CJK": any(re.search("[\u4e00-\u9fff]", c) for c, _ in CORPUS),
        "emoji": any("👍" in c for c, _ in CORPUS),
        "empty candidate": any(not c for c, _ in CORPUS),
        "empty reference": any(not r for _, r in CORPUS),
        "both empty": ("", "") in CORPUS,
        "punctuation": any(set(c) & set(string.punctuation) for c, _ in CORPUS),
        "case difference": any(c != r and c.lower() == r.lower() for c, r in CORPUS),
    }
    assert all(kinds.values()), [kind for kind, present in kinds.items() if not present]


# --- fuzzy_match: rapidfuzz.fuzz.ratio / 100 on the raw strings --------------------------------


def test_fuzzy_match_is_rapidfuzz_ratio_on_raw_strings() -> None:
    for candidate, reference in CORPUS:
        expected = rapidfuzz.fuzz.ratio(candidate, reference) / 100
        assert similarity("fuzzy_match", candidate, reference) == pytest.approx(expected, abs=1e-12), (
            candidate, reference)


def test_fuzzy_match_documented_differences() -> None:
    # No preprocessing (rapidfuzz's default_process would lower-case and strip punctuation) ...
    assert similarity("fuzzy_match", "Paris", "paris") == pytest.approx(0.8)
    assert rapidfuzz.fuzz.ratio("Paris", "paris", processor=rapidfuzz.utils.default_process) == 100
    # ... no Unicode normalization (composed and decomposed é are different code points) ...
    assert similarity("fuzzy_match", NFD_CAFE, "café") < 1.0
    # ... and Indel (insertions and deletions), not Levenshtein, similarity.
    assert similarity("fuzzy_match", "ab", "ba") == 0.5
    assert rapidfuzz.distance.Levenshtein.normalized_similarity("ab", "ba") == 0.0
    # Two empty strings are identical.
    assert similarity("fuzzy_match", "", "") == 1.0


# --- bleu: NLTK sentence_bleu (method1, auto_reweigh) and sacreBLEU (floor 0.1) on our tokens ----


def test_bleu_is_nltk_method1_with_auto_reweigh() -> None:
    smoothing = bleu_score.SmoothingFunction().method1
    for candidate, reference in CORPUS:  # empty sides included: 0 in both
        hypothesis, ref = tokenize(candidate), tokenize(reference)
        expected = bleu_score.sentence_bleu([ref], hypothesis, smoothing_function=smoothing,
                                            auto_reweigh=True)
        assert similarity("bleu", candidate, reference) == pytest.approx(expected, abs=1e-9), (
            candidate, reference)


@pytest.mark.parametrize("max_n", [1, 2, 3, 4])
def test_evaluation_bleu_is_sacrebleu_floor_smoothing_with_effective_order(max_n: int) -> None:
    scorer = sacrebleu.metrics.BLEU(max_ngram_order=max_n, smooth_method="floor", smooth_value=0.1,
                                    tokenize="none", effective_order=True)
    metric = metrics.bleu(max_n=max_n)
    for candidate, reference in CORPUS:  # empty sides included: 0.0 in both
        hypothesis, ref = tokenize(candidate), tokenize(reference)
        score = metric.score(candidate, _example(reference))
        expected = scorer.sentence_score(" ".join(hypothesis), [" ".join(ref)]).score / 100
        assert score == pytest.approx(expected, abs=1e-9), (candidate, reference)


def test_bleu_documented_differences() -> None:
    # The effective order: a one-word answer is scored on unigrams. NLTK's defaults (four orders,
    # no smoothing) give 0.0 to any answer shorter than four words.
    assert similarity("bleu", "Paris", "Paris") == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns that the 2- to 4-gram counts are zero
        assert bleu_score.sentence_bleu([["paris"]], ["paris"]) < 1e-200  # 0 for practical purposes
    # Word tokens, case-folded: sacreBLEU's defaults (13a tokenizer, case-sensitive, exp smoothing)
    # count the full stop and the capital letter.
    assert similarity("bleu", "Paris.", "paris") == 1.0
    assert sacrebleu.sentence_bleu("Paris.", ["paris"]).score < 100
    # An empty side (or both): 0.0, never the 1.0 "identical" some implementations give.
    assert similarity("bleu", "", "") == 0.0


# --- gleu and meteor: NLTK on our tokens ---------------------------------------------------------


def test_gleu_is_nltk_sentence_gleu() -> None:
    for candidate, reference in CORPUS:
        expected = gleu_score.sentence_gleu([tokenize(reference)], tokenize(candidate))
        assert similarity("gleu", candidate, reference) == pytest.approx(expected, abs=1e-12), (
            candidate, reference)


class _NoStemming:
    def stem(self, word: str) -> str:
        return word


class _NoSynonyms:
    def synsets(self, *args: object, **kwargs: object) -> list[object]:
        return []


def _nltk_meteor(candidate: str, reference: str, **stages: object) -> float:
    options = {"stemmer": _NoStemming(), "wordnet": _NoSynonyms(), **stages}
    return float(meteor_score.single_meteor_score(tokenize(reference), tokenize(candidate), **options))


def test_meteor_is_nltk_meteor_with_exact_matches_only() -> None:
    # Repeated words included: "a a b" against "a b" aligns the second "a", one chunk, as NLTK does.
    for candidate, reference in CORPUS:
        expected = _nltk_meteor(candidate, reference)
        assert similarity("meteor", candidate, reference) == pytest.approx(expected, abs=1e-12), (
            candidate, reference)
    assert similarity("meteor", "a a b", "a b") == pytest.approx(_nltk_meteor("a a b", "a b"))
    assert similarity("meteor", "a a b", "a b") > 0.85


def test_meteor_documented_difference_no_stemming() -> None:
    # NLTK's default METEOR also matches Porter stems (and WordNet synonyms); here only exact words.
    porter = pytest.importorskip("nltk.stem.porter").PorterStemmer()
    assert similarity("meteor", "cats", "cat") == 0.0
    assert _nltk_meteor("cats", "cat", stemmer=porter) > 0.4


# --- rouge_1..5 and rouge_l: rouge-score ---------------------------------------------------------

ROUGE_TYPES = {"rouge_1": "rouge1", "rouge_2": "rouge2", "rouge_3": "rouge3", "rouge_4": "rouge4",
               "rouge_5": "rouge5", "rouge_l": "rougeL"}


class _OurTokens:
    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


def test_rouge_is_rouge_score_fmeasure_on_our_tokens() -> None:
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES.values()), tokenizer=_OurTokens())
    rouge_l = metrics.rouge_l()
    for candidate, reference in CORPUS:
        expected = scorer.score(reference, candidate)
        for name, theirs in ROUGE_TYPES.items():
            assert similarity(name, candidate, reference) == pytest.approx(
                expected[theirs].fmeasure, abs=1e-12), (name, candidate, reference)
        # the evaluation metric is the same function
        assert rouge_l.score(candidate, _example(reference)) == similarity("rouge_l", candidate, reference)


def test_rouge_with_rouge_scores_own_tokenizer_where_it_tokenizes_alike() -> None:
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES.values()))
    default_tokens = rouge_tokenize.tokenize
    compared = 0
    for candidate, reference in CORPUS:
        if any(default_tokens(text, None) != tokenize(text) for text in (candidate, reference)):
            continue
        expected = scorer.score(reference, candidate)
        for name, theirs in ROUGE_TYPES.items():
            assert similarity(name, candidate, reference) == pytest.approx(
                expected[theirs].fmeasure, abs=1e-12), (name, candidate, reference)
        compared += 1
    assert compared > 100


def test_rouge_documented_differences_in_tokens() -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    # rouge-score keeps only ASCII letters and digits: it does not see the differing CJK words ...
    assert scorer.score("大阪 tower", "東京 tower")["rougeL"].fmeasure == 1.0
    assert similarity("rouge_l", "東京 tower", "大阪 tower") == pytest.approx(0.5)
    # ... splits accented words ("résumé" -> "r", "sum") ...
    assert scorer.score("résumé sent", "résumé")["rougeL"].fmeasure == pytest.approx(0.8)
    assert similarity("rouge_l", "résumé", "résumé sent") == pytest.approx(2 / 3)
    # ... and splits at "_", which \w keeps inside a word.
    assert scorer.score("foo bar", "foo_bar")["rougeL"].fmeasure == 1.0
    assert similarity("rouge_l", "foo_bar", "foo bar") == 0.0


# --- normalized_match: the SQuAD v1.1 answer normalization, after NFKC --------------------------


def _squad_normalize(text: str) -> str:
    # normalize_answer() of the official SQuAD v1.1 evaluation script.
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


@pytest.mark.parametrize(("candidate", "reference"), HAND_PICKED, ids=CASE_IDS)
def test_normalized_match_is_squad_normalization_after_nfkc(candidate: str, reference: str) -> None:
    expected = float(_squad_normalize(unicodedata.normalize("NFKC", candidate))
                     == _squad_normalize(unicodedata.normalize("NFKC", reference)))
    assert metrics.normalized_match().score(candidate, _example(reference)) == expected


def test_normalized_match_documented_difference_nfkc() -> None:
    # NFKC first: full-width letters and ligatures fold, which SQuAD's script does not do.
    assert metrics.normalized_match().score("Ｐａｒｉｓ", _example("paris")) == 1.0
    assert _squad_normalize("Ｐａｒｉｓ") != _squad_normalize("paris")
    # The articles are English ones, removed as whole words only.
    assert metrics.normalized_match().score("The Hague", _example("hague")) == 1.0
    assert metrics.normalized_match().score("Theo", _example("o")) == 0.0


def _example(reference: str) -> Example:
    return Example(line=1, messages=({"role": "user", "content": "q"},), reference=reference,
                   item={"reference": reference})


# --- one implementation: the evaluation metrics call the graders' functions ------------------------


@pytest.mark.parametrize("name", ["rouge_l", "bleu"])
def test_evaluation_metric_is_the_graders_function(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, ...]] = []

    def spy(*args: object) -> float:
        calls.append(args)
        return 0.25

    monkeypatch.setattr(_metrics, name, spy)
    metric = metrics.resolve(name)
    assert isinstance(metric, metrics.Metric)
    assert metric.score("the answer", _example("the reference")) == 0.25
    assert [call[:2] for call in calls] == [("the answer", "the reference")]


def test_evaluation_rouge_l_scores_long_texts_by_their_longest_common_subsequence() -> None:
    # Two 3,000-word texts (the speed of the bit-parallel LCS is measured in benchmarks/rouge_l.py)
    rng = random.Random(5)
    words = [f"w{rng.randrange(400)}" for _ in range(3_000)]
    other = [word if rng.random() < 0.8 else "x" for word in words]
    metric = metrics.rouge_l()
    score = metric.score(" ".join(words), _example(" ".join(other)))
    lcs = _metrics.lcs_length(words, other)
    assert score == pytest.approx(2 * lcs / 6_000)
