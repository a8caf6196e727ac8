"""The deterministic tier: ruff and parse errors, free and always on.

Only what the change introduces is reported. Ruff runs on the changed Python files
at the base and at the head, each side materialised from the object store (or the
working tree) into its own temporary directory, and a head diagnostic counts as new
only when it sits on an added line and the base has no diagnostic with the same rule,
message and line text. Matching by content rather than line number keeps unrelated
line moves from producing "new" diagnostics.

Ruff respects the repository's own configuration: `ruff.toml`, `.ruff.toml` and
`pyproject.toml` files on the path from the root to each changed file are
materialised next to the sources at the same commit, so the project's rule selection,
excludes and per-file ignores apply. A configuration ruff refuses falls back to ruff's
defaults (`--isolated`), and the run says so in a note.

Parse errors come from the tree-sitter grammars of every language we have: an error
at head on an added line whose line text has no error at base is new.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from reviewbot.code import language_for_path, syntax_errors
from reviewbot.config import Severity
from reviewbot.review.findings import Finding, Source

RUFF_CONFIG_FILES = ("pyproject.toml", "ruff.toml", ".ruff.toml")
_RUFF_TIMEOUT = 120.0


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


def _run_ruff(root: Path, paths: Sequence[str], isolated: bool) -> list[dict[str, Any]] | None:
    """Ruff's JSON diagnostics, or None when ruff refused (bad configuration)."""
    if not paths:
        return []
    cmd = [_ruff_bin(), "check", "--output-format", "json", "--no-cache", "--exit-zero",
           "--force-exclude"]
    if isolated:
        cmd.append("--isolated")
    proc = subprocess.run(  # noqa: S603 - fixed binary, paths are our own temp files
        [*cmd, "--", *paths], cwd=root, capture_output=True, text=True, timeout=_RUFF_TIMEOUT,
        check=False,
    )
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
        seen: Counter[tuple[str, str, str, str]] = Counter()
        for d in base_diags:
            if not d.get("code") or d["code"] == "invalid-syntax":
                continue
            old = _relative(base_root, d["filename"])
            change = base_paths.get(old)
            if change is None:
                continue
            text = _line(base_texts[old], d["location"]["row"])
            seen[(change.path, d["code"], d["message"], _key_text(text))] += 1
        by_path = {c.path: c for c in py}
        for d in sorted(head_diags, key=lambda d: (d["filename"], d["location"]["row"])):
            # Parse errors are the syntax tier's; ruff reports little else on such files.
            if not d.get("code") or d["code"] == "invalid-syntax":
                continue
            path = _relative(head_root, d["filename"])
            row = d["location"]["row"]
            end_row = max(row, d.get("end_location", {}).get("row", row))
            change = by_path[path]
            if not any(n in change.added_lines for n in range(row, end_row + 1)):
                continue
            text = _line(head_texts[path], row)
            key = (path, d["code"], d["message"], _key_text(text))
            if seen[key] > 0:
                seen[key] -= 1
                continue
            evidence = "\n".join(_line(head_texts[path], n) for n in range(row, end_row + 1))
            fix = d.get("fix") or {}
            out.findings.append(Finding(
                path=path, start_line=row, end_line=end_row, severity=_ruff_severity(d["code"]),
                category="lint", title=f"{d['code']}: {d['message']}",
                explanation=(f"ruff {d['code']} ({d.get('name') or 'rule'}) is new in this change"
                             + (f"; suggested fix: {fix['message']}" if fix.get("message") else "")
                             + (" (ruff defaults)" if isolated else "")),
                evidence=evidence, source=Source.RUFF, rule=d["code"],
                in_diff=all(n in change.added_lines for n in range(row, end_row + 1)),
            ))
    return out


def syntax_findings(
    base: FileView, head: FileView, changes: Sequence[Change]
) -> DeterministicResult:
    """Parse errors at head on added lines that the base does not have, for every grammar."""
    out = DeterministicResult()
    for change in changes:
        if _status(change) == "deleted" or not change.added_lines:
            continue
        language = language_for_path(change.path)
        if language is None or not head.exists(change.path):
            continue
        head_src = head.read_bytes(change.path)
        head_text = head_src.decode("utf-8", "replace")
        old = change.old_path or change.path
        base_keys: Counter[str] = Counter()
        if _status(change) != "added" and base.exists(old):
            base_src = base.read_bytes(old)
            base_text = base_src.decode("utf-8", "replace")
            for site in syntax_errors(base_src, language):
                base_keys[_key_text(_line(base_text, site.line))] += 1
        reported: set[int] = set()
        lang_name = language.name
        for site in syntax_errors(head_src, language):
            touched = [n for n in range(site.line, max(site.line, site.end_line) + 1)
                       if n in change.added_lines]
            if not touched:
                continue
            key = _key_text(_line(head_text, site.line))
            if base_keys[key] > 0:
                base_keys[key] -= 1
                continue
            # An ERROR node may start above the edit; point at the first changed line in it.
            line = site.line if site.line in change.added_lines else touched[0]
            if line in reported:
                continue
            reported.add(line)
            what = f"missing {site.text}" if site.missing else "unexpected code"
            near = f" near `{site.text}`" if site.text and not site.missing else ""
            out.findings.append(Finding(
                path=change.path, start_line=line, end_line=line,
                severity=Severity.HIGH, category="syntax",
                title=f"Syntax error: {what}",
                explanation=(f"the {lang_name} parser fails at line {site.line}, column "
                             f"{site.col}{near}; the file no longer parses"),
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
