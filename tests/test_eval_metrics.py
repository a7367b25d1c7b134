"""Each built-in metric against values computed by hand."""

from __future__ import annotations

import math

import pytest

from foundry_tune.errors import InvalidParameterError
from foundry_tune.evaluation import Example, metrics


def ex(reference: str | None, **item: object) -> Example:
    if reference is not None:
        item.setdefault("reference", reference)
    return Example(line=1, messages=({"role": "user", "content": "q"},), reference=reference, item=item)


def test_exact_match_ignores_surrounding_whitespace_only() -> None:
    m = metrics.exact_match()
    assert m.binary
    assert m.score(" Paris\n", ex("Paris")) == 1.0
    assert m.score("paris", ex("Paris")) == 0.0
    assert metrics.exact_match(strip=False).score("Paris ", ex("Paris")) == 0.0


def test_normalized_match_drops_case_punctuation_articles_and_spaces() -> None:
    m = metrics.normalized_match()
    assert m.score("The  Cat, sat!", ex("cat sat")) == 1.0
    assert m.score("the Eiffel tower.", ex("Eiffel Tower")) == 1.0
    assert m.score("Eiffel", ex("Eiffel Tower")) == 0.0


def score(metric: metrics.Metric, output: str, reference: str) -> float:
    return metric.score(output, ex(reference))


def test_rouge_l_by_hand() -> None:
    rouge_l = metrics.rouge_l()
    # LCS "the cat on the mat" = 5 of 6 tokens each way: P = R = F = 5/6.
    assert score(rouge_l, "the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    # LCS "a c" = 2: P = 2/3, R = 2/4, F = 2PR/(P+R) = 4/7.
    assert score(rouge_l, "a b c", "a c d e") == pytest.approx(4 / 7)
    assert score(rouge_l, "x y", "a b") == 0.0
    assert score(rouge_l, "A b, C!", "a c d e") == pytest.approx(4 / 7)


def test_bleu_by_hand() -> None:
    bleu = metrics.bleu()
    assert score(bleu, "the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)
    # 3 words: orders 1..3 only, all precisions 1; c = 3 < r = 6: brevity penalty exp(1 - 6/3).
    assert score(bleu, "the cat sat", "the cat sat on the mat") == pytest.approx(math.exp(-1))
    # p1 = 4/6, p2 = 1/5 (sat-on), no 3- or 4-gram: epsilon 0.1 over 4 and 3; same length, no penalty.
    # The evaluation used to smooth 2..4-grams add-one, (4/6 * 2/6 * 1/5 * 1/4) ** 0.25; it now
    # shares the text_similarity grader's BLEU (tests/test_metric_conventions.py).
    expected = (4 / 6 * 1 / 5 * 0.1 / 4 * 0.1 / 3) ** 0.25
    assert score(bleu, "the dog sat on a mat", "the cat sat on the mat") == pytest.approx(expected)
    assert score(bleu, "nothing matches", "the cat") == 0.0


def test_bleu_max_n() -> None:
    # Up to bigrams: p1 = 4/6, p2 = 1/5.
    assert score(metrics.bleu(max_n=2), "the dog sat on a mat", "the cat sat on the mat") == pytest.approx(
        (4 / 6 * 1 / 5) ** 0.5)
    with pytest.raises(InvalidParameterError, match="at least 1"):
        metrics.bleu(max_n=0)


def test_json_metrics() -> None:
    valid = metrics.json_valid()
    assert not valid.needs_reference
    assert valid.score('{"a": [1, 2]}', ex(None)) == 1.0
    assert valid.score("{'a': 1}", ex(None)) == 0.0
    match = metrics.json_match()
    assert match.score('{"b": 2, "a": 1}', ex('{"a":1,"b":2}')) == 1.0
    assert match.score('{"a": 1}', ex('{"a":1,"b":2}')) == 0.0
    assert match.score("not json", ex('{"a":1}')) == 0.0


def test_json_schema_accepts_response_format_shapes() -> None:
    schema = {"type": "object", "properties": {"clause": {"enum": ["Exclusivity", "Non-Compete"]}},
              "required": ["clause"], "additionalProperties": False}
    wrapped = {"type": "json_schema", "json_schema": {"name": "c", "strict": True, "schema": schema}}
    for shape in (schema, wrapped, wrapped["json_schema"]):
        m = metrics.json_schema(shape)
        assert m.score('{"clause": "Exclusivity"}', ex(None)) == 1.0
        assert m.score('{"clause": "Other"}', ex(None)) == 0.0
        assert m.score('{"clause": "Exclusivity", "x": 1}', ex(None)) == 0.0
        assert m.score("Exclusivity", ex(None)) == 0.0
    with pytest.raises(InvalidParameterError, match="schema is invalid"):
        metrics.json_schema({"type": 12})


def test_custom_callables_get_output_reference_or_example() -> None:
    def has_answer(output: str, reference: str) -> bool:
        return reference in output

    m = metrics.custom(has_answer)
    assert m.name == "has_answer" and m.binary and m.needs_reference
    assert m.score("it is Paris.", ex("Paris")) == 1.0
    assert m.score("it is Rome.", ex("Paris")) == 0.0
    by_item = metrics.custom(lambda output, example: float(output == example.item["label"]), name="lbl")
    assert by_item.score("B", ex(None, label="B")) == 1.0 and not by_item.needs_reference
    length = metrics.resolve(lambda output: min(len(output) / 10, 1.0))
    assert length.name == "custom" and length.score("abcde", ex(None)) == 0.5


def test_resolve_names_and_unknown() -> None:
    assert metrics.resolve("rouge-l").name == "rouge_l"
    assert metrics.resolve("EXACT_MATCH").binary
    with pytest.raises(InvalidParameterError, match="unknown metric 'accuracy'"):
        metrics.resolve("accuracy")


def test_local_graders_score_like_their_definition() -> None:
    pytest.importorskip("foundry_tune.graders", reason="graders module not available")
    check = metrics.grader({"type": "string_check", "name": "same", "input": "{{sample.output_text}}",
                            "reference": "{{item.reference}}", "operation": "eq"})
    assert check.local and check.binary and check.name == "same"
    assert check.score("Paris", ex("Paris")) == 1.0
    assert check.score("Rome", ex("Paris")) == 0.0
    similarity = metrics.grader({"type": "text_similarity", "name": "sim", "input": "{{sample.output_text}}",
                                 "reference": "{{item.reference}}", "evaluation_metric": "rouge_l"})
    assert similarity.local and not similarity.binary
    score = similarity.score("the cat sat on the mat", ex("the cat is on the mat"))
    assert score == pytest.approx(5 / 6, abs=0.02)
