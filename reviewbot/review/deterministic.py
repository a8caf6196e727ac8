"""The deterministic tier: ruff and parse errors, free and always on.

Only what the change introduces is reported. Ruff runs on the changed Python files
at the base and at the head, each side materialised from the object store (or the
working tree) into its own temporary directory, and a head diagnostic counts as new
only when it touches an added line and the base has no diagnostic with the same rule,
message and (whitespace-normalised) text of all its lines. A multi-line diagnostic
edited inside (a ``with`` block whose argument changed) is also the base's when the
base had the same rule and message over the lines it kept. Matching by content rather
than line number keeps unrelated line moves from producing "new" diagnostics. Each
finding carries ruff's columns, which also tell apart two hits of one rule on one line.

Ruff respects the repository's own configuration: `ruff.toml`, `.ruff.toml` and
`pyproject.toml` files on the path from the root to each changed file are
materialised next to the sources at the same commit, so the project's rule selection,
excludes and per-file ignores apply. Ruff always runs as a pure checker (``--no-fix``,
whatever the project's ``fix`` setting), and with the project's declared
``requires-python`` as its target version when the configuration sets none. A
configuration ruff refuses falls back to ruff's defaults (`--isolated`), and the run
says so in a note.

Parse errors come from the tree-sitter grammars of every language we have, compared
per top-level statement with the base (see :func:`syntax_findings`).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import tempfile
import tomllib
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from reviewbot import process
from reviewbot.code import Language, SyntaxErrorSite, language_for_path, parse, syntax_errors
from reviewbot.config import Severity
from reviewbot.review.findings import Finding, Source

RUFF_CONFIG_FILES = ("pyproject.toml", "ruff.toml", ".ruff.toml")
_RUFF_TIMEOUT = 120.0
_CHECK_TIMEOUT = 30.0


class FileView(Protocol):
    def exists(self, path: str) -> bool: ...

    def read_bytes(self, path: str) -> bytes: ...

    def files(self, prefix: str = "") -> list[str]: ...


class Change(Protocol):
    path: str
    old_path: str | None
    added_lines: set[int]

    @property
    def status(self) -> Any: ...


@dataclass
class DeterministicResult:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _status(change: Change) -> str:
    return str(getattr(change.status, "value", change.status))


def _line(text: str, n: int) -> str:
    lines = text.splitlines()
    return lines[n - 1] if 1 <= n <= len(lines) else ""


def _key_text(text: str) -> str:
    return " ".join(text.split())


def _span_key(text: str, row: int, end_row: int) -> str:
    """The whitespace-normalised text of lines ``row..end_row``: a diagnostic's content."""
    return "\n".join(_key_text(_line(text, n)) for n in range(row, end_row + 1))


def _rows(d: dict[str, Any]) -> tuple[int, int]:
    row = int(d["location"]["row"])
    end = d.get("end_location") or {}
    end_row = int(end.get("row", row))
    if end_row > row and end.get("column") == 1:
        end_row -= 1  # a range that ends at the start of a line ends on the line before
    return row, max(row, end_row)


def line_map(change: Change, head_text: str) -> dict[int, int]:
    """Head line -> base line, for every head line the change kept."""
    added = change.added_lines
    removed: set[int] = set(getattr(change, "removed_lines", ()) or ())
    out: dict[int, int] = {}
    old = 1
    for new in range(1, len(head_text.splitlines()) + 1):
        if new in added:
            continue
        while old in removed:
            old += 1
        out[new] = old
        old += 1
    return out


def _replaced_lines(change: Change, start: int, end: int) -> set[int]:
    """Base lines removed by the hunks that touch head lines ``start..end``: what an edited
    line (a one-line statement rewritten in place) replaced."""
    removed: set[int] = set(getattr(change, "removed_lines", ()) or ())
    out: set[int] = set()
    for hunk in getattr(change, "hunks", ()) or ():
        new_end = hunk.new_start + max(hunk.new_lines, 1) - 1
        if hunk.new_start > end or new_end < start:
            continue
        out |= {n for n in range(hunk.old_start, hunk.old_start + hunk.old_lines)
                if n in removed}
    return out


def _same_construct(
    mapping: dict[int, int], row: int, end_row: int, base_ranges: Sequence[tuple[int, int]]
) -> bool:
    """Whether a multi-line head range keeps lines that a base range of the same rule and
    message covered: the construct was edited inside, the diagnostic is the one it had."""
    kept = [mapping[n] for n in range(row, end_row + 1) if n in mapping]
    if not kept:
        return False
    return any(start <= min(kept) and max(kept) <= end for start, end in base_ranges)


def _ruff_severity(code: str) -> Severity:
    if code in ("F401", "F811", "F841"):  # unused names: noise, rarely a bug
        return Severity.LOW
    if code.startswith(("S", "E9", "F82", "PLE")):
        return Severity.HIGH
    if code.startswith(("F", "B", "ASYNC", "PL")):
        return Severity.MEDIUM
    return Severity.LOW


def _ruff_bin() -> str:
    from ruff.__main__ import find_ruff_bin

    return str(find_ruff_bin())


def _materialise(view: FileView, paths: Iterable[str], root: Path) -> list[str]:
    """Write ``paths`` (and the ruff configs above them) under ``root``; returns written sources."""
    written: list[str] = []
    configs: set[str] = set()
    root.mkdir(parents=True, exist_ok=True)  # even when this side has no Python file
    for path in paths:
        if not view.exists(path):
            continue
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(view.read_bytes(path))
        written.append(path)
        parent = PurePosixPath(path).parent
        for directory in [*reversed(parent.parents), parent]:
            for name in RUFF_CONFIG_FILES:
                configs.add(str(directory / name) if str(directory) != "." else name)
    for config in configs:
        if view.exists(config):
            target = root / config
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(view.read_bytes(config))
    # Ruff tells first-party imports from third-party ones by whether the module exists in
    # the project (`reviewbot.migrate` is first-party only if `reviewbot/migrate/` is
    # there): every other Python file stands in as an empty placeholder, never linted.
    for path in view.files():
        if path.endswith((".py", ".pyi")):
            target = root / path
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
    if not _has_root_config(root):
        # Without one, ruff would keep looking above the temp dir and in the user's
        # own config: the result would depend on the machine.
        (root / "ruff.toml").write_text("", encoding="utf-8")
    return written


def _has_root_config(root: Path) -> bool:
    if (root / "ruff.toml").is_file() or (root / ".ruff.toml").is_file():
        return True
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False  # ruff will refuse it and we fall back to --isolated
    return "ruff" in data.get("tool", {})


_PY_VERSION = re.compile(r"(>=|~=|\^|==|~|>)?\s*3\.(\d+)")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def _minimum_python(spec: str) -> int | None:
    """The lowest Python 3 minor version a ``requires-python``-style specifier allows."""
    minors: list[int] = []
    for clause in spec.split(","):
        for op, minor in _PY_VERSION.findall(clause):
            if clause.strip().startswith(("<", "!=")):
                continue
            minors.append(int(minor) + (1 if op == ">" else 0))
    return min(minors) if minors else None


def _declared_target(root: Path) -> str | None:
    """``pyXY`` from the project's ``requires-python`` (or Poetry's ``python`` dependency),
    when no ruff configuration of the tree sets a target version of its own.

    Ruff reads ``requires-python`` itself only in some layouts (never under ``--isolated``,
    never from Poetry's table); passing the version explicitly makes every layout agree.
    """
    for config in [*root.rglob("ruff.toml"), *root.rglob(".ruff.toml")]:
        data = _read_toml(config)
        if "target-version" in data:
            return None
    spec: str | None = None
    for pyproject in root.rglob("pyproject.toml"):
        data = _read_toml(pyproject)
        if "target-version" in data.get("tool", {}).get("ruff", {}):
            return None
        if pyproject.parent != root:
            if "requires-python" in data.get("project", {}):
                return None  # a nested project with its own version: ruff reads it there
            continue
        declared = data.get("project", {}).get("requires-python")
        if declared is None:
            deps = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
            declared = deps.get("python") if isinstance(deps, dict) else None
        if isinstance(declared, str):
            spec = declared
    minor = _minimum_python(spec) if spec else None
    if minor is None:
        return None
    return f"py3{max(minor, 7)}"


def _run_ruff(root: Path, paths: Sequence[str], isolated: bool) -> list[dict[str, Any]] | None:
    """Ruff's JSON diagnostics, or None when ruff refused (bad configuration).

    Always a pure checker: a project's ``fix = true`` (or ``fix-only``) would otherwise
    make ruff rewrite the files first, hiding fixable diagnostics and moving the rest.
    """
    if not paths:
        return []
    cmd = [_ruff_bin(), "check", "--output-format", "json", "--no-cache", "--exit-zero",
           "--force-exclude", "--no-fix", "--no-fix-only", "--no-unsafe-fixes"]
    if isolated:
        cmd.append("--isolated")
    target = _declared_target(root)
    if target is not None:
        cmd += ["--target-version", target]
    proc = process.run([*cmd, "--", *paths], cwd=root, timeout=_RUFF_TIMEOUT)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout or "[]")
    assert isinstance(data, list)
    return data


def _relative(root: Path, filename: str) -> str:
    return Path(filename).resolve().relative_to(root.resolve()).as_posix()


def ruff_findings(
    base: FileView, head: FileView, changes: Sequence[Change]
) -> DeterministicResult:
    """Ruff diagnostics new at head on changed lines of changed Python files."""
    out = DeterministicResult()
    py = [c for c in changes if c.path.endswith((".py", ".pyi")) and _status(c) != "deleted"]
    if not py:
        return out
    base_paths = {c.old_path or c.path: c for c in py if _status(c) != "added"}
    with tempfile.TemporaryDirectory(prefix="reviewbot-ruff-") as tmp:
        base_root, head_root = Path(tmp, "base"), Path(tmp, "head")
        base_written = _materialise(base, base_paths, base_root)
        head_written = _materialise(head, [c.path for c in py], head_root)
        isolated = False
        base_diags = _run_ruff(base_root, base_written, isolated=False)
        head_diags = _run_ruff(head_root, head_written, isolated=False)
        if base_diags is None or head_diags is None:
            isolated = True
            out.notes.append(
                "ruff refused the repository's configuration; ran ruff with its defaults"
            )
            base_diags = _run_ruff(base_root, base_written, isolated=True) or []
            head_diags = _run_ruff(head_root, head_written, isolated=True) or []
        base_texts = {p: base.read_bytes(p).decode("utf-8", "replace") for p in base_written}
        head_texts = {p: head.read_bytes(p).decode("utf-8", "replace") for p in head_written}
        # Base diagnostics by rule, message and the text of all their lines (a moved block),
        # and by rule and message with their line ranges (a block edited inside).
        seen: Counter[tuple[str, str, str, str]] = Counter()
        base_ranges: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
        for d in base_diags:
            if not d.get("code") or d["code"] == "invalid-syntax":
                continue
            old = _relative(base_root, d["filename"])
            change = base_paths.get(old)
            if change is None:
                continue
            row, end_row = _rows(d)
            seen[(change.path, d["code"], d["message"],
                  _span_key(base_texts[old], row, end_row))] += 1
            base_ranges.setdefault((change.path, d["code"], d["message"]), []).append(
                (row, end_row))
        by_path = {c.path: c for c in py}
        maps = {c.path: line_map(c, head_texts[c.path]) for c in py if c.path in head_texts}
        for d in sorted(head_diags, key=lambda d: (d["filename"], d["location"]["row"],
                                                    d["location"].get("column", 0))):
            # Parse errors are the syntax tier's; ruff reports little else on such files.
            if not d.get("code") or d["code"] == "invalid-syntax":
                continue
            path = _relative(head_root, d["filename"])
            row, end_row = _rows(d)
            change = by_path[path]
            if not any(n in change.added_lines for n in range(row, end_row + 1)):
                continue
            key = (path, d["code"], d["message"], _span_key(head_texts[path], row, end_row))
            if seen[key] > 0:
                seen[key] -= 1
                continue
            if end_row > row and _same_construct(
                maps.get(path, {}), row, end_row,
                base_ranges.get((path, d["code"], d["message"]), []),
            ):
                continue
            evidence = "\n".join(_line(head_texts[path], n) for n in range(row, end_row + 1))
            fix = d.get("fix") or {}
            start_col = d["location"].get("column")
            end_col = (d.get("end_location") or {}).get("column")
            out.findings.append(Finding(
                path=path, start_line=row, end_line=end_row,
                start_column=start_col if isinstance(start_col, int) and start_col >= 1 else None,
                end_column=end_col if isinstance(end_col, int) and end_col >= 1 else None,
                severity=_ruff_severity(d["code"]),
                category="lint", title=f"{d['code']}: {d['message']}",
                explanation=(f"ruff {d['code']} ({d.get('name') or 'rule'}) is new in this change"
                             + (f"; suggested fix: {fix['message']}" if fix.get("message") else "")
                             + (" (ruff defaults)" if isolated else "")),
                evidence=evidence, source=Source.RUFF, rule=d["code"],
                in_diff=all(n in change.added_lines for n in range(row, end_row + 1)),
            ))
    return out


@dataclass
class _Statement:
    """A top-level statement (a child of the tree's root) and the parse errors inside it."""

    start: int  # 1-based lines
    end: int
    key: str  # whitespace-normalised text
    errors: list[SyntaxErrorSite] = field(default_factory=list)


def _statements(src: bytes, language: Language) -> list[_Statement]:
    tree = parse(src, language)
    stmts = [
        _Statement(child.start_point[0] + 1, child.end_point[0] + 1,
                   _key_text((child.text or b"").decode("utf-8", "replace")))
        for child in tree.root_node.children
    ]
    for site in syntax_errors(src, language):
        home = next((st for st in stmts if st.start <= site.line <= st.end), None)
        if home is None:
            home = _Statement(site.line, site.end_line, "")
            stmts.append(home)
        home.errors.append(site)
    return stmts


def _python_verdict(src: bytes, start: int, end: int) -> bool | None:
    """Whether CPython's own parser fails in lines ``start..end`` (None: it fails elsewhere)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like: not our report
            ast.parse(src)
    except SyntaxError as exc:
        return True if exc.lineno is None or start <= exc.lineno <= end else None
    except ValueError:  # null bytes and the like
        return None
    return False


_WORD = re.compile(r"\w")
_NODE_ERROR_LINE = re.compile(r":(\d+)\s*$", re.MULTILINE)


def _node_verdict(src: bytes, start: int, end: int, module: bool) -> bool | None:
    """Whether ``node --check`` fails in lines ``start..end``; None without node."""
    node = shutil.which("node")
    if node is None:
        return None
    with tempfile.TemporaryDirectory(prefix="reviewbot-node-") as tmp:
        target = Path(tmp, "check.mjs" if module else "check.cjs")
        target.write_bytes(src)
        try:
            proc = process.run([node, "--check", str(target)], cwd=tmp, timeout=_CHECK_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            return None
    if proc.returncode == 0:
        return False
    found = _NODE_ERROR_LINE.search(proc.stderr.split("\n\n")[0])
    if found is None:
        return None
    return True if start <= int(found.group(1)) <= end else None


def _compiler_verdict(
    language: Language, path: str, src: bytes, stmts: Sequence[_Statement], st: _Statement
) -> tuple[bool | None, str]:
    """A second opinion on a tree-sitter parse error from the language's own parser:
    True (it fails there too), False (it accepts the file: a gap in the grammar), None."""
    if language.name == "python":
        return _python_verdict(src, st.start, st.end), "Python's parser"
    if language.name == "javascript" and path.endswith((".js", ".mjs", ".cjs")):
        module = path.endswith(".mjs") or (not path.endswith(".cjs") and any(
            s.key.startswith(("import ", "import{", "export ", "export{")) for s in stmts))
        return _node_verdict(src, st.start, st.end, module), "node --check"
    return None, ""


def syntax_findings(
    base: FileView, head: FileView, changes: Sequence[Change]
) -> DeterministicResult:
    """Parse errors at head on added lines in constructs the base parsed cleanly.

    Each error belongs to its top-level statement. A head statement is compared with the
    base statements its kept lines come from (or, moved whole, with a base statement of
    the same text): it is new only when it holds more errors than they did, so a construct
    the grammar already failed on (a JavaScript export named ``function``) stays quiet
    when its text changes. Severity follows confidence: high when the language's own
    parser (CPython, ``node --check``) also fails there, info when it accepts the file (a
    gap in the grammar), medium when there is no second opinion.
    """
    out = DeterministicResult()
    for change in changes:
        if _status(change) == "deleted" or not change.added_lines:
            continue
        language = language_for_path(change.path)
        if language is None or not head.exists(change.path):
            continue
        head_src = head.read_bytes(change.path)
        head_text = head_src.decode("utf-8", "replace")
        head_stmts = _statements(head_src, language)
        if not any(st.errors for st in head_stmts):
            continue
        old = change.old_path or change.path
        base_stmts: list[_Statement] = []
        if _status(change) != "added" and base.exists(old):
            base_stmts = _statements(base.read_bytes(old), language)
        base_by_key = Counter({st.key: len(st.errors) for st in base_stmts if st.errors})
        mapping = line_map(change, head_text)
        reported: set[int] = set()
        lang_name = language.name
        for st in head_stmts:
            touched_sites = [
                site for site in st.errors
                if any(n in change.added_lines
                       for n in range(site.line, max(site.line, site.end_line) + 1))
            ]
            if not touched_sites:
                continue
            # Lines of only brackets and punctuation ("}") say nothing about where a
            # statement came from: the diff may pair them with any other closing brace.
            kept = {mapping[n] for n in range(st.start, st.end + 1)
                    if n in mapping and _WORD.search(_line(head_text, n))}
            kept |= _replaced_lines(change, st.start, st.end)
            before = sum(len(b.errors) for b in base_stmts
                         if any(b.start <= n <= b.end for n in kept))
            before = max(before, base_by_key.get(st.key, 0))
            excess = len(st.errors) - before
            if excess <= 0:
                continue
            verdict, checker = _compiler_verdict(language, change.path, head_src, head_stmts, st)
            for site in touched_sites[:excess]:
                touched = [n for n in range(site.line, max(site.line, site.end_line) + 1)
                           if n in change.added_lines]
                # An ERROR node may start above the edit; point at the first changed line.
                line = site.line if site.line in change.added_lines else touched[0]
                if line in reported:
                    continue
                reported.add(line)
                what = f"missing {site.text}" if site.missing else "unexpected code"
                near = f" near `{site.text}`" if site.text and not site.missing else ""
                explanation = (f"the {lang_name} parser fails at line {site.line}, column "
                               f"{site.col}{near}; the file no longer parses")
                if verdict is True:
                    severity = Severity.HIGH
                    explanation += f" ({checker} fails there too)"
                elif verdict is False:
                    severity = Severity.INFO
                    explanation = (f"the tree-sitter {lang_name} grammar fails at line "
                                   f"{site.line}, column {site.col}{near}, but {checker} "
                                   "accepts the file: probably a gap in the grammar")
                else:
                    severity = Severity.MEDIUM
                    explanation += " (no second parser confirmed it)"
                out.findings.append(Finding(
                    path=change.path, start_line=line, end_line=line,
                    start_column=site.col if line == site.line else None,
                    severity=severity, category="syntax",
                    title=f"Syntax error: {what}",
                    explanation=explanation,
                    evidence=_line(head_text, line), source=Source.SYNTAX,
                    rule=f"syntax/{lang_name.lower()}", in_diff=True,
                ))
    return out


def deterministic_findings(
    base: FileView, head: FileView, changes: Sequence[Change], *, ruff: bool = True
) -> DeterministicResult:
    out = syntax_findings(base, head, changes)
    if ruff:
        linted = ruff_findings(base, head, changes)
        out.findings.extend(linted.findings)
        out.notes.extend(linted.notes)
    return out
