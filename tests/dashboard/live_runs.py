"""What the dashboard and run-history tests share: a small harness run live in a thread
against the loopback model server, and a repository holding a finished review, a finished
migration and a live harness run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reviewbot.cli import main
from reviewbot.config import Config
from reviewbot.harness.loader import load_harness
from reviewbot.harness.runner import HarnessOutcome, run_harness
from reviewbot.testing import MessagesRequest

HARNESS = '''
from pydantic import BaseModel

META = {
    "name": "ask-each",
    "description": "One agent per item in a find phase, then one summary agent.",
    "phases": ["find", "sum"],
    "parameters": {"n": {"type": "int", "default": 3}},
}


class Answer(BaseModel):
    answer: str


async def main(run, n):
    async def ask(i):
        return (await run.agent(f"item {i}", schema=Answer, role="finder")).answer

    with run.phase("find"):
        answers = await run.parallel([lambda i=i: ask(i) for i in range(n)])
    with run.phase("sum"):
        if not run.stopped:
            await run.agent("sum up", schema=Answer, role="finder")
    return {"answers": answers, "partial": run.stopped}
'''


def answer(req: MessagesRequest) -> dict[str, str]:
    return {"answer": "A:" + req.last_user_text}


class LiveRun:
    """A harness run in a thread (the dashboard reads it as another process would)."""

    def __init__(self, harness: Path, repo: Path, n: int, run_id: str, concurrency: int) -> None:
        self.outcome: HarnessOutcome | None = None
        self.error: BaseException | None = None
        config = Config.model_validate({"runtime": {"concurrency": concurrency}})

        def go() -> None:
            try:
                self.outcome = run_harness(
                    load_harness(harness), {"n": n}, config=config, repo_path=repo,
                    run_id=run_id,
                )
            except BaseException as exc:  # surfaced by join()
                self.error = exc

        self.thread = threading.Thread(target=go, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 60) -> HarnessOutcome:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not end"
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


def wait(check: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The ``reviewbot`` entry point in-process: exit code, stdout, stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


# --- a finished review, a finished migration, a live run ------------------------------

BASE_STATS = "def mean(items):\n    return sum(items) / len(items) if items else 0.0\n"
HEAD_STATS = "def mean(items):\n    return sum(items) / len(items)\n"
FINDING = {
    "path": "stats.py", "start_line": 2, "end_line": 2, "severity": "high",
    "category": "correctness", "title": "mean divides by zero on an empty list",
    "explanation": "The empty-list guard was removed; mean([]) raises ZeroDivisionError.",
    "evidence": "return sum(items) / len(items)",
}
CONFIG = "[review]\ntiny_change_lines = 0\nskeptics = 1\n"


def three_runs_handler(req: MessagesRequest) -> Any:
    """The model for all three: review roles, and the ask-each harness's items."""
    if req.last_user_text.startswith(("item ", "sum up")):
        return answer(req)
    if req.role == "finder":
        return {"findings": [FINDING]}
    if req.role == "synthesizer":
        return {"summary": "Drops the empty-list guard in mean."}
    return {"verdict": "confirmed", "reason": "len([]) is 0 and the guard is gone"}


def make_three_runs(git_repo: Any, harness_file: Path, capsys: pytest.CaptureFixture[str],
                    *, n: int = 16) -> LiveRun:
    """In ``git_repo``: a finished review (one confirmed finding), a finished rule-tier
    migration (2 files migrated), then the live run ``live-3`` of ``n`` slow agents.
    The model server must already answer with :func:`three_runs_handler`."""
    git_repo.write(".reviewbot.toml", CONFIG)
    git_repo.write("stats.py", BASE_STATS)
    git_repo.write("pkg/__init__.py", "")
    git_repo.write("pkg/a.py", 'import os\n\n\ndef f(p):\n    return os.path.join(p, "a")\n')
    git_repo.write("pkg/b.py", 'import os\n\n\ndef g(p):\n    return os.path.join(p, "b")\n')
    git_repo.commit("base")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("stats.py", HEAD_STATS)
    git_repo.commit("feature")
    repo = str(git_repo.path)
    code, _, err = cli(capsys, "review", repo, "--base", "main", "--no-uncommitted", "--quiet",
                       "--fail-on", "critical")
    assert code == 0, err
    code, _, err = cli(capsys, "migrate", "use join", "--find", "os.path.join", "--rewrite",
                       "join({args})", "--add-import", "from os.path import join",
                       "--repo", repo, "--quiet")
    assert code == 0, err
    return LiveRun(harness_file, git_repo.path, n, "live-3", concurrency=2)
