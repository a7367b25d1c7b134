"""Static checks of a Python grader's source. The code is parsed, never executed."""

from __future__ import annotations

import ast

__all__ = ["MAX_SOURCE_BYTES", "check_python_source"]

MAX_SOURCE_BYTES = 256 * 1024
"""Foundry runs Python graders with at most 256 kB of source."""
_PARSER_LIMITS = (
    "Python's parser allows 200 nested brackets and 100 indentation levels, and gives up on "
    "expressions nested a few thousand levels deep; the service could not run it either"
)


def check_python_source(source: str) -> None:
    """Raise ``ValueError`` unless ``source`` is at most 256 kB, parses, and defines ``grade(sample, item)``.

    Only `ast.parse()` looks at the code: nothing in it is imported, compiled to bytecode or run.
    """
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"python grader source is not valid text: a lone surrogate at character {exc.start:,} "
            "cannot be encoded as UTF-8"
        ) from None
    if size > MAX_SOURCE_BYTES:
        raise ValueError(
            f"python grader source is {size:,} bytes; "
            f"Foundry accepts at most {MAX_SOURCE_BYTES:,} bytes (256 kB)"
        )
    try:
        tree = ast.parse(source, filename="<python grader>", mode="exec")
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "unknown line"
        if exc.msg.startswith(("too many nested", "too many levels of indentation")):
            raise ValueError(
                f"python grader source nests too deeply at {where}: {exc.msg} ({_PARSER_LIMITS})"
            ) from None
        raise ValueError(f"python grader source has a syntax error at {where}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        # CPython's parser gives up on deeply nested expressions (a long chain of unary minus
        # signs, of attribute accesses, of operators) with these rather than a SyntaxError.
        raise ValueError(f"python grader source nests too deeply ({_PARSER_LIMITS})") from None
    grade = _find_grade(tree)
    if grade is None:
        raise ValueError("python grader source must define a top-level function grade(sample, item)")
    if not _accepts_two_arguments(grade.args):
        raise ValueError(
            f"python grader function grade() at line {grade.lineno} must accept two arguments (sample, item)"
        )


def _find_grade(tree: ast.Module) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    found: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "grade":
            found = node
    return found


def _accepts_two_arguments(args: ast.arguments) -> bool:
    positional = len(args.posonlyargs) + len(args.args)
    if args.vararg is not None:
        return True
    if positional < 2:
        return False
    required = positional - len(args.defaults)
    return required <= 2
