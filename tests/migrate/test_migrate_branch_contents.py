"""What lands on the result branch, and what a run says about itself: build output of
--verify never committed, exit status of a run that migrated nothing, uncommitted edits
to site files, and added imports placed where the project's isort puts them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner
from mig_rules import JOIN

from reviewbot.cli import cli


def migrate(git_repo, *args: str) -> tuple[int, str, str]:
    """(exit status as `reviewbot` sets it, stdout, stderr)."""
    result = CliRunner().invoke(
        cli,
        ["migrate", *args, "--repo", str(git_repo.path), "--quiet"],
        catch_exceptions=False,
        standalone_mode=False,  # as the entry point runs it: the command's return is the status
    )
    code = result.return_value if isinstance(result.return_value, int) else result.exit_code
    return code, result.stdout, result.stderr


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


def test_a_run_that_migrated_nothing_exits_non_zero_with_the_reason(git_repo) -> None:
    # every site skipped: the rule's import would shadow a `join` the file defines, no model
    git_repo.write(
        "c.py", 'import os\n\ndef join(a, b):\n    return a + b\n\nX = os.path.join("a", "b")\n'
    )
    git_repo.commit("initial")
    code, out, err = migrate(git_repo, "use join", *JOIN)
    assert code == 1, out + err
    assert "files: 1 of 1 · 1 skipped" in out
    (line,) = [x for x in err.splitlines() if x.startswith("reviewbot: error:")]
    assert line.startswith("reviewbot: error: nothing migrated: 1 skipped (c.py: rule not applied")
    assert "shadow join" in line and "no model configured" in line

    # every file failed a gate
    git_repo.write("c.py", 'import os\nX = os.path.join("a", "b")\n')
    git_repo.commit("no shadowing")
    code, out, err = migrate(git_repo, "use join", *JOIN, "--verify", "exit 3")
    assert code == 1, out + err
    assert "nothing migrated: 1 failed (c.py: failed the verify gate" in err

    # something landed: success
    code, out, err = migrate(git_repo, "use join", *JOIN)
    assert code == 0, out + err
    assert "nothing migrated" not in err
    # run again on the migrated branch: every site is already in the target form
    git_repo.git("checkout", "-q", "reviewbot/migrate-use-join")
    code, out, err = migrate(git_repo, "use join", *JOIN, "--branch", "again")
    assert code == 0 and "nothing migrated" not in err, out + err


def test_uncommitted_edits_to_site_files_are_named_in_one_warning(git_repo) -> None:
    package(git_repo, 3)
    git_repo.write("pkg/other.py", "X = 1\n")
    git_repo.commit("more")
    git_repo.write("pkg/m0.py", (git_repo.path / "pkg/m0.py").read_text() + "# staged\n")
    git_repo.git("add", "pkg/m0.py")
    git_repo.write("pkg/m2.py", (git_repo.path / "pkg/m2.py").read_text() + "# unstaged\n")
    git_repo.write("pkg/other.py", "X = 2\n")  # no sites: not part of the migration
    git_repo.write("new.py", "import os\nos.path.join('a', 'b')\n")  # untracked
    code, out, err = migrate(git_repo, "use join", *JOIN)
    assert code == 0, out + err
    (warning,) = [line for line in err.splitlines() if "uncommitted" in line]
    assert warning == (
        "reviewbot: warning: uncommitted edits to 2 file(s) with sites are not included "
        "(the migration reads HEAD as committed): pkg/m0.py, pkg/m2.py; "
        "to include them, commit them (git commit) and run again"
    )
    assert "# unstaged" not in git_repo.git("show", "reviewbot/migrate-use-join:pkg/m2.py")
    # the dry run says it too
    code, out, err = migrate(git_repo, "use join", *JOIN, "--dry-run")
    assert "uncommitted edits to 2 file(s)" in err
    # another base than the checked-out commit: the working tree is not involved
    code, out, err = migrate(git_repo, "use join", *JOIN, "--base", "HEAD~1", "--branch", "b")
    assert code == 0 and "uncommitted" not in err, out + err
    # committed: included, no warning
    git_repo.commit("local edits")
    code, out, err = migrate(git_repo, "use join", *JOIN, "--branch", "c")
    assert code == 0 and "uncommitted" not in err, out + err
    assert "# unstaged" in git_repo.git("show", "c:pkg/m2.py")


PYPROJECT = """[project]
name = "app"
requires-python = ">=3.11"

[tool.ruff]
src = [".", "src"]

[tool.ruff.lint.isort]
known-first-party = ["mylib"]
"""

# every file isort-clean under the project's own config at base
ISORT_FILES = {
    "src/app/__init__.py": "",
    "src/app/util.py": "X = 1\n",
    # all three sections
    "src/app/full.py": (
        '"""Docstring."""\n\nimport json\nimport os\nimport sys\nfrom collections import '
        "OrderedDict\n\nimport requests\n\nimport mylib\nfrom app import util\n\n\n"
        'def f(p):\n    return [os.path.join(p, "w"), json, sys, OrderedDict, requests,\n'
        "            mylib, util]\n"
    ),
    # first-party and relative imports after the standard library
    "src/app/local.py": (
        "import os\n\nfrom app import util\n\nfrom . import full\n\n\n"
        'def g(p):\n    return os.path.join(p, "x"), util, full\n'
    ),
    # joins an existing one-line import of the same module
    "src/app/merge.py": (
        "import os\nfrom os.path import exists\n\nimport requests\n\n\n"
        'def h(p):\n    return exists(os.path.join(p, "y")) and requests.get(p)\n'
    ),
    # a comment above an import stays with it
    "src/app/commented.py": (
        "import os\n\n# third party\nimport requests\n\nimport mylib\n\n\n"
        'def k(p):\n    return requests.get(p), mylib.x, os.path.join(p, "z")\n'
    ),
}


def ruff_isort(root: Path) -> str:
    proc = subprocess.run(
        ["ruff", "check", "--no-cache", "--select", "I", "--output-format", "concise", "."],
        cwd=root,
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip()


def migrated_checkout(git_repo, tmp_path: Path, *args: str) -> Path:
    code, out, err = migrate(git_repo, *args, "--format", "json")
    assert code == 0, out + err
    data = json.loads(out)
    assert {f["path"] for f in data["files"] if f["status"] == "migrated"} == {
        "src/app/full.py",
        "src/app/local.py",
        "src/app/merge.py",
        "src/app/commented.py",
    }, data["files"]
    checkout = tmp_path / data["branch"].replace("/", "-")
    git_repo.git("worktree", "add", "-q", "--detach", str(checkout), data["branch"])
    return checkout


def test_added_imports_are_where_the_projects_isort_puts_them(git_repo, tmp_path) -> None:
    git_repo.write("pyproject.toml", PYPROJECT)
    for path, text in ISORT_FILES.items():
        git_repo.write(path, text)
    git_repo.commit("initial")
    assert ruff_isort(git_repo.path) == "All checks passed!"

    # a standard-library import
    checkout = migrated_checkout(git_repo, tmp_path, "use join", *JOIN)
    assert ruff_isort(checkout) == "All checks passed!"
    read = lambda p: (checkout / p).read_text()  # noqa: E731
    assert (
        "import json\nimport sys\nfrom collections import OrderedDict\nfrom os.path import join\n"
        in read("src/app/full.py")
    )
    assert read("src/app/local.py").startswith("from os.path import join\n\nfrom app import util\n")
    assert read("src/app/merge.py").startswith(
        "from os.path import exists, join\n\nimport requests\n"
    )
    assert read("src/app/commented.py").startswith("from os.path import join\n\n# third party\n")

    # a first-party import (known-first-party): into that section, or a new one after third party
    checkout = migrated_checkout(
        git_repo,
        tmp_path,
        "use mylib",
        "--find",
        "os.path.join",
        "--rewrite",
        "pjoin({args})",
        "--add-import",
        "from mylib import pjoin",
        "--branch",
        "mylib",
    )
    assert ruff_isort(checkout) == "All checks passed!"
    read = lambda p: (checkout / p).read_text()  # noqa: E731
    assert "import mylib\nfrom app import util\nfrom mylib import pjoin\n" in read(
        "src/app/full.py"
    )
    assert "import requests\n\nfrom mylib import pjoin\n\n\ndef h" in read("src/app/merge.py")
    assert "from app import util\nfrom mylib import pjoin\n\nfrom . import full\n" in read(
        "src/app/local.py"
    )
