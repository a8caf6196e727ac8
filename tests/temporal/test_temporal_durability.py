"""The workflow outlives its server: the dev server is killed mid-run and started again on
the same database, and the migration carries on to the same branch."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from temporal_wait import wait_for
from temporalio.client import Client, WorkflowExecutionStatus
from test_temporal_migrate import BRANCH, VERIFY, tasks_ran

from reviewbot import process
from reviewbot.testing.distributed import SharedRemote, git
from reviewbot.testing.temporal_server import DevServer


@pytest.mark.slow  # ~20 s: the default suite keeps the kill and budget tests
def test_dev_server_killed_and_restarted_the_workflow_completes(tmp_path: Path) -> None:
    setup = SharedRemote(tmp_path, 120)
    server = DevServer(tmp_path, db=tmp_path / "temporal.sqlite").start()
    try:
        setup.start_worker(server, "w1", queue="q-restart")
        # a short history limit: the run also continues as new on the way
        client = process.start(
            setup.migrate_argv(server, "q-restart", *VERIFY, "--batch-size", "2",
                               "--max-in-flight", "2", "--history-limit", "100",
                               "--heartbeat-timeout", "5"),
            cwd=setup.user, log=tmp_path / "client.log",
        )
        wait_for(lambda: tasks_ran(tmp_path / "w1") >= 4, 120, "the first tasks")
        server.stop(kill=True)
        assert client.poll() is None
        server.start()
        client.wait(timeout=240)
        assert client.returncode == 0, (tmp_path / "client.log").read_text()[-3000:]
        log = (tmp_path / "client.log").read_text()
        found = re.search(r"workflow (reviewbot-migrate-\w+)", log)
        assert found
        statuses = asyncio.run(_runs(server.address, found.group(1)))
    finally:
        setup.stop()
        server.stop()
    # it continued as new at least once, and the last run completed
    assert len(statuses) >= 2 and statuses.count(WorkflowExecutionStatus.COMPLETED) == 1
    assert set(statuses) == {WorkflowExecutionStatus.COMPLETED,
                             WorkflowExecutionStatus.CONTINUED_AS_NEW}
    data = json.loads(_report(tmp_path / "client.log"))
    assert {f["status"] for f in data["files"]} == {"migrated"}
    assert len(data["files"]) == 40
    assert git(setup.user, "rev-parse", f"{BRANCH}^{{tree}}") != git(setup.user, "rev-parse",
                                                                      "HEAD^{tree}")
    # every site is gone from the branch
    grep = process.run(["git", "grep", "-c", "os.path.join", BRANCH], cwd=setup.user)
    assert grep.stdout == "", grep.stdout


async def _runs(address: str, workflow: str) -> list[WorkflowExecutionStatus | None]:
    """The status of every run of ``workflow``, from the server's visibility store."""
    client = await Client.connect(address)
    return [w.status async for w in client.list_workflows(f"WorkflowId = '{workflow}'")]


def _report(log: Path) -> str:
    """The JSON report in a log that also holds the progress lines."""
    text = log.read_text()
    start = text.index("\n{") + 1
    return text[start: text.rindex("}") + 1]
