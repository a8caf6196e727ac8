"""Definitions (functions, classes, methods) and the symbol that encloses a node."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter
from pydantic import BaseModel, ConfigDict

from reviewbot.code.languages import Language

# node type -> kind, per language. "container" kinds (classes, modules, impls)
# qualify the names of what they hold.
_DEFINITIONS: dict[str, dict[str, str]] = {
    "python": {"function_definition": "function", "class_definition": "class"},
    "javascript": {
        "function_declaration": "function",
        "generator_function_declaration": "function",
        "method_definition": "method",
        "class_declaration": "class",
        "variable_declarator": "function",
        # CommonJS method style: `res.location = function location(url) {...}`
        "assignment_expression": "method",
    },
    "go": {
        "function_declaration": "function",
        "method_declaration": "method",
        "type_spec": "class",
    },
    "java": {
        "class_declaration": "class",
        "interface_declaration": "class",
        "enum_declaration": "class",
        "record_declaration": "class",
        "method_declaration": "method",
        "constructor_declaration": "method",
    },
    "rust": {
        "function_item": "function",
        "impl_item": "class",
        "trait_item": "class",
        "mod_item": "module",
    },
    "ruby": {
        "method": "method",
        "singleton_method": "method",
        "class": "class",
        "module": "module",
    },
    "c": {"function_definition": "function"},
    "cpp": {
        "function_definition": "function",
        "class_specifier": "class",
        "struct_specifier": "class",
        "namespace_definition": "module",
    },
    "csharp": {
        "class_declaration": "class",
        "struct_declaration": "class",
        "interface_declaration": "class",
        "record_declaration": "class",
        "method_declaration": "method",
        "constructor_declaration": "method",
        "namespace_declaration": "module",
        "local_function_statement": "function",
    },
    "php": {
        "function_definition": "function",
        "method_declaration": "method",
        "class_declaration": "class",
        "trait_declaration": "class",
        "interface_declaration": "class",
    },
}
_DEFINITIONS["typescript"] = _DEFINITIONS["tsx"] = {
    **_DEFINITIONS["javascript"],
    "abstract_class_declaration": "class",
    "interface_declaration": "class",
    "function_signature": "function",
}
_FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}
_CONTAINERS = {"class", "module"}


class Definition(BaseModel):
    """A function, method, class or module defined in a file. Lines are 1-based, inclusive."""

    model_config = ConfigDict(frozen=True)

    name: str
    qualified: str  # "Class.method"
    kind: str  # function | method | class | module
    start_line: int
    end_line: int
    start_byte: int
    end_byte: int


def _text(node: tree_sitter.Node | None) -> str:
    return (node.text or b"").decode("utf-8", "replace") if node is not None else ""


def _declarator_name(node: tree_sitter.Node | None) -> str:
    """C/C++: dig through pointer/function declarators to the declared name."""
    while node is not None:
        if node.type in (
            "identifier",
            "field_identifier",
            "qualified_identifier",
            "destructor_name",
            "operator_name",
            "type_identifier",
        ):
            return _text(node).replace(" ", "")
        node = node.child_by_field_name("declarator")
    return ""


def definition_name(node: tree_sitter.Node, language: Language) -> str | None:
    """The name a definition node declares, or None when the node declares nothing we track."""
    kinds = _DEFINITIONS.get(language.name, {})
    if node.type not in kinds:
        return None
    if node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        if value is None or value.type not in _FUNCTION_VALUES:
            return None
        name = node.child_by_field_name("name")
        return _text(name) if name is not None and name.type == "identifier" else None
    if node.type == "assignment_expression":
        value = node.child_by_field_name("right")
        if value is None or value.type not in _FUNCTION_VALUES:
            return None
        return _member_path(node.child_by_field_name("left"))
    if language.name in ("c", "cpp") and node.type == "function_definition":
        return _declarator_name(node.child_by_field_name("declarator")) or None
    if node.type == "impl_item":
        return _text(node.child_by_field_name("type")) or None
    if node.type == "method_declaration" and language.name == "go":
        method = _text(node.child_by_field_name("name"))
        receiver = node.child_by_field_name("receiver")
        rtype = ""
        if receiver is not None:
            for t in _walk(receiver):
                if t.type == "type_identifier":
                    rtype = _text(t)
                    break
        return f"{rtype}.{method}" if rtype else method
    if node.type == "type_spec":
        body = node.child_by_field_name("type")
        if body is None or body.type not in ("struct_type", "interface_type"):
            return None
    name_node = node.child_by_field_name("name")
    if name_node is None:
        return None
    return _text(name_node) or None


def _member_path(node: tree_sitter.Node | None) -> str | None:
    """``module.exports.y`` for a chain of plain member accesses; None for anything else
    (``a[k]``, ``f().x``)."""
    parts: list[str] = []
    while node is not None and node.type == "member_expression":
        prop = node.child_by_field_name("property")
        if prop is None or prop.type != "property_identifier":
            return None
        parts.append(_text(prop))
        node = node.child_by_field_name("object")
    if node is None or node.type not in ("identifier", "this") or not parts:
        return None
    parts.append(_text(node))
    return ".".join(reversed(parts))


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _join(outer: str, inner: str) -> str:
    inner = inner.replace("::", ".")
    return f"{outer}.{inner}" if outer else inner


def enclosing_symbol(node: tree_sitter.Node, language: Language) -> str | None:
    """The qualified name of the innermost definition around ``node`` (``"Class.method"``)."""
    names: list[str] = []
    current = node.parent
    while current is not None:
        name = definition_name(current, language)
        if name is not None:
            names.append(name.replace("::", "."))
        current = current.parent
    return ".".join(reversed(names)) or None


def definitions(root: tree_sitter.Node, language: Language) -> list[Definition]:
    """Every tracked definition in a tree, outer before inner, with its qualified name."""
    kinds = _DEFINITIONS.get(language.name, {})
    out: list[Definition] = []
    stack: list[tuple[tree_sitter.Node, str]] = [(root, "")]
    while stack:
        node, prefix = stack.pop()
        child_prefix = prefix
        name = definition_name(node, language) if node.type in kinds else None
        if name is not None:
            qualified = _join(prefix, name)
            kind = kinds[node.type]
            if kind == "function" and prefix and language.name in ("python",):
                kind = "method" if _in_class(node) else kind
            if "." in name.replace("::", ".") and kind == "function":
                kind = "method"
            out.append(
                Definition(
                    name=name.replace("::", ".").rsplit(".", 1)[-1],
                    qualified=qualified,
                    kind=kind,
                    start_line=node.start_point[0] + 1,
                    end_line=node.end_point[0] + 1,
                    start_byte=node.start_byte,
                    end_byte=node.end_byte,
                )
            )
            child_prefix = qualified
        stack.extend((c, child_prefix) for c in reversed(node.children))
    return out


def _in_class(node: tree_sitter.Node) -> bool:
    parent = node.parent
    while parent is not None and parent.type in ("block", "decorated_definition"):
        if parent.type == "block":
            return parent.parent is not None and parent.parent.type == "class_definition"
        parent = parent.parent
    return False
