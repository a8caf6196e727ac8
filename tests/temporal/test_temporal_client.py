"""Ctrl-C on the client leaves the workflow running, and `--attach` follows it to the end."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import pytest
from temporal_wait import wait_for
from temporalio.client import Client, WorkflowExecutionStatus
from test_temporal_migrate import VERIFY

from reviewbot import process
from reviewbot.testing.distributed import JOIN, SharedRemote, git
from reviewbot.testing.temporal_server import DevServer, free_port


async def status_of(address: str, workflow: str) -> WorkflowExecutionStatus | None:
    client = await Client.connect(address)
    return (await client.get_workflow_handle(workflow).describe()).status


@pytest.mark.slow  # ~20 s: the default suite keeps the kill and budget tests
def test_ctrl_c_leaves_the_workflow_running_and_attach_follows_it(tmp_path: Path,
                                                                  server: DevServer) -> None:
    setup = SharedRemote(tmp_path, 60)
    log = tmp_path / "client.log"
    try:
        setup.start_worker(server, "w1", queue="q-int", jobs=1)
        client = process.start(setup.migrate_argv(server, "q-int", *VERIFY, "--batch-size", "2"),
                               cwd=setup.user, log=log)
        wait_for(lambda: "files " in log.read_text(), 60, "the first progress line")
        client.send_signal(signal.SIGINT)
        assert client.wait(timeout=30) == 130
        text = log.read_text()
        assert "keeps running" in text, text
        workflow = re.search(r"workflow (reviewbot-migrate-\w+)", text).group(1)
        assert asyncio.run(status_of(server.address, workflow)) == WorkflowExecutionStatus.RUNNING
        attached = process.run(
            [sys.executable, "-m", "reviewbot", "migrate", "--attach", workflow, "--temporal",
             server.address, "--repo", str(setup.user), "--format", "json", ""],
            cwd=setup.user, timeout=180,
        )
    finally:
        setup.stop()
    assert attached.returncode == 0, attached.stderr
    data = json.loads(attached.stdout)
    assert [f["status"] for f in data["files"]] == ["migrated"] * 20
    assert f"workflow id: {workflow}" not in attached.stdout  # json mode: the report only
    assert "cost: " in attached.stderr


def test_attach_to_an_unknown_workflow_says_so(tmp_path: Path, server: DevServer) -> None:
    setup = SharedRemote(tmp_path, 3)
    proc = process.run(
        [sys.executable, "-m", "reviewbot", "migrate", "--attach", "reviewbot-migrate-nosuch",
         "--temporal", server.address, "--repo", str(setup.user), ""],
        cwd=setup.user, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "no workflow reviewbot-migrate-nosuch on " in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_same_migration_again_reuses_every_task(tmp_path: Path, server: DevServer) -> None:
    """A finished migration run again (a new workflow run under the same id) reuses the
    worker's finished tasks, though the first assembly deleted their task branches."""
    setup = SharedRemote(tmp_path, 30)
    try:
        setup.start_worker(server, "w1", queue="q-again", jobs=1)
        argv = setup.migrate_argv(server, "q-again", "--format", "text")
        first = process.run(argv, cwd=setup.user, timeout=120)
        assert first.returncode == 0, first.stderr
        head = git(setup.user, "rev-parse", "reviewbot/migrate-use-join^{tree}")
        again = process.run(argv, cwd=setup.user, timeout=120)
    finally:
        setup.stop()
    assert again.returncode == 0, again.stderr
    assert "10 tasks run, 0 reused" in first.stdout
    assert "0 tasks run, 10 reused" in again.stdout
    assert git(setup.user, "rev-parse", "reviewbot/migrate-use-join^{tree}") == head


def test_a_dry_run_with_the_temporal_engine_runs_here_and_submits_nothing(
        tmp_path: Path) -> None:
    setup = SharedRemote(tmp_path, 9)
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens: a submission would fail
    proc = process.run(
        [sys.executable, "-m", "reviewbot", "migrate", "use join", *JOIN, "--engine", "temporal",
         "--temporal", nowhere, "--dry-run", "--format", "json", "--repo", str(setup.user)],
        cwd=setup.user, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["dry_run"] and [p["path"] for p in data["plan"]] == [
        "pkg0/mod0.py", "pkg3/mod3.py", "pkg6/mod6.py"]
    assert git(setup.remote, "for-each-ref", "refs/reviewbot") == ""  # no base pushed
