"""Handing a worktree back: the paths a task touched come from a kernel watch, not a scan,
and the worktree is left exactly at its commit whatever the task did."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from reviewbot.git import Repo, Worktree, WorktreePool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")


def _status(path: Path) -> str:
    # GIT_OPTIONAL_LOCKS=0: git status must not refresh the index (a git command that writes
    # it sends the next return to a scan, rightly)
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=path,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
    ).stdout


def _files(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".git":
            continue
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_bytes() + (b" +x" if os.access(path, os.X_OK) else b"")
        else:
            out[rel] = "dir"
    return out


def _edit(wt: Worktree) -> None:
    (wt.path / "src/a.py").write_text("a = 2\n")


def _delete_tracked_dir(wt: Worktree) -> None:
    shutil.rmtree(wt.path / "src/pkg")


def _recreate_tracked_dir(wt: Worktree) -> None:
    shutil.rmtree(wt.path / "src/pkg")
    (wt.path / "src/pkg/sub").mkdir(parents=True)
    (wt.path / "src/pkg/sub/m.py").write_text("changed\n")
    (wt.path / "src/pkg/extra.py").write_text("untracked\n")


def _untracked_tree_and_ignored(wt: Worktree) -> None:
    (wt.path / "build/deep/er").mkdir(parents=True)
    (wt.path / "build/deep/er/out.o").write_bytes(b"\0")
    (wt.path / "src/__pycache__").mkdir()
    (wt.path / "src/__pycache__/a.pyc").write_bytes(b"\0")
    (wt.path / "notes.log").write_text("ignored\n")


def _modes_links_and_types(wt: Worktree) -> None:
    (wt.path / "run.sh").chmod(0o644)  # loses its executable bit
    (wt.path / "src/b.py").unlink()
    os.symlink("a.py", wt.path / "src/b.py")  # a file becomes a link
    (wt.path / "README").unlink()
    (wt.path / "README").mkdir()  # a file becomes a directory
    (wt.path / "README/inside").write_text("x\n")


def _rename_within(wt: Worktree) -> None:
    (wt.path / "src/a.py").rename(wt.path / "src/renamed.py")


TASKS: list[Callable[[Worktree], None]] = [
    _edit,
    _delete_tracked_dir,
    _recreate_tracked_dir,
    _untracked_tree_and_ignored,
    _modes_links_and_types,
    _rename_within,
]


@pytest.fixture
def project(git_repo):
    git_repo.write(".gitignore", "*.log\n__pycache__/\n")
    git_repo.write("src/a.py", "a = 1\n")
    git_repo.write("src/b.py", "b = 1\n")
    git_repo.write("src/pkg/sub/m.py", "m = 1\n")
    git_repo.write("src/pkg/n.py", "n = 1\n")
    git_repo.write("run.sh", "echo hi\n")
    (git_repo.path / "run.sh").chmod(0o755)
    git_repo.write("README", "hello\n")
    git_repo.commit("base")
    return git_repo


def with_pool(project, body: Callable[[WorktreePool, str], Awaitable[None]]) -> None:
    """Run ``body(pool, base)`` with a one-worktree pool of ``project`` (base: its HEAD)."""
    repo = Repo.open(project.path)
    base = project.head()

    async def main() -> None:
        async with WorktreePool(repo, size=1, keep=False) as pool:
            await body(pool, base)

    anyio.run(main)


def test_every_kind_of_task_is_undone_from_the_watch_alone(project) -> None:
    async def body(pool: WorktreePool, base: str) -> None:
        async with pool.checkout(base) as wt:
            pristine = _files(wt.path)
            assert _status(wt.path) == ""
        for task in TASKS:
            async with pool.checkout(base) as wt:
                task(wt)
                assert _files(wt.path) != pristine, task.__name__
            assert _files(wt.path) == pristine, task.__name__
            assert _status(wt.path) == "", task.__name__
        assert wt.restores == {"watch": len(TASKS) + 1, "scan": 0}

    with_pool(project, body)


def test_git_run_inside_the_worktree_sends_the_return_to_a_scan(project) -> None:
    async def body(pool: WorktreePool, base: str) -> None:
        async with pool.checkout(base) as wt:
            pristine = _files(wt.path)
            (wt.path / "staged.txt").write_text("new\n")
            subprocess.run(["git", "add", "staged.txt"], cwd=wt.path, check=True)
        assert wt.restores["scan"] == 1
        assert _files(wt.path) == pristine and _status(wt.path) == ""
        async with pool.checkout(base) as wt:  # and the watch is back after the scan
            _edit(wt)
        assert wt.restores == {"watch": 1, "scan": 1}
        assert _files(wt.path) == pristine

    with_pool(project, body)


@pytest.mark.slow
def test_an_overflowing_event_queue_sends_the_return_to_a_scan(project) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())

    async def body(pool: WorktreePool, base: str) -> None:
        async with pool.checkout(base) as wt:
            pristine = _files(wt.path)
            for i in range(limit + 100):
                (wt.path / f"src/f{i}.tmp").write_bytes(b"")
        assert wt.restores["scan"] == 1
        assert _files(wt.path) == pristine and _status(wt.path) == ""

    with_pool(project, body)


def test_moving_between_commits_keeps_the_watch_true(project) -> None:
    base = project.head()
    project.write("src/pkg/new/deeper.py", "d = 1\n")
    (project.path / "src/b.py").unlink()
    second = project.commit("second")

    async def body(pool: WorktreePool, _head: str) -> None:
        for commit in (second, base, second):
            async with pool.checkout(commit) as wt:
                assert _status(wt.path) == ""
                # a write in a directory the move created must still be seen
                target = wt.path / "src/pkg/new/deeper.py"
                if target.exists():
                    target.write_text("edited\n")
                (wt.path / "src/pkg/scratch.txt").write_text("x\n")
            assert _status(wt.path) == ""
        assert wt.restores["scan"] == 0

    with_pool(project, body)
