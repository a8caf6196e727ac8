"""ChangeSet on real repositories: statuses, renames, skipped files, dirty trees, positions."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from reviewbot.errors import GitError
from reviewbot.git import WORKTREE, ChangeSet, FileStatus, Repo

LINES = "".join(f"line {i}\n" for i in range(1, 41))


def _by_path(cs: ChangeSet) -> dict[str, object]:
    return {f.path: f for f in cs.files}


def test_statuses_rename_delete_binary(git_repo) -> None:
    git_repo.write("keep.py", LINES)
    git_repo.write("gone.py", "x = 1\n")
    git_repo.write("old_name.py", LINES)
    git_repo.write("img.png", b"\x89PNG\r\n\x1a\n\0\0\0binary")
    base = git_repo.commit("base")
    git_repo.write("keep.py", LINES.replace("line 5\n", "line five\n"))
    (git_repo.path / "gone.py").unlink()
    git_repo.git("mv", "old_name.py", "new_name.py")
    git_repo.write("new_name.py", LINES.replace("line 40\n", "line forty\n"))
    git_repo.write("img.png", b"\x89PNG\r\n\x1a\n\0\0\0changed binary")
    git_repo.write("added.py", "a = 1\nb = 2\n")
    head = git_repo.commit("head")

    cs = ChangeSet.between(Repo.open(git_repo.path), base, head)
    files = {f.path: f for f in cs.files}
    assert cs.base == base and cs.head == head
    assert set(files) == {"keep.py", "gone.py", "new_name.py", "added.py"}
    assert files["keep.py"].status is FileStatus.MODIFIED
    assert files["keep.py"].added_lines == {5} and files["keep.py"].removed_lines == {5}
    assert files["gone.py"].status is FileStatus.DELETED
    assert files["gone.py"].removed_lines == {1} and not files["gone.py"].added_lines
    renamed = files["new_name.py"]
    assert renamed.status is FileStatus.RENAMED and renamed.old_path == "old_name.py"
    assert renamed.similarity is not None and 80 <= renamed.similarity < 100
    assert renamed.added_lines == {40}
    assert files["added.py"].status is FileStatus.ADDED
    assert files["added.py"].added_lines == {1, 2}
    assert [(s.path, s.reason) for s in cs.skipped] == [("img.png", "binary")]


def test_pure_rename_has_full_similarity_and_no_hunks(git_repo) -> None:
    git_repo.write("a.py", LINES)
    base = git_repo.commit()
    git_repo.git("mv", "a.py", "b.py")
    head = git_repo.commit()
    cs = ChangeSet.between(Repo.open(git_repo.path), base, head)
    [change] = cs.files
    assert (change.path, change.old_path, change.status, change.similarity) == (
        "b.py",
        "a.py",
        FileStatus.RENAMED,
        100,
    )
    assert change.hunks == [] and not change.added_lines


def test_skips_symlink_submodule_large_and_non_utf8(git_repo, tmp_path: Path) -> None:
    git_repo.write("ok.py", "ok = 1\n")
    base = git_repo.commit()
    os.symlink("ok.py", git_repo.path / "link.py")
    git_repo.write("big.txt", "x" * 2000 + "\n")
    git_repo.write("latin.txt", "caf\xe9\n".encode("latin-1"))
    sub = tmp_path / "sub"
    sub.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "s"]):
        subprocess.run(["git", *args], cwd=sub, check=True, capture_output=True)
    git_repo.git(
        "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor/sub"
    )
    head = git_repo.commit()
    cs = ChangeSet.between(Repo.open(git_repo.path), base, head, max_file_bytes=1000)
    reasons = {s.path: s.reason for s in cs.skipped}
    assert reasons["link.py"] == "symlink"
    assert reasons["vendor/sub"] == "submodule"
    assert reasons["big.txt"].startswith("larger than 1000 bytes")
    assert reasons["latin.txt"] == "not UTF-8 text"
    assert {f.path for f in cs.files} == {".gitmodules"}


def test_dirty_working_tree_includes_staged_unstaged_untracked_not_ignored(git_repo) -> None:
    git_repo.write(".gitignore", "*.log\n")
    git_repo.write("tracked.py", LINES)
    git_repo.write("moved.py", LINES)
    base = git_repo.commit()
    git_repo.write("tracked.py", LINES + "appended\n")  # unstaged
    git_repo.write("staged.py", "s = 1\n")
    git_repo.git("add", "staged.py")  # staged only
    git_repo.write("untracked.py", "u = 1\n")
    git_repo.write("debug.log", "ignored\n")
    (git_repo.path / "dir").mkdir()
    git_repo.git("mv", "moved.py", "dir/moved_again.py")  # uncommitted rename
    cs = ChangeSet.between(Repo.open(git_repo.path), base, WORKTREE)
    files = {f.path: f for f in cs.files}
    assert cs.head == WORKTREE
    assert set(files) == {"tracked.py", "staged.py", "untracked.py", "dir/moved_again.py"}
    assert files["tracked.py"].added_lines == {41}
    assert files["staged.py"].status is FileStatus.ADDED
    assert files["untracked.py"].status is FileStatus.ADDED
    assert files["untracked.py"].added_lines == {1}
    assert files["dir/moved_again.py"].status is FileStatus.RENAMED
    assert files["dir/moved_again.py"].old_path == "moved.py"


def _independent_positions(patch: str) -> dict[int, int]:
    """GitHub positions counted by hand: lines below the first @@, headers included."""
    positions: dict[int, int] = {}
    position = 0
    new_line = 0
    started = False
    for raw in patch.splitlines():
        header = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@", raw)
        if header:
            if started:
                position += 1
            started = True
            new_line = int(header.group(1))
            continue
        if not started:
            continue
        position += 1
        if raw.startswith("+") or raw.startswith(" "):
            positions[new_line] = position
            new_line += 1
    return positions


def test_diff_positions_match_an_independent_count(git_repo) -> None:
    original = [f"v{i} = {i}\n" for i in range(1, 121)]
    git_repo.write("m.py", "".join(original))
    git_repo.write("tail.py", "a\nb")  # no newline at end of file
    base = git_repo.commit()
    changed = list(original)
    changed[2] = "v3 = 'three'\n"
    changed.insert(50, "inserted = True\n")
    del changed[90:93]
    changed.append("v121 = 121\n")
    git_repo.write("m.py", "".join(changed))
    git_repo.write("tail.py", "a\nB\nc")
    head = git_repo.commit()
    cs = ChangeSet.between(Repo.open(git_repo.path), base, head)
    for change in cs.files:
        expected = _independent_positions(change.patch)
        assert expected, change.path
        assert change.positions == expected
        for line, position in expected.items():
            assert change.in_diff(line) and change.diff_position(line) == position
    m = cs.file("m.py")
    assert m is not None and len(m.hunks) == 4
    assert m.is_added_line(3) and m.is_added_line(51) and not m.is_added_line(4)
    assert m.diff_position(3) == 4  # @@ then v1, v2 context, -v3, +v3
    assert not m.in_diff(30)


def test_shallow_clone_missing_base_names_the_fix(git_repo, tmp_path: Path) -> None:
    git_repo.write("a.py", "a = 1\n")
    first = git_repo.commit("first")
    git_repo.git("switch", "-q", "-c", "feature")
    git_repo.write("b.py", "b = 1\n")
    git_repo.commit("feature work")
    git_repo.git("switch", "-q", "main")
    git_repo.write("a.py", "a = 2\n")
    git_repo.commit("second")
    clone = tmp_path / "clone"
    # What actions/checkout does by default: one commit per ref, no shared history.
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            "--branch",
            "feature",
            f"file://{git_repo.path}",
            str(clone),
        ],
        check=True,
        capture_output=True,
    )
    repo = Repo.open(clone)
    assert repo.is_shallow
    with pytest.raises(GitError) as err:
        ChangeSet.between(repo, first, "HEAD")
    message = err.value.message
    assert "\n" not in message and first in message
    assert "fetch-depth: 0" in message and "git fetch origin" in message
    with pytest.raises(GitError) as err2:
        repo.default_base()
    assert "fetch-depth: 0" in err2.value.message and "--base" in err2.value.message


def test_unknown_base_is_one_line(git_repo) -> None:
    git_repo.write("a.py", "a\n")
    git_repo.commit()
    with pytest.raises(GitError, match=r"^unknown revision 'nope': pass a branch, tag or commit"):
        ChangeSet.between(Repo.open(git_repo.path), "nope", "HEAD")
