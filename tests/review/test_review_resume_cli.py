"""`reviewbot resume` of a review run reports like `reviewbot review` and books its cost;
`resume --list` shows what every run cost and which agents failed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reviewbot.testing import MessagesRequest, Reply

BASE = "def mean(items):\n    return sum(items) / len(items) if items else 0.0\n"
HEAD = BASE.replace(" if items else 0.0", "") + "\n\ndef ratio(a, b):\n    return a / b\n"
CONFIG = "[models]\nmax_retries = 0\n[review]\ntiny_change_lines = 0\nskeptics = 1\n"


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reviewbot", *args], cwd=repo,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture
def change(git_repo: Any) -> Any:
    git_repo.write(".reviewbot.toml", CONFIG)
    git_repo.write("stats.py", BASE)
    git_repo.commit("base")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("stats.py", HEAD)
    git_repo.commit("feature")
    return git_repo


def _handler(fail_security: bool) -> Any:
    def handler(req: MessagesRequest) -> Any:
        if req.role == "finder":
            if fail_security and "Review dimension: security." in req.all_text:
                return Reply.html()
            return {"findings": []}
        if req.role == "synthesizer":
            return {"summary": "Drops the empty-list guard in mean."}
        return {"verdict": "refuted", "reason": "-"}

    return handler


def _listing(repo: Any) -> list[str]:
    proc = _cli(repo.path, "resume", "--list")
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.strip().splitlines()
    assert header.split() == ["RUN", "HARNESS", "STATUS", "STARTED", "DURATION", "AGENTS",
                              "COST", "OUTCOME"]
    return rows


def test_resumed_review_prints_the_report_and_keeps_its_cost(
    change: Any, model_env: Any
) -> None:
    model_env(_handler(fail_security=True))
    first = _cli(change.path, "review", "--base", "main", "--no-uncommitted", "--quiet")
    assert first.returncode == 0, first.stderr
    original = re.search(r"total (\$[0-9.]+)", first.stdout)
    assert original is not None and original.group(1) != "$0.00"
    [row] = _listing(change)
    run_id = row.split()[0]
    assert original.group(1) in row
    assert " 6 (1 failed) " in row  # 5 finders + the synthesizer; security failed
    assert row.split()[2] == "finished" and row.endswith("0 findings")

    resumed = _cli(change.path, "resume", run_id, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    out = resumed.stdout
    assert '"stats": null' not in out and not out.lstrip().startswith("{")
    assert "summary" in out and "Drops the empty-list guard in mean." in out
    assert "coverage: 1 files reviewed" in out
    assert "replayed" in out  # the cost line: finished calls came from the journal
    [row] = _listing(change)
    assert original.group(1) in row  # the resume did not make the run free
    assert "finished" in row

    as_json = _cli(change.path, "resume", run_id, "--quiet", "--format", "json")
    assert as_json.returncode == 0
    assert '"stats": null' not in as_json.stdout and '"funnel"' in as_json.stdout


def test_failed_review_run_is_listed_as_failed(change: Any) -> None:
    env_repo = change.path
    proc = subprocess.run(
        [sys.executable, "-m", "reviewbot", "review", "--base", "main", "--no-uncommitted",
         "--quiet"], cwd=env_repo, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
             "ANTHROPIC_API_KEY": "k"},
    )
    assert proc.returncode == 3
    [row] = _listing(change)
    assert "(5 failed)" in row or "(6 failed)" in row
    assert row.split()[2] == "failed"  # every finder failed: not a finished review
