"""The run history on the terminal (`reviewbot runs`, `reviewbot show`) and steering a live
run from the CLI (`stop`, `pause`, `resume` of a paused live run), over real runs against
the loopback model server; the same rows as the dashboard's JSON API."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from live_runs import HARNESS, LiveRun, answer, cli, make_three_runs, three_runs_handler, wait

from reviewbot.dashboard.server import Dashboard
from reviewbot.runtime.control import STOP_REASON
from reviewbot.runtime.journal import state_dir
from reviewbot.testing import Fixed, MessagesRequest, Reply

HEADER = ["RUN", "HARNESS", "STATUS", "STARTED", "DURATION", "AGENTS", "COST", "OUTCOME"]


@pytest.fixture
def harness_file(tmp_path: Path) -> Path:
    path = tmp_path / "ask_each.py"
    path.write_text(HARNESS)
    return path


def _columns(table: str) -> list[dict[str, str]]:
    """The rows of a `reviewbot runs` table (columns are two or more spaces apart)."""
    header, *rows = table.rstrip("\n").splitlines()
    assert header.split() == HEADER
    return [dict(zip(HEADER, re.split(r"\s{2,}", row.strip()), strict=False)) for row in rows]


def test_runs_and_show_on_three_runs_then_stop(model_env: Any, git_repo: Any,
                                               harness_file: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    srv = model_env(three_runs_handler, latency=Fixed(0.02))
    repo = str(git_repo.path)
    srv.latency = Fixed(0.02)
    live = make_three_runs(git_repo, harness_file, capsys, n=48)
    srv.latency = Fixed(0.4)
    wait(lambda: '"agent_finished"' in _events(git_repo, "live-3"), what="a live agent")

    code, out, _ = cli(capsys, "runs", "--repo", repo)
    assert code == 0
    table = out.rstrip("\n").splitlines()
    # aligned: every row has the same width up to its last column's start
    rows = _columns(out)
    assert [r["HARNESS"] for r in rows] == ["ask-each", "migrate", "review"]
    assert [r["STATUS"] for r in rows] == ["running", "finished", "finished"]
    assert rows[1]["OUTCOME"] == "2 migrated, 0 skipped, 0 failed"
    assert rows[2]["OUTCOME"] == "1 finding"
    assert rows[0]["RUN"] == "live-3"
    for r in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", r["STARTED"]), r
        assert re.fullmatch(r"\$\d+\.\d+", r["COST"]), r
    assert rows[1]["COST"] == "$0.00" and rows[2]["COST"] != "$0.00"  # the rule tier is free
    assert int(rows[2]["AGENTS"]) >= 3  # finders, skeptic, synthesizer
    cost_at = table[0].index("COST") + len("COST")
    assert {len(line[:cost_at].rstrip()) for line in table} == {cost_at}  # right-aligned

    # the terminal list is the dashboard's list
    server = Dashboard(state_dir(git_repo.path)).start()
    try:
        api = httpx.get(f"{server.base_url}/api/runs", params={"token": server.token}).json()
        page = httpx.get(server.url).text
    finally:
        server.stop()
    code, out, _ = cli(capsys, "runs", "--format", "json", "--repo", repo)
    listed = json.loads(out)
    keys = ("id", "harness", "started", "outcome")
    assert [{k: r[k] for k in keys} for r in listed] == [{k: r[k] for k in keys}
                                                          for r in api["runs"]]
    assert all(r["id"] in page for r in listed)

    code, out, _ = cli(capsys, "runs", "--status", "running", "--repo", repo)
    assert [r["RUN"] for r in _columns(out)] == ["live-3"]
    code, out, _ = cli(capsys, "runs", "--status", "finished", "--limit", "1", "--repo", repo)
    assert [r["HARNESS"] for r in _columns(out)] == ["migrate"]  # the newest finished one
    code, _, err = cli(capsys, "runs", "--status", "done", "--repo", repo)
    assert code == 2 and err.startswith("reviewbot: error:") and "finished" in err

    review_id = rows[2]["RUN"]
    code, out, _ = cli(capsys, "show", review_id, "--repo", repo)
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["review", "run", review_id]
    assert re.search(r"^├─ find +\d+ agents? ", out, re.M)
    assert re.search(r"^│  └─ finder \(\w+\) ×\d+", out, re.M)
    assert re.search(r"^   total +\d+ agents", out, re.M)
    assert "→ 1 confirmed" in out
    code, out, _ = cli(capsys, "show", rows[1]["RUN"], "--repo", repo)
    assert "files: 2 migrated, 0 skipped, 0 failed" in out
    assert re.search(r"^├─ discover +0 agents .*\n├─ migrate +0 agents .*\n└─ assemble +0 agents",
                     out, re.M), out  # the rule tier needs no agent
    code, out, _ = cli(capsys, "show", "live-3", "--repo", repo)
    assert out.splitlines()[0] == "ask-each  run live-3  running"
    assert re.search(r"^└─ find +\d+ agents \((\d+ running, )?\d+ finished\)", out, re.M), out
    code, _, err = cli(capsys, "show", "nope", "--repo", repo)
    assert code == 2 and "reviewbot runs" in err

    code, _, err = cli(capsys, "stop", "live-3", "--repo", repo)
    assert code == 0 and "asked to stop" in err
    outcome = live.join()
    assert outcome.status == "partial" and outcome.stats.stop_reason == STOP_REASON
    kept = sum(a is not None for a in outcome.result["answers"])
    assert 1 <= kept < 48
    code, out, _ = cli(capsys, "runs", "--repo", repo)
    first = _columns(out)[0]
    assert first["STATUS"] == "partial" and first["OUTCOME"] == STOP_REASON
    assert first["AGENTS"] == str(kept)
    code, _, err = cli(capsys, "stop", "live-3", "--repo", repo)
    assert code == 2 and "is partial, not running" in err
    # resume --list is the same list
    code, again, _ = cli(capsys, "resume", "--list", "--repo", repo)
    assert again == out


def _events(git_repo: Any, run_id: str) -> str:
    path = state_dir(git_repo.path) / "runs" / run_id / "events.jsonl"
    return path.read_text() if path.is_file() else ""


def test_pause_then_resume_continues_the_live_run(model_env: Any, git_repo: Any,
                                                  harness_file: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    model_env(answer, latency=Fixed(0.3))
    repo = str(git_repo.path)
    live = LiveRun(harness_file, git_repo.path, 30, "held-1", concurrency=2)
    wait(lambda: '"agent_finished"' in _events(git_repo, "held-1"), what="a first agent")
    code, _, err = cli(capsys, "resume", "held-1", "--repo", repo)
    assert code == 2 and "running and not paused" in err  # never a second process on it
    code, _, err = cli(capsys, "pause", "held-1", "--repo", repo)
    assert code == 0 and "asked to pause" in err

    def started() -> int:
        return _events(git_repo, "held-1").count('"agent_started"')

    def ended() -> int:
        text = _events(git_repo, "held-1")
        return text.count('"agent_finished"') + text.count('"agent_failed"')

    wait(lambda: started() == ended(), what="the running agents to finish")
    held = started()
    code, out, _ = cli(capsys, "runs", "--repo", repo)
    assert "running (paused)" in out
    time.sleep(1.0)
    assert started() == held < 30  # paused: nothing new starts
    code, _, err = cli(capsys, "resume", "held-1", "--repo", repo)
    assert code == 0 and "asked to continue" in err
    outcome = live.join()
    assert outcome.status == "finished" and all(outcome.result["answers"])
    assert outcome.stats.total.agents == 31


FAILING = '''
from pydantic import BaseModel

META = {"name": "all-fail", "description": "Finders that all fail, then a writer.",
        "phases": ["find", "write"]}


class Answer(BaseModel):
    answer: str


async def main(run):
    with run.phase("find"):
        got = await run.parallel([lambda i=i: run.agent(f"find {i}", schema=Answer,
                                                        role="finder") for i in range(3)])
    with run.phase("write"):
        summary = await run.agent("write", schema=Answer, role="writer")
    return {"found": [g for g in got if g is not None], "summary": summary.answer}
'''


def test_a_run_whose_phase_all_failed_is_failed(model_server: Any, git_repo: Any,
                                                tmp_path: Path, monkeypatch: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    def handler(req: MessagesRequest) -> Any:
        if req.role == "finder":
            return Reply.server_error()
        return {"answer": "nothing found"}

    srv = model_server(handler, api_key="k")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    path = tmp_path / "all_fail.py"
    path.write_text(FAILING)
    repo = str(git_repo.path)
    git_repo.write(".reviewbot.toml", "[models]\nmax_retries = 0\n")
    code, out, err = cli(capsys, "run", str(path), "--run-id", "f-1", "--quiet", "--repo", repo)
    assert code == 3, err
    assert json.loads(out) == {"found": [], "summary": "nothing found"}  # the result is kept
    assert err.count("reviewbot: error:") == 1
    assert "every model agent of the find phase failed" in err
    code, out, _ = cli(capsys, "runs", "--status", "failed", "--repo", repo)
    [row] = _columns(out)
    assert row["RUN"] == "f-1" and row["STATUS"] == "failed" and row["AGENTS"] == "4 (3 failed)"
    code, out, _ = cli(capsys, "show", "f-1", "--repo", repo)
    assert re.search(r"^├─ find +3 agents \(3 failed\)", out, re.M), out
    assert "all-fail  run f-1  failed" in out
