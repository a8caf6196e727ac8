"""A task's commit is a function of its inputs: the same FileTask run on two clones (two
workers with different git users, at different moments) makes the same commit, and so does
running it again once its task branch is gone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pygit2
import pytest

from reviewbot.config import Config
from reviewbot.git import Repo, RepoView, WorktreePool
from reviewbot.migrate import (
    FileResult,
    FileTask,
    MigrationJob,
    MigrationSpec,
    TaskStore,
    assemble_results,
    discover,
    run_task,
    task_for,
)
from reviewbot.runtime import Run
from reviewbot.testing.distributed import git

SPEC = MigrationSpec(find="os.path.join", template="join({args})",
                     imports=("from os.path import join",))
FILES = {
    "pkg/a.py": "import os\n\n\ndef f(p):\n    return os.path.join(p, 'a')\n",
    "pkg/b.py": "import os\n\nX = os.path.join('b', os.path.join('c', 'd'))\n",
}
# how a task may commit: straight into the object store, through a worktree, or in the
# object store before a --verify command checked it in a worktree
MODES = {"in memory": (True, None), "worktree": (False, None), "verified": (True, "true")}


def clones(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "source"
    source.mkdir()
    git(source, "init", "-q", "-b", "main")
    for rel, text in FILES.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text(text)
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "initial")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(remote))
    out = []
    for name in ("w1", "w2"):
        git(tmp_path, "clone", "-q", str(remote), name)
        # each worker has a git user of its own: the task commits must not be theirs
        git(tmp_path / name, "config", "user.name", f"worker {name}")
        git(tmp_path / name, "config", "user.email", f"{name}@example.com")
        out.append(tmp_path / name)
    return out[0], out[1]


async def _run(clone: Path, tasks: list[FileTask] | None, rules_in_memory: bool,
               verify: str | None, store_name: str,
               config: Config) -> tuple[list[FileTask], list[FileResult], str | None]:
    """The tasks (made here when None) run in ``clone``, and the branch assembled from them."""
    repo = Repo.open(clone)
    base = repo.resolve("HEAD")
    store = TaskStore(repo.state_dir / store_name)
    run = Run(run_id=f"r-{store_name}", config=config)
    try:
        async with WorktreePool(repo, size=2) as pool:
            job = MigrationJob(run=run, repo=repo, base=base, spec=SPEC, instruction="use join",
                               verify=verify, verify_timeout=60, pool=pool, store=store,
                               task_branch_prefix="reviewbot/tasks/use-join", total_files=2,
                               rules_in_memory=rules_in_memory)
            if tasks is None:
                found = discover(RepoView.at(repo, base), SPEC)
                tasks = [task_for(job, p, found.by_file[p]) for p in sorted(found.by_file)]
            results = [await run_task(job, t) for t in tasks]
            assembly = await assemble_results(job, results, "reviewbot/migrate-use-join")
    finally:
        store.close()
    return tasks, results, assembly.head


def run_in(clone: Path, tasks: list[FileTask] | None, mode: str,
           store_name: str = "migrate.sqlite",
           config: Config | None = None) -> tuple[list[FileTask], list[FileResult], str | None]:
    rules_in_memory, verify = MODES[mode]
    return asyncio.run(_run(clone, tasks, rules_in_memory, verify, store_name,
                            config or Config()))


def signers(clone: Path, shas: list[str | None]) -> set[tuple[str, str, int, int]]:
    """Who signed the commits ``shas`` and when: (name, email, time, offset)."""
    repository = pygit2.Repository(str(clone / ".git"))
    return {(who.name, who.email, who.time, who.offset)
            for sha in shas for commit in [repository[str(sha)].peel(pygit2.Commit)]
            for who in (commit.author, commit.committer)}


def base_time(clone: Path) -> int:
    return int(git(clone, "log", "-1", "--format=%ct", "HEAD"))


@pytest.mark.parametrize("mode", list(MODES))
def test_the_same_task_on_two_workers_makes_the_same_commit(tmp_path: Path, mode: str) -> None:
    w1, w2 = clones(tmp_path)
    tasks, first, head1 = run_in(w1, None, mode)
    # the second worker gets the task records as they travel between machines
    received = [FileTask.model_validate_json(t.model_dump_json()) for t in tasks]
    _, second, head2 = run_in(w2, received, mode)
    assert [r.status for r in first] == ["migrated", "migrated"]
    assert [r.commit for r in first] == [r.commit for r in second]
    assert not any(r.reused for r in second)
    # the result branch, assembled from the same task commits, is the same commit as well
    assert head1 is not None and head1 == head2

    # signed by the configured identity at the base commit's time, not by the worker's user
    # at the moment of the run
    assert signers(w2, [r.commit for r in second] + [head2]) == {
        ("reviewbot", "reviewbot@users.noreply.github.com", base_time(w2), 0)}

    # a worker that lost its task branch and its task store makes the same commit again
    for r in first:
        git(w1, "branch", "-D", git(w1, "for-each-ref", "--format=%(refname:short)",
                                   "--points-at", str(r.commit), "refs/heads/reviewbot/tasks"))
    _, again, head3 = run_in(w1, tasks, mode, store_name="fresh.sqlite")
    assert not any(r.reused for r in again)
    assert [r.commit for r in again] == [r.commit for r in first]
    assert head3 == head1
    for r in again:
        assert git(w1, "for-each-ref", "--format=%(objectname)",
                   "refs/heads/reviewbot/tasks").count(str(r.commit)) == 1


def test_the_identity_comes_from_the_config(tmp_path: Path) -> None:
    w1, _ = clones(tmp_path)
    config = Config.model_validate(
        {"migrate": {"commit_name": "Migrations", "commit_email": "migrate@example.com"}})
    _, results, head = run_in(w1, None, "in memory", config=config)
    assert signers(w1, [r.commit for r in results] + [head]) == {
        ("Migrations", "migrate@example.com", base_time(w1), 0)}
