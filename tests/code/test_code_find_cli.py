"""`reviewbot find` end to end: a real process in a real repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import GitRepo


def _find(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reviewbot", "find", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _setup(git_repo: GitRepo) -> None:
    git_repo.write(
        "app/net.py",
        "import requests as r\n\nclass Api:\n    def load(self):\n        return r.get('/x')\n",
    )
    git_repo.write("app/star.py", "from requests import *\nget('/y')\n")
    git_repo.write("lib/Main.kt", "fun main() {}\n")
    git_repo.write("web/a.ts", "import axios from 'axios';\naxios.get('/z');\n")
    git_repo.commit("files")


def test_find_prints_sites_counts_total_and_skips(git_repo: GitRepo) -> None:
    _setup(git_repo)
    git_repo.write("app/new.py", "import requests\nrequests.get('/uncommitted')\n")
    proc = _find(git_repo.path, "requests.get")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "app/net.py:5:16  [Api.load]  return r.get('/x')" in lines
    assert "app/new.py:2:1  requests.get('/uncommitted')" in lines  # working tree by default
    assert "app/star.py:2:1?  get('/y')" in lines
    assert "      1  app/net.py" in lines
    assert any(
        line.startswith("Total: 3 call sites of requests.get in 3 files, 1 uncertain")
        for line in lines
    )
    assert lines[-2:] == ["Skipped:", "  lib/Main.kt: no Kotlin grammar installed"]

    committed = _find(git_repo.path, "requests.get", "--rev", "HEAD", "--json")
    data = json.loads(committed.stdout)
    assert data["total"] == 2 and data["counts"] == {"app/net.py": 1, "app/star.py": 1}
    assert data["sites"][0]["enclosing"] == "Api.load"
    assert data["skipped"] == [["lib/Main.kt", "no Kotlin grammar installed"]]


def test_find_paths_are_relative_to_the_current_directory(git_repo: GitRepo) -> None:
    _setup(git_repo)
    proc = _find(git_repo.path / "web", "axios.get", ".", "--lang", "ts")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "web/a.ts:2:1  axios.get('/z');"


def test_find_with_a_raw_query(git_repo: GitRepo, tmp_path: Path) -> None:
    _setup(git_repo)
    query = tmp_path / "classes.scm"
    query.write_text("(class_definition name: (identifier) @name) @class\n")
    proc = _find(git_repo.path, "--query", str(query), "--lang", "python")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("app/net.py:3  @class=class Api:  @name=Api")
    bad = tmp_path / "bad.scm"
    bad.write_text("(class_definition nosuchfield: (identifier))")
    err = _find(git_repo.path, "--query", str(bad), "--lang", "python")
    assert err.returncode == 2
    assert err.stderr.startswith("reviewbot: error: the python query does not compile")
    assert len(err.stderr.strip().splitlines()) == 1


def test_find_errors_are_one_line(git_repo: GitRepo) -> None:
    _setup(git_repo)
    proc = _find(git_repo.path, "requests.get", "--lang", "cobol")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "reviewbot: error: unknown language 'cobol'; use one of: python, javascript, typescript,"
        " tsx, go, java, rust, ruby, c, cpp, csharp, php"
    ]
    proc = _find(git_repo.path, "requests.get", "--rev", "nope")
    assert proc.returncode == 3 and "unknown revision 'nope'" in proc.stderr
