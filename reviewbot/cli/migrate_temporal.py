"""`reviewbot migrate ... --engine temporal` and `--attach ID`: the client side of a
distributed migration (submit, follow with progress, fetch the branch and the report)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reviewbot.config import load_config
from reviewbot.errors import ExitCode, ReviewbotError, UsageError

if TYPE_CHECKING:
    from reviewbot.migrate import MigrationSpec


def _missing_extra() -> UsageError:
    return UsageError("the temporal engine needs the extra: pip install 'reviewbot[temporal]'")


def migrate_on_temporal(
    params: dict[str, Any],
    spec: MigrationSpec | None,
    *,
    config_path: Path | None,
    attach_id: str | None,
    fmt: str,
    quiet: bool,
    address: str | None,
    namespace: str | None,
    task_queue: str | None,
    submission: dict[str, Any],
) -> int:
    """``params``: the migrate harness's parameters, defaults filled; ``spec``: what they
    describe (None when attaching); ``submission``: the engine's own options."""
    try:
        from reviewbot.temporal import client as tc
        from reviewbot.temporal.connection import GIT_TOKEN_ENV, Connection, connect
        from reviewbot.temporal.journaled import JournaledRun, outcome_status
        from reviewbot.temporal.messages import DEFAULT_TASK_QUEUE
    except ImportError:
        raise _missing_extra() from None
    from reviewbot.cli.migrate import report
    from reviewbot.git import Repo

    repository = Repo.open(Path(params["repo"]))
    config = load_config(repository.root, config_path)
    conn = Connection.from_env(address, namespace)
    token = os.environ.get(GIT_TOKEN_ENV) or None
    stream = None if quiet else sys.stderr
    if attach_id is None:
        assert spec is not None
        shared = {k: params[k] for k in tc.Submission.model_fields if k in params}
        request = tc.request_for(repository, config, tc.Submission(
            spec=spec, **shared, **submission))
    workflow = attach_id or tc.workflow_id(request.instruction, request.spec, request.base)
    journaled = JournaledRun(repository, workflow, conn)

    async def go() -> Any:
        client = await connect(conn)
        if attach_id is None:
            handle = await tc.submit(client, repository, request,
                                     task_queue or DEFAULT_TASK_QUEUE, token)
        else:
            handle = tc.attach(client, attach_id)
        if stream is not None:
            print(f"reviewbot: workflow {workflow} on {conn.address} ({conn.namespace}); "
                  f"Ctrl-C leaves it running, `reviewbot migrate --attach {workflow}` follows it",
                  file=stream, flush=True)
        await journaled.begin(client, handle)
        return await tc.follow(handle, stream, journaled.watch)

    from temporalio.client import WorkflowFailureError
    from temporalio.service import RPCError, RPCStatusCode

    from reviewbot.runtime.events import Note

    try:
        try:
            outcome = asyncio.run(go())
        except WorkflowFailureError as exc:
            journaled.emit(Note(message=f"workflow {workflow} failed: {exc.cause}"))
            journaled.finish("failed", None, None)
            raise ReviewbotError(f"workflow {workflow} failed: {exc.cause}") from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise UsageError(f"no workflow {workflow} on {conn.address} ({conn.namespace})"
                                 ) from None
            raise ReviewbotError(f"Temporal at {conn.address} refused: {exc.message}") from None
        except KeyboardInterrupt:
            if journaled.events is not None:
                journaled.finish("interrupted", None, None)
            click.echo(f"reviewbot: workflow {workflow} keeps running; follow it again with "
                       f"`reviewbot migrate --attach {workflow}`", err=True)
            return int(ExitCode.INTERRUPTED)
        try:
            result, stats = tc.collect(repository, workflow, outcome, token)
        except BaseException:
            journaled.finish("failed", None, outcome.stats)
            raise
        journaled.finish(outcome_status(stats), result, stats)
    finally:
        journaled.close()
    return report(repository, result.base, result, stats, fmt,
                  f"workflow id: {workflow} ({outcome.batches} batches, {outcome.executed} tasks "
                  f"run, {outcome.reused} reused)")
