"""Raw tree-sitter queries over a view (``reviewbot find --query FILE``)."""

from __future__ import annotations

from collections.abc import Sequence

import tree_sitter
from pydantic import BaseModel, ConfigDict

from reviewbot.code.languages import Language
from reviewbot.code.parsing import parse_file, resolve_language
from reviewbot.code.search import select_files
from reviewbot.code.source import SourceView
from reviewbot.errors import UsageError


class Capture(BaseModel):
    """One captured node. Lines are 1-based."""

    model_config = ConfigDict(frozen=True)

    start_byte: int
    end_byte: int
    start_line: int
    end_line: int
    text: str


class QueryMatch(BaseModel):
    """One match of a query pattern in a file: capture name -> captured nodes."""

    model_config = ConfigDict(frozen=True)

    path: str
    pattern: int
    captures: dict[str, list[Capture]]
    in_error_tree: bool = False

    @property
    def start_line(self) -> int:
        return min(c.start_line for caps in self.captures.values() for c in caps)


def compile_query(query_source: str, language: Language) -> tree_sitter.Query:
    try:
        return tree_sitter.Query(language.grammar(), query_source)
    except ValueError as exc:  # tree_sitter.QueryError is a ValueError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"the {language.name} query does not compile: {first}; fix the query file"
        ) from None


def run_query(
    view: SourceView,
    query_source: str,
    lang: Language | str,
    *,
    paths: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[QueryMatch]:
    """Matches of a tree-sitter query in every file of ``lang`` (in path, then source order)."""
    language = resolve_language(lang)
    query = compile_query(query_source, language)
    selected, _ = select_files(view, paths, language)
    out: list[QueryMatch] = []
    for path, file_lang in selected:
        parsed = parse_file(view, path, file_lang)
        for pattern, caps in tree_sitter.QueryCursor(query).matches(parsed.tree.root_node):
            captures = {
                name: [
                    Capture(
                        start_byte=n.start_byte,
                        end_byte=n.end_byte,
                        start_line=n.start_point[0] + 1,
                        end_line=n.end_point[0] + 1,
                        text=(n.text or b"").decode("utf-8", "replace"),
                    )
                    for n in nodes
                ]
                for name, nodes in caps.items()
            }
            if not captures:
                continue
            out.append(
                QueryMatch(
                    path=path, pattern=pattern, captures=captures, in_error_tree=parsed.has_errors
                )
            )
            if limit is not None and len(out) >= limit:
                return out
    return out
