"""Ruff as a linter of the deterministic tier.

Ruff respects the repository's own configuration: `ruff.toml`, `.ruff.toml` and
`pyproject.toml` files on the path from the root to each changed file are materialised
next to the sources at the same commit, so the project's rule selection, excludes and
per-file ignores apply. Ruff always runs as a pure checker (``--no-fix``, whatever the
project's ``fix`` setting), and with the project's declared ``requires-python`` as its
target version when the configuration sets none. A configuration ruff refuses falls back
to ruff's defaults (``--isolated``) on both sides.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reviewbot import process
from reviewbot.config import Severity
from reviewbot.review.findings import Finding, Source
from reviewbot.review.linting import Diagnostic, FileView, LintRun, Tree, line_of, read_toml

RUFF_CONFIG_FILES = ("pyproject.toml", "ruff.toml", ".ruff.toml")
_RUFF_TIMEOUT = 120.0


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


def _has_root_config(root: Path) -> bool:
    if (root / "ruff.toml").is_file() or (root / ".ruff.toml").is_file():
        return True
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return False
    # An unreadable one has no [tool.ruff]: ruff will refuse it and we fall back to defaults.
    return "ruff" in read_toml(pyproject).get("tool", {})


_PY_VERSION = re.compile(r"(>=|~=|\^|==|~|>)?\s*3\.(\d+)")


def _minimum_python(spec: str) -> int | None:
    """The lowest Python 3 minor version a ``requires-python``-style specifier allows."""
    minors: list[int] = []
    for clause in spec.split(","):
        for op, minor in _PY_VERSION.findall(clause):
            if clause.strip().startswith(("<", "!=")):
                continue
            minors.append(int(minor) + (1 if op == ">" else 0))
    return min(minors) if minors else None


def _setup_python(view: FileView) -> str | None:
    """``python_requires`` of a setuptools project: ``setup.cfg``'s ``[options]``, or a
    string literal passed to ``setup()`` in ``setup.py`` (requests declares it only there)."""
    if view.exists("setup.cfg"):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(view.read_bytes("setup.cfg").decode("utf-8", "replace"))
        except configparser.Error:
            pass
        else:
            if parser.has_option("options", "python_requires"):
                return parser.get("options", "python_requires")
    if view.exists("setup.py"):
        try:
            tree = ast.parse(view.read_bytes("setup.py"))
        except (SyntaxError, ValueError):
            return None
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "python_requires" and (
                    isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                return node.value.value
    return None


def _declared_target(root: Path, view: FileView) -> str | None:
    """``pyXY`` from the project's ``requires-python`` (or Poetry's ``python`` dependency,
    or setuptools' ``python_requires``), when no ruff configuration of the tree sets a
    target version of its own.

    Ruff reads ``requires-python`` itself only in some layouts (never under ``--isolated``,
    never from Poetry's table or setuptools); passing the version explicitly makes every
    layout agree.
    """
    for config in [*root.rglob("ruff.toml"), *root.rglob(".ruff.toml")]:
        if "target-version" in read_toml(config):
            return None
    spec: str | None = None
    for pyproject in root.rglob("pyproject.toml"):
        data = read_toml(pyproject)
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
    if spec is None:
        spec = _setup_python(view)
    minor = _minimum_python(spec) if spec else None
    if minor is None:
        return None
    return f"py3{max(minor, 7)}"


def _materialise(tree: Tree) -> Path:
    root = tree.materialise(RUFF_CONFIG_FILES)
    # Ruff tells first-party imports from third-party ones by whether the module exists in
    # the project (`reviewbot.migrate` is first-party only if `reviewbot/migrate/` is
    # there): every other Python file stands in as an empty placeholder, never linted.
    for path in tree.view.files():
        if path.endswith((".py", ".pyi")):
            target = root / path
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
    if not _has_root_config(root):
        # Without one, ruff would keep looking above the temp dir and in the user's
        # own config: the result would depend on the machine.
        (root / "ruff.toml").write_text("", encoding="utf-8")
    return root


def _rows(d: dict[str, Any]) -> tuple[int, int]:
    row = int(d["location"]["row"])
    end = d.get("end_location") or {}
    end_row = int(end.get("row", row))
    if end_row > row and end.get("column") == 1:
        end_row -= 1  # a range that ends at the start of a line ends on the line before
    return row, max(row, end_row)


def _column(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 1 else None


class Ruff:
    """``ruff check`` with the project's configuration, as a pure checker."""

    name = "ruff"
    config_files: tuple[str, ...] = RUFF_CONFIG_FILES

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary  # None: the ruff that ships with reviewbot

    def wants(self, path: str) -> bool:
        return path.endswith((".py", ".pyi"))

    def run(self, tree: Tree, *, defaults: bool = False) -> LintRun | None:
        """Ruff's diagnostics, or None when ruff refused the configuration.

        Always a pure checker: a project's ``fix = true`` (or ``fix-only``) would otherwise
        make ruff rewrite the files first, hiding fixable diagnostics and moving the rest.
        """
        if not tree.paths:
            return LintRun()
        root = _materialise(tree)
        cmd = [self.binary or _ruff_bin(), "check", "--output-format", "json", "--no-cache",
               "--exit-zero", "--force-exclude", "--no-fix", "--no-fix-only",
               "--no-unsafe-fixes"]
        if defaults:
            cmd.append("--isolated")
        target = _declared_target(root, tree.view)
        if target is not None:
            cmd += ["--target-version", target]
        proc = process.run([*cmd, "--", *tree.paths], cwd=root, timeout=_RUFF_TIMEOUT)
        if proc.returncode != 0:
            return LintRun() if defaults else None
        data = json.loads(proc.stdout or "[]")
        assert isinstance(data, list)
        out = LintRun()
        for d in data:
            # Parse errors are the parse check's; ruff reports little else on such files.
            if not d.get("code") or d["code"] == "invalid-syntax":
                continue
            row, end_row = _rows(d)
            out.diagnostics.append(Diagnostic(
                path=Path(d["filename"]).resolve().relative_to(root.resolve()).as_posix(),
                rule=d["code"], message=d["message"], line=row, end_line=end_row,
                column=_column(d["location"].get("column")),
                end_column=_column((d.get("end_location") or {}).get("column")),
                data=d,
            ))
        return out

    def report(self, new: Sequence[Diagnostic], tree: Tree, *, defaults: bool) -> list[Finding]:
        findings: list[Finding] = []
        for d in new:
            raw = d.data
            text = tree.text(d.path)
            fix = raw.get("fix") or {}
            findings.append(Finding(
                path=d.path, start_line=d.line, end_line=d.end_line,
                start_column=d.column, end_column=d.end_column,
                severity=_ruff_severity(d.rule), category="lint",
                title=f"{d.rule}: {d.message}",
                explanation=(f"ruff {d.rule} ({raw.get('name') or 'rule'}) is new in this change"
                             + (f"; suggested fix: {fix['message']}" if fix.get("message") else "")
                             + (" (ruff defaults)" if defaults else "")),
                evidence="\n".join(line_of(text, n) for n in range(d.line, d.end_line + 1)),
                source=Source.RUFF, rule=d.rule,
                in_diff=all(tree.changed(d.path, n) for n in range(d.line, d.end_line + 1)),
            ))
        return findings
