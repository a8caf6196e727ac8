"""``reviewbot worker``: a process that runs migration workflows and their activities.

Run one on every machine that should take part, each in a clone of the repository. A
worker takes at most ``jobs`` batches at once; its worktree pool, task store and journal
of events live in its clone's git directory, as in local mode.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from temporalio.worker import Worker

from reviewbot.config import load_config
from reviewbot.git import Repo, WorktreePool
from reviewbot.migrate import TaskStore
from reviewbot.models import make_client, model_access
from reviewbot.runtime.journal import Journal
from reviewbot.temporal.activities import Activities, WorkerServices
from reviewbot.temporal.connection import GIT_TOKEN_ENV, Connection, connect
from reviewbot.temporal.workflow import MigrationWorkflow


async def serve(conn: Connection, task_queue: str, jobs: int, repo_path: Path,
                env: Mapping[str, str] = os.environ) -> None:
    """Poll ``task_queue`` until SIGINT or SIGTERM (then finish or hand back what it holds)."""
    client = await connect(conn)
    repo = Repo.open(repo_path)
    config = load_config(repo.root)
    access = model_access(env)
    model = make_client(access, config.models) if access is not None else None
    store = TaskStore(repo.state_dir / "migrate.sqlite")
    journal = Journal(repo.state_dir / "journal.sqlite")
    try:
        async with WorktreePool(repo, size=jobs) as pool:
            services = WorkerServices(repo=repo, config=config, pool=pool, store=store,
                                      client=model, journal=journal,
                                      token=env.get(GIT_TOKEN_ENV))
            acts = Activities(services)
            worker = Worker(
                client, task_queue=task_queue, workflows=[MigrationWorkflow],
                activities=[acts.discover, acts.migrate_batch, acts.assemble],
                max_concurrent_activities=jobs,
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.shutdown()))
            print(f"reviewbot worker: polling {task_queue} at {conn.address} "
                  f"({jobs} at once, repository {repo.root})", file=sys.stderr, flush=True)
            await worker.run()
    finally:
        store.close()
        journal.close()
        if model is not None:
            await model.close()
