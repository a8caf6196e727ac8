"""The rule tier without worktrees: the same branch as through worktrees, nothing checked out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from mig_rules import JOIN

from reviewbot.cli import cli

FILES = {
    "pkg/__init__.py": "import os\n\nROOT = os.path.join('a', 'b')\n",
    "pkg/a.py": 'import os\n\n\ndef f(p):\n    return os.path.join(p, "a")\n',
    "pkg/deep/er/b.py": (
        "import os, sys\nfrom pkg import a\n\n\ndef f(p):\n"
        '    return os.path.join(p,\n                        os.path.join("b", "c"))\n'
    ),
    "pkg/c.py": 'import os\n\ndef join(a, b):\n    return a + b\n\nX = os.path.join("a", "b")\n',
    "pkg/d.py": "from os.path import join\n\nA = join('a', 'b')\n",
    "tests/test_paths.py": (
        "import os\n\n\ndef test_join():\n    assert os.path.join('a', 'b') == 'a/b'\n"
    ),
    "bin/tool.py": "#!/usr/bin/env python\nimport os\nprint(os.path.join('x', 'y'))\n",
}


def make_repo(git_repo) -> None:
    for rel, text in FILES.items():
        git_repo.write(rel, text)
    (git_repo.path / "bin/tool.py").chmod(0o755)
    git_repo.write("pyproject.toml", '[tool.isort]\nknown_first_party = ["pkg"]\n')
    git_repo.commit("initial")


def migrate(git_repo, tmp_path: Path, branch: str, *, worktrees: bool, verify: str = "") -> dict:
    config = tmp_path / f"{branch}.toml"
    config.write_text(f"[migrate]\nrules_in_worktrees = {'true' if worktrees else 'false'}\n")
    args = ["migrate", "use join", *JOIN, "--paths", "pkg/**", "--paths", "tests/**"]
    args += ["--paths", "bin/*", "--branch", branch, "--config", str(config)]
    args += ["--verify", verify] if verify else []
    args += ["--format", "json", "--quiet", "--repo", str(git_repo.path)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def gates(data: dict) -> dict[str, list]:
    return {
        f["path"]: [
            (g["gate"], g["passed"], g["output"]) for a in f["attempts"] for g in a["gates"]
        ]
        for f in data["files"]
    }


def outcomes(data: dict) -> dict[str, tuple]:
    return {
        f["path"]: (f["status"], f["tier"], f["reason"], f["kept_sites"], f["site_lines"])
        for f in data["files"]
    }


# a check that fails for one file, so a verify failure takes the same path both ways
CHECK = "grep -q os.path.join bin/tool.py"


@pytest.mark.parametrize("verify", ["", CHECK], ids=["no-verify", "verify"])
def test_in_memory_rule_tier_builds_the_same_branch_as_worktrees(
    git_repo, tmp_path, verify: str
) -> None:
    make_repo(git_repo)
    through = migrate(git_repo, tmp_path, "through-worktrees", worktrees=True, verify=verify)
    assert through["peak_worktrees"] >= 1
    pool = git_repo.path / ".git" / "reviewbot" / "worktrees"
    for entry in pool.iterdir():  # forget the parked worktrees: the next run must need none
        if entry.is_dir():
            git_repo.git("worktree", "remove", "--force", str(entry))
        else:
            entry.unlink()
    state = git_repo.path / ".git" / "reviewbot"
    for name in os.listdir(state):
        if name.startswith("migrate.sqlite"):
            (state / name).unlink()  # and the task records: every file is done again

    memory = migrate(git_repo, tmp_path, "in-memory", worktrees=False, verify=verify)
    if verify:
        assert memory["peak_worktrees"] >= 1  # for the verify command only
        assert gates(memory) == gates(through)
    else:
        assert memory["peak_worktrees"] == 0
        assert [p for p in pool.iterdir() if p.is_dir()] == []
        assert "worktree" not in memory["timings"]

    assert outcomes(memory) == outcomes(through)
    statuses = {path: o[0] for path, o in outcomes(memory).items()}
    assert statuses == {
        "pkg/__init__.py": "migrated",
        "pkg/a.py": "migrated",
        "pkg/deep/er/b.py": "migrated",
        "pkg/c.py": "skipped",  # the import would shadow its own join
        "pkg/d.py": "skipped",  # already in the target form
        "tests/test_paths.py": "migrated",
        "bin/tool.py": "failed" if verify else "migrated",
    }
    # the same commits' content: identical trees, so the same files and the same diff
    assert git_repo.git("rev-parse", "in-memory^{tree}") == git_repo.git(
        "rev-parse", "through-worktrees^{tree}"
    )
    base = memory["base"]
    assert git_repo.git("diff", f"{base}..in-memory") == git_repo.git(
        "diff", f"{base}..through-worktrees"
    )
    if not verify:
        assert git_repo.git("ls-tree", "in-memory", "bin/tool.py").startswith("100755 ")
    assert git_repo.git("show", "in-memory:pkg/deep/er/b.py").startswith(
        "import sys\nfrom os.path import join\n"
    )
    # one task commit per file, each on the base, as through worktrees
    commits = [f["commit"] for f in memory["files"] if f["commit"]]
    assert len(commits) == (4 if verify else 5)
    for sha in commits:
        assert git_repo.git("rev-parse", f"{sha}^") == base
        assert len(git_repo.git("diff", "--name-only", f"{base}..{sha}").split()) == 1


def test_a_verify_command_still_runs_in_worktrees(git_repo, tmp_path) -> None:
    make_repo(git_repo)
    args = ["migrate", "use join", *JOIN, "--paths", "pkg/a.py", "--verify", "test -f pkg/a.py"]
    args += ["--format", "json", "--quiet", "--repo", str(git_repo.path)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    data = json.loads(result.stdout)
    assert data["peak_worktrees"] == 1
    assert data["files"][0]["status"] == "migrated"
    assert [g["gate"] for g in data["files"][0]["attempts"][0]["gates"]][-1] == "verify"
