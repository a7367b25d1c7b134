"""The multi grader's ``calculate_output``: a tiny arithmetic language, parsed with `ast`.

Only numbers, the sub-graders' names, ``+ - * /``, ``^`` (power, as the service spells it),
parentheses, unary minus and the functions ``min``, ``max``, ``abs``, ``floor``, ``ceil``,
``sqrt``, ``log``, ``exp`` are accepted. Nothing is handed to ``eval()``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Collection, Mapping

__all__ = ["FormulaError", "check_formula", "evaluate_formula", "formula_names"]

_MAX_FORMULA_CHARS = 2_000
_MAX_FORMULA_DEPTH = 100
"""How deeply a formula may nest (operators, unary signs, function calls): far more than any real
grader needs, and well inside what Python's parser builds (the checker and the evaluator walk the
tree with a stack of their own, so they need no recursion)."""
_MAX_EXPONENT = 64.0
_SHOWN_CHARS = 60

_FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "sqrt": math.sqrt,
    "log": math.log,
    "exp": math.exp,
}
_ARITY: dict[str, tuple[int, int | None]] = {
    "min": (1, None),
    "max": (1, None),
    "abs": (1, 1),
    "floor": (1, 1),
    "ceil": (1, 1),
    "sqrt": (1, 1),
    "log": (1, 1),
    "exp": (1, 1),
}


class FormulaError(ValueError):
    """``calculate_output`` is not a formula the evaluator accepts, or could not be computed."""


def _show(formula: str) -> str:
    """The formula for a message: quoted, and cut short when long."""
    if len(formula) <= _SHOWN_CHARS:
        return repr(formula)
    return repr(formula[: _SHOWN_CHARS - 3]) + f"... ({len(formula):,} characters)"


def _parse(formula: str) -> ast.expr:
    if not isinstance(formula, str):
        raise FormulaError(f"calculate_output must be a string, not {type(formula).__name__}")
    if not formula.strip():
        raise FormulaError("calculate_output is empty")
    if len(formula) > _MAX_FORMULA_CHARS:
        raise FormulaError(
            f"calculate_output is {len(formula):,} characters long; "
            f"at most {_MAX_FORMULA_CHARS:,} are allowed"
        )
    too_deep = FormulaError(
        f"calculate_output {_show(formula)} nests deeper than {_MAX_FORMULA_DEPTH} levels (the limit; "
        "every operator, sign or function call inside another adds a level, so a long chain such as "
        "a+b+c+... nests too)"
    )
    try:
        # "^" is power in the service's formulas; as "**" it also gets power's precedence.
        tree = ast.parse(formula.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        if "too many nested" in (exc.msg or ""):
            raise too_deep from None
        raise FormulaError(f"calculate_output {_show(formula)} is not a valid formula: {exc.msg}") from None
    except (RecursionError, MemoryError):  # the parser's own limits on nesting
        raise too_deep from None
    if _depth(tree.body) > _MAX_FORMULA_DEPTH:
        raise too_deep
    _check_node(tree.body, formula)
    return tree.body


def _depth(root: ast.AST) -> int:
    """How deeply ``root`` nests, walked without recursion."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= _MAX_FORMULA_DEPTH:
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _children(node: ast.expr) -> list[ast.expr]:
    """The operands of an accepted node, left to right."""
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


def _check_node(root: ast.expr, formula: str) -> None:
    """Refuse anything but the formula language; walked with a stack, not recursion, so the depth
    left on the caller's stack never matters."""
    stack = [root]
    while stack:
        node = stack.pop()
        _check_one(node, formula)
        stack.extend(reversed(_children(node)))


def _check_one(node: ast.expr, formula: str) -> None:
    if isinstance(node, ast.Constant):
        shown = _show(formula)
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(f"calculate_output {shown}: only numbers are allowed, not {node.value!r}")
        value = node.value
        if (value.bit_length() > 996) if isinstance(value, int) else not math.isfinite(value):
            raise FormulaError(f"calculate_output {shown}: a number is too large (at most about 1e300)")
        return
    if isinstance(node, ast.Name):
        return
    if isinstance(node, ast.BinOp):
        if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
            raise FormulaError(
                f"calculate_output {_show(formula)}: operator {type(node.op).__name__} is not allowed "
                "(use + - * / ^)"
            )
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise FormulaError(f"calculate_output {_show(formula)}: only unary + and - are allowed")
        return
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS or node.keywords:
            allowed = ", ".join(_FUNCTIONS)
            raise FormulaError(
                f"calculate_output {_show(formula)}: only the functions {allowed} may be called"
            )
        low, high = _ARITY[name]
        if len(node.args) < low or (high is not None and len(node.args) > high):
            raise FormulaError(f"calculate_output {_show(formula)}: {name}() got {len(node.args)} arguments")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise FormulaError(f"calculate_output {_show(formula)}: *arguments are not allowed")
        return
    raise FormulaError(
        f"calculate_output {_show(formula)}: {type(node).__name__} is not allowed in a formula"
    )


def formula_names(formula: str) -> set[str]:
    """The variable names a formula uses (the called function names are not variables)."""
    tree = _parse(formula)
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called}


def check_formula(formula: str, variables: Collection[str]) -> None:
    """Raise [`FormulaError`][FormulaError] unless ``formula`` parses and uses only ``variables``."""
    unknown = sorted(formula_names(formula) - set(variables))
    if unknown:
        known = ", ".join(sorted(variables)) or "(none)"
        shown = ", ".join(_short_name(name) for name in unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        raise FormulaError(
            f"calculate_output {_show(formula)} uses {shown}, which is not the name of a "
            f"sub-grader (names: {known})"
        )


def _short_name(name: str) -> str:
    return name if len(name) <= _SHOWN_CHARS else f"{name[:20]}... ({len(name):,} characters)"


def evaluate_formula(formula: str, values: Mapping[str, float]) -> float:
    """Compute ``formula`` with ``values`` bound to its names."""
    return float(_evaluate(_parse(formula), values, formula))


def _evaluate(root: ast.expr, values: Mapping[str, float], formula: str) -> float:
    """Post-order over an explicit stack: operands left to right, then their operator."""
    results: list[float] = []
    stack: list[tuple[ast.expr, bool]] = [(root, False)]
    while stack:
        node, operands_done = stack.pop()
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            results.append(float(node.value))
        elif isinstance(node, ast.Name):
            if node.id not in values:
                missing = _short_name(node.id)
                raise FormulaError(f"calculate_output {_show(formula)}: no value for {missing!r}")
            results.append(float(values[node.id]))
        elif not operands_done:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(_children(node)))
        else:
            count = len(_children(node))
            operands = results[len(results) - count :]
            del results[len(results) - count :]
            results.append(_apply(node, operands, formula))
    return results[0]


def _apply(node: ast.expr, operands: list[float], formula: str) -> float:
    if isinstance(node, ast.UnaryOp):
        return -operands[0] if isinstance(node.op, ast.USub) else operands[0]
    if isinstance(node, ast.BinOp):
        return _finite(_binary(node.op, operands[0], operands[1], formula), formula)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        try:
            value = float(_FUNCTIONS[node.func.id](*operands))
        except (ValueError, OverflowError, TypeError) as exc:
            raise FormulaError(f"calculate_output {_show(formula)}: {node.func.id}() failed: {exc}") from None
        return _finite(value, formula)
    raise FormulaError(f"calculate_output {_show(formula)}: cannot evaluate {type(node).__name__}")


def _finite(value: float, formula: str) -> float:
    # + - * / overflow to inf silently where ** and exp() raise: refuse all alike.
    if not math.isfinite(value):
        raise FormulaError(f"calculate_output {_show(formula)}: the result is too large ({value})")
    return value


def _binary(op: ast.operator, left: float, right: float, formula: str) -> float:
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Mult):
        return left * right
    if isinstance(op, ast.Div):
        if right == 0:
            raise FormulaError(f"calculate_output {_show(formula)}: division by zero")
        return left / right
    if abs(right) > _MAX_EXPONENT:
        raise FormulaError(f"calculate_output {_show(formula)}: exponent {right} is too large")
    try:
        return float(left**right)
    except (OverflowError, ZeroDivisionError, TypeError) as exc:
        raise FormulaError(f"calculate_output {_show(formula)}: {exc}") from None
