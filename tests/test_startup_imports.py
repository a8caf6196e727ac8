"""Commands that never call a model start without importing the model SDK (most of a
second of import time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = """META = {"name": "tiny", "description": "d", "phases": ["a"], "budget_usd": 1.0,
        "max_agents": 3}


async def main(run, **params):
    return {"ok": True}
"""


def imported(args: list[str], cwd: Path, extra: dict[str, str] | None = None) -> set[str]:
    """The modules ``reviewbot ARGS`` imports, from ``python -X importtime``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(extra or {})
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reviewbot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize(
    "args", [["resume", "--list"], ["harness", "check", "harness.py"]], ids=["resume", "check"]
)
def test_commands_without_a_model_do_not_import_the_sdk(git_repo, args: list[str]) -> None:
    git_repo.write("harness.py", HARNESS)
    git_repo.commit("initial")
    modules = imported(args, git_repo.path)
    assert "reviewbot.cli" in modules  # the measurement saw the command's imports
    assert not {m for m in modules if m == "anthropic" or m.startswith("anthropic.")}
    assert "reviewbot.runtime.run" not in modules
    # nor the review domain (a third of the listing's start-up)
    assert "reviewbot.review" not in modules


def test_the_sdk_is_imported_only_when_a_model_service_is_configured(git_repo) -> None:
    git_repo.write("harness.py", HARNESS)
    git_repo.commit("initial")
    # no service: a harness (and a review) runs its deterministic parts without the SDK
    assert "anthropic" not in imported(["run", "harness.py", "--quiet"], git_repo.path)
    # a service: the client is made, so the same measurement sees the SDK (this test can fail)
    service = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "ANTHROPIC_API_KEY": "k"}
    assert "anthropic" in imported(["run", "harness.py", "--quiet"], git_repo.path, service)


def test_a_review_without_a_model_service_does_not_import_the_sdk(git_repo) -> None:
    git_repo.write("a.py", "def f():\n    return 1\n")
    git_repo.commit("initial")
    git_repo.write("a.py", "def f():\n    return 2\n")
    modules = imported(["review", "--quiet"], git_repo.path)
    assert "reviewbot.review" in modules  # it did review
    assert not {m for m in modules if m == "anthropic" or m.startswith("anthropic.")}
