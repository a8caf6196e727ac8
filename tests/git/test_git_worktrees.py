"""WorktreePool and branch assembly on real repositories."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from reviewbot.errors import GitError
from reviewbot.git import Repo, WorktreePool, assemble, commit_worktree, prune_stale


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under root (the .git dir's index included, objects and refs excluded)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(".git/") or rel == ".git/index":
            out[rel] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def project(git_repo):
    git_repo.write(".gitignore", "*.log\nbuild/\n")
    git_repo.write("src/a.py", "a = 1\n")
    git_repo.write("src/b.py", "b = 1\n")
    git_repo.write("README", "hello\n")
    git_repo.commit("base")
    return git_repo


def test_pool_reuses_worktrees_and_restores_touched_files(project) -> None:
    repo = Repo.open(project.path)
    base = project.head()
    project.write("src/c.py", "c = 1\n")
    second = project.commit("second")

    async def main() -> None:
        async with WorktreePool(repo, size=2, keep=False) as pool:
            seen_paths = set()
            for round_no in range(6):
                async with pool.checkout(base) as wt:
                    seen_paths.add(wt.path)
                    assert wt.commit == base
                    assert (wt.path / "src/a.py").read_text() == "a = 1\n"
                    assert not (wt.path / "src/c.py").exists()
                    assert not (wt.path / "new.txt").exists()
                    assert not (wt.path / "out.log").exists()
                    # touch things every way a task might
                    (wt.path / "src/a.py").write_text(f"a = {round_no + 2}\n")
                    (wt.path / "src/b.py").unlink()
                    (wt.path / "new.txt").write_text("new\n")
                    (wt.path / "deep/er").mkdir(parents=True)
                    (wt.path / "deep/er/x.py").write_text("x\n")
                    (wt.path / "out.log").write_text("ignored\n")
                    (wt.path / "build").mkdir()
                    (wt.path / "build/artifact").write_text("bin\n")
                    (wt.path / "staged.py").write_text("s\n")
                    subprocess.run(["git", "add", "staged.py", "src/a.py"], cwd=wt.path, check=True)
                async with pool.checkout(second) as wt2:
                    assert wt2.commit == second
                    assert (wt2.path / "src/c.py").read_text() == "c = 1\n"
                    assert (wt2.path / "src/b.py").read_text() == "b = 1\n"
                    assert not (wt2.path / "deep").exists()
                    assert not (wt2.path / "build").exists()
                    status = subprocess.run(
                        ["git", "status", "--porcelain", "--ignored"],
                        cwd=wt2.path,
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    assert status == ""
                    head = subprocess.run(
                        ["git", "rev-parse", "HEAD"],
                        cwd=wt2.path,
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout.strip()
                    assert head == second
            assert pool.created == 1  # sequential use: one worktree, reused 12 times
            assert len(seen_paths) == 1

            # concurrent use: never more than `size` worktrees
            async def task(i: int) -> None:
                async with pool.checkout(base) as wt:
                    (wt.path / f"t{i}.txt").write_text("x")
                    await anyio.sleep(0.01)

            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(task, i)
            assert pool.created == 2
        assert list((repo.git_dir / "reviewbot" / "worktrees").iterdir()) == []
        assert [n for n in repo.main.list_worktrees() if n.startswith("rb-")] == []

    anyio.run(main)


def test_users_working_tree_and_index_untouched(project) -> None:
    repo = Repo.open(project.path)
    base = project.head()
    # the user has their own uncommitted, staged and untracked work
    project.write("src/a.py", "a = 'mine'\n")
    project.write("staged.py", "mine\n")
    project.git("add", "staged.py")
    project.write("notes.txt", "mine\n")
    before = _snapshot(project.path)
    status_before = project.git("status", "--porcelain")

    async def main() -> None:
        async with WorktreePool(repo, size=2) as pool:
            async with pool.checkout(base) as wt:
                (wt.path / "src/a.py").write_text("a = 'task'\n")
                subprocess.run(["git", "add", "-A"], cwd=wt.path, check=True)
                sha = commit_worktree(wt, "task", "reviewbot/task-1")
                assert sha is not None

    anyio.run(main)
    assert _snapshot(project.path) == before
    assert project.git("status", "--porcelain") == status_before


def test_crash_left_worktree_is_pruned(project) -> None:
    repo = Repo.open(project.path)
    script = textwrap.dedent(
        """
        import os, sys, anyio
        from reviewbot.git import Repo, WorktreePool

        async def main():
            pool = WorktreePool(Repo.open(sys.argv[1]), size=1)
            async with pool.checkout("HEAD") as wt:
                (wt.path / "half-done.txt").write_text("x")
                print(wt.name, flush=True)
                os._exit(9)  # crash with the worktree still out

        anyio.run(main)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(project.path)], capture_output=True, text=True
    )
    assert proc.returncode == 9, proc.stderr
    name = proc.stdout.strip()
    left = repo.git_dir / "reviewbot" / "worktrees" / name
    assert (left / "half-done.txt").exists() and name in repo.main.list_worktrees()

    pool = WorktreePool(repo, size=1)
    assert pool.pruned == [name]
    assert not left.exists() and not left.with_name(f"{name}.lock").exists()
    assert name not in repo.main.list_worktrees()
    assert project.git("worktree", "list", "--porcelain").count("worktree ") == 1


def test_live_pool_worktrees_are_not_pruned(project) -> None:
    repo = Repo.open(project.path)

    async def main() -> None:
        async with WorktreePool(repo, size=1) as first:
            async with first.checkout("HEAD") as wt:
                second = WorktreePool(repo, size=1)
                assert second.pruned == []
                assert wt.path.exists()

    anyio.run(main)


def test_commit_worktree_and_assembly_with_conflict(project) -> None:
    repo = Repo.open(project.path)
    base = project.head()
    project.write("other.txt", "unrelated\n")
    user_head = project.commit("user keeps working")

    async def main() -> dict[str, str | None]:
        commits: dict[str, str | None] = {}
        async with WorktreePool(repo, size=2) as pool:
            edits = {
                "task-a": {"src/a.py": "a = 'from a'\n"},
                "task-b": {"src/b.py": "b = 'from b'\n", "gone": None},
                "task-c": {"src/a.py": "a = 'from c'\n"},  # conflicts with task-a
                "task-d": {"new/d.py": "d = 1\n"},
                "task-noop": {},
            }
            for task, files in edits.items():
                async with pool.checkout(base) as wt:
                    for rel, content in files.items():
                        if content is None:
                            (wt.path / "README").unlink()
                        else:
                            (wt.path / rel).parent.mkdir(parents=True, exist_ok=True)
                            (wt.path / rel).write_text(content)
                    commits[task] = commit_worktree(wt, f"{task}\n", f"reviewbot/{task}")
        return commits

    commits = anyio.run(main)
    assert commits["task-noop"] is None
    assert all(commits[t] for t in ("task-a", "task-b", "task-c", "task-d"))
    assert project.git("rev-parse", "reviewbot/task-b") == commits["task-b"]
    task_b_files = project.git("show", "--name-status", "--format=", commits["task-b"])
    assert task_b_files.splitlines() == ["D\tREADME", "M\tsrc/b.py"]

    ordered = [(t, commits[t]) for t in ("task-a", "task-b", "task-c", "task-d")]
    result = assemble(repo, base, ordered, "reviewbot/combined")
    assert result.merged == ["task-a", "task-b", "task-d"]
    assert result.conflicts == {"task-c": ["src/a.py"]}
    assert project.git("rev-parse", "reviewbot/combined") == result.head
    tree = dict(
        line.split("\t")[::-1] for line in project.git("ls-tree", "-r", result.head).splitlines()
    )
    assert set(tree) == {".gitignore", "src/a.py", "src/b.py", "new/d.py"}
    assert project.git("show", f"{result.head}:src/a.py") == "a = 'from a'"
    assert project.git("show", f"{result.head}:src/b.py") == "b = 'from b'"
    assert project.git("rev-list", "--count", f"{base}..{result.head}") == "3"
    # the user's branch and working tree did not move
    assert project.head() == user_head
    assert project.git("status", "--porcelain") == ""

    with pytest.raises(GitError, match="checked out"):
        assemble(repo, base, ordered, "main")


def test_pool_moves_between_commits_with_modes_links_and_type_changes(git_repo) -> None:
    git_repo.write("run.sh", "echo hi\n")
    git_repo.write("swap", "a file first\n")
    git_repo.write("docs/keep.md", "keep\n")
    one = git_repo.commit("one")
    (git_repo.path / "run.sh").chmod(0o755)
    (git_repo.path / "swap").unlink()
    git_repo.write("swap/inner.txt", "now a directory\n")
    os.symlink("docs/keep.md", git_repo.path / "link")
    (git_repo.path / "docs/keep.md").unlink()
    git_repo.write("docs/other.md", "other\n")
    two = git_repo.commit("two")
    repo = Repo.open(git_repo.path)

    def porcelain(path: Path) -> str:
        return subprocess.run(
            ["git", "status", "--porcelain", "--ignored"],
            cwd=path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    async def main() -> None:
        async with WorktreePool(repo, size=1) as pool:
            for commit in (one, two, one, two):
                async with pool.checkout(commit) as wt:
                    assert porcelain(wt.path) == ""
                    listed = subprocess.run(
                        ["git", "ls-files", "-s"],
                        cwd=wt.path,
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    expected = git_repo.git("ls-tree", "-r", commit)
                    assert [ln.split()[:2] for ln in listed.splitlines()] == [
                        ln.split()[:3:2] for ln in expected.splitlines()
                    ]
                    if commit == two:
                        assert os.access(wt.path / "run.sh", os.X_OK)
                        assert os.readlink(wt.path / "link") == "docs/keep.md"
                        assert (wt.path / "swap/inner.txt").is_file()
                        assert not (wt.path / "docs/keep.md").exists()
                        (wt.path / "swap/inner.txt").write_text("task edit\n")
                    else:
                        assert not os.access(wt.path / "run.sh", os.X_OK)
                        assert (wt.path / "swap").is_file() and not (wt.path / "link").exists()
                        (wt.path / "run.sh").chmod(0o755)  # a mode-only change is restored too
            assert pool.created == 1

    anyio.run(main)


def test_closed_pool_parks_worktrees_for_the_next_pool(project) -> None:
    repo = Repo.open(project.path)
    base = project.head()

    async def first_run() -> list[Path]:
        async with WorktreePool(repo, size=2) as pool:
            async with pool.checkout(base) as a, pool.checkout(base) as b:
                (a.path / "src/a.py").write_text("dirty\n")
                paths = [a.path, b.path]
            assert pool.created == 2
        return paths

    async def second_run(parked: list[Path]) -> None:
        # someone edits a parked worktree between runs: adoption restores it first
        (parked[0] / "README").write_text("meddled\n")
        (parked[0] / "stray.txt").write_text("stray\n")
        async with WorktreePool(repo, size=2) as pool:
            assert pool.adopted == 2 and pool.pruned == []
            for _ in range(2):
                async with pool.checkout(base) as a, pool.checkout(base) as b:
                    assert {a.path, b.path} == set(parked)
                    for wt in (a, b):
                        assert (wt.path / "README").read_text() == "hello\n"
                        assert not (wt.path / "stray.txt").exists()
                        assert (wt.path / "src/a.py").read_text() == "a = 1\n"
            assert pool.created == 0

    parked = anyio.run(first_run)
    assert all(p.is_dir() for p in parked)
    anyio.run(second_run, parked)
    removed = prune_stale(repo, parked=True)
    assert len(removed) == 2 and not any(p.exists() for p in parked)
    assert list((repo.git_dir / "reviewbot" / "worktrees").iterdir()) == []


def test_two_branch_assembly_reports_each_conflicting_file(project) -> None:
    base = project.head()
    project.git("switch", "-q", "-c", "left")
    project.write("src/a.py", "a = 'left'\n")
    project.write("src/b.py", "b = 'left'\n")
    project.write("left_only.py", "x = 1\n")
    left = project.commit("left")
    project.git("switch", "-q", "-c", "right", base)
    project.write("src/a.py", "a = 'right'\n")
    project.write("src/b.py", "b = 'right'\n")
    right = project.commit("right")
    project.git("switch", "-q", "main")
    repo = Repo.open(project.path)

    result = assemble(repo, base, [("left", left), ("right", right)], "combined")
    assert result.merged == ["left"]
    assert result.conflicts == {"right": ["src/a.py", "src/b.py"]}
    assert result.head == left  # the only clean task fast-forwards
    assert project.git("rev-parse", "combined") == left

    swapped = assemble(repo, base, [("right", right), ("left", left)], "combined")
    assert swapped.merged == ["right"] and swapped.conflicts == {"left": ["src/a.py", "src/b.py"]}


_CREATE_MANY = textwrap.dedent(
    """
    import sys, anyio
    from reviewbot.git import Repo, WorktreePool

    async def first_checkouts(repo, pools, size):
        # every checkout of a fresh pool creates a worktree: pools * size `worktree add` at once
        async def one(pool):
            async with pool.checkout("HEAD") as wt:
                assert (wt.path / "f0.txt").read_text() == "0\\n"
                await anyio.sleep(0.02)

        opened = [WorktreePool(repo, size=size, keep=False) for _ in range(pools)]
        try:
            async with anyio.create_task_group() as tg:
                for pool in opened:
                    for _ in range(size):
                        tg.start_soon(one, pool)
        finally:
            for pool in opened:
                await pool.close()
        return sum(pool.created for pool in opened)

    if __name__ == "__main__":
        repo = Repo.open(sys.argv[1])
        for _ in range(int(sys.argv[2])):
            anyio.run(first_checkouts, repo, 1, 6)
    """
)


def test_concurrent_worktree_creation_never_fails(git_repo, tmp_path: Path) -> None:
    # Unserialized, two `git worktree add` at once fail now and then reading each other's
    # half-written admin files ("failed to read .git/worktrees/<other>/commondir").
    for i in range(100):
        git_repo.write(f"f{i}.txt", f"{i}\n")
    git_repo.commit("base")
    repo = Repo.open(git_repo.path)
    script = tmp_path / "create_many.py"
    script.write_text(_CREATE_MANY)
    namespace: dict[str, object] = {}
    exec(compile(_CREATE_MANY, str(script), "exec"), namespace)
    first_checkouts = namespace["first_checkouts"]
    rounds = 3
    # another process creates worktrees in the same repository at the same time
    other = subprocess.Popen(
        [sys.executable, str(script), str(git_repo.path), str(rounds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(rounds):
            assert anyio.run(first_checkouts, repo, 2, 6) == 12
    finally:
        _, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    assert prune_stale(repo) == []  # nothing left half-made
    assert git_repo.git("worktree", "list", "--porcelain").count("worktree ") == 1
    assert list((repo.git_dir / "reviewbot" / "worktrees").iterdir()) == []
