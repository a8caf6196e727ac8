"""Rewrite templates: ``join({args})`` with tree-sitter captures substituted.

Syntax, kept deliberately small:

- ``{name}`` is replaced by the text of the capture ``name``. With ``--find`` the
  captures of a call are ``call`` (the whole call), ``callee`` (the called
  expression), ``args`` (the argument list without its brackets) and ``0``,
  ``1``, ... (each positional or keyword argument, in order). With a rule's
  tree-sitter query they are the query's own ``@captures``; a capture whose text
  is wrapped in one bracket pair (an argument list) is also offered without the
  brackets as ``{name.inner}``, and ``args`` gets that treatment by default.
- ``{{`` and ``}}`` are literal braces.

A template that spans several lines is re-indented to the indentation of the line
the site starts on, so the surrounding formatting holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from reviewbot.errors import UsageError

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.inner)?|[0-9]+)\}|[{}]")


@dataclass(frozen=True)
class Template:
    source: str
    # literal text and placeholder names, alternating as they appear
    parts: tuple[tuple[str, bool], ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(text for text, is_name in self.parts if is_name)


class TemplateMismatch(Exception):
    """A site lacks a capture the template needs: the rule does not apply there."""


def parse_template(source: str) -> Template:
    parts: list[tuple[str, bool]] = []
    literal: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(source):
        literal.append(source[pos : m.start()])
        token = m.group(0)
        if token == "{{":
            literal.append("{")
        elif token == "}}":
            literal.append("}")
        elif m.group(1) is None:
            raise UsageError(
                f"rewrite template {source!r}: stray {token!r} at offset {m.start()}; "
                "write {{ or }} for a literal brace, {name} for a capture"
            )
        else:
            parts.append(("".join(literal), False))
            literal = []
            parts.append((m.group(1), True))
        pos = m.end()
    literal.append(source[pos:])
    parts.append(("".join(literal), False))
    return Template(source=source, parts=tuple(p for p in parts if p[1] or p[0]))


def strip_brackets(text: str) -> str:
    """The inside of one enclosing bracket pair, or the text unchanged."""
    if len(text) >= 2 and (text[0], text[-1]) in {("(", ")"), ("[", "]"), ("{", "}")}:
        return text[1:-1]
    return text


def render(template: Template, captures: Mapping[str, str], *, indent: str = "") -> str:
    """Fill the template; continuation lines get the site line's ``indent``."""
    out: list[str] = []
    for text, is_name in template.parts:
        if not is_name:
            out.append(text.replace("\n", "\n" + indent) if indent else text)
            continue
        if text in captures:
            out.append(captures[text])
        elif text.endswith(".inner") and text[: -len(".inner")] in captures:
            out.append(strip_brackets(captures[text[: -len(".inner")]]))
        else:
            raise TemplateMismatch(f"no capture {{{text}}} at this site")
    return "".join(out)
