"""Read-only tools finders and skeptics may call, over the files at the head of the change.

Nothing here writes, runs code or leaves the repository view: an agent reading
untrusted code can only read more of it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

from reviewbot.models import Tool, tool

MAX_READ_LINES = 400
MAX_GREP_HITS = 80
MAX_LIST = 400
MAX_CALLERS = 60
_DEFINITION = (
    r"^\s*(?:export\s+)?(?:async\s+)?(?:pub(?:\([^)]*\))?\s+)?"
    r"(?:def|class|function|func|fn|struct|interface|enum|trait|type|module|const|let|var)\s+"
    r"(?:\([^)]*\)\s*)?{name}\b"
)


def review_tools(head: Any) -> list[Tool]:
    """``read_file``, ``grep``, ``list_files``, ``find_symbol``, ``find_callers`` over ``head``
    (a ``reviewbot.git.RepoView``)."""

    def read_file(
        path: Annotated[str, Field(description="repository-relative path")],
        start_line: Annotated[int, Field(description="first line, 1-based")] = 1,
        end_line: Annotated[int, Field(description="last line; 0 for the end")] = 0,
    ) -> str:
        """Read lines of a file at the head of the change, numbered."""
        lines = head.read(path).splitlines()
        start = max(1, start_line)
        end = len(lines) if end_line <= 0 else min(end_line, len(lines))
        end = min(end, start + MAX_READ_LINES - 1)
        if start > len(lines):
            return f"{path} has only {len(lines)} lines"
        width = len(str(end))
        body = "\n".join(f"{n:>{width}}| {lines[n - 1]}" for n in range(start, end + 1))
        more = f"\n... ({len(lines) - end} more lines)" if end < len(lines) else ""
        return body + more

    def grep(
        pattern: Annotated[str, Field(description="a Python regular expression")],
        path_prefix: Annotated[str, Field(description="only files under this directory")] = "",
    ) -> str:
        """Search the files at head for lines matching a regular expression."""
        re.compile(pattern)
        paths = head.files(path_prefix) if path_prefix else None
        hits = head.grep(pattern, paths=paths, max_hits=MAX_GREP_HITS + 1)
        rows = [f"{h.path}:{h.line}: {h.text.strip()[:200]}" for h in hits[:MAX_GREP_HITS]]
        if len(hits) > MAX_GREP_HITS:
            rows.append("... (more hits; narrow the pattern)")
        return "\n".join(rows) or "no matches"

    def list_files(
        prefix: Annotated[str, Field(description="a directory; empty for everything")] = "",
    ) -> str:
        """List the files at head under a directory."""
        files = head.files(prefix)
        more = f"\n... ({len(files) - MAX_LIST} more)" if len(files) > MAX_LIST else ""
        return "\n".join(files[:MAX_LIST]) + more or "no files"

    def find_symbol(
        name: Annotated[str, Field(description="a function, class or variable name")],
    ) -> str:
        """Find where a symbol is defined (def/class/function/func/fn/struct/... lines)."""
        if not re.fullmatch(r"[A-Za-z_$][\w$]*", name):
            raise ValueError("give a bare identifier, e.g. parse_config")
        hits = head.grep(_DEFINITION.format(name=re.escape(name)), max_hits=MAX_GREP_HITS)
        return "\n".join(f"{h.path}:{h.line}: {h.text.strip()[:200]}" for h in hits) or "not found"

    def find_callers(
        name: Annotated[str, Field(description="a qualified name, e.g. requests.get")],
    ) -> str:
        """Find call sites of a function across the repository (imports and aliases resolved)."""
        from reviewbot.code import find_calls

        found = find_calls(head, name)
        rows = [
            f"{s.path}:{s.start_line}"
            + (f" in {s.enclosing}" if s.enclosing else "")
            + f": {s.matched_text.strip()[:160]}"
            for s in found.sites[:MAX_CALLERS]
        ]
        if len(found.sites) > MAX_CALLERS:
            rows.append(f"... ({len(found.sites) - MAX_CALLERS} more)")
        return "\n".join(rows) or "no call sites"

    return [tool(fn) for fn in (read_file, grep, list_files, find_symbol, find_callers)]
