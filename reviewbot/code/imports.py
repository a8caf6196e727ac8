"""Import bindings: which local names stand for which modules or module members.

Resolution is flow-insensitive on purpose: every import anywhere in a file counts
(one inside a function, one inside ``try/except ImportError``), and a name bound
by several imports stands for all of them. That matches how people read code and
keeps it cheap: one query per file, no scope analysis.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from functools import cache

import tree_sitter

from reviewbot.code.languages import Language


@dataclass
class Bindings:
    """``names``: local name -> qualified names it may stand for; ``stars``: ``from m import *``."""

    names: dict[str, set[str]] = field(default_factory=dict)
    stars: list[str] = field(default_factory=list)
    # aliases (`j = os.path.join`) whose name is bound more than once: maybe something else
    uncertain: set[str] = field(default_factory=set)

    def bind(self, local: str, qualified: str) -> None:
        self.names.setdefault(local, set()).add(qualified)


def _text(node: tree_sitter.Node | None) -> str:
    return (node.text or b"").decode("utf-8", "replace") if node is not None else ""


def _dotted(node: tree_sitter.Node | None) -> str:
    return "".join(_text(node).split())


_PY_QUERY = "(import_statement) @imp (import_from_statement) @imp"
_JS_QUERY = """
(import_statement) @imp
(variable_declarator value: (call_expression function: (identifier) @f (#eq? @f "require"))) @req
(variable_declarator value: (member_expression
    object: (call_expression function: (identifier) @f (#eq? @f "require")))) @req
"""


@cache
def _query(language: Language) -> tree_sitter.Query:
    src = _PY_QUERY if language.name == "python" else _JS_QUERY
    return tree_sitter.Query(language.grammar(), src)


def _import_matches(
    root: tree_sitter.Node, language: Language, source: bytes | None, keywords: tuple[bytes, ...]
) -> list[tuple[int, dict[str, list[tree_sitter.Node]]]]:
    if source is None:
        return list(tree_sitter.QueryCursor(_query(language)).matches(root))
    # only look where the keyword occurs: most of a file is not imports
    out: list[tuple[int, dict[str, list[tree_sitter.Node]]]] = []
    seen: set[int] = set()
    for keyword in keywords:
        start = source.find(keyword)
        while start >= 0:
            cursor = tree_sitter.QueryCursor(_query(language))
            cursor.set_byte_range(start, start + len(keyword))
            for pattern, caps in cursor.matches(root):
                node = next(iter(caps.get("imp", caps.get("req", []))), None)
                if node is not None and node.id not in seen:
                    seen.add(node.id)
                    out.append((pattern, caps))
            start = source.find(keyword, start + len(keyword))
    return out


def python_module(path: str) -> str | None:
    """``pkg/mod.py`` -> ``pkg.mod``; ``pkg/__init__.py`` -> ``pkg``; ``src/`` layouts kept."""
    stem, ext = posixpath.splitext(path)
    if ext not in (".py", ".pyi"):
        return None
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def python_package(path: str) -> str | None:
    """Where a file's relative imports start: ``pkg/sub/mod.py`` -> ``pkg.sub``."""
    return python_module(posixpath.join(posixpath.dirname(path), "__init__.py"))


def _relative_module(node: tree_sitter.Node, package: str | None) -> str | None:
    """``from ..core import x`` in package ``a.b.c`` -> ``a.b.core``; None when unresolvable."""
    text = _dotted(node)
    rest = text.lstrip(".")
    level = len(text) - len(rest)
    if package is None or level < 1:
        return None
    parts = package.split(".")
    if level - 1 >= len(parts):
        return None  # climbs above the top-level package
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([rest] if rest else []))


def python_bindings(
    root: tree_sitter.Node,
    language: Language,
    source: bytes | None = None,
    package: str | None = None,
) -> Bindings:
    """Import bindings of a Python file; ``package`` (see :func:`python_package`) resolves
    its relative imports."""
    out = Bindings()
    for _, caps in _import_matches(root, language, source, (b"import",)):
        for node in caps.get("imp", []):
            if node.type == "import_statement":
                for child in node.named_children:
                    if child.type == "dotted_name":
                        module = _dotted(child)
                        out.bind(module.split(".")[0], module.split(".")[0])
                    elif child.type == "aliased_import":
                        out.bind(
                            _text(child.child_by_field_name("alias")),
                            _dotted(child.child_by_field_name("name")),
                        )
                continue
            module_node = node.child_by_field_name("module_name")
            if module_node is None:
                continue
            if module_node.type == "relative_import":
                relative = _relative_module(module_node, package)
                if relative is None:
                    continue  # no package known, or it climbs above the top
                module = relative
            else:
                module = _dotted(module_node)
            for child in node.named_children:
                if child.id == module_node.id:
                    continue
                if child.type == "wildcard_import":
                    out.stars.append(module)
                elif child.type == "dotted_name":
                    name = _dotted(child)
                    out.bind(name, f"{module}.{name}")
                elif child.type == "aliased_import":
                    name = _dotted(child.child_by_field_name("name"))
                    out.bind(_text(child.child_by_field_name("alias")), f"{module}.{name}")
    return out


def js_module_name(string_node: tree_sitter.Node | None) -> str:
    text = _text(string_node).strip("'\"`")
    return text.removeprefix("node:")


def js_bindings(
    root: tree_sitter.Node, language: Language, source: bytes | None = None
) -> Bindings:
    out = Bindings()
    for _, caps in _import_matches(root, language, source, (b"import", b"require")):
        for node in caps.get("imp", []):
            spec = node.child_by_field_name("source")
            for clause in node.named_children:
                if clause.type == "import_clause" and spec is not None:
                    _js_import_clause(clause, js_module_name(spec), out)
                elif clause.type == "import_require_clause":  # TS: import x = require("m")
                    required = clause.child_by_field_name("source")
                    for part in clause.named_children:
                        if part.type == "identifier" and required is not None:
                            out.bind(_text(part), js_module_name(required))
                            break
        for node in caps.get("req", []):
            value = node.child_by_field_name("value")
            call = value
            member = ""
            if value is not None and value.type == "member_expression":
                call = value.child_by_field_name("object")
                member = _text(value.child_by_field_name("property"))
            args = call.child_by_field_name("arguments") if call is not None else None
            if (
                args is None
                or args.named_child_count != 1
                or args.named_children[0].type != "string"
            ):
                continue
            module = js_module_name(args.named_children[0])
            base = f"{module}.{member}" if member else module
            _js_pattern(node.child_by_field_name("name"), base, out)
    return out


def _js_import_clause(clause: tree_sitter.Node, module: str, out: Bindings) -> None:
    for part in clause.named_children:
        if part.type == "identifier":  # default import: treated as the module itself
            out.bind(_text(part), module)
        elif part.type == "namespace_import":
            for ident in part.named_children:
                if ident.type == "identifier":
                    out.bind(_text(ident), module)
        elif part.type == "named_imports":
            for spec in part.named_children:
                if spec.type != "import_specifier":
                    continue
                name = _text(spec.child_by_field_name("name")).strip("'\"")
                alias = spec.child_by_field_name("alias")
                out.bind(_text(alias) if alias is not None else name, f"{module}.{name}")


def _js_pattern(pattern: tree_sitter.Node | None, base: str, out: Bindings) -> None:
    if pattern is None:
        return
    if pattern.type == "identifier":
        out.bind(_text(pattern), base)
        return
    if pattern.type != "object_pattern":
        return
    for prop in pattern.named_children:
        if prop.type == "shorthand_property_identifier_pattern":
            out.bind(_text(prop), f"{base}.{_text(prop)}")
        elif prop.type == "pair_pattern":
            key = _text(prop.child_by_field_name("key")).strip("'\"")
            _js_pattern(prop.child_by_field_name("value"), f"{base}.{key}", out)
        elif prop.type == "object_assignment_pattern":  # { get = fallback }
            left = prop.child_by_field_name("left")
            if left is not None and left.type == "shorthand_property_identifier_pattern":
                out.bind(_text(left), f"{base}.{_text(left)}")


def bindings_for(
    root: tree_sitter.Node,
    language: Language,
    source: bytes | None = None,
    package: str | None = None,
) -> Bindings | None:
    """Import bindings for languages whose imports we resolve (Python, JS, TS); else None.

    With the file's ``source``, only the places where ``import``/``require`` occur are
    examined, which is much cheaper than walking the whole tree.
    """
    if language.name == "python":
        out = python_bindings(root, language, source, package)
    elif language.name in ("javascript", "typescript", "tsx"):
        out = js_bindings(root, language, source)
    else:
        return None
    if out.names:
        _aliases(root, language, out)
    return out


# --- aliases ---------------------------------------------------------------------------

# A plain name bound to an imported name or a member of one: `j = os.path.join`,
# `var extname = path.extname`, `const { lookup } = send.mime`. Every binding of a name
# counts (`@bound`): an alias bound once stands for the import, one bound again may not.
_PY_ALIAS_QUERY = """
(assignment left: (identifier) @alias right: [(identifier) (attribute)] @value) @assign
(assignment left: (identifier) @bound)
(augmented_assignment left: (identifier) @bound)
(for_statement left: (identifier) @bound)
(function_definition name: (identifier) @bound)
(class_definition name: (identifier) @bound)
(parameters (identifier) @bound)
(default_parameter name: (identifier) @bound)
(typed_parameter (identifier) @bound)
(typed_default_parameter name: (identifier) @bound)
(list_splat_pattern (identifier) @bound)
(dictionary_splat_pattern (identifier) @bound)
(lambda_parameters (identifier) @bound)
"""
_JS_ALIAS_QUERY = """
(variable_declarator name: [(identifier) (object_pattern)] @alias
    value: [(identifier) (member_expression)] @value) @assign
(variable_declarator name: (identifier) @bound)
(variable_declarator name: (object_pattern (shorthand_property_identifier_pattern) @bound))
(assignment_expression left: (identifier) @bound)
(augmented_assignment_expression left: (identifier) @bound)
(function_declaration name: (identifier) @bound)
(assignment_pattern left: (identifier) @bound)
"""
# parameters: plain in JavaScript, wrapped in TypeScript
_JS_PARAMETERS = "(formal_parameters (identifier) @bound)"
_TS_PARAMETERS = "(required_parameter pattern: (identifier) @bound)\n" + (
    "(optional_parameter pattern: (identifier) @bound)"
)


@cache
def _alias_query(language: Language) -> tree_sitter.Query:
    if language.name == "python":
        src = _PY_ALIAS_QUERY
    elif language.name == "javascript":
        src = _JS_ALIAS_QUERY + _JS_PARAMETERS
    else:
        src = _JS_ALIAS_QUERY + _TS_PARAMETERS
    return tree_sitter.Query(language.grammar(), src)


def _chain(node: tree_sitter.Node) -> str | None:
    """``a.b.c`` for a plain attribute/member chain; None for calls, subscripts, ..."""
    parts: list[str] = []
    while node.type in ("attribute", "member_expression"):
        prop = node.child_by_field_name("attribute" if node.type == "attribute" else "property")
        obj = node.child_by_field_name("object")
        if prop is None or obj is None or prop.type not in ("identifier", "property_identifier"):
            return None
        parts.append(_text(prop))
        node = obj
    if node.type != "identifier":
        return None
    parts.append(_text(node))
    return ".".join(reversed(parts))


def _aliases(root: tree_sitter.Node, language: Language, out: Bindings) -> None:
    bound: dict[str, int] = {}
    found: list[tuple[int, tree_sitter.Node, str]] = []
    for _, caps in tree_sitter.QueryCursor(_alias_query(language)).matches(root):
        for node in caps.get("bound", []):
            bound[_text(node)] = bound.get(_text(node), 0) + 1
        aliases, values = caps.get("alias", []), caps.get("value", [])
        if aliases and values:
            chain = _chain(values[0])
            if chain is not None:
                found.append((aliases[0].start_byte, aliases[0], chain))
    for _, alias, chain in sorted(found, key=lambda f: f[0]):  # in source order: aliases of aliases
        head, _, rest = chain.partition(".")
        targets = out.names.get(head)
        if not targets:
            continue
        suffix = f".{rest}" if rest else ""
        for qualified in sorted(targets):
            if alias.type == "identifier":
                name = _text(alias)
                if name == head and not rest:
                    continue
                out.bind(name, qualified + suffix)
                if bound.get(name, 0) > 1:
                    out.uncertain.add(name)
            else:
                _js_pattern(alias, qualified + suffix, out)
                stack = [alias]
                while stack:
                    node = stack.pop()
                    stack.extend(node.named_children)
                    if node.type in ("identifier", "shorthand_property_identifier_pattern"):
                        if bound.get(_text(node), 0) > 1:
                            out.uncertain.add(_text(node))
