"""`reviewbot diff` end to end on a real repository."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reviewbot.cli import main


def _run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["diff", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def feature_branch(git_repo):
    git_repo.write(
        "pkg/util.py", "def helper(x):\n    return x + 1\n\n\ndef other():\n    return 0\n"
    )
    git_repo.write(
        "pkg/app.py", "from pkg.util import helper\n\n\ndef run():\n    return helper(2)\n"
    )
    git_repo.write("logo.png", b"\x89PNG\0\0old")
    git_repo.commit("base")
    base = git_repo.head()
    git_repo.git("switch", "-q", "-c", "feature")
    git_repo.write(
        "pkg/util.py", "def helper(x):\n    return x + 2\n\n\ndef other():\n    return 0\n"
    )
    git_repo.write("logo.png", b"\x89PNG\0\0new")
    git_repo.commit("feature")
    return git_repo, base


def test_diff_default_is_head_plus_uncommitted_against_merge_base(feature_branch, capsys) -> None:
    git_repo, base = feature_branch
    git_repo.write("notes.md", "draft\n")  # untracked, uncommitted
    code, out, _ = _run(capsys, str(git_repo.path))
    assert code == 0
    assert out.splitlines()[0].startswith(f"{base[:12]}..working tree: 2 file(s) changed, +2 -1")
    assert "  M pkg/util.py  +1 -1" in out
    assert "  A notes.md" in out
    assert "logo.png: binary" in out
    # the changed function and who calls it
    assert "pkg/util.py:1 function helper  (1 caller(s))" in out
    assert "pkg/app.py:5 in run" in out


def test_diff_json_and_no_uncommitted(feature_branch, capsys) -> None:
    git_repo, base = feature_branch
    git_repo.write("notes.md", "draft\n")
    code, out, _ = _run(capsys, str(git_repo.path), "--no-uncommitted", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["base"] == base and report["head"] == git_repo.head()
    assert [f["path"] for f in report["files"]] == ["pkg/util.py"]
    assert report["files"][0]["added_lines"] == [2]
    assert report["skipped"] == [{"path": "logo.png", "reason": "binary"}]
    [symbol] = report["changed_symbols"]
    assert symbol["qualified"] == "helper"
    assert [(c["path"], c["start_line"]) for c in symbol["callers"]] == [("pkg/app.py", 5)]


def test_diff_explicit_range(feature_branch, capsys) -> None:
    git_repo, base = feature_branch
    code, out, _ = _run(capsys, str(git_repo.path), "--base", "HEAD", "--head", "HEAD")
    assert code == 0 and "0 file(s) changed" in out


def test_diff_bad_revision_is_one_line_error(feature_branch, tmp_path) -> None:
    git_repo, _ = feature_branch
    proc = subprocess.run(
        [sys.executable, "-m", "reviewbot", "diff", str(git_repo.path), "--base", "nope"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 3
    assert proc.stderr == (
        "reviewbot: error: unknown revision 'nope': pass a branch, tag or commit of this "
        "repository (see `git branch -a`)\n"
    )


def test_diff_reports_a_deleted_function_and_the_callers_it_leaves(feature_branch, capsys) -> None:
    git_repo, base = feature_branch
    # the working tree drops helper() while pkg/app.py still calls it
    git_repo.write("pkg/util.py", "def other():\n    return 0\n")
    code, out, _ = _run(capsys, str(git_repo.path))
    assert code == 0
    assert "  deleted function helper (was at base pkg/util.py:1)  (1 caller(s) left)" in out
    assert "pkg/app.py:5 in run" in out
    code, out, _ = _run(capsys, str(git_repo.path), "--json")
    [symbol] = [s for s in json.loads(out)["changed_symbols"] if s["deleted"]]
    assert (symbol["qualified"], symbol["start_line"], symbol["end_line"]) == ("helper", 1, 2)
    assert [(c["path"], c["start_line"]) for c in symbol["callers"]] == [("pkg/app.py", 5)]
