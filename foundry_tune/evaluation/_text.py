"""Text comparison algorithms behind the built-in metrics (pure Python, no dependencies).

``normalize`` follows the SQuAD answer normalization (case, punctuation, articles, whitespace);
``rouge_l`` is the LCS-based F1 of ROUGE-L; ``bleu`` is sentence BLEU up to 4-grams with the
brevity penalty and add-one smoothing of the 2..4-gram precisions (Lin and Och, 2004), so that
one short sentence without a matching 4-gram still gets a useful score.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

__all__ = ["bleu", "lcs_length", "normalize", "rouge_l", "tokens"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_WORD = re.compile(r"\w+")


def normalize(text: str) -> str:
    """Lower-case, drop punctuation and English articles, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (``\\w+`` runs), the unit both ROUGE-L and BLEU count in."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (O(len(a)·len(b)) time)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1: harmonic mean of LCS precision and recall over word tokens."""
    cand, ref = tokens(candidate), tokens(reference)
    if not cand or not ref:
        return 1.0 if not cand and not ref else 0.0
    lcs = lcs_length(cand, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def bleu(candidate: str, reference: str, max_n: int = 4) -> float:
    """Smoothed sentence BLEU in [0, 1] (see the module docstring for the smoothing)."""
    cand, ref = tokens(candidate), tokens(reference)
    if not cand or not ref:
        return 1.0 if not cand and not ref else 0.0
    log_sum = 0.0
    for n in range(1, max_n + 1):
        cand_ngrams, ref_ngrams = _ngrams(cand, n), _ngrams(ref, n)
        matches = sum(min(count, ref_ngrams[g]) for g, count in cand_ngrams.items())
        total = max(len(cand) - n + 1, 0)
        if n == 1:
            if matches == 0:
                return 0.0
            precision = matches / total
        else:
            precision = (matches + 1) / (total + 1)
        log_sum += math.log(precision)
    brevity = 1.0 if len(cand) > len(ref) else math.exp(1 - len(ref) / len(cand))
    return brevity * math.exp(log_sum / max_n)
