"""RestrictedPython compilation for generated harnesses.

RestrictedPython 9.0 refuses ``async def`` and ``await`` outright (its policy
predates a security review of coroutines), but a harness *is* an ``async def
main``. The policy below allows exactly those two nodes, with the same checks
RestrictedPython applies to a plain ``def``: argument names are checked, and every
attribute, subscript and iteration inside the body is still rewritten into the
guarded ``_getattr_``/``_getitem_``/``_getiter_``/``_write_`` calls. ``async for``
and ``async with`` stay refused: nothing in the runtime API needs them.

Two more relaxations, both needed to accept the built-in harnesses' style:

- annotated assignments (``x: int = 1``), which pydantic models are made of;
- single-underscore helper names (``_bind``). RestrictedPython refuses every
  ``_`` name so that code cannot rebind its guards; the guards all end in ``_``
  (``_getattr_``, ``_write_``, ...) or are ``_print``, so names that start with one
  underscore, do not start with two and do not end with one stay safe.
  ``nonlocal`` is allowed for the same reason (the names it binds are checked);
- augmented assignment to attributes and items (``funnel.found += 1``), rewritten
  into guarded calls (see ``visit_AugAssign``).

Attribute names starting with ``_`` remain refused everywhere.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from types import CodeType
from typing import Any

from RestrictedPython import compile_restricted_exec
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)

_PRIVATE_HELPER = re.compile(r"_[A-Za-z0-9](?:[A-Za-z0-9_]*[A-Za-z0-9])?")
_GUARD_NAMES = frozenset({"_print", "_print_", "_getattr_", "_getitem_", "_getiter_", "_write_",
                          "_apply_", "_inplacevar_", "_iter_unpack_sequence_",
                          "_unpack_sequence_", "_inplaceattr_", "_inplaceitem_"})
_ERROR_LINE = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


class HarnessPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus coroutines (see the module docstring)."""

    def check_name(
        self, node: Any, name: str | None, allow_magic_methods: bool = False
    ) -> None:
        if name is not None and name not in _GUARD_NAMES and _PRIVATE_HELPER.fullmatch(name):
            return
        super().check_name(node, name, allow_magic_methods)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        self.check_name(node, node.name)
        self.check_function_argument_names(node)
        with self.print_info.new_print_scope():
            node = self.node_contents_visit(node)
            self.inject_print_collector(node)  # type: ignore[arg-type]
        return node

    def visit_Await(self, node: ast.Await) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        # RestrictedPython refuses `obj.n += 1` and `d[k] += 1`; the built-in harnesses
        # count with them. Rewrite to one guarded call that evaluates `obj` and `k` once:
        # `_inplaceattr_(obj, "n", "+=", 1)` / `_inplaceitem_(d, k, "+=", 1)`.
        target = node.target
        if not isinstance(target, ast.Attribute | ast.Subscript):
            return super().visit_AugAssign(node)  # type: ignore[return-value]
        op = IOPERATOR_TO_STR[type(node.op)]
        if isinstance(target, ast.Attribute):
            if target.attr.startswith("_") or target.attr in INSPECT_ATTRIBUTES:
                self.error(node, f'"{target.attr}" is an invalid attribute name.')
                return node
            func, where = "_inplaceattr_", ast.Constant(target.attr)
        else:
            if isinstance(target.slice, ast.Slice):
                self.error(node, "Augmented assignment of slices is not allowed.")
                return node
            func, where = "_inplaceitem_", self.visit(target.slice)
        call = ast.Call(
            func=ast.Name(func, ast.Load()),
            args=[self.visit(target.value), where, ast.Constant(op), self.visit(node.value)],
            keywords=[],
        )
        statement = ast.Expr(call)
        copy_locations(statement, node)
        return ast.fix_missing_locations(statement)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> ast.AST:
        for name in node.names:
            self.check_name(node, name)
        return self.node_contents_visit(node)


@dataclass(frozen=True)
class RestrictedResult:
    code: CodeType | None
    errors: list[tuple[int, str]]  # (line, message)


def compile_harness(source: str, filename: str) -> RestrictedResult:
    """Compile ``source`` under :class:`HarnessPolicy`; errors come back per line."""
    result = compile_restricted_exec(source, filename=filename, policy=HarnessPolicy)
    errors: list[tuple[int, str]] = []
    for text in result.errors:
        match = _ERROR_LINE.match(text)
        if match:
            errors.append((int(match.group(1)), match.group(2).strip()))
        else:
            errors.append((0, text))
    return RestrictedResult(code=result.code if not errors else None, errors=errors)
