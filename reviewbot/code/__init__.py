"""The code layer: tree-sitter grammars, parsing, call sites, changed symbols.

Reads files only through a view (the git layer's ``RepoView``, or
:class:`DirectoryView`), never through a checkout.
"""

from reviewbot.code.calls import CallTarget, normalize_name
from reviewbot.code.changed import ChangedSymbol, changed_symbols, touched_lines
from reviewbot.code.imports import python_module, python_package
from reviewbot.code.languages import Language, language_for_path, language_named, languages
from reviewbot.code.parsing import ParsedFile, SyntaxErrorSite, parse, parse_file, syntax_errors
from reviewbot.code.query import Capture, QueryMatch, run_query
from reviewbot.code.search import (
    CallSearch,
    CallSite,
    default_cache_dir,
    find_calls,
    find_calls_many,
)
from reviewbot.code.source import DirectoryView, SourceView, git_blob_id
from reviewbot.code.symbols import Definition, definitions, enclosing_symbol

__all__ = [
    "CallSearch",
    "CallSite",
    "CallTarget",
    "Capture",
    "ChangedSymbol",
    "Definition",
    "DirectoryView",
    "Language",
    "ParsedFile",
    "QueryMatch",
    "SourceView",
    "SyntaxErrorSite",
    "changed_symbols",
    "default_cache_dir",
    "definitions",
    "enclosing_symbol",
    "find_calls",
    "find_calls_many",
    "git_blob_id",
    "language_for_path",
    "language_named",
    "languages",
    "normalize_name",
    "parse",
    "parse_file",
    "python_module",
    "python_package",
    "run_query",
    "syntax_errors",
    "touched_lines",
]
