"""Who runs the per-file tasks of a migration: the seam between the harness and an engine.

A task is a serialisable record (:class:`FileTask`): what to migrate (path, sites, spec,
base) and its key. Everything it needs to run (the repository, the worktree pool, the task
store, the model runtime) comes from the :class:`MigrationJob` it is run with, so the same
record runs the same code in this process (:class:`LocalExecutor`) or on a worker machine of
a durable workflow engine (``reviewbot.temporal``), which builds its own job from the same
parts and calls :func:`run_task`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from reviewbot.migrate.discover import Site
from reviewbot.migrate.engine import MigrationJob, migrate_file
from reviewbot.migrate.result import FileResult
from reviewbot.migrate.rules import MigrationSpec


class FileTask(BaseModel):
    """One file's task as data: small (no file contents), so it can cross machines."""

    model_config = ConfigDict(frozen=True)

    path: str
    sites: tuple[Site, ...]
    spec: MigrationSpec
    base: str
    key: str


def task_for(job: MigrationJob, path: str, sites: Sequence[Site]) -> FileTask:
    return FileTask(path=path, sites=tuple(sites), spec=job.spec, base=job.base, key=job.key(path))


class TaskMismatch(ValueError):
    """A task record run with a job of another migration (its key would not be its own)."""


async def run_task(job: MigrationJob, task: FileTask) -> FileResult:
    """Run one task record with the services of ``job``."""
    if (task.spec, task.base) != (job.spec, job.base) or task.key != job.key(task.path):
        raise TaskMismatch(f"task {task.key} for {task.path} belongs to another migration")
    return await migrate_file(job, task.path, task.sites)


class MigrationExecutor(Protocol):
    """Runs task records; results keep the tasks' order (None: the task raised)."""

    async def run(self, job: MigrationJob, tasks: Sequence[FileTask]) -> list[FileResult | None]:
        ...


class LocalExecutor:
    """In this process: a pipeline of the run, bounded by the job's worktree slots.

    ``on_result`` sees each result as its task finishes (a worker reports progress and
    makes finished work durable from there)."""

    def __init__(self, on_result: Callable[[FileResult], Awaitable[None]] | None = None) -> None:
        self.on_result = on_result

    async def run(self, job: MigrationJob, tasks: Sequence[FileTask]) -> list[FileResult | None]:
        async def one(task: FileTask) -> FileResult:
            result = await run_task(job, task)
            if self.on_result is not None:
                await self.on_result(result)
            return result

        return await job.run.pipeline(tasks, one)
