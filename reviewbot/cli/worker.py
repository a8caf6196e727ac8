"""`reviewbot worker --temporal HOST:PORT`: run migration workflows and their file tasks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from reviewbot.errors import UsageError


@click.command()
@click.option("--temporal", "address", metavar="HOST:PORT",
              help="Temporal service (default TEMPORAL_ADDRESS or localhost:7233).")
@click.option("--namespace", metavar="NS", help="Temporal namespace (default TEMPORAL_NAMESPACE).")
@click.option("--task-queue", metavar="Q", default=None, help="Task queue to poll.")
@click.option("--jobs", type=click.IntRange(min=1, max=256), default=2, show_default=True,
              metavar="N", help="Batches this worker runs at once.")
@click.option(
    "--repo", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
    show_default=True, help="This machine's clone of the repository.",
)
def worker(address: str | None, namespace: str | None, task_queue: str | None, jobs: int,
           repo: Path) -> int:
    """Run migration batches for `reviewbot migrate --engine temporal` (until Ctrl-C)."""
    try:
        from reviewbot.temporal.connection import Connection
        from reviewbot.temporal.messages import DEFAULT_TASK_QUEUE
        from reviewbot.temporal.worker import serve
    except ImportError:
        raise UsageError(
            "the worker needs the extra: pip install 'reviewbot[temporal]'") from None
    conn = Connection.from_env(address, namespace)
    try:
        asyncio.run(serve(conn, task_queue or DEFAULT_TASK_QUEUE, jobs, repo))
    except KeyboardInterrupt:
        pass
    return 0
