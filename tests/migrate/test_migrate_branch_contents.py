"""What lands on the result branch, and what a run says about itself: build output of
--verify never committed, exit status of a run that migrated nothing, uncommitted edits
to site files, and added imports placed where the project's isort puts them."""

from __future__ import annotations

import json

from click.testing import CliRunner
from mig_rules import JOIN

from reviewbot.cli import cli


def migrate(git_repo, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["migrate", *args, "--repo", str(git_repo.path), "--quiet"], catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def package(git_repo, files: int) -> None:
    """A package without .gitignore: a verify that compiles leaves __pycache__ everywhere."""
    git_repo.write("pkg/__init__.py", "")
    for n in range(files):
        git_repo.write(
            f"pkg/m{n}.py", f'import os\n\n\ndef f{n}(p):\n    return os.path.join(p, "{n}")\n'
        )
    git_repo.commit("initial")


def test_verify_build_output_is_never_committed(git_repo) -> None:
    package(git_repo, 11)
    code, out, err = migrate(
        git_repo, "use join", *JOIN, "--verify", "python -m compileall -q .", "--format", "json"
    )
    assert code == 0, out + err
    data = json.loads(out)
    assert [f["status"] for f in data["files"]] == ["migrated"] * 11, data["files"]
    assert data["assembly"]["conflicts"] == {}
    assert data["assembly"]["verify"]["passed"] is True
    landed = git_repo.git("diff", "--name-status", f"{data['base']}..{data['branch']}").split("\n")
    assert sorted(landed) == sorted(f"M\tpkg/m{n}.py" for n in range(11))
    # each task commit holds its one file and nothing else
    for f in data["files"]:
        names = git_repo.git("show", "--format=", "--name-only", f["commit"]).split()
        assert names == [f["path"]]
    tree = git_repo.git("ls-tree", "-r", "--name-only", data["branch"])
    assert ".pyc" not in tree and "__pycache__" not in tree
