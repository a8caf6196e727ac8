"""Parsing with tree-sitter, a per-process parse cache keyed by blob id, and syntax errors.

Trees cannot be pickled or stored, so this cache lives only in memory; what
survives across runs is the call-site results cache (:mod:`reviewbot.code.cache`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import tree_sitter
from pydantic import BaseModel, ConfigDict

from reviewbot.code.languages import Language, language_for_path, language_named
from reviewbot.code.source import SourceView
from reviewbot.errors import UsageError

_PARSERS: dict[str, tree_sitter.Parser] = {}
_TREE_CACHE: OrderedDict[tuple[str, str], ParsedFile] = OrderedDict()
TREE_CACHE_SIZE = 256
_RECENT: OrderedDict[tuple[str, bytes], tree_sitter.Tree] = OrderedDict()  # by content
_RECENT_LOCK = threading.Lock()
RECENT_SIZE = 32


@dataclass(frozen=True)
class ParsedFile:
    """A parsed file: its bytes, its tree, and whether the tree holds syntax errors."""

    path: str
    language: Language
    blob_id: str
    source: bytes
    tree: tree_sitter.Tree

    @property
    def has_errors(self) -> bool:
        return self.tree.root_node.has_error


def resolve_language(language: Language | str) -> Language:
    if isinstance(language, Language):
        return language
    found = language_named(language)
    if found is None:
        raise UsageError(
            f"unknown language '{language}'; use one of: python, javascript, "
            "typescript, tsx, go, java, rust, ruby, c, cpp, csharp, php"
        )
    return found


def parse(source: bytes, language: Language | str) -> tree_sitter.Tree:
    """Parse bytes. Never raises on bad code: errors become ERROR/MISSING nodes in the tree.

    The last few results are kept by content: a migration's rewrite and its gates ask for
    the trees of the same before and after texts several times each."""
    lang = resolve_language(language)
    key = (lang.name, source)
    with _RECENT_LOCK:
        tree = _RECENT.get(key)
        if tree is not None:
            _RECENT.move_to_end(key)
            return tree
    return _remember(key, _parser(lang).parse(source))


def _parser(lang: Language) -> tree_sitter.Parser:
    parser = _PARSERS.get(lang.name)
    if parser is None:
        parser = _PARSERS[lang.name] = tree_sitter.Parser(lang.grammar())
    return parser


def _remember(key: tuple[str, bytes], tree: tree_sitter.Tree) -> tree_sitter.Tree:
    with _RECENT_LOCK:
        _RECENT[key] = tree
        if len(_RECENT) > RECENT_SIZE:
            _RECENT.popitem(last=False)
    return tree


def parse_edited(
    source: bytes,
    tree: tree_sitter.Tree,
    edits: Sequence[tuple[int, int, bytes]],
    new_source: bytes,
    language: Language | str,
) -> tree_sitter.Tree:
    """The tree of ``new_source``, which is ``source`` with ``edits`` ((start, end, text),
    not overlapping) applied, parsed incrementally from ``tree`` (left as it is): a few
    times faster than parsing it afresh, for the same tree. Kept like :func:`parse`'s."""
    lang = resolve_language(language)
    key = (lang.name, new_source)
    with _RECENT_LOCK:
        found = _RECENT.get(key)
    if found is not None:
        return found
    edited = tree.copy()
    # last first: the offsets of the edits before it are still those of ``source``
    for start, end, text in sorted(edits, reverse=True):
        start_point = _point(source, start)
        lines = text.count(b"\n")
        if lines:
            new_end = (start_point[0] + lines, len(text) - text.rfind(b"\n") - 1)
        else:
            new_end = (start_point[0], start_point[1] + len(text))
        edited.edit(start, end, start + len(text), start_point, _point(source, end), new_end)
    return _remember(key, _parser(lang).parse(new_source, edited))


def _point(source: bytes, offset: int) -> tuple[int, int]:
    """(row, byte column) of ``offset``."""
    return source.count(b"\n", 0, offset), offset - (source.rfind(b"\n", 0, offset) + 1)


def parse_blob(path: str, blob_id: str, source: bytes, language: Language) -> ParsedFile:
    """Parse bytes whose blob id is known, reusing an earlier tree of the same blob."""
    key = (blob_id, language.name)
    cached = _TREE_CACHE.get(key)
    if cached is not None:
        _TREE_CACHE.move_to_end(key)
        return (
            cached
            if cached.path == path
            else ParsedFile(path, language, blob_id, cached.source, cached.tree)
        )
    parsed = ParsedFile(path, language, blob_id, source, parse(source, language))
    _TREE_CACHE[key] = parsed
    if len(_TREE_CACHE) > TREE_CACHE_SIZE:
        _TREE_CACHE.popitem(last=False)
    return parsed


def parse_file(view: SourceView, path: str, language: Language | None = None) -> ParsedFile:
    """Parse one file of a view, reusing the tree of an identical blob parsed earlier."""
    lang = language or language_for_path(path)
    if lang is None:
        raise UsageError(f"{path}: no grammar for this file type; pass --lang to choose one")
    blob = view.blob_id(path)
    cached = _TREE_CACHE.get((blob, lang.name))
    source = cached.source if cached is not None else view.read_bytes(path)
    return parse_blob(path, blob, source, lang)


class SyntaxErrorSite(BaseModel):
    """Where the parser had to give up (ERROR) or invent a token (MISSING). Lines are 1-based."""

    model_config = ConfigDict(frozen=True)

    line: int
    col: int
    end_line: int
    end_col: int
    text: str
    missing: bool = False


def syntax_errors(
    source: bytes, language: Language | str, *, limit: int = 100
) -> list[SyntaxErrorSite]:
    """The syntax errors of a file, outermost first, at most ``limit`` of them."""
    tree = parse(source, language)
    out: list[SyntaxErrorSite] = []
    if not tree.root_node.has_error:
        return out
    stack = [tree.root_node]
    while stack and len(out) < limit:
        node = stack.pop()
        if node.is_error or node.is_missing:
            text = (node.text or b"").decode("utf-8", "replace")
            if node.is_missing:
                text = node.type
            out.append(
                SyntaxErrorSite(
                    line=node.start_point[0] + 1,
                    col=node.start_point[1] + 1,
                    end_line=node.end_point[0] + 1,
                    end_col=node.end_point[1] + 1,
                    text=text.splitlines()[0][:200] if text else "",
                    missing=node.is_missing,
                )
            )
            if node.is_error:
                continue  # the error node's range covers what is inside it
        if node.has_error:
            stack.extend(reversed(node.children))
    return out
