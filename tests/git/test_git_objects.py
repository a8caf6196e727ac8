"""Commits built in the object store: the same trees a worktree commit of the same files makes."""

from __future__ import annotations

import anyio

from reviewbot.git import Repo, WorktreePool, commit_files, commit_worktree


def test_commit_files_matches_a_worktree_commit_of_the_same_change(git_repo) -> None:
    git_repo.write("src/a.py", "a = 1\n")
    git_repo.write("src/only/b.py", "b = 1\n")
    git_repo.write("run.sh", "echo hi\n")
    (git_repo.path / "run.sh").chmod(0o755)
    git_repo.write("README", "hello\n")
    base = git_repo.commit("base")
    repo = Repo.open(git_repo.path)
    files: dict[str, bytes | None] = {
        "src/a.py": b"a = 2\n",
        "run.sh": b"echo bye\n",  # stays executable
        "src/only/b.py": None,  # its directory empties and goes
        "new/dir/c.py": b"c = 1\n",
    }
    sha = commit_files(repo, base, files, "objects\n", "reviewbot/objects")
    assert sha is not None
    assert git_repo.git("rev-parse", "reviewbot/objects") == sha
    assert git_repo.git("rev-parse", f"{sha}^") == base
    assert git_repo.git("log", "-1", "--format=%B", sha) == "objects"
    assert git_repo.git("ls-tree", "-r", "--name-only", sha).split() == [
        "README",
        "new/dir/c.py",
        "run.sh",
        "src/a.py",
    ]
    assert git_repo.git("ls-tree", sha, "run.sh").startswith("100755 ")
    assert git_repo.git("status", "--porcelain") == ""  # nothing on disk was touched

    async def through_worktree() -> str | None:
        async with WorktreePool(repo, size=1, keep=False) as pool:
            async with pool.checkout(base) as wt:
                for rel, content in files.items():
                    target = wt.path / rel
                    if content is None:
                        target.unlink()
                    else:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(content)
                return commit_worktree(wt, "worktree\n", "reviewbot/worktree", list(files))

    other = anyio.run(through_worktree)
    assert git_repo.git("rev-parse", f"{other}^{{tree}}") == git_repo.git(
        "rev-parse", f"{sha}^{{tree}}"
    )


def test_commit_files_that_change_nothing_make_no_commit(git_repo) -> None:
    git_repo.write("a.py", "a = 1\n")
    base = git_repo.commit("base")
    repo = Repo.open(git_repo.path)
    assert commit_files(repo, base, {"a.py": b"a = 1\n", "gone.py": None}, "m", "b") is None
    assert git_repo.git("branch", "--list", "b") == ""
