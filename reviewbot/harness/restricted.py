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
  ``nonlocal`` is allowed for the same reason (the names it binds are checked).

Attribute names starting with ``_`` remain refused everywhere.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from types import CodeType

from RestrictedPython import compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer

_PRIVATE_HELPER = re.compile(r"_[A-Za-z0-9](?:[A-Za-z0-9_]*[A-Za-z0-9])?")
_GUARD_NAMES = frozenset({"_print", "_print_", "_getattr_", "_getitem_", "_getiter_", "_write_",
                          "_apply_", "_inplacevar_", "_iter_unpack_sequence_",
                          "_unpack_sequence_"})
_ERROR_LINE = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


class HarnessPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus coroutines (see the module docstring)."""

    def check_name(  # type: ignore[override]
        self, node: ast.AST, name: str | None, allow_magic_methods: bool = False
    ) -> None:
        if name is not None and name not in _GUARD_NAMES and _PRIVATE_HELPER.fullmatch(name):
            return
        super().check_name(node, name, allow_magic_methods)  # type: ignore[arg-type]

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
