"""The deterministic tier as a registry of linters, chosen by ``review.linters``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from reviewbot.config import Severity
from reviewbot.review import Finding, deterministic_findings, open_target
from reviewbot.review.linting import Diagnostic, LintRun, Tree
from reviewbot.review.ruff_linter import Ruff

BROKEN = "import os\n\ndef f(:\n    pass\n"


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    return subprocess.run(
        [sys.executable, "-m", "reviewbot", "review", str(repo), "--quiet", "--format", "json",
         *args], capture_output=True, text=True, env=env, timeout=120, check=False,
    )


def _sources(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    return sorted({f["source"] for f in json.loads(proc.stdout)["findings"]})


def test_review_linters_picks_the_linters(git_repo: Any) -> None:
    git_repo.write("ok.py", "x = 1\n")
    git_repo.commit("base")
    git_repo.write("a.py", "import os\n")  # F401 for ruff
    git_repo.write("b.py", BROKEN)  # a parse error for the syntax check
    assert _sources(_cli(git_repo.path)) == ["ruff", "syntax"]
    git_repo.write(".reviewbot.toml", '[review]\nlinters = ["syntax"]\n')
    assert _sources(_cli(git_repo.path)) == ["syntax"]
    git_repo.write(".reviewbot.toml", '[review]\nlinters = ["ruff"]\n')
    assert _sources(_cli(git_repo.path)) == ["ruff"]
    git_repo.write(".reviewbot.toml", "[review]\nlinters = []\n")
    assert _sources(_cli(git_repo.path)) == []
    git_repo.write(".reviewbot.toml", '[review]\nlinters = ["pylint"]\n')
    bad = _cli(git_repo.path)
    assert bad.returncode == 2
    assert "review.linters" in bad.stderr and "Traceback" not in bad.stderr


class _Todo:
    """A second linter on the same protocol: every ``TODO`` is a diagnostic."""

    name = "todo"
    config_files: tuple[str, ...] = ()

    def wants(self, path: str) -> bool:
        return path.endswith(".txt")

    def run(self, tree: Tree, *, defaults: bool = False) -> LintRun:
        out = LintRun()
        for path in tree.paths:
            for n, line in enumerate(tree.text(path).splitlines(), 1):
                if "TODO" in line:
                    out.diagnostics.append(Diagnostic(path, "TODO", "a todo", n, n))
        return out

    def report(self, new: Any, tree: Tree, *, defaults: bool) -> list[Any]:
        return [Finding(path=d.path, start_line=d.line, end_line=d.line, severity=Severity.LOW,
                        category="lint", title="TODO", evidence=tree.text(d.path).splitlines()[
                            d.line - 1]) for d in new]


def _new_todos(git_repo: Any, base: str, head: str) -> list[tuple[int, str]]:
    git_repo.write("notes.txt", base)
    git_repo.commit("base")
    git_repo.write("notes.txt", head)
    git_repo.commit("head")
    target = open_target(git_repo.path, base="HEAD~1", head="HEAD")
    det = deterministic_findings(target.base_view, target.head_view, target.changes.files,
                                 linters=[_Todo()])
    return [(f.start_line, f.evidence) for f in det.findings]


def test_the_differ_is_the_same_for_any_linter(git_repo: Any) -> None:
    """Old todos that moved stay quiet, a new one on an added line is reported."""
    assert _new_todos(git_repo, "a\nTODO one\nb\nTODO two\n",
                      "new line\nTODO two\na\nTODO one\nb\nTODO three\n") == [(6, "TODO three")]


def test_a_rewritten_line_is_compared_with_the_line_it_replaced(git_repo: Any) -> None:
    """An edited line keeps its old todo; a todo written over another line is new, even when
    the same hunk removed a todo elsewhere."""
    assert _new_todos(git_repo, "TODO a\nk1\nk2\nx\nTODO d\n",
                      "y\nk1\nk2\nTODO c\nTODO d!\n") == [(4, "TODO c")]


def test_ruff_runs_with_the_process_policy(
    git_repo: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    """The ruff child gets no model key or token (a stand-in ruff dumps its environment)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-canary")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_canary")
    dump = tmp_path / "ruff.env"
    fake = tmp_path / "ruff"
    fake.write_text(f'#!/bin/sh\nenv > "{dump}"\necho "[]"\n', encoding="utf-8")
    fake.chmod(0o755)
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit("base")
    git_repo.write("a.py", "import os\n")
    target = open_target(git_repo.path)
    det = deterministic_findings(target.base_view, target.head_view, target.changes.files,
                                 linters=[Ruff(binary=str(fake))])
    assert det.findings == []
    env = dump.read_text(encoding="utf-8")
    assert "PATH=" in env
    assert "canary" not in env and "ANTHROPIC" not in env and "GITHUB_TOKEN" not in env


def test_setuptools_python_requires_is_the_target_version(git_repo: Any) -> None:
    """requests declares its oldest Python only in setup.py: `List` -> `list` (UP006) needs
    3.9, so on 3.8 ruff's FA100 applies instead, as a by-hand run with py38 reports."""
    git_repo.write("ruff.toml", '[lint]\nselect = ["UP006", "FA100"]\n')
    git_repo.write("setup.py", 'from setuptools import setup\n\n'
                               'setup(name="m", python_requires=">=3.8")\n')
    git_repo.write("m.py", "X = 1\n")
    git_repo.commit("base")
    git_repo.write("m.py", "from typing import List\n\n\ndef f(a: List[int]) -> None: ...\n")

    def rules() -> list[str]:
        target = open_target(git_repo.path)
        return [f.rule or "" for f in deterministic_findings(
            target.base_view, target.head_view, target.changes.files).findings]

    assert rules() == ["FA100"]
    git_repo.write("setup.py", "")
    git_repo.write("setup.cfg", "[options]\npython_requires = >=3.11\n")
    assert rules() == ["UP006"]
