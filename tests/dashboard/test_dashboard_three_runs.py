"""The dashboard on a repository with a finished review, a finished migration and a live
harness run against the loopback model server (slow answers): the JSON API, the page, a
real headless Chromium, and saving a run's harness from the run view."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from live_runs import HARNESS, LiveRun, make_three_runs, three_runs_handler, wait

from reviewbot.dashboard.server import Dashboard
from reviewbot.harness.saved import find_harness
from reviewbot.runtime.control import write_control
from reviewbot.runtime.journal import state_dir
from reviewbot.testing import Fixed

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")


@pytest.fixture
def three(model_env: Any, git_repo: Any, tmp_path: Path,
          capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Any, LiveRun, Dashboard]]:
    srv = model_env(three_runs_handler, latency=Fixed(0.02))
    harness = tmp_path / "ask_each.py"
    harness.write_text(HARNESS)
    live = make_three_runs(git_repo, harness, capsys, n=60)  # live for the whole test
    srv.latency = Fixed(0.4)
    server = Dashboard(state_dir(git_repo.path), repo_root=git_repo.path).start()
    try:
        yield git_repo, live, server
    finally:
        server.stop()
        # the live run ends with the test (stopped as a user would), so nothing outlives it
        write_control(state_dir(git_repo.path) / "runs" / "live-3", "stop")
        live.join()


def _client(server: Dashboard) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=10,
                        headers={"X-Reviewbot-Token": server.token})


def test_three_runs_in_the_api_and_the_page(three: tuple[Any, LiveRun, Dashboard]) -> None:
    git_repo, live, server = three
    with _client(server) as http:
        runs = wait(lambda: (r := http.get("/api/runs").json()["runs"])
                    and r[0]["agents"] >= 1 and r, what="a live agent")
        assert [(r["harness"], r["status"]) for r in runs] == [
            ("ask-each", "running"), ("migrate", "finished"), ("review", "finished")]
        live_row, migration, review = runs
        assert review["outcome"]["kind"] == "review" and review["outcome"]["confirmed"] == 1
        assert review["agents"] >= 3 and review["cost_usd"] > 0
        assert migration["outcome"]["files"] == {"migrated": 2}
        assert migration["agents"] == 0 and migration["cost_usd"] == 0

        # the live run's counts and cost grow between two reads, no reload needed
        first = http.get("/api/runs/live-3").json()
        later = wait(lambda: (v := http.get("/api/runs/live-3").json())["agents"]
                     > first["agents"] and v, what="more finished agents")
        assert later["cost_usd"] > first["cost_usd"] and later["status"] == "running"

        view = http.get(f"/api/runs/{review['id']}").json()
        assert view["outcome"]["funnel"]["confirmed"] == 1
        phases = {p["phase"]: p for p in view["phases"]}
        assert phases["find"]["finished"] >= 1 and phases["find"]["failed"] == 0
        files = http.get(f"/api/runs/{migration['id']}").json()["outcome"]["per_file"]
        assert sorted(f["path"] for f in files) == ["pkg/a.py", "pkg/b.py"]

        page = http.get("/").text
        assert all(r["id"] in page for r in runs) and "http" not in page  # nothing from a CDN
        run_page = http.get(f"/runs/{review['id']}").text
        assert 'id="save"' in run_page and 'id="timeline-box"' in run_page

        # Saving a run's harness is a write: the token, POST only, a valid name.
        url = f"/api/runs/{review['id']}/save"
        assert httpx.post(server.base_url + url, json={"name": "pr-review"}).status_code == 403
        assert http.get(url).status_code in (404, 405)
        assert http.post(url, json={}).status_code == 400
        refused = http.post(url, json={"name": "review"})
        assert refused.status_code == 409 and "built-in" in refused.json()["error"]
        saved = http.post(url, json={"name": "pr-review"})
        assert saved.status_code == 200, saved.text
        assert saved.json() == {"ok": True, "name": "pr-review",
                                "path": ".reviewbot/harnesses/pr-review.py",
                                "command": "reviewbot run pr-review"}
        path = find_harness(git_repo.path, "pr-review")
        assert path == git_repo.path / ".reviewbot" / "harnesses" / "pr-review.py"
        assert path.read_bytes() == (find_harness(git_repo.path, "review") or path).read_bytes()
        assert http.post("/api/runs/nope/save", json={"name": "x"}).status_code == 409
    assert live.thread.is_alive()  # all of it while the run was live


@needs_chromium
def test_three_runs_in_a_browser_with_screenshots(three: tuple[Any, LiveRun, Dashboard],
                                                  tmp_path: Path, artifacts: Path) -> None:
    from cdp_pipe import Browser

    assert CHROMIUM is not None
    git_repo, live, server = three
    browser = Browser(CHROMIUM, tmp_path / "profile")
    try:
        browser.open(server.url)
        rows = "document.querySelectorAll('#runs tr.click').length"
        browser.wait_for(f"{rows} === 3")
        listed = browser.js("[...document.querySelectorAll('#runs tr.click')].map(tr =>"
                            " [...tr.cells].map(td => td.textContent.trim()))")
        assert [(r[1], r[2]) for r in listed] == [
            ("ask-each", "running"), ("migrate", "finished"), ("review", "finished")]
        assert listed[1][7] == "2 migrated / 0 skipped / 0 failed"
        assert listed[2][7] == "1 confirmed"
        browser.screenshot(artifacts / "dashboard-runs.png")

        # the live run's page: agent count and cost grow without a reload
        browser.open(f"{server.base_url}/runs/live-3?token={server.token}")
        meta = ("(() => { const t = document.querySelector('#meta').textContent;"
                " return [+t.match(/agents (\\d+)/)[1], +t.match(/cost \\$([\\d.]+)/)[1]]; })()")
        browser.wait_for("document.querySelector('#meta b') !== null")
        browser.js("window.marker = 'same page'")
        agents0, cost0 = browser.js(meta)
        browser.wait_for(f"{meta}[0] > {agents0} && {meta}[1] > {cost0}")
        assert browser.js("window.marker") == "same page"  # updated in place, not reloaded
        time.sleep(0.5)
        browser.screenshot(artifacts / "dashboard-run.png")

        # a finished run's page saves its harness as a command
        review_id = _run_id(server, "review")
        browser.open(f"{server.base_url}/runs/{review_id}?token={server.token}")
        browser.wait_for("document.querySelector('button.save') !== null")
        browser.js("document.querySelector('#save-name').value = 'team-review'")
        browser.js("document.querySelector('button.save').click()")
        browser.wait_for("document.querySelector('#save-msg').textContent.includes('saved')")
        assert ".reviewbot/harnesses/team-review.py" in browser.js(
            "document.querySelector('#save-msg').textContent")
        assert find_harness(git_repo.path, "team-review") is not None
        browser.js("document.querySelector('#save-name').value = 'review'")
        browser.js("document.querySelector('button.save').click()")
        browser.wait_for("document.querySelector('#save-msg .err') !== null")
        browser.screenshot(artifacts / "dashboard-review.png")  # funnel, phases, Save
    finally:
        browser.close()
    for name in ("dashboard-runs.png", "dashboard-run.png", "dashboard-review.png"):
        assert (artifacts / name).stat().st_size > 10_000
    assert live.thread.is_alive()


def _run_id(server: Dashboard, harness: str) -> str:
    runs = httpx.get(f"{server.base_url}/api/runs", params={"token": server.token}).json()
    return str(next(r["id"] for r in runs["runs"] if r["harness"] == harness))
