"""The gates a per-file change must pass, cheapest first. Each returns a :class:`GateResult`.

1. ``parse``   — every changed file still parses: no syntax error the base did not have.
2. ``sites``   — the target sites are gone, or each remaining one is explained.
3. ``scope``   — nothing changed outside the site lines and the imports, unless justified.
4. ``tests``   — no test file deleted, no assertion or test function removed, no skip added.
5. ``verify``  — the user's ``--verify`` command passes in the worktree.
6. ``skeptic`` — a fast-tier reviewer shown only the diff and the instruction (harness side).
"""

from __future__ import annotations

import difflib
import posixpath
import re
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

import anyio
import anyio.to_thread
from pydantic import BaseModel, Field
from tree_sitter import Query, QueryCursor

from reviewbot import process
from reviewbot.code.languages import Language, language_for_path
from reviewbot.code.parsing import parse, syntax_errors

GateName = Literal[
    "rule", "parse", "sites", "scope", "tests", "verify", "skeptic", "agent", "assembly"
]
OUTPUT_LIMIT = 4000


class GateResult(BaseModel):
    gate: GateName
    passed: bool
    output: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class FileChange:
    """One file a task changed: content before (None: added) and after (None: deleted)."""

    path: str
    before: bytes | None
    after: bytes | None


def clip(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """The end of a long output (where errors usually are)."""
    return text if len(text) <= limit else "…" + text[-limit:]


# --- parse -------------------------------------------------------------------------------


def parse_gate(changes: Sequence[FileChange]) -> GateResult:
    problems: list[str] = []
    for ch in changes:
        if ch.after is None:
            continue
        lang = language_for_path(ch.path)
        if lang is None:
            continue
        before = len(syntax_errors(ch.before, lang)) if ch.before is not None else 0
        after = syntax_errors(ch.after, lang)
        if len(after) > before:
            first = after[0]
            problems.append(
                f"{ch.path}:{first.line}:{first.col}: syntax error near {first.text!r}"
                f" ({len(after)} error nodes, {before} before the change)"
            )
    return GateResult(gate="parse", passed=not problems, output="\n".join(problems))


# --- sites -------------------------------------------------------------------------------


class RemainingSite(BaseModel):
    line: int
    reason: str = Field(description="why this call site is left as it is")


def sites_gate(
    remaining: Sequence[tuple[int, str]], explained: Sequence[RemainingSite] = ()
) -> GateResult:
    """``remaining``: (line, text) of target sites still found after the change."""
    reasons = {e.line: e.reason for e in explained if e.reason.strip()}
    unexplained = [(line, text) for line, text in remaining if line not in reasons]
    if unexplained:
        listing = "\n".join(f"line {line}: {text.strip()[:160]}" for line, text in unexplained)
        return GateResult(
            gate="sites",
            passed=False,
            output=f"{len(unexplained)} target site(s) still present and not explained:\n{listing}",
        )
    note = "\n".join(f"line {line} kept: {reasons[line]}" for line, _ in remaining)
    return GateResult(gate="sites", passed=True, output=note)


# --- scope -------------------------------------------------------------------------------

_IMPORT_LINE = re.compile(
    rb"^\s*(?:from\s+[\w.]+\s+import\b|import\b|use\b|using\b|#\s*include\b|require\b"
    rb"|(?:const|let|var)\s+[\w{}\s,]+=\s*require\()"
)


def _is_import_or_blank(line: bytes) -> bool:
    return not line.strip() or bool(_IMPORT_LINE.match(line))


# statements whose continuation lines (`    path,` inside `from os import (...)`) are imports too
_IMPORT_NODES = {
    "import_statement",
    "import_from_statement",
    "future_import_statement",
    "import_declaration",
    "use_declaration",
    "using_directive",
}


def _multiline_import_lines(path: str, source: bytes) -> set[int]:
    """0-based numbers of the lines inside import statements that span several lines."""
    lang = language_for_path(path)
    if lang is None:
        return set()
    out: set[int] = set()
    stack = [parse(source, lang).root_node]
    while stack:
        node = stack.pop()
        if node.type in _IMPORT_NODES:
            first, last = node.start_point[0], node.end_point[0]
            if last > first:
                out.update(range(first, last + 1))
            continue
        stack.extend(node.children)
    return out


@lru_cache(maxsize=16)
def line_matcher(before: bytes, after: bytes) -> difflib.SequenceMatcher[bytes]:
    """The line diff of two texts, computed once: the sites and scope gates both read it,
    and on a long file it costs more than the rest of either gate."""
    return difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)


def _what_happened(ch: FileChange) -> str:
    if ch.after is None:
        return "deleted"
    return "added" if ch.before is None else "changed"


def scope_gate(
    target: str,
    changes: Sequence[FileChange],
    site_lines: Iterable[int],
    *,
    justification: str | None = None,
) -> GateResult:
    """Changes in ``target`` must stay on the site lines (old side) or be imports.

    A line next to a site may be added (a call rewritten over more lines). Other files
    may not change at all. A non-empty ``justification`` (from the agent) lets out-of-scope
    changes pass; it is recorded in the output.
    """
    allowed = set(site_lines)
    outside: list[str] = []
    for ch in changes:
        if ch.path != target:
            outside.append(f"{ch.path}: {_what_happened(ch)} (not the target file)")
            continue
        old = (ch.before or b"").splitlines()
        new = (ch.after or b"").splitlines()
        matcher = line_matcher(ch.before or b"", ch.after or b"")
        old_imports: set[int] | None = None  # parsed only when a changed line needs it
        new_imports: set[int] | None = None
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            old_lines = range(i1 + 1, i2 + 1)
            new_text = new[j1:j2]
            if all(n in allowed for n in old_lines) and (
                old_lines or i1 in allowed or i1 + 1 in allowed
            ):
                continue
            if all(_is_import_or_blank(line) for line in old[i1:i2]) and all(
                _is_import_or_blank(line) for line in new_text
            ):
                continue
            if old_imports is None or new_imports is None:
                old_imports = _multiline_import_lines(ch.path, ch.before or b"")
                new_imports = _multiline_import_lines(ch.path, ch.after or b"")
            # a block mixing import lines and site lines (`import os` removed right above a
            # rewritten call): every old line must be one or the other, and new code may only
            # stand in for site lines
            touches_site = any(n in allowed for n in old_lines) or (
                not old_lines and (i1 in allowed or i1 + 1 in allowed)
            )
            new_code = [
                n for n in range(j1, j2) if n not in new_imports and not _is_import_or_blank(new[n])
            ]
            if all(
                n + 1 in allowed or n in old_imports or _is_import_or_blank(old[n])
                for n in range(i1, i2)
            ) and (touches_site or not new_code):
                continue
            stray = [n for n in old_lines if n not in allowed]
            where = f"lines {', '.join(map(str, stray))}" if stray else f"after line {i1}"
            outside.append(f"{ch.path}: {where} changed outside the call sites")
    if not outside:
        return GateResult(gate="scope", passed=True)
    listing = "\n".join(outside[:20])
    if justification and justification.strip():
        return GateResult(
            gate="scope", passed=True, output=f"justified: {justification.strip()}\n{listing}"
        )
    return GateResult(gate="scope", passed=False, output=listing)


# --- tests -------------------------------------------------------------------------------

_TEST_PATH = re.compile(
    r"(^|/)(tests?|__tests__|spec)/|(^|/)test_[^/]*$|_test\.[a-z]+$|(^|/)conftest\.py$"
    r"|\.(test|spec)\.[a-z]+$|Tests?\.(java|cs|kt)$"
)
# Each pattern opens with a lookahead on the first characters its alternatives can start
# with: the same matches, but most positions are rejected without trying every alternative.
_ASSERTION = re.compile(
    r"(?=[aepstv])(?:\bassert\w*\b|\bexpect\s*\(|\bpytest\.raises\b|\bshould\b"
    r"|\bt\.(Error|Fatal|Fail)\w*\b|\bverify\s*\()"
)
_SKIP = re.compile(
    r"(?=[sxt.@#])(?:\bskip\w*\b|\bxfail\b|\bxit\s*\(|\bxdescribe\s*\(|\.todo\s*\(|@Disabled\b"
    r"|@Ignore\b|\bt\.Skip\w*\b|#\[ignore\])",
    re.IGNORECASE,
)
_TEST_DEF = re.compile(
    r"(?=[dit@#\[f])(?:\bdef\s+test\w*|\b(?:it|test)\s*\(\s*['\"`]|\bfunc\s+Test\w+|@Test\b"
    r"|#\[test\]|\[Fact\]|\[Test\])"
)


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def _code_text(path: str, source: bytes) -> str:
    """The file's text with comments removed, so a commented-out assert does not count."""
    lang = language_for_path(path)
    if lang is None:
        return source.decode("utf-8", errors="replace")
    tree = parse(source, lang)
    out = bytearray()
    pos = 0
    query = _comment_query(lang)
    found = QueryCursor(query).captures(tree.root_node).get("c", []) if query else []
    for start, end in sorted((n.start_byte, n.end_byte) for n in found):
        if start < pos:
            continue  # inside a comment already cut
        out += source[pos:start]
        pos = end
    out += source[pos:]
    return out.decode("utf-8", errors="replace")


@cache
def _comment_query(lang: Language) -> Query | None:
    """A query for every kind of comment node the grammar has (found in C, not by walking
    the tree in Python)."""
    grammar = lang.grammar()
    kinds = {
        grammar.node_kind_for_id(i)
        for i in range(grammar.node_kind_count)
        if grammar.node_kind_is_named(i) and grammar.node_kind_is_visible(i)
    }
    comments = sorted(k for k in kinds if k and "comment" in k)
    if not comments:
        return None
    return Query(grammar, "[" + " ".join(f"({k})" for k in comments) + "] @c")


@dataclass(frozen=True)
class SuiteCounts:
    assertions: int
    skips: int
    tests: int


def suite_counts(path: str, source: bytes) -> SuiteCounts:
    text = _code_text(path, source)
    return SuiteCounts(
        assertions=len(_ASSERTION.findall(text)),
        skips=len(_SKIP.findall(text)),
        tests=len(_TEST_DEF.findall(text)),
    )


def weakened_tests_gate(changes: Sequence[FileChange]) -> GateResult:
    """Refuse the known ways to make a migration "pass": weaker or fewer tests."""
    problems: list[str] = []
    for ch in changes:
        if not is_test_path(ch.path) or ch.before is None:
            continue
        if ch.after is None:
            problems.append(f"{ch.path}: test file deleted")
            continue
        old, new = suite_counts(ch.path, ch.before), suite_counts(ch.path, ch.after)
        if new.tests < old.tests:
            problems.append(f"{ch.path}: test functions removed ({old.tests} -> {new.tests})")
        if new.assertions < old.assertions:
            problems.append(f"{ch.path}: assertions removed ({old.assertions} -> {new.assertions})")
        if new.skips > old.skips:
            problems.append(f"{ch.path}: skip markers added ({old.skips} -> {new.skips})")
    return GateResult(gate="tests", passed=not problems, output="\n".join(problems))


# --- verify ------------------------------------------------------------------------------


def _run_shell(command: str, cwd: Path, timeout: float) -> tuple[int | None, str]:
    """Run ``command`` in a shell: the user's toolchain variables but no model keys or
    tokens, and as a process tree that ends with the command, its timeout or reviewbot."""
    try:
        proc = process.run(["/bin/sh", "-c", command], cwd=cwd, inherit="toolchain",
                           timeout=timeout, tree=True, merge_stderr=True)
    except subprocess.TimeoutExpired as exc:
        return None, exc.output or ""
    return proc.returncode, proc.stdout


async def verify_gate(
    command: str, cwd: Path, *, timeout: float, gate: GateName = "verify"
) -> GateResult:
    started = time.monotonic()
    code, output = await anyio.to_thread.run_sync(_run_shell, command, cwd, timeout)
    seconds = time.monotonic() - started
    if code is None:
        return GateResult(
            gate=gate,
            passed=False,
            seconds=seconds,
            output=clip(f"`{command}` timed out after {timeout:g}s\n{output}"),
        )
    if code != 0:
        return GateResult(
            gate=gate,
            passed=False,
            seconds=seconds,
            output=clip(f"`{command}` exited with {code}\n{output}"),
        )
    return GateResult(gate=gate, passed=True, seconds=seconds, output=clip(output, 500))


# --- skeptic (schema; the call itself needs the runtime) -----------------------------------


class SkepticVerdict(BaseModel):
    verdict: Literal["accept", "reject"] = Field(
        description="reject when the diff changes behaviour beyond what the instruction "
        "asks, or when unsure"
    )
    reason: str


def unified_diff(changes: Sequence[FileChange]) -> str:
    parts: list[str] = []
    for ch in changes:
        old = (ch.before or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        new = (ch.after or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        parts.extend(
            difflib.unified_diff(
                old,
                new,
                fromfile="/dev/null" if ch.before is None else posixpath.join("a", ch.path),
                tofile="/dev/null" if ch.after is None else posixpath.join("b", ch.path),
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in parts)
