"""The author agent's tools: read and edit files inside its own worktree, nothing else.

Paths are relative to the worktree; anything that resolves outside it (``..``,
absolute paths, symlinks pointing out) or into ``.git`` is refused. There is no
shell: commands run only through the ``--verify`` gate, which the runtime owns.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field

from reviewbot.models import Tool, tool

MAX_READ_LINES = 2000
MAX_GREP_HITS = 200


class OutsideWorktree(ValueError):
    pass


def _resolve(root: Path, rel: str) -> Path:
    if not rel or Path(rel).is_absolute():
        raise OutsideWorktree(f"{rel!r}: give a path relative to the repository root")
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        raise OutsideWorktree(f"{rel!r} is outside the repository")
    parts = target.relative_to(root).parts
    if parts and parts[0] == ".git":
        raise OutsideWorktree(f"{rel!r}: the .git directory is off limits")
    return target


def worktree_tools(worktree: Path) -> list[Tool]:
    root = worktree.resolve()

    def read_file(
        path: Annotated[str, Field(description="file path relative to the repository root")],
        start_line: Annotated[int, Field(ge=1, description="first line to show (1-based)")] = 1,
        end_line: Annotated[int | None, Field(ge=1, description="last line to show")] = None,
    ) -> str:
        """Read a text file of the repository, with line numbers."""
        lines = _resolve(root, path).read_text(encoding="utf-8").splitlines()
        last = min(len(lines), end_line or len(lines), start_line + MAX_READ_LINES - 1)
        body = "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(start_line, last + 1))
        more = f"\n[{len(lines) - last} more lines]" if last < len(lines) else ""
        return body + more

    def replace_in_file(
        path: Annotated[str, Field(description="file path relative to the repository root")],
        old: Annotated[str, Field(description="exact text to replace; must occur exactly once")],
        new: Annotated[str, Field(description="replacement text")],
    ) -> str:
        """Replace one exact, unique occurrence of text in a file."""
        target = _resolve(root, path)
        text = target.read_text(encoding="utf-8")
        count = text.count(old)
        if count != 1:
            raise ValueError(
                f"the text occurs {count} times in {path}; give a longer, unique excerpt"
            )
        target.write_text(text.replace(old, new, 1), encoding="utf-8")
        return f"replaced 1 occurrence in {path}"

    def write_file(
        path: Annotated[str, Field(description="file path relative to the repository root")],
        content: Annotated[str, Field(description="the whole new content of the file")],
    ) -> str:
        """Write a whole file (creates it if needed). Prefer replace_in_file for small edits."""
        target = _resolve(root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return f"wrote {len(content)} characters to {path}"

    def list_files(
        directory: Annotated[
            str, Field(description="directory relative to the repository root")
        ] = ".",
    ) -> str:
        """List the files and directories directly inside a directory."""
        target = _resolve(root, directory) if directory not in ("", ".") else root
        entries = sorted(
            p.name + ("/" if p.is_dir() else "") for p in target.iterdir() if p.name != ".git"
        )
        return "\n".join(entries)

    def grep(
        pattern: Annotated[str, Field(description="a Python regular expression")],
        path: Annotated[str, Field(description="file or directory to search, relative")] = ".",
    ) -> str:
        """Search files for a regular expression; prints path:line: text."""
        regex = re.compile(pattern)
        start = _resolve(root, path) if path not in ("", ".") else root
        files = [start] if start.is_file() else sorted(p for p in start.rglob("*") if p.is_file())
        hits: list[str] = []
        for file in files:
            rel = file.relative_to(root)
            if rel.parts and rel.parts[0] == ".git":
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for n, line in enumerate(text.splitlines(), 1):
                if regex.search(line):
                    hits.append(f"{rel.as_posix()}:{n}: {line.strip()[:200]}")
                    if len(hits) >= MAX_GREP_HITS:
                        return "\n".join(hits) + "\n[more hits not shown]"
        return "\n".join(hits) or "no matches"

    return [tool(f) for f in (read_file, replace_in_file, write_file, list_files, grep)]
