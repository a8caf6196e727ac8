"""`reviewbot review` from the CLI says what did not run: nothing green that did not run.

Real git repositories, the real CLI in a subprocess, the loopback model server (or an
unreachable port) behind the real SDK.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reviewbot.testing import MessagesRequest, Reply

BASE = "def mean(items):\n    return sum(items) / len(items) if items else 0.0\n"
HEAD = BASE.replace(" if items else 0.0", "") + "\n\ndef ratio(a, b):\n    return a / b\n"
FAST = "[models]\nmax_retries = 0\n[review]\ntiny_change_lines = 0\nskeptics = 1\n"


def _cli(repo: Path, *args: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "reviewbot", *args], cwd=repo,
                          capture_output=True, text=True, env=full, timeout=120)


@pytest.fixture
def change(git_repo: Any) -> Any:
    git_repo.write(".reviewbot.toml", FAST)
    git_repo.write("stats.py", BASE)
    git_repo.commit("base")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("stats.py", HEAD)
    git_repo.commit("feature")
    return git_repo


def _review(repo: Any, *extra: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _cli(repo.path, "review", "--base", "main", "--no-uncommitted", "--quiet", *extra,
                env=env)


def test_unreachable_service_is_not_a_clean_review(change: Any) -> None:
    env = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "ANTHROPIC_API_KEY": "k"}
    proc = _review(change, env=env)
    assert proc.returncode == 3, proc.stderr
    out = proc.stdout
    assert "no findings." not in out.lower().replace("no findings from", "")
    assert "NOT REVIEWED by the models" in out
    assert "all 5 finders failed" in out
    assert "could not reach the model service" in out
    assert "coverage: 0 files reviewed, 1 skipped" in out
    assert "FAILED (find: no agent answered)" in out
    assert proc.stderr.count("reviewbot: error:") == 1
    assert "every model agent of the find phase failed" in proc.stderr


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_unreachable_service_in_other_formats(change: Any, fmt: str) -> None:
    env = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "ANTHROPIC_API_KEY": "k"}
    proc = _review(change, "--format", fmt, env=env)
    assert proc.returncode == 3
    assert "NOT REVIEWED by the models" in proc.stdout
    assert "No findings." not in proc.stdout


def test_some_finders_failing_names_what_went_unreviewed(change: Any, model_env: Any) -> None:
    def handler(req: MessagesRequest) -> Any:
        if req.role == "finder":
            if "Review dimension: security." in req.all_text:
                return Reply.html()  # not a Message: that finder fails after its retries
            return {"findings": []}
        if req.role == "synthesizer":
            return {"summary": "Drops the empty-list guard."}
        return {"verdict": "refuted", "reason": "-"}

    model_env(handler)
    proc = _review(change, env={})
    assert proc.returncode == 0, proc.stderr
    assert "1 of 5 finders did not finish" in proc.stdout
    assert "not reviewed for security: stats.py (" in proc.stdout
    assert "see the run's errors" not in proc.stdout
    assert "coverage: 1 files reviewed" in proc.stdout


def test_budget_stop_before_any_finder_is_not_no_findings(change: Any, model_env: Any) -> None:
    model_env(lambda req: {"findings": []})
    proc = _review(change, "--budget", "0.000001", env={})
    out = proc.stdout
    assert "NOT REVIEWED by the models: the run stopped before any finder ran" in out
    assert "No findings." not in out
    assert "the review is incomplete" in out
    assert "PARTIAL" in out


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
@pytest.mark.parametrize(("fail_on", "expected"), [("info", 1), ("critical", 0)])
def test_closed_stdout_keeps_the_findings_exit_status(
    git_repo: Any, fmt: str, fail_on: str, expected: int
) -> None:
    git_repo.write("a.py", "def f():\n    return 1\n")
    git_repo.commit("base")
    git_repo.write("a.py", "import os\nimport sys\n\n\ndef f():\n    return 1\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reviewbot", "review", "--quiet", "--fail-on", fail_on,
         "--format", fmt],
        cwd=git_repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader went away before the first byte (`| head -1`)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == expected, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert err.strip().splitlines()[-1].startswith("cost: ")
