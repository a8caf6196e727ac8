"""The budget and the agent backstop are global: two workers with a model tier on the
loopback model server spend, together, no more than the migration's budget and start no
more than --max-agents agents (also when one dies mid-batch), and the files a cap could
not cover are reported as stopped by it."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporal_wait import wait_for
from test_temporal_migrate import tasks_ran

from reviewbot import process
from reviewbot.config import Config
from reviewbot.models.pricing import cost_usd
from reviewbot.testing import MessagesRequest, Reply
from reviewbot.testing.distributed import SharedRemote, commit_all, git
from reviewbot.testing.model_server import ModelServer
from reviewbot.testing.temporal_server import DevServer

FAST = "claude-haiku-5-5"
BUDGET = 0.20


def clients(path: Path, files: int) -> None:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for i in range(files):
        (path / f"c{i}.py").write_text(
            f"import requests\n\n\ndef fetch{i}(u):\n    return requests.get(u)\n")
    commit_all(path)


class Author:
    """Edits with the worktree tools like a real author; the skeptic accepts."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def __call__(self, req: MessagesRequest) -> Reply | dict:
        if req.role == "skeptic":
            return {"verdict": "accept", "reason": "only the client library changed"}
        first = req.messages[0]["content"]
        text = "\n".join(b.get("text", "") for b in first if isinstance(b, dict)) \
            if isinstance(first, list) else first
        path = re.search(r"call sites in `([^`]+)`", text).group(1)
        if req.tool_results:
            return {"summary": f"migrated {path}", "kept_sites": []}
        new = (self.source / path).read_text().replace("requests", "httpx")
        return Reply.tool_use("write_file", {"path": path, "content": new})


def on_two_workers(tmp_path: Path, server: DevServer, model_server,  # noqa: ANN001
                   files: int, *options: str, in_flight: int = 4, latency: float = 0.0,
                   kill_w1_after: int | None = None) -> tuple[dict, str, ModelServer]:
    """The model-tier migration of ``files`` files on two workers (one batch at a time each:
    two batches in flight are on two workers): its report, its stderr and the model server.

    ``kill_w1_after``: SIGKILL the first worker once it has finished that many files."""
    setup = SharedRemote(tmp_path, files, make=clients)
    model: ModelServer = model_server(Author(setup.source), api_key="test-key", latency=latency)
    keys = {"ANTHROPIC_BASE_URL": model.base_url, "ANTHROPIC_API_KEY": "test-key"}
    argv = setup.migrate_argv(server, "q-model", *options, "--batch-size", "4",
                              "--max-in-flight", str(in_flight), "--heartbeat-timeout", "5",
                              instruction="use httpx instead of requests",
                              rule=["--find", "requests.get"])
    try:
        w1 = setup.start_worker(server, "w1", queue="q-model", jobs=1, extra=keys)
        setup.start_worker(server, "w2", queue="q-model", jobs=1, extra=keys)
        with ThreadPoolExecutor(1) as pool:
            client = pool.submit(process.run, argv, cwd=setup.user, timeout=300)
            if kill_w1_after is not None:
                wait_for(lambda: tasks_ran(tmp_path / "w1") >= kill_w1_after, 120,
                         "w1 to finish files")
                os.killpg(w1.pid, signal.SIGKILL)
            proc = client.result()
    finally:
        setup.stop()
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr, model


def test_two_workers_spend_no_more_than_the_budget(tmp_path: Path, server: DevServer,
                                                   model_server) -> None:  # noqa: ANN001
    data, stderr, model = on_two_workers(tmp_path, server, model_server, 120,
                                         "--budget", str(BUDGET))
    statuses = [f["status"] for f in data["files"]]
    migrated = statuses.count("migrated")
    # what the model server billed, at the one tier every call used
    assert {r.model for r in model.requests} == {FAST}
    billed = cost_usd(FAST, model.usage, Config().models.pricing)
    assert billed <= BUDGET
    # the budget, not the files, ended the run: some were done, the rest stopped by it
    assert 0 < migrated < len(statuses)
    assert data["stopped"] == "budget"
    stopped = [f for f in data["files"] if f["status"] == "skipped"]
    assert stopped and all("budget" in f["reason"] for f in stopped), stopped[:3]
    # and both workers spent part of it
    assert tasks_ran(tmp_path / "w1") > 0 and tasks_ran(tmp_path / "w2") > 0
    assert "PARTIAL (budget" in stderr
    # each worker's batches are runs in its clone's journal, with what each spent
    listed = process.run([sys.executable, "-m", "reviewbot", "runs", "--format", "json",
                          "--repo", str(tmp_path / "w1")], cwd=tmp_path, timeout=60)
    assert listed.returncode == 0, listed.stderr
    runs = [r for r in json.loads(listed.stdout) if re.search(r"-b\d+-a\d+$", r["id"])]
    assert runs and all(r["harness"] == "migrate" for r in runs)
    assert 0 < sum(r["cost_usd"] for r in runs) < billed
    assert {r["status"] for r in runs} <= {"finished", "partial"}


MAX_AGENTS = 15


def test_two_workers_start_no_more_agents_than_max_agents(tmp_path: Path, server: DevServer,
                                                          model_server) -> None:  # noqa: ANN001
    data, stderr, model = on_two_workers(tmp_path, server, model_server, 40,
                                         "--max-agents", str(MAX_AGENTS))
    # an agent's first request carries no tool results (its later turns do)
    agents = sum(1 for r in model.requests if not r.tool_results)
    assert 0 < agents <= MAX_AGENTS
    statuses = [f["status"] for f in data["files"]]
    migrated = statuses.count("migrated")
    assert 0 < migrated <= MAX_AGENTS // 2 < len(statuses)  # an author and a skeptic each
    # the agent cap, not the files, ended the run, and the report says so
    assert data["stopped"] == "max_agents"
    stopped = [f for f in data["files"] if f["status"] == "skipped"]
    assert stopped and all("max_agents" in f["reason"] for f in stopped), stopped[:3]
    assert "PARTIAL (max_agents" in stderr
    assert tasks_ran(tmp_path / "w1") > 0 and tasks_ran(tmp_path / "w2") > 0


def test_a_worker_lost_mid_batch_does_not_stretch_the_agent_cap(
        tmp_path: Path, server: DevServer, model_server) -> None:  # noqa: ANN001
    # two batches in flight: grants of 7 and 8 agents, several files' worth each, so the
    # first worker dies with agents of its grant started and its batch unfinished
    data, stderr, model = on_two_workers(tmp_path, server, model_server, 24,
                                         "--max-agents", str(MAX_AGENTS), in_flight=2,
                                         latency=0.3, kill_w1_after=1)
    agents = sum(1 for r in model.requests if not r.tool_results)
    # what the lost attempt started is charged with its whole grant: the retry gets none
    assert 0 < agents <= MAX_AGENTS
    assert data["stopped"] == "max_agents" and "PARTIAL (max_agents" in stderr
    retried = [d.name for d in (tmp_path / "w2" / ".git" / "reviewbot" / "runs").iterdir()
               if re.search(r"-b\d+-a[2-9]$", d.name)]
    assert retried, "the killed worker's batch was not retried"
