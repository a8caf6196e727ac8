"""The deterministic tier: substitute tree-sitter captures into a template, per file.

Edits replace exactly the site spans (byte ranges of syntax nodes) and are applied
from the end of the file so earlier offsets hold; nested sites (a call inside the
arguments of another) are rewritten inside-out. Imports are inserted after the
file's leading import block. Everything outside the spans is left byte for byte, except
Python imports the rewrite left unused, which go (:mod:`reviewbot.migrate.unused_imports`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tree_sitter import Node, Tree

from reviewbot.code.parsing import parse_edited
from reviewbot.migrate.import_order import ImportSections, place_imports
from reviewbot.migrate.template import Template, TemplateMismatch, render, strip_brackets
from reviewbot.migrate.unused_imports import names_used_in, prune_unused_imports

# node types that hold a call's argument list, per grammar (field "arguments")
_CALL_TYPES = {
    "call",
    "call_expression",
    "method_invocation",
    "invocation_expression",
    "function_call_expression",
    "member_call_expression",
    "new_expression",
}


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: bytes


@dataclass(frozen=True)
class SiteSpan:
    """One place to rewrite: the replaced byte range and the captures' byte ranges."""

    start: int
    end: int
    line: int  # 1-based line of start
    captures: Mapping[str, tuple[int, int]]


@dataclass
class RewriteOutcome:
    source: bytes
    rewritten: list[int] = field(default_factory=list)  # lines of sites rewritten
    already: list[int] = field(default_factory=list)  # start bytes of sites left as they are
    unmatched: list[tuple[int, str]] = field(default_factory=list)  # (line, why)
    imports_added: list[str] = field(default_factory=list)
    imports_removed: list[str] = field(default_factory=list)  # "os (line 3)"
    imports_kept: list[str] = field(default_factory=list)  # made unused, left: "os (line 3): why"

    @property
    def changed(self) -> bool:
        return bool(self.rewritten or self.imports_added)


class RuleNotApplicable(Exception):
    """The rule cannot be applied to this file safely; a model may still do it."""


def apply_edits(source: bytes, edits: Sequence[Edit]) -> bytes:
    """Apply non-overlapping edits, last first."""
    out = source
    last_start = len(source) + 1
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        if edit.end > last_start:
            raise ValueError(f"overlapping edits at bytes {edit.start}..{edit.end}")
        out = out[: edit.start] + edit.text + out[edit.end :]
        last_start = edit.start
    return out


def call_span(tree: Tree, start: int, end: int) -> SiteSpan | None:
    """The call expression covering bytes ``start..end`` and its captures."""
    node: Node | None = tree.root_node.descendant_for_byte_range(start, max(start, end - 1) + 1)
    while node is not None and not (
        node.type in _CALL_TYPES and node.child_by_field_name("arguments") is not None
    ):
        node = node.parent
    if node is None:
        return None
    args = node.child_by_field_name("arguments")
    assert args is not None
    callee = node.child_by_field_name("function") or node.child_by_field_name("name")
    caps: dict[str, tuple[int, int]] = {"call": (node.start_byte, node.end_byte)}
    if callee is not None:
        caps["callee"] = (callee.start_byte, callee.end_byte)
    inner_start, inner_end = args.start_byte, args.end_byte
    if args.child_count >= 2 and not args.children[0].is_named and not args.children[-1].is_named:
        inner_start, inner_end = args.children[0].end_byte, args.children[-1].start_byte
    caps["args"] = (inner_start, inner_end)
    i = 0
    for child in args.named_children:
        if child.type == "comment":
            continue
        caps[str(i)] = (child.start_byte, child.end_byte)
        i += 1
    return SiteSpan(node.start_byte, node.end_byte, node.start_point[0] + 1, caps)


def line_indent(source: bytes, offset: int) -> str:
    line_start = source.rfind(b"\n", 0, offset) + 1
    m = re.match(rb"[ \t]*", source[line_start:offset])
    return m.group(0).decode() if m else ""


def rewrite_file(
    source: bytes,
    tree: Tree,
    language: str,
    spans: Sequence[SiteSpan],
    template: Template,
    imports: Sequence[str] = (),
    *,
    strip_args: bool = False,
    prune_imports: bool = True,
    sections: ImportSections | None = None,
) -> RewriteOutcome:
    """Rewrite every span with the template (inside-out for nested spans), then add imports.

    ``strip_args``: a capture named ``args`` loses one enclosing bracket pair (query rules).
    ``prune_imports``: in Python, remove imports of names the rewritten sites used that
    nothing in the file uses any more (``import os`` after ``os.path.join`` -> ``join``).
    ``sections``: how the project sorts Python imports (an added import goes into its
    isort section, in sorted position); by default only the standard library is known.
    Raises :class:`RuleNotApplicable` when an added import would shadow a name in use.
    """
    missing = missing_imports(tree, source, language, imports) if imports else []
    outcome = RewriteOutcome(source)
    done: list[Edit] = []  # edits already rendered, innermost first
    for span in sorted(spans, key=lambda s: (s.end - s.start, s.start)):
        captures: dict[str, str] = {}
        for name, (cs, ce) in span.captures.items():
            inner = [
                Edit(e.start - cs, e.end - cs, e.text)
                for e in done
                if cs <= e.start and e.end <= ce
            ]
            text = apply_edits(source[cs:ce], inner).decode("utf-8", errors="surrogateescape")
            if strip_args and name == "args":
                text = strip_brackets(text)
            captures[name] = text
        try:
            rendered = render(template, captures, indent=line_indent(source, span.start))
        except TemplateMismatch as exc:
            outcome.unmatched.append((span.line, str(exc)))
            continue
        new_text = rendered.encode("utf-8", errors="surrogateescape")
        if new_text == source[span.start : span.end]:
            # already in the target form (``join(...)`` after ``from os.path import join``)
            outcome.already.append(span.start)
            continue
        done.append(Edit(span.start, span.end, new_text))
        outcome.rewritten.append(span.line)
    top = [
        e
        for e in done
        if not any(o is not e and o.start <= e.start and e.end <= o.end for o in done)
    ]
    if top and missing:
        placed = (
            place_imports(tree, source, missing, sections or ImportSections())
            if language == "python"
            else None
        )
        if placed is not None:
            top.extend(Edit(start, end, text) for start, end, text in placed)
            outcome.imports_added = list(missing)
        else:
            edit = import_edit(tree, source, language, missing)
            if edit is not None:
                top.append(edit)
                outcome.imports_added = list(missing)
    outcome.source = apply_edits(source, top)
    if done:
        # the pruning below and the gates parse the rewritten file: from the old tree it
        # takes a fraction of a fresh parse
        parse_edited(
            source, tree, [(e.start, e.end, e.text) for e in top], outcome.source, language
        )
    outcome.rewritten.sort()
    if prune_imports and language == "python" and done:
        added: set[str] = set()
        for imp in imports:
            added |= python_bound_names(imp)
        pruned = prune_unused_imports(
            outcome.source, names_used_in(tree, [(e.start, e.end) for e in done]), protected=added
        )
        outcome.source = pruned.source
        outcome.imports_removed = pruned.removed
        outcome.imports_kept = pruned.kept
    return outcome


# --- imports ---------------------------------------------------------------

_PY_IMPORT = re.compile(r"^\s*from\s+([\w.]+)\s+import\s+(.+?)\s*$|^\s*import\s+(.+?)\s*$")


def python_bound_names(import_line: str) -> set[str]:
    """Names an import statement binds: ``from a import b as c`` -> {c}; ``import a.b`` -> {a}."""
    m = _PY_IMPORT.match(import_line)
    if m is None:
        return set()
    names: set[str] = set()
    items = (m.group(2) or m.group(3) or "").strip("() ")
    for item in items.split(","):
        parts = item.split()
        if not parts:
            continue
        if len(parts) == 3 and parts[1] == "as":
            names.add(parts[2])
        elif m.group(3) is not None:
            names.add(parts[0].split(".")[0])
        else:
            names.add(parts[0])
    return names


def _python_has_import(text: str, import_line: str) -> bool:
    wanted = import_line.strip()
    m = _PY_IMPORT.match(wanted)
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == wanted:
            return True
        if m is not None and m.group(1):
            other = _PY_IMPORT.match(stripped)
            if other is not None and other.group(1) == m.group(1):
                have = {p.strip() for p in (other.group(2) or "").strip("()").split(",")}
                if {p.strip() for p in m.group(2).split(",")} <= have:
                    return True
    return False


def _identifier_uses(tree: Tree, names: set[str]) -> set[str]:
    """Which of ``names`` appear as bare identifiers (not ``x.name`` attributes)."""
    found: set[str] = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "identifier" and node.text is not None:
            text = node.text.decode("utf-8", errors="replace")
            if text in names:
                parent = node.parent
                is_attr = (
                    parent is not None
                    and parent.type == "attribute"
                    and parent.child_by_field_name("attribute") == node
                )
                if not is_attr:
                    found.add(text)
        stack.extend(node.children)
    return found


def check_python_imports(tree: Tree, source: bytes, imports: Sequence[str]) -> list[str]:
    """Imports still to add; RuleNotApplicable when one would shadow a name the file uses."""
    text = source.decode("utf-8", errors="replace")
    missing = [imp for imp in imports if not _python_has_import(text, imp)]
    bound: set[str] = set()
    for imp in missing:
        bound |= python_bound_names(imp)
    clash = _identifier_uses(tree, bound) if bound else set()
    if clash:
        raise RuleNotApplicable(
            f"the added import would shadow {', '.join(sorted(clash))} already used in this file"
        )
    return missing


def import_insertion_offset(tree: Tree, source: bytes, language: str) -> int:
    """Byte offset just after the file's leading import block (or its header)."""
    root = tree.root_node
    after: int | None = None
    if language == "python":
        for i, child in enumerate(root.children):
            if child.type == "comment":
                continue
            if i == 0 or after is None:
                is_doc = (
                    child.type == "expression_statement"
                    and child.named_child_count == 1
                    and (child.named_children[0].type in {"string", "concatenated_string"})
                )
                if is_doc and after is None:
                    after = child.end_byte
                    continue
            if child.type in {
                "import_statement",
                "import_from_statement",
                "future_import_statement",
            }:
                after = child.end_byte
                continue
            break
    else:
        import_types = {
            "import_statement",
            "import_declaration",
            "use_declaration",
            "preproc_include",
            "using_directive",
            "package_clause",
            "package_declaration",
        }
        for child in root.children:
            if child.type in import_types:
                after = child.end_byte
    if after is None:
        # keep shebang / encoding / licence comment lines first
        offset = 0
        for line in source.splitlines(keepends=True):
            if line.startswith((b"#!", b"# -*-", b"# vim:")):
                offset += len(line)
                continue
            break
        return offset
    nl = source.find(b"\n", after)
    return len(source) if nl == -1 else nl + 1


def import_edit(tree: Tree, source: bytes, language: str, imports: Sequence[str]) -> Edit | None:
    if not imports:
        return None
    offset = import_insertion_offset(tree, source, language)
    block = "".join(imp.rstrip("\n") + "\n" for imp in imports).encode()
    if offset == len(source) and source and not source.endswith(b"\n"):
        block = b"\n" + block
    return Edit(offset, offset, block)


def missing_imports(tree: Tree, source: bytes, language: str, imports: Sequence[str]) -> list[str]:
    if language == "python":
        return check_python_imports(tree, source, imports)
    text = source.decode("utf-8", errors="replace")
    present = {line.strip() for line in text.splitlines()}
    return [imp for imp in imports if imp.strip() not in present]
