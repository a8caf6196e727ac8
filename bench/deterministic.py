"""The deterministic tier on real releases, against the tools users trust run by hand.

Six release pairs are committed, base then head, into fresh repositories under
bench/.cache/ (sdists from the package index with pip, packages from the npm registry with
`npm pack`; downloaded once). reviewbot's deterministic tier reviews each pair with no model
(`deterministic_findings`, what `reviewbot review` runs first). The reference is computed
independently:

- ruff: `ruff check --no-fix` on a full checkout of each side, as a user would run it;
  a head diagnostic is new when it touches a line `git diff -M` adds and the base has no
  diagnostic of the same code and message with the same (whitespace-normalised) text of
  all its lines, nor one covering the base line an unchanged line of it came from.
- syntax: every changed JavaScript file goes through `node --check` in the head checkout
  (with the package's own module type), every Python file through CPython's parser; a
  syntax error reported (above info) in a file they accept is an extra, a file they fail
  that was fine at base and has no report is a miss.

Per project: reported, reference-new, extra (reported, not new by the reference) and
missed (new by the reference, not reported), for ruff and for syntax (info: reports the
language's parser contradicts, marked as probable grammar gaps; unverif.: reports no
second parser here can judge, such as TypeScript; ts-fails: changed files tree-sitter
fails to parse at head, reported or not: what the parse check had to judge).

Run: python bench/deterministic.py [--only requests,zod] [--show]
Goal: zero extra and zero missed everywhere.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdist import CACHE, git, place_sdist

from reviewbot.code import language_for_path, syntax_errors
from reviewbot.review import deterministic_findings, open_target


@dataclass(frozen=True)
class Pair:
    name: str
    base: str
    head: str
    registry: str  # "pypi" or "npm"


PAIRS = [
    Pair("requests", "2.31.0", "2.32.3", "pypi"),
    Pair("flask", "3.0.0", "3.1.0", "pypi"),
    Pair("httpx", "0.27.0", "0.28.0", "pypi"),
    Pair("rich", "13.7.0", "13.9.0", "pypi"),
    Pair("express", "4.19.2", "4.21.0", "npm"),
    Pair("zod", "3.22.0", "3.23.0", "npm"),
]
JS = (".js", ".mjs", ".cjs")
Key = tuple[str, str, int, int]  # path, rule, line, column


def _npm_package(name: str, version: str) -> Path:
    cache = CACHE / "npm"
    archive = cache / f"{name}-{version}.tgz"
    if not archive.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "-q", f"{name}@{version}"], cwd=cache, check=True,
                       capture_output=True)
    return archive


def _place(tree: Path, pair: Pair, version: str) -> None:
    if pair.registry == "pypi":
        place_sdist(tree, pair.name, version)
        return
    for child in tree.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp, \
            tarfile.open(_npm_package(pair.name, version)) as tar:
        tar.extractall(tmp, filter="data")
        (top,) = Path(tmp).iterdir()  # npm packs everything under package/
        for entry in top.iterdir():
            entry.rename(tree / entry.name)


def release_repo(pair: Pair) -> Path:
    """``bench/.cache/deterministic-<name>-<base>-<head>``: base, then head, on ``main``."""
    repo = CACHE / f"deterministic-{pair.name}-{pair.base}-{pair.head}"
    if (repo / ".git").is_dir():
        return repo
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        staging = Path(tmp) / repo.name
        staging.mkdir()
        git(staging, "init", "-q", "-b", "main")
        for version in (pair.base, pair.head):
            _place(staging, pair, version)
            git(staging, "add", "-A")
            git(staging, "commit", "-q", "-m", f"{pair.name} {version}")
        staging.rename(repo)
    return repo


@contextmanager
def _checkout(repo: Path, rev: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-det-") as tmp:
        archive = subprocess.run(["git", "archive", rev], cwd=repo, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


# the reference ---------------------------------------------------------------------------


@dataclass
class FileDiff:
    old: str | None  # None: added
    added: set[int] = field(default_factory=set)
    origin: dict[int, int] = field(default_factory=dict)  # unchanged head line -> base line
    last_hunk_line: int = 0  # below it, head line + shift is the base line
    shift: int = 0


def git_changes(repo: Path) -> dict[str, FileDiff]:
    """Per changed path at head: its base path, added lines and unchanged-line origins,
    from ``git diff -M`` itself."""
    status = subprocess.run(["git", "diff", "-M", "--name-status", "HEAD~1", "HEAD"],
                            cwd=repo, check=True, capture_output=True, text=True).stdout
    out: dict[str, FileDiff] = {}
    for line in status.splitlines():
        parts = line.split("\t")
        kind = parts[0][0]
        if kind == "D":
            continue
        head_path = parts[-1]
        old = None if kind == "A" else parts[1]
        out[head_path] = FileDiff(old)
    for head_path, fd in out.items():
        args = ["git", "diff", "-M", "-U0", "HEAD~1", "HEAD", "--"]
        args += [fd.old, head_path] if fd.old and fd.old != head_path else [head_path]
        patch = subprocess.run(args, cwd=repo, check=True, capture_output=True,
                               text=True).stdout
        shift, last_new = 0, 0
        hunks = re.findall(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", patch, re.M)
        for _old_start, old_len, new_start, new_len in hunks:
            ol, n, nl = int(old_len or 1), int(new_start), int(new_len or 1)
            first_new = n if nl else n + 1
            for k in range(last_new + 1, first_new):
                fd.origin[k] = k + shift
            fd.added |= set(range(n, n + nl))
            shift += ol - nl
            last_new = n + nl - 1 if nl else n
        fd.last_hunk_line, fd.shift = last_new, shift
    return out


def _base_line(fd: FileDiff, line: int) -> int | None:
    if line in fd.added:
        return None
    if line in fd.origin:
        return fd.origin[line]
    return line + fd.shift if line > fd.last_hunk_line else None


def _target_version(tree: Path) -> list[str]:
    """``--target-version`` from the sdist's ``Requires-Python`` (PKG-INFO), as a user who
    knows the project's oldest Python passes it, when its ruff configuration sets none."""
    info = tree / "PKG-INFO"
    found = re.search(r"^Requires-Python:\s*>=?\s*3\.(\d+)", info.read_text(
        encoding="utf-8", errors="replace"), re.M) if info.is_file() else None
    if found is None:
        return []
    settings = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--show-settings", "PKG-INFO"], cwd=tree,
        capture_output=True, text=True).stdout
    if "linter.unresolved_target_version = none" not in settings:
        return []
    return ["--target-version", f"py3{max(int(found.group(1)), 7)}"]


def _ruff(tree: Path) -> dict[str, list[dict[str, Any]]]:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-fix", "--output-format", "json",
         "--exit-zero", "--no-cache", *_target_version(tree), "."],
        cwd=tree, capture_output=True, text=True, check=True)
    out: dict[str, list[dict[str, Any]]] = {}
    for d in json.loads(proc.stdout or "[]"):
        if d.get("code") and d["code"] != "invalid-syntax":
            path = Path(d["filename"]).resolve().relative_to(tree.resolve()).as_posix()
            out.setdefault(path, []).append(d)
    return out


def _span(d: dict[str, Any]) -> tuple[int, int]:
    row = d["location"]["row"]
    end = d.get("end_location") or {}
    end_row = end.get("row", row)
    if end_row > row and end.get("column") == 1:
        end_row -= 1
    return row, max(row, end_row)


def _text(tree: Path, path: str, start: int, end: int) -> str:
    lines = (tree / path).read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(" ".join(lines[n - 1].split()) for n in range(start, end + 1)
                     if n <= len(lines))


def ruff_reference(repo: Path, diffs: dict[str, FileDiff]) -> set[Key]:
    """Head ruff diagnostics new on a changed line, by the rule in the module docstring."""
    new: set[Key] = set()
    with _checkout(repo, "HEAD~1") as base, _checkout(repo, "HEAD") as head:
        base_diags, head_diags = _ruff(base), _ruff(head)
        for path, fd in diffs.items():
            if not path.endswith((".py", ".pyi")):
                continue
            olds = base_diags.get(fd.old or "", []) if fd.old else []
            old_texts = {(b["code"], b["message"], _text(base, fd.old or "", *_span(b)))
                         for b in olds}
            for d in head_diags.get(path, []):
                start, end = _span(d)
                if not any(n in fd.added for n in range(start, end + 1)):
                    continue
                if (d["code"], d["message"], _text(head, path, start, end)) in old_texts:
                    continue
                came_from = {_base_line(fd, n) for n in range(start, end + 1)} - {None}
                if any(b["code"] == d["code"] and b["message"] == d["message"]
                       and any(_span(b)[0] <= n <= _span(b)[1] for n in came_from if n)
                       for b in olds):
                    continue
                new.add((path, d["code"], start, d["location"]["column"]))
    return new


def _parses(tree: Path, path: str) -> bool | None:
    """Whether the language's own parser accepts the file (None: no such parser here)."""
    if path.endswith(".py"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse((tree / path).read_bytes())
        except (SyntaxError, ValueError):
            return False
        return True
    if path.endswith(JS) and shutil.which("node"):
        proc = subprocess.run(["node", "--check", path], cwd=tree, capture_output=True)
        return proc.returncode == 0
    return None


@dataclass
class Row:
    project: str
    files: int
    seconds: float
    reported: set[Key]
    ruff_new: set[Key]
    syntax: list[tuple[str, int, str]]  # path, line, severity of reported syntax errors
    syntax_extra: list[str]  # reported where the language's parser accepts the file
    syntax_missed: list[str]  # newly rejected by the language's parser, nothing reported
    unverified: int  # syntax reports no second parser can judge (TypeScript)
    grammar_fails: int  # changed files tree-sitter fails to parse at head (reported or not)

    @property
    def extra(self) -> set[Key]:
        return self.reported - self.ruff_new

    @property
    def missed(self) -> set[Key]:
        return self.ruff_new - self.reported


def compare(pair: Pair) -> Row:
    repo = release_repo(pair)
    target = open_target(repo, base="HEAD~1", head="HEAD", uncommitted=False)
    started = time.monotonic()
    det = deterministic_findings(target.base_view, target.head_view, target.changes.files)
    seconds = time.monotonic() - started
    reported = {(f.path, f.rule or "", f.start_line, f.start_column or 0)
                for f in det.findings if f.source.value == "ruff"}
    syntax = [(f.path, f.start_line, f.severity.value) for f in det.findings
              if f.source.value == "syntax"]
    diffs = git_changes(repo)
    ruff_new = ruff_reference(repo, diffs)
    extra: list[str] = []
    missed: list[str] = []
    unverified = 0
    with _checkout(repo, "HEAD~1") as base, _checkout(repo, "HEAD") as head:
        flagged = {path for path, _, severity in syntax if severity != "info"}
        for path in sorted(flagged):
            verdict = _parses(head, path)
            if verdict is True:
                extra.append(path)
            elif verdict is None:
                unverified += 1
        for path, fd in diffs.items():
            if path in flagged or _parses(head, path) is not False:
                continue
            if fd.old is None or _parses(base, fd.old) is True:
                missed.append(path)
    grammar_fails = 0
    for change in target.changes.files:
        language = language_for_path(change.path)
        if language is not None and target.head_view.exists(change.path) and syntax_errors(
                target.head_view.read_bytes(change.path), language):
            grammar_fails += 1
    return Row(pair.name, len(target.changes.files), seconds, reported, ruff_new, syntax,
               extra, missed, unverified, grammar_fails)


def table(rows: list[Row]) -> str:
    head = (f"{'project':<10} {'files':>5} {'reported':>8} {'ruff-new':>8} {'extra':>5} "
            f"{'missed':>6} | {'syntax':>6} {'info':>4} {'extra':>5} {'missed':>6} "
            f"{'unverif.':>8} {'ts-fails':>8} {'seconds':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.project:<10} {r.files:>5} {len(r.reported):>8} {len(r.ruff_new):>8} "
            f"{len(r.extra):>5} {len(r.missed):>6} | "
            f"{sum(1 for s in r.syntax if s[2] != 'info'):>6} "
            f"{sum(1 for s in r.syntax if s[2] == 'info'):>4} {len(r.syntax_extra):>5} "
            f"{len(r.syntax_missed):>6} {r.unverified:>8} {r.grammar_fails:>8} "
            f"{r.seconds:>7.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated project names")
    parser.add_argument("--show", action="store_true", help="list every extra and miss")
    args = parser.parse_args()
    wanted = {n for n in args.only.split(",") if n}
    rows = [compare(p) for p in PAIRS if not wanted or p.name in wanted]
    print(table(rows))
    if args.show:
        for r in rows:
            for what, keys in (("extra", r.extra), ("missed", r.missed)):
                for key in sorted(keys):
                    print(f"{r.project} ruff {what}: {key}")
            for path in r.syntax_extra:
                print(f"{r.project} syntax extra (the parser accepts it): {path}")
            for path in r.syntax_missed:
                print(f"{r.project} syntax missed: {path}")
            for s in r.syntax:
                print(f"{r.project} syntax reported: {s}")


if __name__ == "__main__":
    main()
