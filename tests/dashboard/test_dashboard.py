"""The dashboard over real HTTP on loopback, watching and steering a real harness run
against the loopback model server (slow answers, so the run is live while we look)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from live_runs import HARNESS, LiveRun, answer, wait

from reviewbot.cli import main
from reviewbot.dashboard.server import Dashboard
from reviewbot.runtime.control import STOP_REASON, read_control
from reviewbot.runtime.journal import state_dir
from reviewbot.testing import Fixed


@pytest.fixture
def harness_file(tmp_path: Path) -> Path:
    path = tmp_path / "ask_each.py"
    path.write_text(HARNESS)
    return path


@pytest.fixture
def dashboard(git_repo: Any) -> Iterator[Dashboard]:
    server = Dashboard(state_dir(git_repo.path)).start()
    yield server
    server.stop()


def _client(server: Dashboard) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=10,
                        headers={"X-Reviewbot-Token": server.token})


def test_watch_a_live_run_and_stop_it(model_env, git_repo, harness_file: Path,
                                      dashboard: Dashboard) -> None:
    srv = model_env(answer, latency=Fixed(0.05))
    # a finished run first, so the list has two and the filter has something to drop
    LiveRun(harness_file, git_repo.path, 2, "done-1", concurrency=2).join()
    srv.latency = Fixed(0.4)
    live = LiveRun(harness_file, git_repo.path, 12, "live-1", concurrency=2)

    with _client(dashboard) as http:
        runs = wait(lambda: [r for r in http.get("/api/runs").json()["runs"]
                              if r["id"] == "live-1" and r["status"] == "running"],
                     what="the live run in the list")
        assert runs[0]["harness"] == "ask-each"
        listed = http.get("/api/runs").json()["runs"]
        assert [r["id"] for r in listed] == ["live-1", "done-1"]
        done = listed[1]
        assert done["status"] == "finished" and done["agents"] == 3 and done["cost_usd"] > 0
        assert [r["id"] for r in http.get("/api/runs?status=running").json()["runs"]] == [
            "live-1"
        ]

        page = http.get("/", params={"token": dashboard.token})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "live-1" in page.text and "<script" in page.text and "http" not in page.text
        run_page = http.get("/runs/live-1")
        assert run_page.status_code == 200 and 'id="timeline-box"' in run_page.text

        # The event stream sends a fresh snapshot as agents finish: counts and cost grow.
        seen: list[dict[str, Any]] = []
        with http.stream("GET", "/api/runs/live-1/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    finished = seen[-1]["phases"][0]["finished"] if seen[-1]["phases"] else 0
                    if finished >= 3:
                        break
        first, last = seen[0], seen[-1]
        assert last["agents"] > first["agents"] or len(seen) == 1 and last["agents"] >= 3
        assert last["cost_usd"] > 0 and last["phases"][0]["phase"] == "find"
        assert last["budget"]["spent_usd"] == pytest.approx(last["cost_usd"])

        # Steering is a write surface: a token, and POST only.
        assert httpx.post(f"{dashboard.base_url}/api/runs/live-1/control",
                          json={"action": "stop"}).status_code == 403
        assert http.get("/api/runs/live-1/stop").status_code in (404, 405)
        assert http.post("/api/runs/live-1/control", json={"action": "nope"}).status_code == 400
        stopped = http.post("/api/runs/live-1/control", json={"action": "stop"})
        assert stopped.status_code == 200 and stopped.json()["action"] == "stop"

        outcome = live.join()
        assert outcome.status == "partial" and outcome.stats.stop_reason == STOP_REASON
        answers = outcome.result["answers"]
        assert 3 <= sum(a is not None for a in answers) < 12  # finished results kept
        view = http.get("/api/runs/live-1").json()
        assert view["status"] == "partial" and view["stop_reason"] == STOP_REASON
        assert view["stops"] == [STOP_REASON]
        find = view["phases"][0]
        assert find["running"] == 0 and find["finished"] == sum(a is not None for a in answers)
        assert [p["phase"] for p in view["phases"]] == ["find", "sum"]  # sum started no agent
        # nothing left to steer once it ended
        assert http.post("/api/runs/live-1/pause").status_code == 409

        agent = next(a for a in view["calls"] if a["status"] == "finished")
        detail = http.get(f"/api/runs/live-1/agents/{agent['call']}").json()
        assert detail["role"] == "finder" and detail["tier"] and detail["model"]
        journal = detail["journal"]
        assert journal["prompt"].startswith("item ") and journal["status"] == "ok"
        assert journal["result"]["answer"] == "A:" + journal["prompt"]
        assert http.get("/api/runs/live-1/agents/999").status_code == 404


def test_pause_and_continue_from_the_api(model_env, git_repo, harness_file: Path,
                                         dashboard: Dashboard) -> None:
    model_env(answer, latency=Fixed(0.3))
    live = LiveRun(harness_file, git_repo.path, 12, "paused-1", concurrency=2)
    with _client(dashboard) as http:
        wait(lambda: http.get("/api/runs/paused-1").status_code == 200
              and http.get("/api/runs/paused-1").json()["agents"] >= 1, what="a first agent")
        assert http.post("/api/runs/paused-1/pause").status_code == 200
        run_dir = state_dir(git_repo.path) / "runs" / "paused-1"
        assert read_control(run_dir) == "pause"

        def settled() -> dict[str, Any] | None:
            view = http.get("/api/runs/paused-1").json()
            return view if view["phases"] and view["phases"][0]["running"] == 0 else None

        held = wait(settled, what="the running agents to finish")
        time.sleep(1.0)  # paused: nothing new starts
        again = http.get("/api/runs/paused-1").json()
        assert again["phases"][0]["started"] == held["phases"][0]["started"] < 12
        assert "paused by user" in again["notes"]
        assert again["control"] == "pause" and again["status"] == "running"

        assert http.post("/api/runs/paused-1/continue").status_code == 200
        outcome = live.join()
    assert outcome.status == "finished" and all(outcome.result["answers"])
    assert outcome.stats.total.agents == 13


def test_every_request_needs_the_token(git_repo: Any, dashboard: Dashboard) -> None:
    base = dashboard.base_url
    assert httpx.get(f"{base}/").status_code == 403
    assert httpx.get(f"{base}/api/runs", params={"token": "wrong"}).status_code == 403
    ok = httpx.get(f"{base}/api/runs", params={"token": dashboard.token})
    assert ok.status_code == 200 and ok.json()["runs"] == []
    assert dashboard.base_url.startswith("http://127.0.0.1:")


def test_dashboard_command_prints_its_url(git_repo: Any) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reviewbot", "dashboard", str(git_repo.path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "token=" in url
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "reviewbot dashboard" in page.text
        base, token = url.split("/?token=")
        with httpx.stream("GET", f"{base}/api/stream", params={"token": token}) as stream:
            assert next(stream.iter_lines()).startswith("data: ")
            proc.send_signal(signal.SIGINT)  # Ctrl-C ends it, open event streams too
            assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_control_command_stops_a_live_run(model_env, git_repo, harness_file: Path,
                                          capsys) -> None:
    model_env(answer, latency=Fixed(0.3))
    live = LiveRun(harness_file, git_repo.path, 10, "cli-1", concurrency=2)
    events = state_dir(git_repo.path) / "runs" / "cli-1" / "events.jsonl"
    wait(lambda: events.is_file() and '"agent_finished"' in events.read_text(),
          what="a first finished agent")
    with pytest.raises(SystemExit) as exit_info:
        main(["control", "cli-1", "stop", "--repo", str(git_repo.path)])
    assert exit_info.value.code == 0 and "asked to stop" in capsys.readouterr().err
    outcome = live.join()
    assert outcome.status == "partial" and outcome.stats.stop_reason == STOP_REASON
    assert sum(a is not None for a in outcome.result["answers"]) < 10


def test_control_command_refuses_a_run_that_is_not_live(git_repo: Any, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["control", "no-such-run", "stop", "--repo", str(git_repo.path)])
    assert exit_info.value.code != 0
    assert "no run 'no-such-run'" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1280,1000", *args],
        capture_output=True, text=True, timeout=60,
    )
    return proc.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")
def test_pages_render_in_headless_chromium(model_env, git_repo, harness_file: Path,
                                           dashboard: Dashboard, artifacts: Path) -> None:
    model_env(answer, latency=Fixed(0.05))
    LiveRun(harness_file, git_repo.path, 4, "shown-1", concurrency=2).join()
    runs_url = dashboard.url
    run_url = f"{dashboard.base_url}/runs/shown-1?token={dashboard.token}"
    listed = _chromium("--dump-dom", runs_url)  # the DOM after the script rendered it
    assert 'data-id="shown-1"' in listed and ">finished</span>" in listed
    view = _chromium("--dump-dom", run_url)
    assert '<svg id="timeline"' in view and view.count('class="agent a-finished"') == 5
    assert "<td>find</td>" in view and "<td>sum</td>" in view
    for name, url in (("runs", runs_url), ("run", run_url)):
        shot = artifacts / f"dashboard-{name}.png"
        _chromium(f"--screenshot={shot}", url)
        assert shot.is_file() and shot.stat().st_size > 10_000


def test_a_killed_run_shows_its_unfinished_agents(model_env, git_repo, harness_file: Path,
                                                  dashboard: Dashboard) -> None:
    model_env(answer)
    LiveRun(harness_file, git_repo.path, 2, "gone-1", concurrency=2).join()
    state = state_dir(git_repo.path)
    # as if the process had been SIGKILLed with one agent in flight
    db = sqlite3.connect(state / "journal.sqlite")
    db.execute("UPDATE runs SET status='running', finished=NULL, pid=?", (2**22 + 12345,))
    db.commit()
    db.close()
    with (state / "runs" / "gone-1" / "events.jsonl").open("a") as log:
        log.write(json.dumps({"ts": time.time(), "type": "agent_started", "call": 99,
                              "role": "finder", "tier": "fast", "model": "m",
                              "phase": "sum"}) + "\n")
    with _client(dashboard) as http:
        view = http.get("/api/runs/gone-1").json()
        assert view["status"] == "killed"
        assert [c["status"] for c in view["calls"] if c["call"] == 99] == ["unfinished"]
        assert all(p["running"] == 0 for p in view["phases"])
        assert http.post("/api/runs/gone-1/stop").status_code == 409


def test_outcome_of_reviews_and_migrations() -> None:
    from reviewbot.dashboard.data import outcome_summary

    review = {"findings": [{"title": "a"}, {"title": "b"}],
              "funnel": {"candidates": 5, "confirmed": 2, "refuted": 3}}
    assert outcome_summary(review) == {"kind": "review", "confirmed": 2,
                                       "funnel": review["funnel"]}
    migration = {"files": [{"path": "a.py", "status": "migrated"},
                           {"path": "b.py", "status": "skipped", "reason": "kept"},
                           {"path": "c.py", "status": "migrated"}]}
    summary = outcome_summary(migration)
    assert summary["kind"] == "migration"
    assert summary["files"] == {"migrated": 2, "skipped": 1}
    assert summary["per_file"][1] == {"path": "b.py", "status": "skipped", "reason": "kept"}
    assert outcome_summary({"answers": []}) == {} and outcome_summary(None) == {}


def test_a_large_migration_shows_its_failures_and_the_latest_files() -> None:
    from reviewbot.dashboard.data import outcome_summary
    from reviewbot.runtime.history import FILES_SHOWN

    files = [{"path": f"m{i}.py", "status": "migrated"} for i in range(20_000)]
    files[123] = {"path": "bad.py", "status": "failed", "reason": "parse"}
    files[9_000] = {"path": "kept.py", "status": "skipped", "reason": "already"}
    summary = outcome_summary({"files": files})
    shown = summary["per_file"]
    assert len(shown) == FILES_SHOWN and summary["per_file_total"] == 20_000
    assert [f["path"] for f in shown[:2]] == ["bad.py", "kept.py"]  # what did not migrate
    assert shown[-1]["path"] == "m19999.py"  # then the latest
    assert summary["files"] == {"migrated": 19_998, "failed": 1, "skipped": 1}


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")
def test_stop_from_the_page_in_a_browser(model_env, git_repo, harness_file: Path,
                                         dashboard: Dashboard, tmp_path: Path,
                                         artifacts: Path) -> None:
    from cdp_pipe import Browser

    assert CHROMIUM is not None
    model_env(answer, latency=Fixed(0.4))
    live = LiveRun(harness_file, git_repo.path, 24, "page-1", concurrency=2)
    wait(lambda: (state_dir(git_repo.path) / "runs" / "page-1" / "events.jsonl").is_file(),
          what="the live run")
    browser = Browser(CHROMIUM, tmp_path / "profile")
    try:
        browser.open(f"{dashboard.base_url}/runs/page-1?token={dashboard.token}")
        browser.wait_for("document.querySelector('button.stop') !== null")
        # the page updates itself: finished agents appear without a reload
        count = "document.querySelectorAll('rect.a-finished').length"
        first = browser.js(count)
        browser.wait_for(f"{count} > {first}")
        browser.screenshot(artifacts / "dashboard-live-run.png")
        browser.js("document.querySelector('button.stop').click()")
        outcome = live.join()
        assert outcome.status == "partial" and outcome.stats.stop_reason == STOP_REASON
        kept = sum(a is not None for a in outcome.result["answers"])
        assert 1 <= kept < 24  # finished results kept
        browser.wait_for("document.querySelector('#title .badge').textContent === 'partial'")
        assert browser.js("document.querySelector('button.stop')") is None  # nothing to steer
        assert browser.js(count) == kept
    finally:
        browser.close()
    assert (artifacts / "dashboard-live-run.png").stat().st_size > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")
def test_pause_and_continue_from_the_page_in_a_browser(model_env, git_repo,
                                                       harness_file: Path,
                                                       dashboard: Dashboard,
                                                       tmp_path: Path) -> None:
    from cdp_pipe import Browser

    assert CHROMIUM is not None
    model_env(answer, latency=Fixed(0.4))
    live = LiveRun(harness_file, git_repo.path, 20, "page-2", concurrency=2)
    wait(lambda: (state_dir(git_repo.path) / "runs" / "page-2" / "events.jsonl").is_file(),
          what="the live run")
    browser = Browser(CHROMIUM, tmp_path / "profile")
    started = "document.querySelectorAll('rect.agent').length"
    running = "document.querySelectorAll('rect.a-running').length"
    try:
        browser.open(f"{dashboard.base_url}/runs/page-2?token={dashboard.token}")
        browser.wait_for("document.querySelector('button[data-a=pause]') !== null")
        browser.js("document.querySelector('button[data-a=pause]').click()")
        browser.wait_for("document.querySelector('#meta').textContent.includes('pause')")
        browser.wait_for(f"{running} === 0")  # running agents finish, no new one starts
        held = browser.js(started)
        time.sleep(1.0)
        assert browser.js(started) == held < 20
        browser.js("document.querySelector('button[data-a=continue]').click()")
        outcome = live.join()
        assert outcome.status == "finished" and all(outcome.result["answers"])
        browser.wait_for(f"{started} === 21")
    finally:
        browser.close()
