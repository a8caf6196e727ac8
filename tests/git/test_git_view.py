"""Repo and RepoView on real repositories: object-store reads and the working tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from reviewbot.errors import GitError
from reviewbot.git import WORKTREE, NotTextError, Repo, RepoView


@pytest.fixture
def repo_with_history(git_repo):
    git_repo.write(".gitignore", "*.log\n")
    git_repo.write("pkg/mod.py", "import os\n\ndef f():\n    return os.path.join('a', 'b')\n")
    git_repo.write("pkg/data.bin", b"\0\1\2binary")
    git_repo.write("latin.txt", "caf\xe9\n".encode("latin-1"))
    git_repo.write("top.py", "print('top')\n")
    os.symlink("top.py", git_repo.path / "link.py")
    first = git_repo.commit("first")
    git_repo.write("pkg/mod.py", "import os\n")
    git_repo.commit("second")
    return git_repo, first


def test_repo_open_resolve_and_blobs(repo_with_history) -> None:
    git_repo, first = repo_with_history
    repo = Repo.open(git_repo.path / "pkg")
    assert repo.root == git_repo.path.resolve()
    assert repo.git_dir == (git_repo.path / ".git").resolve()
    assert repo.state_dir == repo.git_dir / "reviewbot" and repo.state_dir.is_dir()
    assert repo.resolve("HEAD~1") == first and repo.resolve(first[:10]) == first
    assert repo.head_sha() == git_repo.head()
    assert repo.has_commit(first) and not repo.has_commit("0" * 40)
    assert repo.read_blob(first, "pkg/mod.py").startswith(b"import os\n\ndef f")
    with pytest.raises(FileNotFoundError):
        repo.read_blob(first, "nope.py")
    assert "pkg/mod.py" in repo.tracked_files() and "link.py" in repo.tracked_files(first)
    git_repo.write("debug.log", "x")
    assert "debug.log" not in repo.tracked_files()
    assert not repo.is_shallow
    with pytest.raises(GitError, match=r"^unknown revision 'HEAD~9': pass a branch"):
        repo.resolve("HEAD~9")


def test_open_outside_a_repository_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not inside a git repository"):
        Repo.open(tmp_path)


def test_default_base_is_merge_base_with_default_branch(git_repo, tmp_path: Path) -> None:
    git_repo.write("a.py", "a\n")
    fork = git_repo.commit("fork point")
    git_repo.git("switch", "-q", "-c", "feature")
    git_repo.write("b.py", "b\n")
    git_repo.commit("feature")
    git_repo.git("switch", "-q", "main")
    git_repo.write("a.py", "a2\n")
    git_repo.commit("main moves on")
    # a clone: origin/HEAD decides, and the local main branch is not needed
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(git_repo.path), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "switch", "-q", "feature"], check=True)
    subprocess.run(["git", "-C", str(clone), "branch", "-q", "-D", "main"], check=True)
    cloned = Repo.open(clone)
    assert cloned.default_branch() == "main" and cloned.default_base() == fork
    git_repo.git("switch", "-q", "feature")
    repo = Repo.open(git_repo.path)
    assert repo.default_branch() == "main"
    assert repo.default_base() == fork


def test_default_base_without_default_branch_says_pass_base(git_repo) -> None:
    git_repo.git("switch", "-q", "-c", "trunk")
    git_repo.write("a.py", "a\n")
    git_repo.commit()
    with pytest.raises(GitError, match="pass --base REF$"):
        Repo.open(git_repo.path).default_base()


def test_linked_worktree_opens_with_the_common_git_dir(repo_with_history, tmp_path) -> None:
    git_repo, first = repo_with_history
    linked = tmp_path / "linked"
    git_repo.git("worktree", "add", "-q", "--detach", str(linked), first)
    repo = Repo.open(linked)
    assert repo.root == linked.resolve()
    assert repo.git_dir == (git_repo.path / ".git").resolve()
    assert repo.head_sha() == first
    assert repo.resolve("main") == git_repo.head()


def test_view_at_commit_reads_from_the_object_store(repo_with_history) -> None:
    git_repo, first = repo_with_history
    repo = Repo.open(git_repo.path)
    view = RepoView.at(repo, first)
    (git_repo.path / "pkg/mod.py").unlink()  # the view does not need the working tree
    assert view.commit == first
    assert "os.path.join" in view.read("pkg/mod.py")
    assert view.files() == [".gitignore", "latin.txt", "pkg/data.bin", "pkg/mod.py", "top.py"]
    assert view.files("pkg") == ["pkg/data.bin", "pkg/mod.py"]
    assert view.exists("top.py") and not view.exists("pkg") and not view.exists("../x")
    assert view.blob_id("top.py") == git_repo.git("rev-parse", f"{first}:top.py")
    with pytest.raises(NotTextError):
        view.read("pkg/data.bin")
    with pytest.raises(NotTextError):
        view.read("latin.txt")
    with pytest.raises(FileNotFoundError):
        view.read("missing.py")
    with pytest.raises(ValueError):
        view.read("../outside")
    hits = view.grep(r"os\.path\.join")
    assert [(h.path, h.line) for h in hits] == [("pkg/mod.py", 4)]
    assert view.grep(r"^(import|print)") == view.grep(r"^(import|print)", paths=view.files())
    assert len(view.grep("o", max_hits=2)) == 2
    # a character class is not literal text: the byte prefilter must not demand "xyz"
    assert [h.text for h in view.grep(r"[pqrstuvw]rint\('top")] == ["print('top')"]
    assert [h.line for h in view.grep(r"def [a-z]\(\):")] == [3]


def test_unborn_head_says_commit_first(git_repo) -> None:
    with pytest.raises(GitError, match="has no commits yet; commit something first$"):
        Repo.open(git_repo.path).resolve("HEAD")


def test_view_of_working_tree_sees_uncommitted_and_untracked(repo_with_history) -> None:
    git_repo, _ = repo_with_history
    repo = Repo.open(git_repo.path)
    git_repo.write("new.py", "new = 1\n")
    git_repo.write("debug.log", "ignored\n")
    (git_repo.path / "top.py").unlink()
    git_repo.write("pkg/mod.py", "changed\n")
    view = RepoView.working_tree(repo)
    assert view.commit == WORKTREE
    assert view.files() == [".gitignore", "latin.txt", "new.py", "pkg/data.bin", "pkg/mod.py"]
    assert view.read("pkg/mod.py") == "changed\n"
    assert view.blob_id("pkg/mod.py") == str(pygit2.hash(b"changed\n"))
    assert view.blob_id("new.py") == git_repo.git("hash-object", "new.py")
    assert not view.exists("top.py") and view.exists("new.py")
    with pytest.raises(FileNotFoundError):
        view.read("link.py")  # a symlink to a deleted file, and symlinks are not followed
    assert [h.path for h in view.grep("changed|new")] == ["new.py", "pkg/mod.py"]


def _git_ids(git_repo, paths: list[str]) -> dict[str, str]:
    """What `git hash-object` says of each file on disk: the independent answer."""
    out = git_repo.git("hash-object", "--", *paths).split("\n")
    return dict(zip(paths, out, strict=True))


def test_blob_ids_at_a_commit_are_one_walk_of_its_tree(repo_with_history) -> None:
    git_repo, first = repo_with_history
    repo = Repo.open(git_repo.path)
    view = RepoView.at(repo, first)
    ids = view.blob_ids()
    assert sorted(ids) == view.files()  # regular files only: no symlink
    listed = git_repo.git("ls-tree", "-r", first).splitlines()
    expected = {line.split("\t")[1]: line.split()[2] for line in listed if " blob " in line}
    expected.pop("link.py")
    assert ids == expected
    assert view.blob_ids(["top.py", "gone.py", "pkg/mod.py"]) == {
        "top.py": expected["top.py"],
        "pkg/mod.py": expected["pkg/mod.py"],
    }


@pytest.mark.parametrize("many", [False, True], ids=["few-paths", "status-scan"])
def test_blob_ids_of_the_working_tree_follow_every_kind_of_change(
    repo_with_history, many: bool
) -> None:
    git_repo, _ = repo_with_history
    for i in range(40):  # enough files that asking for all of them takes the status scan
        git_repo.write(f"many/m{i}.py", f"m = {i}\n")
    git_repo.commit("many")
    git_repo.write("pkg/mod.py", "unstaged edit\n")
    git_repo.write("top.py", "staged edit\n")
    git_repo.git("add", "top.py")
    git_repo.write("latin.txt", "staged then edited again\n")
    git_repo.git("add", "latin.txt")
    git_repo.write("latin.txt", "edited after staging\n")
    git_repo.write("new.py", "untracked\n")
    git_repo.write("debug.log", "ignored\n")
    (git_repo.path / "many/m0.py").unlink()
    git_repo.git("rm", "-q", "--cached", "many/m1.py")  # untracked now, still on disk
    repo = Repo.open(git_repo.path)
    view = RepoView.working_tree(repo)
    files = view.files()
    assert "many/m0.py" not in files and "many/m1.py" in files and "debug.log" not in files
    wanted = files if many else ["pkg/mod.py", "top.py", "latin.txt", "new.py", "many/m0.py"]
    got = view.blob_ids(wanted)
    present = [p for p in wanted if p in files]
    assert got == _git_ids(git_repo, present)
    assert got == {p: view.blob_id(p) for p in present}
    if many:
        assert view.blob_ids() == got
