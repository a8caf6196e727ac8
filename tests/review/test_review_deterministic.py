"""The deterministic tier on a real codebase (tomli 2.0.1, vendored with its licence).

No model key: `reviewbot review` runs ruff and the parsers only, and must report
exactly what the edit introduces, not what tomli already had, not moved code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reviewbot.git import Repo, RepoView
from reviewbot.review import Source, deterministic_findings, open_target

TOMLI = Path(__file__).parent / "data" / "tomli-2.0.1"
BOOL_BLOCKS = '''    # Booleans
    if char == "t":
        if src.startswith("true", pos):
            return pos + 4, True
    if char == "f":
        if src.startswith("false", pos):
            return pos + 5, False
'''
SWAPPED_BOOL_BLOCKS = '''    # Booleans
    if char == "f":
        if src.startswith("false", pos):
            return pos + 5, False
    if char == "t":
        if src.startswith("true", pos):
            return pos + 4, True
'''


def _edit(repo: Any) -> None:
    """An undefined name, a syntax error, and code moves that carry old ruff hits along."""
    re_py = repo.path / "src/tomli/_re.py"
    re_py.write_text(re_py.read_text().replace("return int(match.group(), 0)",
                                               "return int(match.group(), base)"))
    types_py = repo.path / "src/tomli/_types.py"
    types_py.write_text(types_py.read_text().replace("Pos = int\n", "Pos = int(\n"))
    parser = repo.path / "src/tomli/_parser.py"
    text = parser.read_text()
    assert BOOL_BLOCKS in text
    # Lines move (a new header) and two blocks with existing SIM102 hits swap places.
    parser.write_text("# Vendored copy.\n\n" + text.replace(BOOL_BLOCKS, SWAPPED_BOOL_BLOCKS))


@pytest.fixture
def tomli_repo(git_repo: Any) -> Any:
    shutil.copytree(TOMLI, git_repo.path, dirs_exist_ok=True)
    git_repo.commit("tomli 2.0.1")
    git_repo.git("checkout", "-q", "-b", "feature")
    return git_repo


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    return subprocess.run(
        [sys.executable, "-m", "reviewbot", "review", str(repo), "--quiet", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )


def test_no_key_review_reports_exactly_what_the_edit_introduces(tomli_repo: Any) -> None:
    _edit(tomli_repo)  # uncommitted: the default review includes the working tree
    proc = _cli(tomli_repo.path, "--format", "json", "--fail-on", "high")
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    found = sorted((f["path"], f["start_line"], f["source"], f["rule"]) for f in result["findings"])
    assert found == [
        ("src/tomli/_re.py", 107, "ruff", "F821"),
        ("src/tomli/_types.py", 10, "syntax", "syntax/python"),
    ]
    f821 = next(f for f in result["findings"] if f["rule"] == "F821")
    assert f821["evidence"].strip() == "return int(match.group(), base)"
    assert "base" in f821["title"] and f821["fingerprint"]
    assert result["funnel"]["deterministic"] == 2 and result["funnel"]["candidates"] == 0
    assert sorted(result["coverage"]["reviewed"]) == [
        "src/tomli/_parser.py", "src/tomli/_re.py", "src/tomli/_types.py"]
    # One line says which model phases were skipped and how to enable them.
    skipped = [line for line in proc.stderr.splitlines() if "model phases skipped" in line]
    assert len(skipped) == 1 and "ANTHROPIC_API_KEY" in skipped[0]
    assert "ANTHROPIC_BASE_URL" in skipped[0]
    assert proc.stderr.strip().splitlines()[-1].startswith("cost: 0 agents")


def test_committed_change_and_line_moves(tomli_repo: Any) -> None:
    _edit(tomli_repo)
    tomli_repo.commit("edit")
    target = open_target(tomli_repo.path, base="main", head="feature")
    det = deterministic_findings(target.base_view, target.head_view, target.changes.files)
    assert sorted((f.path, f.rule) for f in det.findings) == [
        ("src/tomli/_re.py", "F821"), ("src/tomli/_types.py", "syntax/python")]
    assert not any(f.rule == "SIM102" for f in det.findings)  # moved, not new
    # Without the match by content, the swapped blocks would be reported.
    assert {f.source for f in det.findings} == {Source.RUFF, Source.SYNTAX}


def test_repository_ruff_config_is_respected(git_repo: Any) -> None:
    git_repo.write("pyproject.toml", '[tool.ruff.lint]\nselect = ["E711"]\n')
    git_repo.write("m.py", "x = 1\n")
    git_repo.commit("base")
    git_repo.write("m.py", "import os\nx = 1\nif x == None:\n    pass\n")
    repo = Repo.open(git_repo.path)
    target = open_target(git_repo.path)
    det = deterministic_findings(target.base_view, RepoView.working_tree(repo),
                                 target.changes.files)
    # F401 (unused os) is not selected by the project; E711 is.
    assert [f.rule for f in det.findings] == ["E711"]
    assert det.findings[0].start_line == 3


def test_import_sorting_sees_the_whole_project(git_repo: Any) -> None:
    """Ruff classifies `app.models` as first-party only if `app/models.py` exists: the
    unchanged modules must be there when the changed ones are linted."""
    git_repo.write("pyproject.toml", '[tool.ruff.lint]\nselect = ["I"]\n')
    git_repo.write("app/__init__.py", "")
    git_repo.write("app/models.py", "X = 1\n")
    git_repo.write("app/views.py", "Y = 2\n")
    git_repo.write("app/main.py", "Z = 3\n")
    git_repo.write("app/worker.py", "W = 4\n")
    git_repo.commit("base")
    sorted_imports = (
        "import json\n\nimport pydantic\n\nfrom app.models import X\nfrom app.views import Y\n"
        "\nZ = (json, pydantic, X, Y)\n"
    )
    git_repo.write("app/main.py", sorted_imports)
    # a real problem next to it: third-party below first-party
    git_repo.write(
        "app/worker.py", "from app.models import X\nimport pydantic\n\nW = (X, pydantic)\n"
    )
    target = open_target(git_repo.path)
    det = deterministic_findings(target.base_view, target.head_view, target.changes.files)
    assert [(f.path, f.rule) for f in det.findings] == [("app/worker.py", "I001")]


def test_invalid_ruff_config_falls_back_to_defaults(git_repo: Any) -> None:
    git_repo.write("ruff.toml", "[lint]\nselect = 12\n")
    git_repo.write("m.py", "x = 1\n")
    git_repo.commit("base")
    git_repo.write("m.py", "x = 1\ny = undefined\n")
    target = open_target(git_repo.path)
    det = deterministic_findings(target.base_view, target.head_view, target.changes.files)
    assert [f.rule for f in det.findings] == ["F821"]
    assert det.notes and "defaults" in det.notes[0]


def test_syntax_errors_in_other_languages(git_repo: Any) -> None:
    git_repo.write("app.js", "function f(a) {\n  return a;\n}\n")
    git_repo.write("main.go", "package main\n\nfunc main() {\n}\n")
    git_repo.commit("base")
    git_repo.write("app.js", "function f(a) {\n  return a +;\n}\n")
    git_repo.write("main.go", "package main\n\nfunc main() {\n}\n\nfunc g( {\n}\n")
    target = open_target(git_repo.path)
    det = deterministic_findings(target.base_view, target.head_view, target.changes.files)
    got = sorted((f.path, f.start_line, f.rule) for f in det.findings)
    assert got == [("app.js", 2, "syntax/javascript"), ("main.go", 6, "syntax/go")]


def test_existing_syntax_error_is_not_new(git_repo: Any) -> None:
    git_repo.write("broken.py", "def f(:\n    pass\n")
    git_repo.commit("base")
    git_repo.write("broken.py", "# note\ndef f(:\n    pass\n")
    target = open_target(git_repo.path)
    det = deterministic_findings(target.base_view, target.head_view, target.changes.files)
    assert det.findings == []
