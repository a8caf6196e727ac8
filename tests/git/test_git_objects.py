"""Commits built in the object store: the same trees a worktree commit of the same files makes."""

from __future__ import annotations

import anyio

from reviewbot.git import Repo, WorktreePool, assemble, commit_files, commit_worktree


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


def test_assembly_of_task_commits_gives_the_trees_of_three_way_merges(git_repo) -> None:
    lines = "".join(f"line {i}\n" for i in range(1, 30))
    git_repo.write("a.py", lines)
    git_repo.write("swap", "a file first\n")
    git_repo.write("run.sh", "echo hi\n")
    git_repo.write("solo/only.txt", "alone\n")
    git_repo.write("keep/k.txt", "k\n")
    base = git_repo.commit("base")
    repo = Repo.open(git_repo.path)
    tasks: dict[str, dict[str, bytes | tuple | None]] = {
        "top": {"a.py": lines.replace("line 1\n", "line one\n").encode()},
        "new-dir": {"dir/deep/x.py": b"x = 1\n"},
        "bottom": {"a.py": lines.replace("line 28\n", "line 28!\n").encode()},  # merges with top
        "file-to-dir": {"swap": None, "swap/inner.txt": b"now a directory\n"},
        "gone-dir": {"solo/only.txt": None},
        "clash": {"a.py": lines.replace("line 1\n", "line uno\n").encode()},  # conflicts
    }
    commits = [
        (t, commit_files(repo, base, files, f"{t}\n", f"task/{t}")) for t, files in tasks.items()
    ]
    sha = commit_files(repo, base, {"run.sh": b"echo hi\n"}, "m", "task/none")
    assert sha is None
    result = assemble(repo, base, [(t, s) for t, s in commits if s], "combined")
    assert result.merged == ["top", "new-dir", "bottom", "file-to-dir", "gone-dir"]
    assert result.conflicts == {"clash": ["a.py"]}

    # the same fold with git's own three-way merge of whole trees
    current = base
    for _task, sha in commits:
        merged = git_repo.git("merge-tree", "--write-tree", current, sha, check=False)
        if "CONFLICT" in merged:
            continue
        current = git_repo.git("commit-tree", merged.split()[0], "-p", current, "-m", "ref")
    assert git_repo.git("rev-parse", f"{result.head}^{{tree}}") == git_repo.git(
        "rev-parse", f"{current}^{{tree}}"
    )
    assert git_repo.git("show", "combined:a.py").splitlines()[0] == "line one"
    assert git_repo.git("show", "combined:a.py").splitlines()[-2] == "line 28!"
    assert git_repo.git("ls-tree", "-r", "--name-only", "combined").split() == [
        "a.py",
        "dir/deep/x.py",
        "keep/k.txt",
        "run.sh",
        "swap/inner.txt",
    ]
    assert git_repo.git("rev-list", "--count", f"{base}..combined") == "5"
