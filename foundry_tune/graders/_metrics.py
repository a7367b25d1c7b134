"""Text-similarity metrics, in pure Python: the one implementation behind the service's
``text_similarity`` graders run locally and the evaluation metrics ``bleu`` and ``rouge_l``.

Conventions (documented in docs/methods-and-graders.md and docs/evaluation.md):

* ``fuzzy_match`` is the normalized Indel similarity of the two raw strings,
  ``2 * LCS(chars) / (len(a) + len(b))`` (what ``rapidfuzz.fuzz.ratio`` computes, as a fraction).
* Word metrics tokenize with [`tokenize()`][tokenize]: NFKC-normalized, lower-cased runs of letters and
  digits (``\\w+``).
* ``bleu``: sentence BLEU with up to 4-grams (fewer when the candidate is shorter: the
  "effective order"), uniform weights, clipped counts, brevity penalty, and epsilon 0.1 smoothing
  for orders without a match. On the same tokens this is NLTK's
  ``sentence_bleu(..., smoothing_function=SmoothingFunction().method1, auto_reweigh=True)`` and
  sacreBLEU's ``sentence_bleu(..., smooth_method="floor", smooth_value=0.1)`` (divided by 100);
  with no matching word the score is 0 in all three.
* ``gleu``: Google-BLEU (Wu et al. 2016), min(precision, recall) over all 1..4-grams.
* ``meteor``: METEOR with exact matches only (no stemming or synonyms), alpha 0.9, beta 3, gamma 0.5,
  repeated words aligned as NLTK aligns them: NLTK's ``single_meteor_score`` with its stemming and
  WordNet stages turned off.
* ``rouge_1`` .. ``rouge_5``: n-gram overlap F1; ``rouge_l``: longest-common-subsequence F1 (the
  ``fmeasure`` of the ``rouge-score`` package's ``rougeL``), with a bit-parallel LCS.
* Empty texts: a candidate or reference without a word token scores 0.0 on every word metric
  except ``cosine``, also when both are empty (as NLTK, sacreBLEU and ``rouge-score`` do);
  ``fuzzy_match`` and ``cosine`` give 1.0 for two empty texts.
* ``cosine``: the service embeds both texts; locally it is the cosine of term-frequency vectors, a
  deterministic lexical stand-in for embedding similarity.
"""

from __future__ import annotations

import collections
import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Sequence

__all__ = [
    "METRICS",
    "bleu",
    "cosine",
    "fuzzy_match",
    "gleu",
    "lcs_length",
    "meteor",
    "rouge_l",
    "rouge_n",
    "similarity",
    "tokenize",
]

_WORD = re.compile(r"\w+")
_BLEU_EPSILON = 0.1


def tokenize(text: str) -> list[str]:
    """NFKC-normalized, lower-cased runs of letters and digits: the unit every word metric counts in."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence (bit-parallel, Hyyrö 2004): fast on long texts."""
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    masks: dict[Hashable, int] = {}
    for index, element in enumerate(a):
        masks[element] = masks.get(element, 0) | (1 << index)
    full = (1 << len(a)) - 1
    row = full
    for element in b:
        match = masks.get(element, 0)
        common = row & match
        row = ((row + common) | (row - common)) & full
    return len(a) - row.bit_count()


def fuzzy_match(candidate: str, reference: str) -> float:
    """Normalized Indel similarity of the raw strings, 0.0 to 1.0."""
    if not candidate and not reference:
        return 1.0
    return 2 * lcs_length(candidate, reference) / (len(candidate) + len(reference))


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _overlap(a: Counter[tuple[str, ...]], b: Counter[tuple[str, ...]]) -> int:
    return sum(min(count, b[gram]) for gram, count in a.items())


def bleu(candidate: str, reference: str, max_n: int = 4) -> float:
    """Sentence BLEU up to ``max_n``-grams, epsilon-smoothed (see the module notes)."""
    hyp, ref = tokenize(candidate), tokenize(reference)
    if not hyp or not ref:
        return 0.0
    orders = min(max_n, len(hyp))
    log_total = 0.0
    for n in range(1, orders + 1):
        matches = _overlap(_ngrams(hyp, n), _ngrams(ref, n))
        possible = len(hyp) - n + 1
        if matches == 0:
            if n == 1:
                return 0.0
            precision = _BLEU_EPSILON / possible
        else:
            precision = matches / possible
        log_total += math.log(precision) / orders
    penalty = 1.0 if len(hyp) > len(ref) else math.exp(1 - len(ref) / len(hyp))
    return penalty * math.exp(log_total)


def gleu(candidate: str, reference: str) -> float:
    """Google-BLEU: min(precision, recall) of all 1- to 4-grams."""
    hyp, ref = tokenize(candidate), tokenize(reference)
    matches = hyp_total = ref_total = 0
    for n in range(1, 5):
        hyp_grams, ref_grams = _ngrams(hyp, n), _ngrams(ref, n)
        matches += _overlap(hyp_grams, ref_grams)
        hyp_total += sum(hyp_grams.values())
        ref_total += sum(ref_grams.values())
    if hyp_total == 0 or ref_total == 0:
        return 0.0
    return matches / max(hyp_total, ref_total)


def meteor(
    candidate: str, reference: str, alpha: float = 0.9, beta: float = 3.0, gamma: float = 0.5
) -> float:
    """METEOR with exact word matches: harmonic mean weighted to recall, times a fragmentation penalty."""
    hyp, ref = tokenize(candidate), tokenize(reference)
    if not hyp or not ref:
        return 0.0
    # NLTK's exact-match stage: from the last candidate word back, each takes the last unused
    # reference position holding the same word (so repeated words align as in `meteor_score`).
    positions: dict[str, list[int]] = collections.defaultdict(list)
    for j, ref_word in enumerate(ref):
        positions[ref_word].append(j)
    alignment: list[tuple[int, int]] = []
    for i in range(len(hyp) - 1, -1, -1):
        free = positions.get(hyp[i])
        if free:
            alignment.append((i, free.pop()))
    alignment.reverse()
    matches = len(alignment)
    if matches == 0:
        return 0.0
    precision, recall = matches / len(hyp), matches / len(ref)
    fmean = precision * recall / (alpha * precision + (1 - alpha) * recall)
    chunks = 1
    for (i0, j0), (i1, j1) in itertools.pairwise(alignment):
        if not (i1 == i0 + 1 and j1 == j0 + 1):
            chunks += 1
    penalty = gamma * float((chunks / matches) ** beta)
    return fmean * (1 - penalty)


def _f1(overlap: int, candidate_total: int, reference_total: int) -> float:
    if overlap == 0 or candidate_total == 0 or reference_total == 0:
        return 0.0
    precision, recall = overlap / candidate_total, overlap / reference_total
    return 2 * precision * recall / (precision + recall)


def rouge_n(candidate: str, reference: str, n: int) -> float:
    """ROUGE-N F1: clipped n-gram overlap."""
    hyp_grams, ref_grams = _ngrams(tokenize(candidate), n), _ngrams(tokenize(reference), n)
    return _f1(_overlap(hyp_grams, ref_grams), sum(hyp_grams.values()), sum(ref_grams.values()))


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1: longest common subsequence of words."""
    hyp, ref = tokenize(candidate), tokenize(reference)
    return _f1(lcs_length(hyp, ref), len(hyp), len(ref))


def cosine(candidate: str, reference: str) -> float:
    """Cosine of term-frequency vectors (a lexical stand-in for the service's embedding cosine)."""
    a, b = Counter(tokenize(candidate)), Counter(tokenize(reference))
    if not a or not b:
        return 1.0 if not a and not b else 0.0
    dot = sum(count * b[word] for word, count in a.items())
    norm = math.sqrt(sum(c * c for c in a.values())) * math.sqrt(sum(c * c for c in b.values()))
    return min(1.0, dot / norm)


METRICS: dict[str, Callable[[str, str], float]] = {
    "fuzzy_match": fuzzy_match,
    "bleu": bleu,
    "gleu": gleu,
    "meteor": meteor,
    "rouge_1": lambda c, r: rouge_n(c, r, 1),
    "rouge_2": lambda c, r: rouge_n(c, r, 2),
    "rouge_3": lambda c, r: rouge_n(c, r, 3),
    "rouge_4": lambda c, r: rouge_n(c, r, 4),
    "rouge_5": lambda c, r: rouge_n(c, r, 5),
    "rouge_l": rouge_l,
    "cosine": cosine,
}


def similarity(metric: str, candidate: str, reference: str) -> float:
    """Score ``candidate`` against ``reference`` with the named metric."""
    try:
        function = METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown evaluation_metric {metric!r} (one of: {', '.join(METRICS)})") from None
    return float(function(candidate, reference))
