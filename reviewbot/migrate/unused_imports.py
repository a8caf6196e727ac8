"""Removing the Python imports a rule rewrite left unused.

A rewrite such as ``os.path.join(a, b)`` -> ``join(a, b)`` can leave ``import os`` with no
use, and the project's own linter (ruff/pyflakes F401) then fails on the migration branch.
Only names the rewritten sites used are candidates, and a candidate import goes only when
nothing else in the file could still need it. Every doubt keeps the import: a stale import
costs a lint warning, a removed one that was needed breaks the program.

A name counts as still used when it appears as an identifier outside import statements
(``os.environ``, ``global os``, ``del os``, a parameter or assignment of that name), inside
a string annotation or a ``# type:`` comment, or as a string in ``__all__``. A file that
looks names up dynamically (``globals()``, ``locals()``, ``vars()``, ``eval``, ``exec``)
keeps all its imports. ``__future__`` imports, explicit re-exports (``import a as a``,
``from m import b as b``) and imports marked ``# noqa`` are never touched. Only the unused
names of a multi-name import go; comments and the layout of the rest of the statement stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tree_sitter import Node, Tree

from reviewbot.code.parsing import parse, parse_edited

_IMPORT_TYPES = {"import_statement", "import_from_statement"}
_DYNAMIC_LOOKUPS = {"globals", "locals", "vars", "eval", "exec"}
_TYPE_COMMENT = re.compile(r"#\s*type:(.*)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int


@dataclass
class PrunedImports:
    source: bytes
    removed: list[str] = field(default_factory=list)  # "os (line 3)"
    kept: list[str] = field(default_factory=list)  # "os (line 3): why it stays"


def _text(node: Node | None) -> str:
    return (node.text or b"").decode("utf-8", "replace") if node is not None else ""


def _is_reference(node: Node) -> bool:
    """Whether an ``identifier`` node may read the binding of that name."""
    parent = node.parent
    if parent is None:
        return True
    if parent.type == "attribute" and parent.child_by_field_name("attribute") == node:
        return False  # x.os is not the name os
    if parent.type == "keyword_argument" and parent.child_by_field_name("name") == node:
        return False  # f(os=1)
    return True


def names_used_in(tree: Tree, spans: Iterable[tuple[int, int]]) -> set[str]:
    """Names the code in the byte ranges ``spans`` reads (roots of ``a.b.c``, bare calls...)."""
    out: set[str] = set()
    for start, end in spans:
        node = tree.root_node.descendant_for_byte_range(start, max(start, end - 1) + 1)
        if node is None:
            continue
        stack = [node]
        while stack:
            n = stack.pop()
            if n.end_byte <= start or n.start_byte >= end:
                continue
            if n.type == "identifier" and _is_reference(n):
                out.add(_text(n))
            stack.extend(n.children)
    return out


def _is_all_target(node: Node | None) -> bool:
    return node is not None and node.type == "identifier" and _text(node) == "__all__"


def _all_strings(statement: Node) -> list[str]:
    """String contents of ``__all__ = [...]``, ``__all__ += [...]``, ``__all__.extend([...])``."""
    expr = statement.named_children[0] if statement.named_child_count else None
    if expr is None:
        return []
    holder: Node | None = None
    if expr.type in ("assignment", "augmented_assignment") and _is_all_target(
        expr.child_by_field_name("left")
    ):
        holder = expr.child_by_field_name("right")
    elif expr.type == "call":
        fn = expr.child_by_field_name("function")
        if (
            fn is not None
            and fn.type == "attribute"
            and _is_all_target(fn.child_by_field_name("object"))
        ):
            holder = expr.child_by_field_name("arguments")
    if holder is None:
        return []
    out: list[str] = []
    stack = [holder]
    while stack:
        n = stack.pop()
        if n.type == "string_content":
            out.append(_text(n))
        stack.extend(n.children)
    return out


@dataclass
class _Uses:
    names: set[str] = field(default_factory=set)
    dynamic: str | None = None  # the dynamic lookup the file makes, if any


def _uses(tree: Tree) -> _Uses:
    """Every name the file may read outside its import statements."""
    uses = _Uses()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        kind = node.type
        if kind in _IMPORT_TYPES or kind == "future_import_statement":
            continue
        if kind == "identifier":
            if _is_reference(node):
                uses.names.add(_text(node))
            continue
        if kind == "call":
            fn = node.child_by_field_name("function")
            if fn is not None and fn.type == "identifier" and _text(fn) in _DYNAMIC_LOOKUPS:
                uses.dynamic = uses.dynamic or f"{_text(fn)}()"
        elif kind == "comment":
            m = _TYPE_COMMENT.match(_text(node))
            if m:
                uses.names.update(_WORD.findall(m.group(1)))
        elif kind == "type":
            # string annotations ("os.PathLike") are checked by linters and type checkers
            for s in _descendants(node, "string_content"):
                uses.names.update(_WORD.findall(_text(s)))
        elif kind == "expression_statement":
            uses.names.update(_all_strings(node))
        stack.extend(node.children)
    return uses


def _descendants(node: Node, kind: str) -> list[Node]:
    out: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == kind:
            out.append(n)
        stack.extend(n.children)
    return out


@dataclass(frozen=True)
class _Item:
    node: Node
    bound: str
    reexport: bool  # `import a as a` / `from m import b as b`


def _items(statement: Node) -> list[_Item] | None:
    """The imported items in source order with the names they bind; None for ``*``."""
    out: list[_Item] = []
    module = statement.child_by_field_name("module_name")
    for i, child in enumerate(statement.children):
        if child.type == "wildcard_import":
            return None
        if statement.field_name_for_child(i) != "name" or (
            module is not None and child.id == module.id
        ):
            continue
        if child.type == "aliased_import":
            alias = _text(child.child_by_field_name("alias"))
            name = "".join(_text(child.child_by_field_name("name")).split())
            out.append(_Item(child, alias, reexport=alias == name.rsplit(".", 1)[-1]))
        elif statement.type == "import_statement":
            out.append(_Item(child, _text(child).split(".")[0].strip(), reexport=False))
        else:
            out.append(_Item(child, "".join(_text(child).split()), reexport=False))
    return out


def _marked_noqa(source: bytes, statement: Node) -> bool:
    """A ``# noqa`` on the statement's lines: its author wants it kept even if unused."""
    lines = source[
        _line_start(source, statement.start_byte) : _line_end(source, statement.end_byte)
    ]
    return b"noqa" in lines.lower()


def _line_start(source: bytes, offset: int) -> int:
    return source.rfind(b"\n", 0, offset) + 1


def _line_end(source: bytes, offset: int) -> int:
    """Offset just past the newline that ends the line holding ``offset`` (or the file end)."""
    nl = source.find(b"\n", offset)
    return len(source) if nl < 0 else nl + 1


def _rest_of_line_is_blank(source: bytes, offset: int, comments: bool) -> bool:
    rest = source[offset : _line_end(source, offset)].strip()
    return not rest or (comments and rest.startswith(b"#"))


def _starts_line(source: bytes, offset: int) -> bool:
    return not source[_line_start(source, offset) : offset].strip()


def _comma_after(node: Node) -> Node | None:
    sib = node.next_sibling
    while sib is not None and sib.type == "comment":
        sib = sib.next_sibling
    return sib if sib is not None and sib.type == "," else None


def _remove_item(source: bytes, item: Node, comma: Node | None) -> _Edit:
    """Delete one item (and its comma); a line holding only that item goes whole."""
    own_line = _starts_line(source, item.start_byte)
    end = comma.end_byte if comma is not None else item.end_byte
    if _rest_of_line_is_blank(source, end, comments=own_line):
        if own_line:
            return _Edit(_line_start(source, item.start_byte), _line_end(source, end))
        # `(a, b,\n    c)` without b: drop `, b` and keep what follows on the line
        start = item.start_byte
        while start > 0 and source[start - 1 : start] in (b" ", b"\t"):
            start -= 1
        return _Edit(start, end)
    # another item follows on the same line: take the spaces up to it too
    while end < len(source) and source[end : end + 1] in (b" ", b"\t"):
        end += 1
    return _Edit(item.start_byte, end)


def _partial_edits(source: bytes, items: Sequence[_Item], drop: set[int]) -> list[_Edit]:
    """Edits removing ``items[i]`` for ``i`` in ``drop`` (not all of them) from one statement."""
    last_kept = max(i for i in range(len(items)) if i not in drop)
    tail = [i for i in range(last_kept + 1, len(items))]
    edits: list[_Edit] = []
    for i in sorted(drop):
        if i < last_kept:
            edits.append(_remove_item(source, items[i].node, _comma_after(items[i].node)))
    if not tail:
        return edits
    kept_node = items[last_kept].node
    first_tail = items[tail[0]].node
    if b"\n" not in source[kept_node.end_byte : first_tail.start_byte]:
        # `import sys, os` -> `import sys`
        edits.append(_Edit(kept_node.end_byte, items[tail[-1]].node.end_byte))
        return edits
    last_comma = _comma_after(items[tail[-1]].node)
    if last_comma is None:
        # no trailing comma: the kept item becomes the last one and loses its comma
        comma = _comma_after(kept_node)
        if comma is not None:
            edits.append(_Edit(comma.start_byte, comma.end_byte))
    for i in tail:
        edits.append(_remove_item(source, items[i].node, _comma_after(items[i].node)))
    return edits


def _only_statements_of_block(statements: Sequence[Node]) -> bool:
    """Whether removing ``statements`` would leave their block (if/try/def body) empty."""
    parent = statements[0].parent
    if parent is None or parent.type != "block":
        return False
    ids = {s.id for s in statements}
    return all(c.id in ids for c in parent.named_children if c.type != "comment")


def _apply(source: bytes, edits: Sequence[_Edit]) -> bytes:
    out = source
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        out = out[: edit.start] + out[edit.end :]
    return out


def prune_unused_imports(
    source: bytes, candidates: Iterable[str], *, protected: Iterable[str] = ()
) -> PrunedImports:
    """Remove the imports binding ``candidates`` that ``source`` (Python) no longer uses.

    ``protected``: names never removed (those of imports the rewrite itself added).
    """
    wanted = set(candidates) - set(protected)
    result = PrunedImports(source)
    if not wanted:
        return result
    tree = parse(source, "python")
    uses = _uses(tree)
    unused = wanted - uses.names
    if not unused:
        return result
    statements: list[tuple[Node, list[_Item], set[int]]] = []
    for stmt in _descendants(tree.root_node, "import_statement") + _descendants(
        tree.root_node, "import_from_statement"
    ):
        items = _items(stmt)
        if not items:
            continue
        drop = {i for i, it in enumerate(items) if it.bound in unused and not it.reexport}
        if drop and _marked_noqa(source, stmt):
            result.kept.extend(_where(items[i], "marked noqa") for i in sorted(drop))
        elif drop:
            statements.append((stmt, items, drop))
    statements.sort(key=lambda s: s[0].start_byte)
    if uses.dynamic is not None:
        for _, items, drop in statements:
            for i in sorted(drop):
                result.kept.append(_where(items[i], f"the file calls {uses.dynamic}"))
        return result
    whole = [s for s, items, drop in statements if len(drop) == len(items)]
    by_block: dict[int, list[Node]] = {}
    for stmt in whole:
        by_block.setdefault(stmt.parent.id if stmt.parent is not None else -1, []).append(stmt)
    emptying = {
        s.id for group in by_block.values() if _only_statements_of_block(group) for s in group
    }
    edits: list[_Edit] = []
    removed: list[str] = []
    for stmt, items, drop in statements:
        names = [items[i] for i in sorted(drop)]
        if len(drop) < len(items):
            edits.extend(_partial_edits(source, items, drop))
        elif stmt.id in emptying:
            result.kept.extend(_where(it, "it is all its block holds") for it in names)
            continue
        elif not (
            _starts_line(source, stmt.start_byte)
            and _rest_of_line_is_blank(source, stmt.end_byte, comments=True)
        ):
            result.kept.extend(_where(it, "it shares its line with other code") for it in names)
            continue
        else:
            edits.append(
                _Edit(_line_start(source, stmt.start_byte), _line_end(source, stmt.end_byte))
            )
        removed.extend(_where(it) for it in names)
    if not edits:
        return result
    pruned = _apply(source, edits)
    before = tree.root_node.has_error
    after = parse_edited(source, tree, [(e.start, e.end, b"") for e in edits], pruned, "python")
    if after.root_node.has_error and not before:
        # a layout this module does not foresee: keep the imports rather than break the file
        result.kept.extend(r + ": removing it would not parse" for r in removed)
        return result
    result.source = pruned
    result.removed = removed
    return result


def _where(item: _Item, why: str = "") -> str:
    text = f"{item.bound} (line {item.node.start_point[0] + 1})"
    return f"{text}: {why}" if why else text
