"""Call sites of one or more targets in one parsed file.

A query per language finds calls whose last name is one of a few candidates
(tree-sitter filters in C, so Python only sees likely hits); each hit's callee
is then resolved through the file's import bindings (Python, JS/TS) or compared
as qualified text (other languages).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import tree_sitter

from reviewbot.code.imports import Bindings, bindings_for
from reviewbot.code.languages import Language
from reviewbot.code.symbols import enclosing_symbol

# Each pattern captures the whole call as @call and the callee's last name as @name.
_CALL_PATTERNS: dict[str, str] = {
    "python": """
(call function: (identifier) @name) @call
(call function: (attribute attribute: (identifier) @name)) @call
""",
    "javascript": """
(call_expression function: (identifier) @name) @call
(call_expression function: (member_expression property: (property_identifier) @name)) @call
(new_expression constructor: (identifier) @name) @call
(new_expression constructor: (member_expression property: (property_identifier) @name)) @call
""",
    "go": """
(call_expression function: (identifier) @name) @call
(call_expression function: (selector_expression field: (field_identifier) @name)) @call
""",
    "java": """
(method_invocation name: (identifier) @name) @call
(object_creation_expression type: (type_identifier) @name) @call
""",
    "rust": """
(call_expression function: (identifier) @name) @call
(call_expression function: (scoped_identifier name: (identifier) @name)) @call
(call_expression function: (field_expression field: (field_identifier) @name)) @call
(macro_invocation macro: (identifier) @name) @call
(macro_invocation macro: (scoped_identifier name: (identifier) @name)) @call
""",
    "ruby": "(call method: (identifier) @name) @call",
    "c": """
(call_expression function: (identifier) @name) @call
(call_expression function: (field_expression field: (field_identifier) @name)) @call
""",
    "cpp": """
(call_expression function: (identifier) @name) @call
(call_expression function: (field_expression field: (field_identifier) @name)) @call
(call_expression function: (qualified_identifier name: (identifier) @name)) @call
(call_expression function: (template_function name: (identifier) @name)) @call
""",
    "csharp": """
(invocation_expression function: (identifier) @name) @call
(invocation_expression function: (member_access_expression name: (identifier) @name)) @call
(object_creation_expression type: (identifier) @name) @call
""",
    "php": """
(function_call_expression function: (name) @name) @call
(function_call_expression function: (qualified_name (name) @name)) @call
(member_call_expression name: (name) @name) @call
(nullsafe_member_call_expression name: (name) @name) @call
(scoped_call_expression name: (name) @name) @call
""",
}
_CALL_PATTERNS["typescript"] = _CALL_PATTERNS["tsx"] = _CALL_PATTERNS["javascript"]

RESOLVING = frozenset({"python", "javascript", "typescript", "tsx"})

_SEPARATORS = re.compile(r"::|\?->|->|\?\.|\\")
_CHAIN = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*!?")
_NAME = re.compile(r"[A-Za-z_$][\w$]*!?")


def normalize_name(text: str) -> str:
    """``std::fs::read`` / ``$a->b`` / ``\\Ns\\f`` / ``a?.b`` -> dotted form, no whitespace."""
    text = "".join(text.split())
    return _SEPARATORS.sub(".", text).lstrip(".").replace("$", "")


@dataclass(frozen=True)
class CallTarget:
    """What to look for: a qualified name, or (``by_name``) any call whose last name matches."""

    qualified: str  # normalized: dotted, no whitespace
    by_name: bool = False
    display: str = ""  # as the user wrote it (``std::fs::read``), for reports

    @classmethod
    def parse(cls, text: str, *, by_name: bool = False) -> CallTarget:
        text = "".join(text.split()).removesuffix("()")
        return cls(normalize_name(text), by_name, text)

    @property
    def valid(self) -> bool:
        """The last segment must be a name (`get`, `println!`); modules may hold `/`, `@`, `-`."""
        return _NAME.fullmatch(self.last) is not None

    @property
    def shown(self) -> str:
        return self.display or self.qualified

    @property
    def segments(self) -> list[str]:
        return self.qualified.split(".")

    @property
    def last(self) -> str:
        return self.segments[-1]

    @property
    def key(self) -> str:
        return f"{'name' if self.by_name else 'qualified'}:{self.qualified}"

    def needles(self, language: Language) -> list[bytes]:
        """Byte strings a file must all contain to possibly hold a matching call."""
        segs = [s.rstrip("!") for s in self.segments]
        if self.by_name:
            return [segs[-1].encode()]
        if language.name in RESOLVING:
            # every segment shows up in the call or in the import that binds it
            return sorted({s.encode() for s in segs if s}, key=len, reverse=True)
        return [s.encode() for s in segs[-2:] if s][::-1]

    def passes_import_test(self, data: bytes, language: Language) -> bool:
        """For a file known to hold every needle: can an import make a call resolve to us?"""
        if self.by_name or language.name not in RESOLVING or len(self.segments) == 1:
            return True
        if self.qualified.encode() in data:
            return True
        # Otherwise only an aliasing import can make a call resolve to the target:
        # `from os import path`, `import os.path as osp`, `require("axios")`...
        return self._import_pattern(language.name).search(data) is not None

    def _import_pattern(self, language: str) -> re.Pattern[bytes]:
        head = re.escape(self.segments[0].encode())
        if language == "python":
            return re.compile(
                rb"^[ \t]*from[ \t]+"
                + head
                + rb"\b|\bimport[ \t][^\n]*\b"
                + head
                + rb"[\w.]*[ \t]+as\b",
                re.MULTILINE,
            )
        return re.compile(rb"['\"`](?:node:)?" + head + rb"['\"`/]")


# `from .m import a, b` or `from . import (a,\n b)`: the statement, parenthesised names too
_RELATIVE_IMPORT = re.compile(
    rb"^[ \t]*from[ \t]+\.[^\n(]*(?:\([^)]*\)|[^\n]*)", re.MULTILINE
)


def _names_any(text: bytes, segments: Sequence[str]) -> bool:
    return any(
        re.search(rb"(?<!\w)" + re.escape(seg.rstrip("!").encode()) + rb"\b", text)
        for seg in segments
        if seg
    )

# Bytes of an identifier, as far as the byte tests care: `$` is left out because names are
# searched without it (`$this->get` is a call of `this.get`).
_TOKEN_BYTES = rb"A-Za-z0-9_\x80-\xff"
_TOKEN = re.compile(rb"[" + _TOKEN_BYTES + rb"]+")
# Up to this many distinct last names a search per name beats splitting the file into
# words. On Django (17 MB of Python) 46 substring tests per file took 0.24 s, splitting
# every file into words 0.20 s.
_FEW_NAMES = 32


class Prefilter:
    """The byte test of many targets at once: which of them a file may call.

    A target's last name must occur in the file as a whole word (any call of it, or of an
    alias of it, is written with it: `get(`, `.get(`, `import get as g`); only the targets
    whose last name does are tested further, with their other needles and import test.
    With many names the file is split into words once and intersected with all of them,
    so the cost does not grow with the number of targets.
    """

    def __init__(self, targets: Sequence[CallTarget]) -> None:
        self.targets = list(targets)
        self._by_last: dict[bytes, list[int]] = {}
        for i, target in enumerate(self.targets):
            self._by_last.setdefault(target.last.rstrip("!").encode(), []).append(i)
        self._words = (
            {
                last: re.compile(
                    rb"(?<!["
                    + _TOKEN_BYTES
                    + rb"])"
                    + re.escape(last)
                    + rb"(?!["
                    + _TOKEN_BYTES
                    + rb"])"
                )
                for last in self._by_last
            }
            if len(self._by_last) <= _FEW_NAMES
            else None
        )

    def _lasts_in(self, data: bytes) -> list[bytes]:
        if self._words is not None:
            return [w for w, rx in self._words.items() if w in data and rx.search(data)]
        return list(self._by_last.keys() & set(_TOKEN.findall(data)))

    def candidates(self, data: bytes, language: Language) -> list[int]:
        """Indices (ascending) of the targets ``data`` may call; the others it cannot."""
        present: dict[bytes, bool] = {}

        def has(needle: bytes) -> bool:
            found = present.get(needle)
            if found is None:
                found = present[needle] = needle in data
            return found

        # A relative import (`from .utils import helper`) spells neither the package nor an
        # absolute import of it, but it names a later segment of the target (`utils`,
        # `helper`): that is what such a file is tested for.
        relative = b""
        if language.name == "python" and b"from ." in data:
            relative = b"\n".join(_RELATIVE_IMPORT.findall(data))
        out = [
            i
            for last in self._lasts_in(data)
            for i in self._by_last[last]
            if (
                all(has(n) for n in _needles(self.targets[i], language))
                and self.targets[i].passes_import_test(data, language)
            )
            or (relative and _names_any(relative, self.targets[i].segments[1:]))
        ]
        out.sort()
        return out


@lru_cache(maxsize=4096)
def _needles(target: CallTarget, language: Language) -> tuple[bytes, ...]:
    return tuple(target.needles(language))


@dataclass(frozen=True)
class RawSite:
    """A call site as stored in the results cache: everything except the file's path."""

    start_byte: int
    end_byte: int
    start_line: int
    end_line: int
    start_col: int
    end_col: int
    qualified_name: str
    matched_text: str
    enclosing: str | None
    snippet: str
    uncertain: bool
    in_error_tree: bool


# Above this many names a query that lists them costs more to compile than it saves (each
# file has its own set: its aliases); the query without a name filter serves them all, and
# the calls it finds are filtered by name in Python.
_MAX_FILTERED_NAMES = 8


def _call_query(language: Language, names: frozenset[str], *, shared: bool) -> tree_sitter.Query:
    """A query for calls whose last name is one of ``names``, or of any name.

    ``shared``: several targets are searched at once, so each file asks for a different set
    of names (the targets it may call) and a compiled filter would rarely be reused.
    """
    if shared or len(names) > _MAX_FILTERED_NAMES:
        return _any_call_query(language)
    return _filtered_call_query(language, names)


@lru_cache(maxsize=64)
def _any_call_query(language: Language) -> tree_sitter.Query:
    return tree_sitter.Query(language.grammar(), _CALL_PATTERNS[language.name])


@lru_cache(maxsize=512)
def _filtered_call_query(language: Language, names: frozenset[str]) -> tree_sitter.Query:
    quoted = " ".join(
        '"' + n.replace("\\", "\\\\").replace('"', '\\"') + '"' for n in sorted(names)
    )
    lines = _CALL_PATTERNS[language.name].strip().splitlines()
    # attach the name filter inside each pattern, so tree-sitter drops non-matches in C
    src = "\n".join(
        line.rsplit(") @call", 1)[0] + f" (#any-of? @name {quoted})) @call" for line in lines
    )
    return tree_sitter.Query(language.grammar(), src)


def _is_ident_byte(b: int) -> bool:
    return b == 36 or b == 95 or 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122 or b >= 128


_IDENTIFIER = re.compile(rb"[A-Za-z0-9_$\x80-\xff]+")  # the bytes of _is_ident_byte


def word_ranges(source: bytes, words: set[str]) -> list[tuple[int, int]]:
    """Byte ranges where any of ``words`` occurs as a whole identifier, in order."""
    if len(words) > 4:
        # one pass over the file's words instead of one search per word
        wanted = {w.encode() for w in words}
        return [m.span() for m in _IDENTIFIER.finditer(source) if m.group() in wanted]
    out: list[tuple[int, int]] = []
    n = len(source)
    for word in words:
        needle = word.encode()
        start = source.find(needle)
        while start >= 0:
            end = start + len(needle)
            if (start == 0 or not _is_ident_byte(source[start - 1])) and (
                end >= n or not _is_ident_byte(source[end])
            ):
                out.append((start, end))
            start = source.find(needle, end)
    out.sort()
    return out


def matches_near(
    query: tree_sitter.Query, root: tree_sitter.Node, ranges: list[tuple[int, int]]
) -> list[tuple[int, dict[str, list[tree_sitter.Node]]]]:
    """Query matches touching any of ``ranges``.

    A cursor limited to a byte range only descends into nodes that overlap it, so a
    few hits in a big file cost a few root-to-leaf walks instead of a whole-tree walk.
    """
    out: list[tuple[int, dict[str, list[tree_sitter.Node]]]] = []
    for start, end in ranges:
        cursor = tree_sitter.QueryCursor(query)
        cursor.set_byte_range(start, end)
        out.extend(cursor.matches(root))
    return out


def _text(node: tree_sitter.Node | None) -> str:
    return (node.text or b"").decode("utf-8", "replace") if node is not None else ""


def callee_text(call: tree_sitter.Node, name: tree_sitter.Node, language: Language) -> str:
    """The callee as written (``r.get``, ``System.out.println``, ``$this->foo``)."""
    t = call.type
    if (
        t == "call"
        and language.name == "ruby"
        or t
        in (
            "method_invocation",
            "member_call_expression",
            "nullsafe_member_call_expression",
            "scoped_call_expression",
        )
    ):
        obj = (
            call.child_by_field_name("object")
            or call.child_by_field_name("receiver")
            or call.child_by_field_name("scope")
        )
        sep = {
            "scoped_call_expression": "::",
            "member_call_expression": "->",
            "nullsafe_member_call_expression": "?->",
        }.get(t, ".")
        return f"{_text(obj)}{sep}{_text(name)}" if obj is not None else _text(name)
    if t in ("object_creation_expression", "new_expression"):
        fn = call.child_by_field_name("type") or call.child_by_field_name("constructor")
        return _text(fn)
    if t == "macro_invocation":
        return _text(call.child_by_field_name("macro")) + "!"
    fn = call.child_by_field_name("function")
    return _text(fn)


def _snippet(source: bytes, node: tree_sitter.Node) -> str:
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    line_end = source.find(b"\n", node.start_byte)
    if line_end < 0:
        line_end = len(source)
    line = source[line_start:line_end].decode("utf-8", "replace").strip()
    return line if len(line) <= 200 else line[:197] + "..."


def _resolve(chain: str, bindings: Bindings, language: Language) -> tuple[set[str], bool]:
    """Qualified names a dotted callee may stand for, and whether that is uncertain."""
    head, _, rest = chain.partition(".")
    suffix = f".{rest}" if rest else ""
    bound = bindings.names.get(head)
    if bound:
        return {q + suffix for q in bound}, head in bindings.uncertain
    if language.name == "python" and bindings.stars:
        # an unbound name may come from any `from m import *`, or be a builtin/local
        return {chain} | {f"{m}.{chain}" for m in bindings.stars}, True
    return {chain}, False


def calls_in_tree(
    tree: tree_sitter.Tree,
    source: bytes,
    language: Language,
    target: CallTarget,
    package: str | None = None,
) -> list[RawSite]:
    """Every call of ``target`` in a parsed file, in source order."""
    return calls_in_tree_many(tree, source, language, [target], package)[0]


def calls_in_tree_many(
    tree: tree_sitter.Tree,
    source: bytes,
    language: Language,
    targets: Sequence[CallTarget],
    package: str | None = None,
) -> list[list[RawSite]]:
    """The calls of each of ``targets`` in a parsed file (one list per target, source order).

    One walk serves them all: imports are resolved once, and one query finds the calls of
    every name any target may be written as; each call is then matched against the targets
    that name belongs to. ``package`` is the Python package the file's relative imports
    start from.
    """
    root = tree.root_node
    bindings = bindings_for(root, language, source, package)
    # the names a call of each target may be written with: its last name, and local
    # names an import binds to it (`from requests import get as fetch`)
    names_of: list[set[str]] = []
    for target in targets:
        names = {target.last.rstrip("!")}
        if bindings is not None and not target.by_name:
            names |= {local for local, quals in bindings.names.items() if target.qualified in quals}
        names_of.append(names)
    wanted: dict[str, list[int]] = {}
    for i, names in enumerate(names_of):
        for local in names:
            wanted.setdefault(local, []).append(i)
    query = _call_query(language, frozenset(wanted), shared=len(targets) > 1)
    file_has_errors = root.has_error
    out: list[list[RawSite]] = [[] for _ in targets]
    seen: set[tuple[int, int]] = set()  # (call, target): a call may match more than once
    callees: dict[tuple[int, int], tuple[str, str, bool]] = {}
    contexts: dict[int, tuple[str | None, str]] = {}
    for _, caps in matches_near(query, root, word_ranges(source, set(wanted))):
        call = caps["call"][0]
        name = caps["name"][0]
        for i in wanted.get(_text(name), ()):
            if (call.id, i) in seen:
                continue
            seen.add((call.id, i))
            callee = callees.get((call.id, name.id))
            if callee is None:
                written = callee_text(call, name, language)
                chain = normalize_name(written)
                callee = (written, chain, _CHAIN.fullmatch(chain) is not None)
                callees[(call.id, name.id)] = callee
            written, chain, is_chain = callee
            qualified, uncertain = _match(chain, is_chain, bindings, language, targets[i])
            if qualified is None:
                continue
            context = contexts.get(call.id)
            if context is None:
                context = contexts[call.id] = (
                    enclosing_symbol(call, language),
                    _snippet(source, call),
                )
            out[i].append(
                RawSite(
                    start_byte=call.start_byte,
                    end_byte=call.end_byte,
                    start_line=call.start_point[0] + 1,
                    end_line=call.end_point[0] + 1,
                    start_col=call.start_point[1] + 1,
                    end_col=call.end_point[1] + 1,
                    qualified_name=qualified,
                    matched_text=" ".join(written.split()),
                    enclosing=context[0],
                    snippet=context[1],
                    uncertain=uncertain,
                    in_error_tree=file_has_errors,
                )
            )
    for sites in out:
        sites.sort(key=lambda s: s.start_byte)
    return out


def _match(
    chain: str, is_chain: bool, bindings: Bindings | None, language: Language, target: CallTarget
) -> tuple[str | None, bool]:
    want = target.qualified
    if not is_chain:
        # `foo().get()`, `a[0].get()`: the receiver is an expression we cannot name
        return (chain, True) if target.by_name else (None, False)
    if bindings is not None:
        candidates, uncertain = _resolve(chain, bindings, language)
        if want in candidates:
            want = target.shown
            head = chain.partition(".")[0]
            if (
                language.name == "python"
                and head not in bindings.names
                and "." in want
                and not uncertain
            ):
                return None, False  # `os.path.join` with no import of `os` is not that function
            return want, uncertain
        if target.by_name:
            return (min(candidates), True)
        return None, False
    if chain == want:
        return target.shown, False
    if target.by_name:
        return chain, True
    if chain.endswith("." + want):
        return target.shown, True  # `java.lang.Math.max` for `Math.max`: same thing, longer
    segs = chain.split(".")
    if len(segs) >= 2 and want.endswith("." + chain):
        return target.shown, True  # `fs::read` for `std::fs::read`: a `use` we do not resolve
    return None, False
