"""The activities a worker runs: discover, a batch of file tasks, assembly.

Each runs in the worker's clone of the repository. The base commit and everything the
activities hand each other travel through the shared remote the workflow names: the plan
(every file's sites), task commits on their task branches, each batch's full results and
the final report, as record commits under ``refs/reviewbot/runs/<workflow id>/``.

A batch runs its files with the same executor and task code as local mode
(:class:`reviewbot.migrate.LocalExecutor`, :func:`reviewbot.migrate.run_task`), with a run
whose budget and agent backstop are the workflow's grant. While it runs it pushes what
finished and heartbeats the id of a record of those results: a retry of the batch (the
worker died) fetches that record and reruns only the files it does not hold.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from pydantic import TypeAdapter
from temporalio import activity

from reviewbot.config import Config
from reviewbot.errors import GitError
from reviewbot.git import Identity, Repo, RepoView, WorktreePool, delete_branches
from reviewbot.git.records import read_record, write_record
from reviewbot.git.remote import fetch, push
from reviewbot.harness import Harness, builtin_harness
from reviewbot.migrate import (
    Discovery,
    FileResult,
    LocalExecutor,
    MigrationJob,
    MigrationResult,
    Site,
    TaskStore,
    assemble_results,
    discover,
    order_files,
    task_for,
)
from reviewbot.migrate.engine import NO_MODEL
from reviewbot.runtime import Run
from reviewbot.runtime.events import EventBus, Note, RunFinished, RunStarted
from reviewbot.runtime.journal import Journal
from reviewbot.temporal.messages import (
    AssembleInput,
    AssembleOutput,
    BatchInput,
    BatchOutput,
    Done,
    MigrationRequest,
    Plan,
    Spent,
)

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

_RESULTS = TypeAdapter(list[FileResult])
PUSH_EVERY = 3.0  # seconds between pushes of finished work (and heartbeats)
_SKIPPED_KEPT = 200  # discovery's skipped files named in the plan message


def base_ref(sha: str) -> str:
    return f"refs/reviewbot/bases/{sha}"


def run_ref(run: str, *parts: str) -> str:
    return "/".join([f"refs/reviewbot/runs/{run}", *parts])


def _same(ref: str) -> str:
    """A refspec that force-updates ``ref`` on the other side to ours (or ours to theirs)."""
    return f"+{ref}:{ref}"


@functools.cache
def migrate_harness() -> Harness:
    """The built-in migrate harness, loaded once per process."""
    return builtin_harness("migrate")


def harness_function(name: str) -> Callable[..., Any]:
    """A helper of the built-in migrate harness (the distributed run is the same program)."""
    found = migrate_harness().main.__globals__[name]
    assert callable(found)
    return found


@dataclass
class WorkerServices:
    """What every activity on this worker shares: the clone, its pool, store and model."""

    repo: Repo
    config: Config
    pool: WorktreePool
    store: TaskStore
    client: AsyncAnthropic | None = None
    journal: Journal | None = None  # the clone's journal: batches are listed as runs
    token: str | None = None  # for an HTTP remote
    identity: str = field(default_factory=socket.gethostname)
    _plans: dict[str, dict[str, list[Site]]] = field(default_factory=dict)
    # git writes a small fetch as loose objects one by one: a commit may be readable before
    # its tree is, so activities that need the same objects fetch them one at a time
    _fetching: asyncio.Lock = field(default_factory=asyncio.Lock)


@asynccontextmanager
async def heartbeating(details: Callable[[], tuple[Any, ...]]) -> AsyncIterator[None]:
    """Heartbeat every few seconds while the body runs (blocking work runs in threads)."""

    async def beat() -> None:
        while True:
            activity.heartbeat(*details())
            await asyncio.sleep(PUSH_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


class Activities:
    def __init__(self, services: WorkerServices) -> None:
        self.s = services

    # --- shared steps -----------------------------------------------------------------

    async def _git(self, fn: Callable[..., None], url: str, refspecs: list[str]) -> None:
        await anyio.to_thread.run_sync(fn, self.s.repo, url, refspecs, self.s.token)

    async def _ensure(self, request: MigrationRequest, commit: str, ref: str) -> None:
        """Fetch ``ref`` from the remote unless ``commit`` is here already."""
        async with self.s._fetching:
            if not self.s.repo.has_commit(commit):
                await self._git(fetch, request.remote, [_same(ref)])

    async def _ensure_base(self, request: MigrationRequest) -> None:
        await self._ensure(request, request.base, base_ref(request.base))

    async def _sites(
        self, request: MigrationRequest, run: str, commit: str
    ) -> dict[str, list[Site]]:
        plan = self.s._plans.get(commit)
        if plan is None:
            await self._ensure(request, commit, run_ref(run, "plan"))
            data = json.loads(read_record(self.s.repo, commit, "plan.json"))
            plan = {p: [Site(**site) for site in sites] for p, sites in data["sites"].items()}
            self.s._plans[commit] = plan
        return plan

    def _run(self, run_id: str, budget_usd: float | None, params: dict[str, Any],
             max_agents: int | None = None) -> Run:
        """A run of this worker's share of the migration, journaled in its clone like a local
        run (so `reviewbot runs` and the dashboard there show it), with its own events.
        ``budget_usd``, ``max_agents``: the ledger's grant (None: no budget, the harness's
        backstop)."""
        harness = migrate_harness()
        events = EventBus(self.s.repo.state_dir / "runs" / run_id / "events.jsonl")
        journal = self.s.journal
        if journal is not None:
            journal.start_run(run_id, harness_path=harness.path, harness_hash=harness.source_hash,
                              harness_name=harness.name, params=params,
                              repo_path=self.s.repo.root)
        run = Run(run_id=run_id, config=self.s.config, client=self.s.client, events=events,
                  journal=journal, harness=harness.name, budget_usd=budget_usd,
                  max_agents=max_agents if max_agents is not None else harness.meta.max_agents,
                  params=params)
        events.emit(RunStarted(run_id=run_id, harness=harness.name, params=params,
                               models_available=self.s.client is not None,
                               budget_usd=run.budget_usd, max_agents=run.max_agents))
        return run

    def _finish(self, run: Run, failed: bool) -> None:
        stats = run.stats.model_dump(mode="json")
        status = "failed" if failed else "partial" if run.stopped else "finished"
        if self.s.journal is not None:
            self.s.journal.finish_run(run.run_id, status=status, result=None, stats=stats)
        run.events.emit(RunFinished(run_id=run.run_id, status=status, stats=stats))
        run.events.close()

    def _job(self, run: Run, request: MigrationRequest, total: int) -> MigrationJob:
        return MigrationJob(
            run=run, repo=self.s.repo, base=request.base, spec=request.spec,
            instruction=request.instruction, verify=request.verify,
            verify_timeout=request.verify_timeout, pool=self.s.pool, store=self.s.store,
            task_branch_prefix=request.task_branch_prefix, total_files=total,
            rules_in_memory=not self.s.config.migrate.rules_in_worktrees,
            identity=Identity(*request.identity) if request.identity is not None else None,
        )

    async def _record(self, request: MigrationRequest, ref: str, name: str, data: bytes,
                      also: Sequence[str] = ()) -> str:
        """Write a record commit at ``ref`` and push it (with ``also``) in one push."""
        commit = await anyio.to_thread.run_sync(
            write_record, self.s.repo, {name: data}, f"reviewbot {name}", ref)
        await self._git(push, request.remote, [*also, _same(ref)])
        return commit

    # --- discover -----------------------------------------------------------------------

    @activity.defn(name="discover")
    async def discover(self, request: MigrationRequest, run: str) -> Plan:
        await self._ensure_base(request)
        view = RepoView.at(self.s.repo, request.base)
        async with heartbeating(lambda: ()):
            found: Discovery = await anyio.to_thread.run_sync(discover, view, request.spec)
            order = await anyio.to_thread.run_sync(order_files, list(found.by_file), view)
        files_found = len(order)
        if request.limit > 0:
            order = order[: request.limit]
        data = {
            "paths": order,
            "sites": {p: [dataclasses.asdict(s) for s in found.by_file[p]] for p in order},
        }
        commit = await self._record(request, run_ref(run, "plan"), "plan.json",
                                    json.dumps(data).encode())
        return Plan(commit=commit, paths=order, files_found=files_found,
                    sites_found=found.site_count, skipped=found.skipped[:_SKIPPED_KEPT])

    # --- one batch of files -------------------------------------------------------------

    @activity.defn(name="migrate_batch")
    async def migrate_batch(self, batch: BatchInput) -> BatchOutput:
        request = batch.request
        await self._ensure_base(request)
        sites = await self._sites(request, batch.run, batch.plan_commit)
        partial_ref = run_ref(batch.run, "partial", str(batch.index))
        confirmed = await self._earlier_attempt(request, partial_ref)
        # An earlier attempt (its worker died) may have spent any part of the batch's grant,
        # and what it spent is lost with it: it is charged the whole grant, and this attempt
        # gets none. Files it must not spend on go back to the workflow, unfinished, for
        # fresh grants; rule-tier files still finish here.
        retried = activity.info().attempt > 1
        lost_usd = batch.allowance_usd if retried and batch.allowance_usd is not None else 0.0
        lost_agents = batch.allowance_agents if retried and batch.allowance_agents else 0
        run = self._run(f"{batch.run}-b{batch.index}-a{activity.info().attempt}",
                        0.0 if lost_usd else batch.allowance_usd,
                        {"workflow": batch.run, "batch": batch.index, "files": len(batch.paths)},
                        0 if lost_agents else batch.allowance_agents)
        job = self._job(run, request, len(batch.paths))
        unpushed: list[FileResult] = []
        last = [""]

        async def finished(result: FileResult) -> None:
            unpushed.append(result)
            how = "reused" if result.reused else "ran"
            run.events.emit(Note(message=f"task {result.path}: {result.status} ({how})"))

        async def confirm() -> None:
            new = unpushed[:]
            del unpushed[: len(new)]
            if not new:
                return
            refs = _task_refspecs(job, new)
            confirmed.update({r.path: r for r in new})
            data = _RESULTS.dump_json(list(confirmed.values()))
            last[0] = await self._record(request, partial_ref, "results.json", data, refs)

        async def pusher() -> None:
            while True:
                await asyncio.sleep(PUSH_EVERY)
                await confirm()

        tasks = [task_for(job, p, sites[p]) for p in batch.paths if p not in confirmed]
        push_loop = asyncio.create_task(pusher())
        failed = True
        try:
            async with heartbeating(lambda: (last[0],) if last[0] else ()):
                done = await LocalExecutor(finished).run(job, tasks)
            failed = False
        finally:
            push_loop.cancel()
            # a push under way finishes first: what it carries must be on the remote
            await asyncio.gather(push_loop, return_exceptions=True)
            self._finish(run, failed)
        rest = _task_refspecs(job, unpushed)
        confirmed.update({r.path: r for r in unpushed})
        crashed = harness_function("crashed")
        found = Discovery(by_file=sites)
        for i, (task, result) in enumerate(zip(tasks, done, strict=True)):
            if result is None:
                confirmed[task.path] = crashed(run, i, task.path, found)
        results = [confirmed[p] for p in batch.paths]
        data = _RESULTS.dump_json(results)
        # the last task commits go in the same push as the results (one push per batch end)
        commit = await self._record(request, run_ref(batch.run, "results", str(batch.index)),
                                    "results.json", data, rest)
        ran = [r for r in done if r is not None and not r.reused]
        return BatchOutput(
            index=batch.index, results_commit=commit,
            files=[Done(path=r.path, status=r.status, commit=r.commit,
                        final=not _unfinished(r)) for r in results],
            spent=Spent.of(run.stats), agents=lost_agents + run.agents_started,
            lost_usd=lost_usd, executed=len(ran),
            reused=len(results) - len(ran), stopped=run.stop_reason,
            worker=self.s.identity,
        )

    async def _earlier_attempt(self, request: MigrationRequest, ref: str) -> dict[str, FileResult]:
        """What an earlier attempt of this batch finished and pushed (from its heartbeat)."""
        details = activity.info().heartbeat_details
        if not details or not isinstance(details[0], str) or not details[0]:
            return {}
        commit = details[0]
        await self._ensure(request, commit, ref)
        results = _RESULTS.validate_json(read_record(self.s.repo, commit, "results.json"))
        branches = [r for r in results if r.commit]
        if branches:  # the task commits: assembly fetches them, but a local re-run reuses them
            prefix = request.task_branch_prefix
            await self._git(fetch, request.remote, [_same(f"refs/heads/{prefix}/*")])
        return {r.path: r.model_copy(update={"reused": True}) for r in results}

    # --- assembly -----------------------------------------------------------------------

    @activity.defn(name="assemble")
    async def assemble(self, inp: AssembleInput) -> AssembleOutput:
        request, plan = inp.request, inp.plan
        await self._ensure_base(request)
        prefix = request.task_branch_prefix
        await self._git(fetch, request.remote, [
            _same(run_ref(inp.run, "results") + "/*"), _same(f"refs/heads/{prefix}/*"),
        ])
        by_path: dict[str, FileResult] = {}
        for commit in inp.results_commits:
            for r in _RESULTS.validate_json(read_record(self.s.repo, commit, "results.json")):
                by_path[r.path] = r
        sites = await self._sites(request, inp.run, plan.commit)
        files = [self._final(path, sites, by_path, inp) for path in plan.paths]
        result = MigrationResult(
            instruction=request.instruction, base=request.base, branch=request.branch,
            models_available=self.s.client is not None, files_found=plan.files_found,
            sites_found=plan.sites_found, discovery_skipped=plan.skipped, files=files,
            stopped=inp.stopped,
        )
        run = self._run(f"{inp.run}-assemble", None, {"workflow": inp.run, "files": len(files)})
        job = self._job(run, request, len(files))
        failed = True
        try:
            async with heartbeating(lambda: ()):
                result.assembly = await assemble_results(job, files, request.branch)
            failed = False
        finally:
            self._finish(run, failed)
        also = [_same(f"refs/heads/{request.branch}")] if result.assembly.head else []
        names = [job.task_branch(f.path) for f in files if f.commit]
        drop = bool(names) and not request.keep_task_branches and not inp.partial
        if drop:
            await anyio.to_thread.run_sync(delete_branches, self.s.repo, names)
            result.task_branches_deleted = len(names)
        result.timings = dict(job.tally.seconds)
        report = await self._record(request, run_ref(inp.run, "report"), "result.json",
                                    result.model_dump_json().encode(), also)
        if drop:
            try:
                await self._git(push, request.remote, [f":refs/heads/{n}" for n in names])
            except GitError:
                pass  # one was gone already (git deletes the others): only clutter is left
        return AssembleOutput(report_commit=report, head=result.assembly.head,
                              task_branches_deleted=result.task_branches_deleted)

    def _final(self, path: str, sites: dict[str, list[Site]], by_path: dict[str, FileResult],
               inp: AssembleInput) -> FileResult:
        lines = sorted({s.line for s in sites.get(path, [])})
        if path in inp.unstarted:
            return FileResult(path=path, site_lines=lines, status="skipped",
                              reason=f"run stopped ({inp.stopped}) before this file")
        if path in by_path:
            return by_path[path]
        return FileResult(path=path, site_lines=lines, status="failed", failed_gate="internal",
                          reason="the batch holding this file failed on every try")


def _task_refspecs(job: MigrationJob, results: Sequence[FileResult]) -> list[str]:
    """Push each task commit to its task branch by id: a task reused from this worker's
    store may have lost its local branch (an assembly here deleted it) but not its commit."""
    return [f"+{r.commit}:refs/heads/{job.task_branch(r.path)}" for r in results if r.commit]


def _unfinished(result: FileResult) -> bool:
    """Whether a later run could end this file differently (the run stopped, no model, the
    task raised)."""
    if result.failed_gate == "internal":
        return True
    return result.status == "skipped" and (result.reason.startswith("run stopped")
                                           or NO_MODEL in result.reason)
