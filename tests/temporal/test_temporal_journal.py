"""A distributed migration the client follows is a run in the user's journal: `reviewbot
runs` and the dashboard (real HTTP, its token) show it with its phases and file statuses,
and a stop asked through the run's control reaches the workflow, which assembles what
finished into a partial result."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from temporal_wait import wait_for
from temporalio.client import Client, WorkflowExecutionStatus
from test_temporal_budget import FAST, Author, clients
from test_temporal_client import status_of
from test_temporal_migrate import VERIFY

from reviewbot import process
from reviewbot.config import Config
from reviewbot.dashboard.server import Dashboard
from reviewbot.models.pricing import cost_usd
from reviewbot.runtime.control import STOP_REASON
from reviewbot.runtime.journal import Journal, state_dir
from reviewbot.temporal.messages import Progress
from reviewbot.testing.distributed import SharedRemote
from reviewbot.testing.model_server import ModelServer
from reviewbot.testing.temporal_server import DevServer


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[SharedRemote]:
    shared = SharedRemote(tmp_path, 120)  # 40 files call os.path.join
    yield shared
    shared.stop()


def reviewbot(*args: str, cwd: Path) -> Any:
    return process.run([sys.executable, "-m", "reviewbot", *args], cwd=cwd, timeout=120)


def events(repo: Path, run: str) -> list[dict[str, Any]]:
    log = state_dir(repo) / "runs" / run / "events.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def view(http: httpx.Client, run: str) -> dict[str, Any]:
    response = http.get(f"/api/runs/{run}")
    assert response.status_code == 200, response.text
    return response.json()


def dashboard_client(server: Dashboard) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=10,
                        headers={"X-Reviewbot-Token": server.token})


def workflow_in_text(text: str) -> str:
    found = re.search(r"workflow (reviewbot-migrate-\w+)", text)
    assert found, text
    return found.group(1)


def workflow_in(log: Path) -> str:
    return workflow_in_text(log.read_text())


def test_a_followed_workflow_is_journaled_and_shown(setup: SharedRemote,
                                                   server: DevServer) -> None:
    setup.start_worker(server, "w1", queue="q-journal", jobs=2)
    proc = process.run(setup.migrate_argv(server, "q-journal", "--batch-size", "4",
                                          "--budget", "5"), cwd=setup.user, timeout=180)
    assert proc.returncode == 0, proc.stderr
    workflow = workflow_in_text(proc.stderr)
    report = json.loads(proc.stdout)
    paths = sorted(f["path"] for f in report["files"])
    assert len(paths) == 40

    journal = Journal.for_repo(setup.user)
    try:
        record = journal.require_run(workflow)
    finally:
        journal.close()
    assert (record.status, record.harness_name) == ("finished", "migrate")
    assert record.params["engine"] == "temporal" and record.params["instruction"] == "use join"
    assert record.params["find"] == "os.path.join" and record.params["budget_usd"] == 5
    assert record.params["temporal"]["address"] == server.address
    assert record.params["temporal"]["task_queue"] == "q-journal"
    logged = events(setup.user, workflow)
    assert [e["phase"] for e in logged if e["type"] == "phase_started"] == [
        "discover", "migrate", "assemble"]
    assert sorted(e["path"] for e in logged if e["type"] == "file_done") == paths
    assert logged[-1]["type"] == "run_finished" and logged[-1]["status"] == "finished"

    with Dashboard(state_dir(setup.user)) as server_, dashboard_client(server_) as http:
        shown = view(http, workflow)
        assert shown["status"] == "finished" and shown["harness"] == "migrate"
        assert shown["temporal"]["workflow_id"] == workflow
        assert shown["temporal"]["address"] == server.address
        assert {f["path"]: f["status"] for f in shown["outcome"]["per_file"]} == {
            p: "migrated" for p in paths}
        assert shown["outcome"]["files"] == {"migrated": 40}
        assert [p["phase"] for p in shown["phases"]][:3] == ["discover", "migrate", "assemble"]
        assert shown["budget"]["budget_usd"] == 5 and shown["budget"]["spent_usd"] == 0
        page = http.get(f"/runs/{workflow}")
        assert page.status_code == 200 and workflow in page.text
        assert paths[0] in page.text and server.address in page.text
        assert [r["id"] for r in http.get("/api/runs").json()["runs"]] == [workflow]
        # a token is needed, as for every run
        assert httpx.get(f"{server_.base_url}/api/runs/{workflow}").status_code == 403

    listed = reviewbot("runs", "--repo", str(setup.user), cwd=setup.user)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(workflow))
    assert "migrate" in row and "finished" in row and "40 migrated" in row
    again = reviewbot("resume", workflow, "--repo", str(setup.user), cwd=setup.user)
    assert again.returncode == 2 and f"--attach {workflow}" in again.stderr


def test_killed_client_then_attach_and_stop_through_control(setup: SharedRemote,
                                                            server: DevServer,
                                                            tmp_path: Path) -> None:
    # one batch of two files at a time, each with a real --verify: the run is slow enough
    setup.start_worker(server, "w1", queue="q-stop", jobs=1)
    log = tmp_path / "client.log"
    argv = setup.migrate_argv(server, "q-stop", *VERIFY, "--batch-size", "2",
                              "--max-in-flight", "1")
    first = process.start(argv, cwd=setup.user, log=log)
    state = state_dir(setup.user)
    with Dashboard(state) as dash, dashboard_client(dash) as http:
        wait_for(lambda: "reviewbot-migrate-" in log.read_text(), 60, "the workflow id")
        workflow = workflow_in(log)
        wait_for(lambda: http.get(f"/api/runs/{workflow}").status_code == 200
                 and len(view(http, workflow)["outcome"].get("per_file") or []) >= 2,
                 90, "two files in the journal")
        live = view(http, workflow)
        assert live["status"] == "running" and live["temporal"]["workflow_id"] == workflow
        assert live["outcome"]["files"]["pending"] > 0
        assert "migrate" in [p["phase"] for p in live["phases"]]
        table = reviewbot("runs", "--repo", str(setup.user), cwd=setup.user).stdout
        assert re.search(rf"{workflow}\s+migrate\s+running on temporal", table), table

        # the client dies: the record is not left looking live or finished
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed = view(http, workflow)
        assert killed["status"] == "killed" and killed["outcome"]["files"]["pending"] > 0
        refused = http.post(f"/api/runs/{workflow}/control", json={"action": "stop"})
        assert refused.status_code == 409 and f"--attach {workflow}" in refused.json()["error"]
        listed = json.loads(reviewbot("runs", "--format", "json", "--repo", str(setup.user),
                                      cwd=setup.user).stdout)
        assert [(r["id"], r["status"]) for r in listed] == [(workflow, "killed")]

        # an attach continues the same record
        seen = len(killed["outcome"]["per_file"])
        with ThreadPoolExecutor(1) as pool:
            attaching = pool.submit(process.run, [
                sys.executable, "-m", "reviewbot", "migrate", "--attach", workflow,
                "--temporal", server.address, "--repo", str(setup.user), "--format", "json",
                ""], cwd=setup.user, timeout=180)
            wait_for(lambda: view(http, workflow)["status"] == "running"
                     and len(view(http, workflow)["outcome"]["per_file"]) > seen,
                     90, "the attached client to log more files")
            at_stop = len(view(http, workflow)["outcome"]["per_file"])
            asked = reviewbot("control", workflow, "stop", "--repo", str(setup.user),
                              cwd=setup.user)
            assert asked.returncode == 0, asked.stderr
            assert "no new batch starts" in asked.stderr
            attached = attaching.result()
        assert attached.returncode == 0, attached.stderr
        shown = view(http, workflow)
        page = http.get(f"/runs/{workflow}").text

    report = json.loads(attached.stdout)
    assert report["stopped"] == STOP_REASON
    skipped = [f for f in report["files"] if f["status"] == "skipped"]
    migrated = [f for f in report["files"] if f["status"] == "migrated"]
    assert skipped and migrated and len(skipped) + len(migrated) == 40
    # the batch running (two files) finishes, and one may have started as the stop was sent;
    # the view lags the workflow by up to one client poll (a batch, about a second) and the
    # stop reaches the workflow at the client's next poll (one more): four batches at most
    assert len(migrated) <= at_stop + 8, (len(migrated), at_stop)
    assert all(f["reason"] == f"run stopped ({STOP_REASON}) before this file" for f in skipped)
    assert asyncio.run(status_of(server.address, workflow)) == WorkflowExecutionStatus.COMPLETED

    # the journal: one record, partial, stopped by the user, the stop logged and sent once
    assert shown["status"] == "partial" and shown["stop_reason"] == STOP_REASON
    assert shown["stops"] == [STOP_REASON]
    by_status = {f["path"]: f["status"] for f in shown["outcome"]["per_file"]}
    assert by_status == {f["path"]: f["status"] for f in report["files"]}
    assert workflow in page and STOP_REASON in page
    logged = events(setup.user, workflow)
    started = [e for e in logged if e["type"] == "run_started"]
    assert [e["resumed"] for e in started] == [False, True]
    # the files the workflow finished, each logged once across both clients as it finished
    # (the last batch's maybe only from the report), the rest from the report, as skipped
    done = [e for e in logged if e["type"] == "file_done"]
    finished = [e["path"] for e in done if e["index"] is not None]
    assert len(finished) == len(set(finished)), "a file was logged twice"
    assert set(finished) <= {f["path"] for f in migrated} and len(finished) > seen
    late = {e["path"] for e in done if e["index"] is None}
    assert late >= {f["path"] for f in skipped} and not late & set(finished)
    assert {e["path"] for e in done} == {f["path"] for f in report["files"]}


async def progress_of(address: str, workflow: str) -> Progress:
    client = await Client.connect(address)
    return await client.get_workflow_handle(workflow).query("progress", result_type=Progress)


def test_pause_through_control_holds_new_batches_and_continue_finishes(
        setup: SharedRemote, server: DevServer, tmp_path: Path) -> None:
    setup.start_worker(server, "w1", queue="q-pause", jobs=1)
    log = tmp_path / "client.log"
    client = process.start(setup.migrate_argv(server, "q-pause", *VERIFY, "--batch-size", "2",
                                              "--max-in-flight", "1"), cwd=setup.user, log=log)
    with Dashboard(state_dir(setup.user)) as dash, dashboard_client(dash) as http:
        wait_for(lambda: "reviewbot-migrate-" in log.read_text(), 60, "the workflow id")
        workflow = workflow_in(log)
        wait_for(lambda: http.get(f"/api/runs/{workflow}").status_code == 200
                 and len(view(http, workflow)["outcome"].get("per_file") or []) >= 2,
                 60, "two files in the journal")
        asked = reviewbot("control", workflow, "pause", "--repo", str(setup.user),
                          cwd=setup.user)
        assert asked.returncode == 0, asked.stderr
        assert "batches in flight finish first" in asked.stderr

        def held() -> bool:
            p = asyncio.run(progress_of(server.address, workflow))
            return p.paused and p.batches_in_flight == 0 and view(http, workflow)["paused"]
        wait_for(held, 30, "the workflow to pause with no batch in flight")
        at_pause = asyncio.run(progress_of(server.address, workflow))
        time.sleep(3)
        still = asyncio.run(progress_of(server.address, workflow))
        assert still == at_pause and still.done < 40, (at_pause, still)
        shown = view(http, workflow)
        assert shown["status"] == "running" and shown["paused"]
        assert len(shown["outcome"]["per_file"]) == still.done
        table = reviewbot("runs", "--repo", str(setup.user), cwd=setup.user).stdout
        assert re.search(rf"{workflow}\s+migrate\s+running on temporal \(paused\)", table), table

        resumed = reviewbot("resume", workflow, "--repo", str(setup.user), cwd=setup.user)
        assert resumed.returncode == 0, resumed.stderr
        assert "new batches start again" in resumed.stderr
        assert client.wait(timeout=60) == 0, log.read_text()
        shown = view(http, workflow)
    assert shown["status"] == "finished" and not shown["paused"] and not shown["stops"]
    assert shown["outcome"]["files"] == {"migrated": 40}
    notes = [n for n in shown["notes"] if n.split(":")[0] in ("pause sent", "continue sent")]
    assert [n.split(":")[0] for n in notes] == ["pause sent", "continue sent"], notes


def test_the_journal_has_what_the_workers_spent_against_the_budget(
        tmp_path: Path, server: DevServer, model_server) -> None:  # noqa: ANN001
    setup = SharedRemote(tmp_path / "model", 6, make=clients)
    model: ModelServer = model_server(Author(setup.source), api_key="test-key")
    keys = {"ANTHROPIC_BASE_URL": model.base_url, "ANTHROPIC_API_KEY": "test-key"}
    try:
        setup.start_worker(server, "w1", queue="q-spend", jobs=2, extra=keys)
        proc = process.run(
            setup.migrate_argv(server, "q-spend", "--budget", "5", "--batch-size", "2",
                               instruction="use httpx instead of requests",
                               rule=["--find", "requests.get"]),
            cwd=setup.user, timeout=180)
    finally:
        setup.stop()
    assert proc.returncode == 0, proc.stderr
    workflow = workflow_in_text(proc.stderr)
    billed = cost_usd(FAST, model.usage, Config().models.pricing)
    with Dashboard(state_dir(setup.user)) as dash, dashboard_client(dash) as http:
        shown = view(http, workflow)
        listed = http.get("/api/runs").json()["runs"]
    assert shown["status"] == "finished"
    assert shown["outcome"]["files"] == {"migrated": 6}
    assert shown["budget"]["budget_usd"] == 5
    assert shown["budget"]["spent_usd"] == pytest.approx(billed) == shown["cost_usd"]
    assert listed[0]["cost_usd"] == pytest.approx(billed) and listed[0]["agents"] == 12
    phases = {p["phase"]: p for p in shown["phases"]}
    assert list(phases) == ["discover", "migrate", "assemble", "skeptic"]
    # an author and a skeptic per file, on the worker
    assert phases["migrate"]["started"] == phases["skeptic"]["started"] == 6
    assert phases["migrate"]["cost_usd"] > 0 and phases["migrate"]["input_tokens"] > 0
    assert sum(p["cost_usd"] for p in phases.values()) == pytest.approx(billed)
