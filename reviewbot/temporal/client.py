"""Submit a migration workflow and follow it; attach to one that is running.

The workflow id is derived from (instruction, rule, base), so the same command finds the
run it started earlier instead of starting a second one. The client holds no state of the
run: killing it (or Ctrl-C) leaves the workflow running, and ``--attach ID`` or the same
command follows it again. When it completes, the result branch and the report are fetched
from the shared remote into the user's repository (refs only: the working tree, index and
current branch are not touched).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import TextIO

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from reviewbot.config import Config
from reviewbot.errors import UsageError
from reviewbot.git import Repo
from reviewbot.git.records import read_record
from reviewbot.git.remote import fetch, push, remote_url
from reviewbot.migrate import MigrationResult, MigrationSpec
from reviewbot.runtime.stats import RunStats
from reviewbot.temporal.activities import base_ref, harness_function, migrate_harness, run_ref
from reviewbot.temporal.messages import (
    WORKFLOW_NAME,
    MigrationRequest,
    Outcome,
    Progress,
)

POLL_SECONDS = 1.0


def workflow_id(instruction: str, spec: MigrationSpec, base: str) -> str:
    digest = hashlib.sha256(json.dumps([instruction, spec.key(), base]).encode()).hexdigest()
    return f"reviewbot-migrate-{digest[:20]}"


class Submission(BaseModel):
    """What the CLI asks for besides the migration itself."""

    instruction: str
    spec: MigrationSpec
    base: str = "HEAD"
    remote: str = "origin"
    branch: str | None = None
    verify: str | None = None
    verify_timeout: float = 600.0
    limit: int = 0
    budget_usd: float | None = None
    max_agents: int | None = None
    keep_task_branches: bool = False
    batch_size: int = 25
    max_in_flight: int = 16
    heartbeat_seconds: float = 20.0
    history_limit: int = 10_000


def request_for(repo: Repo, config: Config, sub: Submission) -> MigrationRequest:
    """The workflow input, with the same defaults as a local run (branch, verify, the
    agent backstop: --max-agents, else the harness's, else runtime.max_agents)."""
    base = repo.resolve(sub.base)
    branch = sub.branch or harness_function("branch_name")(config.migrate.branch_prefix,
                                                             sub.instruction)
    refuse_checked_out(repo, branch)
    return MigrationRequest(
        instruction=sub.instruction, spec=sub.spec, base=base, remote=remote_url(repo, sub.remote),
        branch=branch, task_branch_prefix=f"reviewbot/tasks/{branch.rsplit('/', 1)[-1]}-{base[:8]}",
        verify=sub.verify or config.migrate.verify, verify_timeout=sub.verify_timeout,
        limit=sub.limit, budget_usd=sub.budget_usd, keep_task_branches=sub.keep_task_branches,
        max_agents=sub.max_agents or migrate_harness().meta.max_agents or config.runtime.max_agents,
        identity=(config.migrate.commit_name, config.migrate.commit_email),
        batch_size=sub.batch_size, max_in_flight=sub.max_in_flight,
        heartbeat_seconds=sub.heartbeat_seconds, history_limit=sub.history_limit,
    )


def refuse_checked_out(repo: Repo, branch: str) -> None:
    if repo.checked_out_branch() == branch:
        raise UsageError(f"branch {branch} is checked out in your working tree; pass --branch NAME")


async def submit(client: Client, repo: Repo, request: MigrationRequest, task_queue: str,
                 token: str | None = None) -> WorkflowHandle[object, Outcome]:
    """Start the workflow, or find the one with the same id that is still running.

    ``token``: for an HTTP(S) remote (else git's own credentials apply)."""
    # workers fetch the base from the remote: make sure it is there under a ref of ours
    await asyncio.to_thread(push, repo, request.remote,
                            [f"+{request.base}:{base_ref(request.base)}"], token)
    return await client.start_workflow(
        WORKFLOW_NAME, args=[request, None], id=workflow_id(request.instruction, request.spec,
                                                      request.base),
        task_queue=task_queue, result_type=Outcome,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


def attach(client: Client, workflow: str) -> WorkflowHandle[object, Outcome]:
    return client.get_workflow_handle(workflow, result_type=Outcome)


def progress_line(p: Progress) -> str:
    if p.phase != "migrate":
        return f"temporal: {p.phase}"
    spent = f"${p.spent_usd:.2f}" + (f" of ${p.budget_usd:.2f}" if p.budget_usd is not None else "")
    return (f"files {p.done + p.failed}/{p.files} done ({p.failed} failed) · "
            f"{p.batches_in_flight} batches in flight · {spent} so far")


async def follow(handle: WorkflowHandle[object, Outcome], stream: TextIO | None,
                 watch: Callable[[Progress | None], Awaitable[None]] | None = None) -> Outcome:
    """Wait for the workflow's result, printing its progress to ``stream`` as it changes;
    ``watch`` is handed each answer of the progress query (None: no answer)."""
    result = asyncio.ensure_future(handle.result())
    last = ""
    try:
        while not result.done():
            try:
                p = await asyncio.wait_for(handle.query("progress", result_type=Progress),
                                           timeout=5)
            except (TimeoutError, Exception):  # no worker to answer yet; keep waiting
                p = None
            if p is not None and stream is not None:
                line = progress_line(p)
                if line != last:
                    print(f"reviewbot: {line}", file=stream, flush=True)
                    last = line
            if watch is not None:
                await watch(p)
            await asyncio.wait([result], timeout=POLL_SECONDS)
        return result.result()
    finally:
        result.cancel()


def collect(repo: Repo, handle_id: str, outcome: Outcome,
            token: str | None = None) -> tuple[MigrationResult, RunStats]:
    """Fetch the report (and the result branch) from the remote; the report and its stats."""
    refuse_checked_out(repo, outcome.branch)
    refspecs = [f"+{run_ref(handle_id, 'report')}:{run_ref(handle_id, 'report')}"]
    if outcome.head:
        refspecs.append(f"+refs/heads/{outcome.branch}:refs/heads/{outcome.branch}")
    fetch(repo, outcome.remote, refspecs, token)
    result = MigrationResult.model_validate_json(
        read_record(repo, outcome.report_commit, "result.json"))
    result.wall_seconds = outcome.stats.wall_seconds
    return result, outcome.stats
