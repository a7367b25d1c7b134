"""The multi grader's ``calculate_output`` at its maximum allowed length (2,000 characters), in the
worst shapes: each formula either evaluates to a finite number or is refused with the library's own
typed error naming the rule (``FormulaError``; ``GraderError`` naming ``calculate_output`` from
``graders.load``; a 400 ``invalid_grader`` from the emulator), never a ``RecursionError``,
``MemoryError`` or ``OverflowError``, in parsing or in evaluation, whatever stack the caller has left.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundry_tune import graders
from foundry_tune.errors import GraderError
from foundry_tune.graders import _formula
from foundry_tune.graders._formula import FormulaError, check_formula, evaluate_formula

LIMIT = _formula._MAX_FORMULA_CHARS
T = TypeVar("T")
SUB = {"type": "string_check", "name": "a", "input": "{{sample.output_text}}", "reference": "x",
       "operation": "eq"}
# The sub-grader "a" scores 1.0 on the sample "x".
VALUES = {"a": 1.0}


def exactly(formula: str) -> str:
    """``formula`` padded with trailing spaces to exactly the maximum length."""
    assert len(formula) <= LIMIT, len(formula)
    return formula + " " * (LIMIT - len(formula))


def chain(operator: str, operand: str = "a") -> str:
    count = (LIMIT + len(operator)) // (len(operand) + len(operator))
    return operator.join([operand] * count)


def wrapped(head: str, tail: str, core: str = "a") -> str:
    count = (LIMIT - len(core)) // (len(head) + len(tail))
    return head * count + core + tail * count


DEPTH = "100 levels"
SHAPES: dict[str, tuple[str, str | None]] = {
    # id: (formula of exactly LIMIT characters, the rule named in the refusal, None if it evaluates)
    "nested-parentheses": (exactly(wrapped("(", ")")), DEPTH),
    "sum-chain": (exactly(chain("+")), DEPTH),
    "difference-chain": (exactly(chain("-")), DEPTH),
    "product-chain": (exactly(chain("*")), DEPTH),
    "quotient-chain": (exactly(chain("/")), DEPTH),
    "spaced-sum-chain": (exactly(chain(" + ")), DEPTH),
    "power-tower": (exactly(chain("^")), DEPTH),
    "power-tower-of-twos": (exactly(chain("^", "2")), DEPTH),
    "unary-minus-chain": (exactly("-" * (LIMIT - 1) + "a"), DEPTH),
    "unary-plus-minus-chain": (exactly("+-" * ((LIMIT - 1) // 2) + "a"), DEPTH),
    "unary-minus-in-parentheses": (exactly(wrapped("-(", ")")), DEPTH),
    "nested-abs": (exactly(wrapped("abs(", ")")), DEPTH),
    "nested-exp": (exactly(wrapped("exp(", ")")), DEPTH),
    "nested-max": (exactly(wrapped("max(a,", ")")), DEPTH),
    "nested-sqrt-of-sums": (exactly(wrapped("sqrt(a+", ")")), DEPTH),
    "wide-max": (exactly("max(" + ",".join(["a"] * ((LIMIT - 5) // 2 + 1)) + ")"), None),
    "many-small-terms": (exactly("+".join(["min(a,1)*0.01"] * 40)), None),
    "huge-number": (exactly("9" * LIMIT), "too large"),
    "huge-float": (exactly("a*" + "9" * 400 + ".0"), "too large"),
    "unknown-long-name": (exactly("b" * LIMIT), "(2,000 characters)"),
}


def test_every_shape_is_exactly_the_maximum_length() -> None:
    assert all(len(formula) == LIMIT for formula, _ in SHAPES.values())
    with pytest.raises(FormulaError, match="2,000 are allowed"):
        check_formula("a" + " " * LIMIT, ["a"])


def _outcome(call: Callable[[], T]) -> T | FormulaError:
    try:
        return call()
    except FormulaError as exc:
        return exc


@pytest.mark.parametrize(("formula", "rule"), SHAPES.values(), ids=SHAPES.keys())
def test_formula_parser_and_evaluator(formula: str, rule: str | None) -> None:
    checked = _outcome(lambda: check_formula(formula, ["a"]))
    value = _outcome(lambda: evaluate_formula(formula, VALUES))
    if rule is None:
        assert checked is None
        assert isinstance(value, float) and value == value and abs(value) < float("inf")
    else:
        assert isinstance(checked, FormulaError) and rule in str(checked)
        assert isinstance(value, FormulaError) and rule in str(value)
        assert len(str(checked)) < 400  # the formula is shown cut short, not 2,000 characters


@pytest.mark.parametrize(("formula", "rule"), SHAPES.values(), ids=SHAPES.keys())
def test_graders_load_and_run_locally(formula: str, rule: str | None) -> None:
    definition = {"type": "multi", "name": "m", "graders": {"a": SUB}, "calculate_output": formula}
    if rule is None:
        result = graders.run_locally(definition, "x", {})
        assert result.score == evaluate_formula(formula, VALUES)
        assert "formula_parse_error" not in result.details["errors"]
    else:
        with pytest.raises(GraderError, match="calculate_output") as caught:
            graders.load(definition)
        assert rule in str(caught.value)


@pytest.mark.parametrize(("formula", "rule"), SHAPES.values(), ids=SHAPES.keys())
def test_emulator_grader_path(formula: str, rule: str | None) -> None:
    grading = pytest.importorskip("foundry_tune.emulator._grading")
    errors = pytest.importorskip("foundry_tune.emulator._errors")
    definition = {"type": "multi", "name": "m", "graders": {"a": SUB}, "calculate_output": formula}
    if rule is None:
        answer = grading.run_grader(grading.load_grader(definition), "x", {})
        assert answer["reward"] == evaluate_formula(formula, VALUES)
    else:
        with pytest.raises(errors.ApiError) as caught:
            grading.load_grader(definition)
        assert caught.value.status == 400 and rule in str(caught.value)


def _with_little_stack(call: Callable[[], T], frames_left: int = 40) -> T:
    """Run ``call`` with only about ``frames_left`` Python frames to spare."""

    def descend(depth: int) -> T:
        if depth <= 0:
            return call()
        return descend(depth - 1)

    used = len(_frames())
    return descend(sys.getrecursionlimit() - used - frames_left)


def _frames() -> list[Any]:
    frames, frame = [], sys._getframe()
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


ACCEPTED_DEEPEST = [("-(" * 45 + "a" + ")" * 45, -1.0), ("+".join(["a"] * 90), 90.0),
                    ("abs(" * 45 + "a" + ")" * 45, 1.0)]


@pytest.mark.parametrize(("formula", "expected"), ACCEPTED_DEEPEST)
def test_checking_and_evaluating_a_parsed_formula_need_no_stack(formula: str, expected: float) -> None:
    # Just inside the depth limit, walked by a caller that has nearly exhausted its stack (a deep
    # framework, a notebook): the checker and the evaluator use no recursion.
    tree = _formula._parse(formula)
    assert _with_little_stack(lambda: _formula._check_node(tree, formula)) is None
    assert _with_little_stack(lambda: _formula._evaluate(tree, VALUES, formula)) == expected


@pytest.mark.parametrize(("formula", "expected"), ACCEPTED_DEEPEST)
def test_a_caller_without_stack_left_gets_a_value_or_a_formula_error(formula: str, expected: float) -> None:
    # Python's own parser counts the caller's frames; when they run out the formula is refused
    # with the rule, not a RecursionError.
    for frames_left in (20, 60, 200):
        outcome = _with_little_stack(lambda: _outcome(lambda: evaluate_formula(formula, VALUES)), frames_left)
        assert outcome == expected or isinstance(outcome, FormulaError)
    assert evaluate_formula(formula, VALUES) == expected


@pytest.mark.parametrize(
    ("formula", "rule"),
    [
        ("a*1e300*1e300", "too large"),  # overflows to inf: refused like exp(1000)
        ("1e308+1e308-a", "too large"),
        ("a/1e-300/1e-300", "too large"),
        ("exp(1000*a)", "exp() failed"),
        ("(1e300*a)^2", "calculate_output"),  # OverflowError from **, its text is the platform's
        ("2^2^2^2^2", "too large"),  # 2^65536: the exponent limit
        ("a/(a-a)", "division by zero"),
        ("sqrt(-a)", "sqrt() failed"),
        ("log(a-a)", "log() failed"),
    ],
)
def test_arithmetic_that_overflows_is_a_formula_error(formula: str, rule: str) -> None:
    with pytest.raises(FormulaError, match=re.escape(rule)):
        evaluate_formula(formula, VALUES)
    result = graders.run_locally(
        {"type": "multi", "name": "m", "graders": {"a": SUB}, "calculate_output": formula}, "x", {}
    )
    assert result.score == 0.0 and "formula_parse_error" in result.details["errors"]
    grading = pytest.importorskip("foundry_tune.emulator._grading")
    definition = {"type": "multi", "name": "m", "graders": {"a": SUB}, "calculate_output": formula}
    answer = grading.run_grader(grading.load_grader(definition), "x", {})  # the emulator says so too
    assert answer["reward"] == 0.0 and answer["metadata"]["errors"]["formula_parse_error"] is True
    assert answer["metadata"]["errors"]["other_error"] is False


# Random compositions of the grammar's constructs, grown until the next one would pass the limit.
_WRAPPERS = [
    ("(", ")"), ("-", ""), ("+", ""), ("-(", ")"), ("abs(", ")"), ("exp(", ")"), ("sqrt(", ")"),
    ("floor(", ")"), ("max(a,", ")"), ("min(", ",a)"), ("a+", ""), ("", "+a"), ("a*", ""), ("", "*0.5"),
    ("a/", ""), ("", "/a"), ("a^", ""), ("", "^2"), ("log(", "+a)"), ("", "-a"), ("(", ")^a"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_WRAPPERS), min_size=1, max_size=1200), st.booleans())
def test_any_composition_up_to_the_limit_evaluates_or_is_a_formula_error(
    wrappers: list[tuple[str, str]], pad: bool
) -> None:
    formula = "a"
    for head, tail in wrappers:
        if len(formula) + len(head) + len(tail) > LIMIT:
            break
        formula = head + formula + tail
    if pad:
        formula = exactly(formula)
    for call in (lambda: check_formula(formula, ["a"]), lambda: evaluate_formula(formula, VALUES)):
        outcome = _outcome(call)
        if isinstance(outcome, float):
            assert outcome == outcome and abs(outcome) < float("inf")
        else:
            assert outcome is None or isinstance(outcome, FormulaError)
