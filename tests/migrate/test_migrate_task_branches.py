"""Task branches (reviewbot/tasks/...): kept while a run can be picked up again, deleted once
a finished run has assembled its result branch."""

from __future__ import annotations

import json

from click.testing import CliRunner
from mig_rules import JOIN

from reviewbot.cli import cli

ONLY_AB = ["--paths", "pkg/[ab].py"]  # files the rule tier finishes without a model


def make_repo(git_repo) -> None:
    git_repo.write("pkg/__init__.py", "")
    git_repo.write("pkg/a.py", 'import os\n\n\ndef f(p):\n    return os.path.join(p, "a")\n')
    git_repo.write("pkg/b.py", 'import os\n\n\ndef g(p):\n    return os.path.join(p, "b")\n')
    # the rule would shadow `join` here: without a model this file is left for a later run
    git_repo.write(
        "pkg/c.py", 'import os\n\ndef join(a, b):\n    return a + b\n\nX = os.path.join("a", "b")\n'
    )
    git_repo.commit("initial")


def migrate(git_repo, *args: str, instruction: str = "use join") -> dict:
    result = CliRunner().invoke(
        cli,
        ["migrate", instruction, *JOIN, *args, "--repo", str(git_repo.path), "--quiet"]
        + ["--format", "json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def task_branches(git_repo) -> list[str]:
    return git_repo.git(
        "branch", "--list", "reviewbot/tasks/*", "--format=%(refname:short)"
    ).split()


def test_sample_keeps_its_branches_and_the_finished_full_run_deletes_them(git_repo) -> None:
    make_repo(git_repo)
    sample = migrate(git_repo, *ONLY_AB, "--limit", "1")
    assert [(f["path"], f["status"]) for f in sample["files"]] == [("pkg/a.py", "migrated")]
    assert sample["task_branches_deleted"] == 0
    [kept] = task_branches(git_repo)
    assert git_repo.git("rev-parse", kept) == sample["files"][0]["commit"]

    full = migrate(git_repo, *ONLY_AB)
    by_path = {f["path"]: f for f in full["files"]}
    assert by_path["pkg/a.py"]["reused"] is True  # the sample's commit, kept by its branch
    assert by_path["pkg/a.py"]["commit"] == sample["files"][0]["commit"]
    assert by_path["pkg/b.py"]["status"] == "migrated"
    assert full["task_branches_deleted"] == 2
    assert task_branches(git_repo) == []
    # the result branch holds both files' changes
    branch = full["branch"]
    changed = git_repo.git("diff", "--name-only", f"{full['base']}..{branch}").split()
    assert changed == ["pkg/a.py", "pkg/b.py"]
    assert 'join(p, "b")' in git_repo.git("show", f"{branch}:pkg/b.py")

    # a re-run still reuses the records (the commits outlive their branches until a gc)
    again = migrate(git_repo, *ONLY_AB)
    assert all(f["reused"] for f in again["files"])
    assert git_repo.git("rev-parse", branch) == git_repo.git("rev-parse", full["assembly"]["head"])


def test_partial_runs_and_keep_task_branches_keep_them(git_repo) -> None:
    make_repo(git_repo)
    # pkg/c.py needs a model that is not configured: a later run would finish it
    partial = migrate(git_repo)
    statuses = {f["path"]: f["status"] for f in partial["files"]}
    assert statuses == {"pkg/a.py": "migrated", "pkg/b.py": "migrated", "pkg/c.py": "skipped"}
    assert partial["task_branches_deleted"] == 0
    assert len(task_branches(git_repo)) == 2

    kept = migrate(git_repo, *ONLY_AB, "--keep-task-branches", instruction="use join too")
    assert [f["reused"] for f in kept["files"]] == [False, False]  # another task key
    assert kept["task_branches_deleted"] == 0 and len(task_branches(git_repo)) == 4
