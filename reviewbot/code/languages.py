"""The grammar registry: which tree-sitter grammar parses a file, chosen by extension.

Grammars come from the per-language wheels (``tree-sitter-python`` ...) and are
loaded on first use, so a process that only looks at Python never loads C++.
"""

from __future__ import annotations

import importlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import tree_sitter


@dataclass(frozen=True)
class Language:
    """A language we can parse: its name, file extensions and how to load its grammar."""

    name: str
    extensions: tuple[str, ...]
    module: str
    entry: str = "language"
    # Other names accepted for ``--lang`` (``ts``, ``c++``).
    aliases: tuple[str, ...] = field(default=())

    def grammar(self) -> tree_sitter.Language:
        return _load_grammar(self.module, self.entry)

    @property
    def cache_tag(self) -> str:
        """``python@0.25.0``: stored results are only reused with the grammar that made them."""
        return _cache_tag(self.name, self.module, self.entry)


@cache
def _cache_tag(name: str, module: str, entry: str) -> str:
    version = _load_grammar(module, entry).semantic_version
    return f"{name}@{'.'.join(map(str, version)) if version else 'unknown'}"


@cache
def _load_grammar(module: str, entry: str) -> tree_sitter.Language:
    loader: Callable[[], object] = getattr(importlib.import_module(module), entry)
    return tree_sitter.Language(loader())


_LANGUAGES: tuple[Language, ...] = (
    Language("python", (".py", ".pyi", ".pyw"), "tree_sitter_python"),
    Language(
        "javascript",
        (".js", ".mjs", ".cjs", ".jsx"),
        "tree_sitter_javascript",
        aliases=("js", "jsx"),
    ),
    Language(
        "typescript",
        (".ts", ".mts", ".cts"),
        "tree_sitter_typescript",
        "language_typescript",
        aliases=("ts",),
    ),
    Language("tsx", (".tsx",), "tree_sitter_typescript", "language_tsx"),
    Language("go", (".go",), "tree_sitter_go", aliases=("golang",)),
    Language("java", (".java",), "tree_sitter_java"),
    Language("rust", (".rs",), "tree_sitter_rust", aliases=("rs",)),
    Language("ruby", (".rb", ".rake", ".gemspec"), "tree_sitter_ruby", aliases=("rb",)),
    Language("c", (".c", ".h"), "tree_sitter_c"),
    Language(
        "cpp",
        (".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".ipp"),
        "tree_sitter_cpp",
        aliases=("c++", "cxx"),
    ),
    Language("csharp", (".cs",), "tree_sitter_c_sharp", aliases=("c#", "cs", "c-sharp")),
    Language("php", (".php", ".phtml"), "tree_sitter_php", "language_php"),
)

_BY_EXTENSION: dict[str, Language] = {ext: lang for lang in _LANGUAGES for ext in lang.extensions}
_BY_NAME: dict[str, Language] = {
    key: lang for lang in _LANGUAGES for key in (lang.name, *lang.aliases)
}

# Source languages people write that we have no grammar for: files in them are
# reported as skipped (so a search never silently claims "no call sites"), while
# documentation, data and assets are simply not source code.
UNSUPPORTED_SOURCE: dict[str, str] = {
    ".kt": "Kotlin",
    ".kts": "Kotlin",
    ".swift": "Swift",
    ".scala": "Scala",
    ".sc": "Scala",
    ".lua": "Lua",
    ".pl": "Perl",
    ".pm": "Perl",
    ".hs": "Haskell",
    ".ex": "Elixir",
    ".exs": "Elixir",
    ".erl": "Erlang",
    ".dart": "Dart",
    ".r": "R",
    ".m": "Objective-C",
    ".mm": "Objective-C++",
    ".clj": "Clojure",
    ".fs": "F#",
    ".fsx": "F#",
    ".vb": "Visual Basic",
    ".groovy": "Groovy",
    ".jl": "Julia",
    ".zig": "Zig",
    ".nim": "Nim",
    ".ml": "OCaml",
    ".elm": "Elm",
    ".vue": "Vue",
    ".svelte": "Svelte",
    ".sh": "Shell",
    ".bash": "Shell",
    ".ps1": "PowerShell",
    ".pyx": "Cython",
    ".sol": "Solidity",
    ".f90": "Fortran",
}


def languages() -> list[Language]:
    """Every language we can parse."""
    return list(_LANGUAGES)


def language_for_path(path: str) -> Language | None:
    """The language of a file by its extension, or None when we have no grammar for it."""
    ext = posixpath.splitext(path)[1].lower()
    return _BY_EXTENSION.get(ext)


def unsupported_language(path: str) -> str | None:
    """The name of a source language we recognise but cannot parse (``"Kotlin"``), else None."""
    return UNSUPPORTED_SOURCE.get(posixpath.splitext(path)[1].lower())


def language_named(name: str) -> Language | None:
    """Look a language up by name or alias (``python``, ``ts``, ``c++``), case-insensitive."""
    return _BY_NAME.get(name.strip().lower())
