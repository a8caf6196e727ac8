"""The parse check: tree-sitter parse errors, for every language we have a grammar of.

Each error belongs to its top-level statement (its anchor), so a construct the grammar
already failed on at the base (a JavaScript export named ``function``) stays quiet when
its text changes: it is new only when the statement holds more errors than the base
statements it came from. Severity follows confidence: high when the language's own parser
(CPython, ``node --check``) also fails there, info when it accepts the file (a gap in the
grammar), medium when there is no second opinion.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reviewbot import process
from reviewbot.code import Language, SyntaxErrorSite, language_for_path, parse, syntax_errors
from reviewbot.config import Severity
from reviewbot.review.findings import Finding, Source
from reviewbot.review.linting import Diagnostic, LintRun, Tree, key_text, line_of

_CHECK_TIMEOUT = 30.0
_MODULE_START = ("import ", "import{", "export ", "export{")


@dataclass(frozen=True)
class _Site:
    site: SyntaxErrorSite
    language: Language
    module: bool  # the file reads as an ES module (for node's verdict)


def _diagnostics(path: str, src: bytes, language: Language) -> list[Diagnostic]:
    sites = syntax_errors(src, language)
    if not sites:
        return []
    tops = [(child.start_point[0] + 1, child.end_point[0] + 1,
             key_text((child.text or b"").decode("utf-8", "replace")))
            for child in parse(src, language).root_node.children]
    module = any(text.startswith(_MODULE_START) for _, _, text in tops)
    out: list[Diagnostic] = []
    for site in sites:
        home = next(((s, e) for s, e, _ in tops if s <= site.line <= e), None)
        what = f"missing {site.text}" if site.missing else "unexpected code"
        out.append(Diagnostic(
            path=path, rule=f"syntax/{language.name.lower()}", message=what,
            line=site.line, end_line=max(site.line, site.end_line), column=site.col,
            anchor=home, kind=f"syntax/{language.name.lower()}",
            data=_Site(site, language, module),
        ))
    return out


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


def _compiler_verdict(path: str, src: bytes, d: Diagnostic) -> tuple[bool | None, str]:
    """A second opinion on a tree-sitter parse error from the language's own parser:
    True (it fails there too), False (it accepts the file: a gap in the grammar), None."""
    info: _Site = d.data
    start, end = d.lines
    if info.language.name == "python":
        return _python_verdict(src, start, end), "Python's parser"
    if info.language.name == "javascript" and path.endswith((".js", ".mjs", ".cjs")):
        module = path.endswith(".mjs") or (not path.endswith(".cjs") and info.module)
        return _node_verdict(src, start, end, module), "node --check"
    return None, ""


class ParseCheck:
    """Parse errors from the tree-sitter grammars (no configuration)."""

    name = "syntax"
    config_files: tuple[str, ...] = ()

    def wants(self, path: str) -> bool:
        return language_for_path(path) is not None

    def run(self, tree: Tree, *, defaults: bool = False) -> LintRun:
        out = LintRun()
        for path in tree.paths:
            language = language_for_path(path)
            if language is not None:
                out.diagnostics.extend(_diagnostics(path, tree.read_bytes(path), language))
        return out

    def report(self, new: Sequence[Diagnostic], tree: Tree, *, defaults: bool) -> list[Finding]:
        findings: list[Finding] = []
        verdicts: dict[tuple[str, tuple[int, int]], tuple[bool | None, str]] = {}
        reported: set[tuple[str, int]] = set()
        for d in new:
            site, lang_name = d.data.site, d.data.language.name
            # An ERROR node may start above the edit; point at the first changed line.
            line = d.line if tree.changed(d.path, d.line) else next(
                (n for n in range(d.line, d.end_line + 1) if tree.changed(d.path, n)), d.line)
            if (d.path, line) in reported:
                continue
            reported.add((d.path, line))
            key = (d.path, d.lines)
            if key not in verdicts:
                verdicts[key] = _compiler_verdict(d.path, tree.read_bytes(d.path), d)
            verdict, checker = verdicts[key]
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
            findings.append(Finding(
                path=d.path, start_line=line, end_line=line,
                start_column=site.col if line == site.line else None,
                severity=severity, category="syntax", title=f"Syntax error: {d.message}",
                explanation=explanation, evidence=line_of(tree.text(d.path), line),
                source=Source.SYNTAX, rule=d.rule, in_diff=True,
            ))
        return findings
