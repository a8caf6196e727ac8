"""The journal: replay on resume, SIGKILL mid-run then resume, `reviewbot run` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from rt_helpers import API_KEY, Answer

from reviewbot.cli import main
from reviewbot.runtime import Journal, Run, read_events, state_dir
from reviewbot.testing import Fixed, MessagesRequest

HARNESS = '''
from pydantic import BaseModel

META = {
    "name": "ask-each",
    "description": "One agent per item, answers collected in order.",
    "phases": ["ask"],
    "parameters": {"n": {"type": "int", "default": 3}, "label": {"type": "str", "default": "q"}},
}


class Answer(BaseModel):
    answer: str


class Result(BaseModel):
    answers: list[str | None]
    partial: bool


async def main(run, n, label):
    async def ask(i):
        with run.phase("ask"):
            return (await run.agent(f"{label} item {i}", schema=Answer, role="finder")).answer

    answers = await run.pipeline(range(n), ask)
    return Result(answers=answers, partial=run.stopped)
'''


def answer_for(req: MessagesRequest) -> dict[str, str]:
    return {"answer": "A:" + req.last_user_text}


def test_rerun_with_same_id_replays_without_model_calls(server_factory, runs) -> None:
    srv = server_factory(answer_for)

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [lambda i=i: run.agent(f"q{i % 3}", schema=Answer, role="finder") for i in range(6)]
        )

    first, _ = runs(srv, run_id="same")(body)
    assert srv.calls == 6
    second, run = runs(srv, run_id="same", replay=True)(body)
    assert srv.calls == 6  # nothing new reached the model
    assert sorted(a.answer for a in second) == sorted(a.answer for a in first)
    assert run.stats.total.replayed == 6 and run.stats.total.cost_usd == 0


def test_failed_calls_are_not_replayed(server_factory, runs) -> None:
    broken = {"on": True}

    def flaky(req: MessagesRequest) -> Any:
        if "bad" in req.all_text and broken["on"]:
            return {"wrong": True}
        return answer_for(req)

    srv = server_factory(flaky)

    async def body(run: Run) -> list[Any]:
        return await run.parallel(
            [
                lambda: run.agent("good", schema=Answer, role="finder"),
                lambda: run.agent("bad", schema=Answer, role="finder"),
            ]
        )

    first, _ = runs(srv, run_id="r")(body)
    assert first[1] is None
    calls = len(srv.requests)
    broken["on"] = False
    second, run = runs(srv, run_id="r", replay=True)(body)
    assert second[1] is not None and second[1].answer == "A:bad"
    assert len(srv.requests) == calls + 1  # only the failed call went to the model again
    assert run.stats.total.replayed == 1


def test_sigkill_then_resume_calls_model_only_for_unfinished(server_factory, git_repo,
                                                             tmp_path: Path, capsys,
                                                             monkeypatch) -> None:
    n, kill_at = 12, 5
    proc_holder: dict[str, subprocess.Popen[str]] = {}
    lock = threading.Lock()
    seen = {"n": 0}

    def handler(req: MessagesRequest) -> dict[str, str]:
        with lock:
            seen["n"] += 1
            if seen["n"] == kill_at and "proc" in proc_holder:
                os.kill(proc_holder["proc"].pid, signal.SIGKILL)
        return answer_for(req)

    srv = server_factory(handler, latency=Fixed(0.15))
    harness = tmp_path / "ask_each.py"
    harness.write_text(HARNESS)
    git_repo.write(".reviewbot.toml", "[runtime]\nconcurrency = 3\n")
    env = dict(os.environ, ANTHROPIC_BASE_URL=srv.base_url, ANTHROPIC_API_KEY=API_KEY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reviewbot", "run", str(harness), "-p", f"n={n}",
         "--run-id", "killed", "--format", "json", "--quiet"],
        cwd=git_repo.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc_holder["proc"] = proc
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    journal = Journal.for_repo(git_repo.path)
    assert journal.path.parent == git_repo.path / ".git" / "reviewbot"
    finished_before = journal.call_counts("killed").get("ok", 0)
    record = journal.get_run("killed")
    # it never got to finish, and its process is gone
    assert record is not None and record.status == "killed"
    journal.close()
    assert 0 < finished_before < n
    calls_before = len(srv.requests)

    code, out, err = cli_inprocess(
        capsys, monkeypatch, srv.base_url, "resume", "killed", "--format", "json",
        "--repo", str(git_repo.path),
    )
    assert code == 0, err
    resumed_calls = len(srv.requests) - calls_before
    assert resumed_calls == n - finished_before
    result = json.loads(out)
    assert result == {"answers": [f"A:q item {i}" for i in range(n)], "partial": False}
    assert f"({finished_before} replayed)" in err

    journal = Journal.for_repo(git_repo.path)
    record = journal.get_run("killed")
    assert record is not None and record.status == "finished" and record.result == result
    assert journal.call_counts("killed") == {"ok": n}
    journal.close()


def cli_inprocess(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, base_url: str,
    *args: str,
) -> tuple[int, str, str]:
    """`reviewbot ...` in this process (same entry point as the console script)."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_run_format_json_prints_exactly_the_result(server_factory, git_repo, tmp_path: Path,
                                                   capsys, monkeypatch) -> None:
    srv = server_factory(answer_for)
    harness = tmp_path / "ask_each.py"
    harness.write_text(HARNESS)
    code, out, err = cli_inprocess(
        capsys, monkeypatch, srv.base_url, "run", str(harness), "--param", "n=2",
        "--param", "label=z", "--format", "json", "--repo", str(git_repo.path),
    )
    assert code == 0, err
    assert json.loads(out) == {"answers": ["A:z item 0", "A:z item 1"], "partial": False}
    assert out.count("\n") == 1  # nothing but the result on stdout
    last = err.strip().splitlines()[-1]
    assert last.startswith("cost: 2 agents · ") and "fast $" in last

    run_dirs = list((state_dir(git_repo.path) / "runs").iterdir())
    assert len(run_dirs) == 1
    kinds = [e.type for e in read_events(run_dirs[0] / "events.jsonl")]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("agent_finished") == 2
    assert (run_dirs[0] / "harness.py").read_text() == HARNESS


def test_run_budget_flag_gives_partial_result(server_factory, git_repo, tmp_path: Path,
                                              capsys, monkeypatch) -> None:
    srv = server_factory(lambda req: {"answer": "y" * 4000})
    harness = tmp_path / "ask_each.py"
    harness.write_text(HARNESS)
    git_repo.write(".reviewbot.toml", "[runtime]\nconcurrency = 2\n[models]\nmax_tokens = 2000\n")
    code, out, err = cli_inprocess(
        capsys, monkeypatch, srv.base_url, "run", str(harness), "-p", "n=10", "--budget", "0.02",
        "--format", "json", "--strict", "--repo", str(git_repo.path),
    )
    assert code == 4, err
    result = json.loads(out)
    assert result["partial"] is True
    assert 0 < sum(a is not None for a in result["answers"]) < 10
    assert "PARTIAL (budget; $" in err and "of $0.02 unused)" in err


def test_run_rejects_bad_params_in_one_line(git_repo, tmp_path: Path, capsys,
                                            monkeypatch) -> None:
    harness = tmp_path / "ask_each.py"
    harness.write_text(HARNESS)
    code, _, err = cli_inprocess(
        capsys, monkeypatch, "http://127.0.0.1:9", "run", str(harness), "-p", "n=many",
        "--repo", str(git_repo.path),
    )
    assert code == 2
    assert err.strip() == "reviewbot: error: parameter 'n' must be of type int, not 'many'"


def test_ctrl_c_records_interrupted_run_that_resumes(server_factory, git_repo,
                                                      tmp_path: Path, capsys,
                                                      monkeypatch) -> None:
    release = threading.Event()
    arrived = threading.Event()

    def handler(req: MessagesRequest) -> dict[str, str]:
        if "item 2" in req.last_user_text:
            arrived.set()
            release.wait(10)  # hold this call until the run has been interrupted
        return answer_for(req)

    srv = server_factory(handler)
    harness = tmp_path / "ask_each.py"
    harness.write_text(HARNESS)
    git_repo.write(".reviewbot.toml", "[runtime]\nconcurrency = 1\n")
    env = dict(os.environ, ANTHROPIC_BASE_URL=srv.base_url, ANTHROPIC_API_KEY=API_KEY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reviewbot", "run", str(harness), "-p", "n=4", "--run-id", "ctrlc",
         "--quiet"],
        cwd=git_repo.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert arrived.wait(60)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    release.set()
    assert proc.returncode == 130, err
    assert "interrupted; resume with `reviewbot resume ctrlc`" in err
    assert "cost: 2 agents" in err
    journal = Journal.for_repo(git_repo.path)
    record = journal.get_run("ctrlc")
    assert record is not None and record.status == "interrupted"
    assert record.stats is not None and record.stats["stop_reason"] == "interrupted"
    journal.close()

    calls_before = len(srv.requests)
    code, out, err = cli_inprocess(
        capsys, monkeypatch, srv.base_url, "resume", "ctrlc", "--format", "json",
        "--repo", str(git_repo.path),
    )
    assert code == 0, err
    assert json.loads(out)["answers"] == [f"A:q item {i}" for i in range(4)]
    assert len(srv.requests) - calls_before == 2  # items 2 and 3 only


def test_state_dir_inside_repo_worktree_and_outside(git_repo, tmp_path: Path) -> None:
    git_repo.write("a.txt", "a\n")
    git_repo.commit("init")
    assert state_dir(git_repo.path) == (
        git_repo.path / ".git" / "reviewbot"
    )
    worktree = tmp_path / "wt"
    git_repo.git("worktree", "add", "-q", str(worktree))
    assert state_dir(worktree).resolve() == (git_repo.path / ".git" / "reviewbot").resolve()
    outside = tmp_path / "plain"
    outside.mkdir()
    xdg = tmp_path / "xdg"
    assert state_dir(outside, {"XDG_STATE_HOME": str(xdg)}) == xdg / "reviewbot"
