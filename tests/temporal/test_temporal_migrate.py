"""A migration on Temporal survives the loss of a worker and of the client, and hands back
the branch a local run builds."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from temporal_wait import wait_for

from reviewbot import process
from reviewbot.testing.distributed import JOIN, SharedRemote, git
from reviewbot.testing.temporal_server import DevServer

BRANCH = "reviewbot/migrate-use-join"
# a real --verify in every task's worktree, slow enough that the run is still going when a
# worker is killed
VERIFY = ["--verify", "python -c 'import time; time.sleep(0.25)'"]


def tasks_ran(clone: Path) -> int:
    """File tasks a worker executed (not reused), from its runs' event logs."""
    count = 0
    for log in (clone / ".git" / "reviewbot" / "runs").glob("*/events.jsonl"):
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event.get("type") == "note" and event["message"].endswith("(ran)"):
                count += 1
    return count


def local_run(setup: SharedRemote, *more: str) -> dict:
    clone = setup.clone("local")
    proc = process.run(
        [sys.executable, "-m", "reviewbot", "migrate", "use join", *JOIN, "--repo", str(clone),
         "--format", "json", "--quiet", *more],
        cwd=clone, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    data["tree"] = git(clone, "rev-parse", f"{BRANCH}^{{tree}}")
    data["head"] = git(clone, "rev-parse", BRANCH)
    return data


def outcomes(data: dict) -> dict[str, tuple]:
    return {f["path"]: (f["status"], f["tier"], f["site_lines"]) for f in data["files"]}


def scenario(tmp_path: Path, server: DevServer, files: int, batch: int, verify: list[str],
             kill_after: int, timeout: float) -> None:
    setup = SharedRemote(tmp_path, files)
    queue = "q-kill"
    try:
        local = local_run(setup, *verify)
        w1 = setup.start_worker(server, "w1", queue=queue)
        setup.start_worker(server, "w2", queue=queue)
        head = git(setup.user, "rev-parse", "HEAD")
        status = git(setup.user, "status", "--porcelain")
        client_log = tmp_path / "client.log"
        argv = setup.migrate_argv(server, queue, *verify, "--batch-size", str(batch),
                                  "--heartbeat-timeout", "5")
        client = process.start(argv, cwd=setup.user, log=client_log)
        wait_for(lambda: tasks_ran(tmp_path / "w1") >= kill_after, timeout, "w1 to run tasks")
        os.killpg(w1.pid, signal.SIGKILL)
        w1.wait()
        killed_at = tasks_ran(tmp_path / "w1")
        found = re.search(r"workflow (reviewbot-migrate-\w+)", client_log.read_text())
        assert found, client_log.read_text()
        assert client.poll() is None, "the client finished before it could be killed"
        os.killpg(client.pid, signal.SIGKILL)
        client.wait()

        # the same command again finds the running workflow (its id is deterministic)
        attached = process.run(argv, cwd=setup.user, timeout=timeout)
        assert f"workflow {found.group(1)}" in attached.stderr
        assert attached.returncode == 0, attached.stderr
        data = json.loads(attached.stdout)
    finally:
        setup.stop()

    # the same branch as a local run, commit for commit (a task commit depends on its inputs
    # alone: the files the killed worker had done and another redid are the same commits),
    # and the same outcome for every file
    assert git(setup.user, "rev-parse", f"{BRANCH}^{{tree}}") == local["tree"]
    assert git(setup.user, "rev-parse", BRANCH) == local["head"]
    assert {f["path"]: f["commit"] for f in data["files"]} == {
        f["path"]: f["commit"] for f in local["files"]}
    assert outcomes(data) == outcomes(local)
    migrated = sum(1 for f in data["files"] if f["status"] == "migrated")
    assert migrated == len(data["files"]) > 0
    # every file ran once, plus at most the batches in flight on the killed worker (--jobs 2)
    ran = tasks_ran(tmp_path / "w1") + tasks_ran(tmp_path / "w2")
    assert killed_at >= kill_after and tasks_ran(tmp_path / "w2") > 0
    assert len(data["files"]) <= ran <= len(data["files"]) + 2 * batch, ran
    # the user's repository: same commit checked out, nothing in the working tree changed
    assert git(setup.user, "rev-parse", "HEAD") == head
    assert git(setup.user, "status", "--porcelain") == status == ""
    # the task branches are gone from the remote once the branch is assembled
    assert git(setup.remote, "for-each-ref", "refs/heads/reviewbot/tasks") == ""


def test_worker_and_client_killed_the_branch_is_the_local_one(tmp_path: Path,
                                                              server: DevServer) -> None:
    scenario(tmp_path, server, files=150, batch=5, verify=VERIFY, kill_after=6, timeout=240)


@pytest.mark.slow
def test_twenty_thousand_files_worker_and_client_killed(tmp_path: Path,
                                                        server: DevServer) -> None:
    scenario(tmp_path, server, files=20_000, batch=50, verify=[], kill_after=200, timeout=1800)
