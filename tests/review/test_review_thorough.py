"""Thorough mode: finder rounds until two in a row find nothing new, against the loopback
model server (real SDK, real HTTP) on a real repository, from the CLI and the harness."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from reviewbot.config import Config
from reviewbot.harness import builtin_harness, run_harness
from reviewbot.review import ReviewResult
from reviewbot.testing import MessagesRequest

BASE = "def window(items, size):\n    return [items[i:i + size] for i in range(len(items))]\n"
HEAD = (BASE.replace("range(len(items))", "range(len(items) - size)")
        + "\n\ndef first(items):\n    return items[1]\n")
ROUND = re.compile(r"This is finder round (\d+) of at most (\d+)")

OFF_BY_ONE = {
    "path": "win.py", "start_line": 2, "end_line": 2, "severity": "high",
    "category": "correctness", "title": "window drops the last full window",
    "explanation": "range(len(items) - size) stops one short: window([1, 2], 2) is empty.",
    "evidence": "return [items[i:i + size] for i in range(len(items) - size)]",
}
WRONG_INDEX = {
    "path": "win.py", "start_line": 6, "end_line": 6, "severity": "medium",
    "category": "correctness", "title": "first returns the second item",
    "explanation": "items[1] is the second element.", "evidence": "return items[1]",
}
STYLE = {
    "path": "win.py", "start_line": 5, "end_line": 5, "severity": "low",
    "category": "maintainability", "title": "first has no docstring",
    "explanation": "-", "evidence": "def first(items):",
}


@pytest.fixture
def change(git_repo: Any) -> Any:
    git_repo.write(".reviewbot.toml", "[review]\nskeptics = 1\nmax_rounds = 6\n")
    git_repo.write("win.py", BASE)
    git_repo.commit("base")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("win.py", HEAD)
    git_repo.commit("feature")
    return git_repo


def _round(req: MessagesRequest) -> int:
    m = ROUND.search(req.last_user_text)
    return int(m.group(1)) if m else 1


def _scripted(rounds_seen: list[int], findings: Callable[[int, str], list[dict[str, Any]]]
              ) -> Callable[[MessagesRequest], Any]:
    """Finders answer ``findings(round, prompt)``; skeptics refute only the docstring nit."""

    def handler(req: MessagesRequest) -> Any:
        if req.role == "finder":
            rounds_seen.append(_round(req))
            return {"findings": findings(rounds_seen[-1], req.last_user_text)}
        if req.role == "skeptic":
            if "no docstring" in req.all_text:
                return {"verdict": "refuted", "reason": "a two-line helper needs none"}
            return {"verdict": "confirmed", "reason": "traced it"}
        return {"summary": "Changes window and adds first."}

    return handler


def test_thorough_review_stops_two_rounds_after_the_last_new_finding(
    change: Any, model_server: Any,
) -> None:
    rounds_seen: list[int] = []

    def findings(n: int, prompt: str) -> list[dict[str, Any]]:
        # Round 2 is told round 1's finding; rounds 3 and 4 find nothing new.
        if n == 2:
            assert "window drops the last full window" in prompt
        return {1: [OFF_BY_ONE], 2: [OFF_BY_ONE, WRONG_INDEX]}.get(n, [])

    server = model_server(_scripted(rounds_seen, findings), api_key="test-key")
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key",
           "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "reviewbot", "review", "--base", "main", "--head", "feature",
         "--thorough", "--format", "json", "--quiet"],
        cwd=change.path, capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    result = ReviewResult.model_validate(json.loads(proc.stdout))
    assert rounds_seen == [1, 2, 3, 4]
    counts = [(r.round, r.candidates, r.new, r.confirmed) for r in result.funnel.rounds]
    assert counts == [(1, 1, 1, 1), (2, 2, 1, 1), (3, 0, 0, 0), (4, 0, 0, 0)]
    assert sorted(f.title for f in result.findings) == [
        "first returns the second item", "window drops the last full window"]
    assert result.funnel.duplicates == 1  # round 2's repeat of round 1's finding
    # One vote per distinct finding: the repeat is not verified again.
    assert len([r for r in server.requests if r.role == "skeptic"]) == 2

    text = subprocess.run(
        [sys.executable, "-m", "reviewbot", "review", "--base", "main", "--head", "feature",
         "--thorough", "--format", "markdown", "--quiet"],
        cwd=change.path, capture_output=True, text=True, timeout=120, env=env,
    )
    assert "4 finder rounds: round 1: 1 candidates, 1 new" in text.stdout


def test_a_repeated_refuted_finding_does_not_extend_the_loop(
    change: Any, model_server: Any,
) -> None:
    rounds_seen: list[int] = []

    def findings(n: int, prompt: str) -> list[dict[str, Any]]:
        if n > 1:  # told about it (refuted), and reported again anyway
            assert "first has no docstring" in prompt
        return [STYLE]

    server = model_server(_scripted(rounds_seen, findings), api_key="test-key")
    config = Config.model_validate({"review": {"skeptics": 1, "max_rounds": 6,
                                               "mode": "thorough"}})
    outcome = run_harness(
        builtin_harness("review"),
        {"repo": str(change.path), "base": "main", "head": "feature", "uncommitted": False},
        config=config, repo_path=change.path,
        env={"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"},
    )
    result = ReviewResult.model_validate(outcome.result)
    assert rounds_seen == [1, 2, 3]
    assert [r.new for r in result.funnel.rounds] == [1, 0, 0]
    assert [f.title for f in result.refuted] == ["first has no docstring"]
    assert result.findings == []
    assert len([r for r in server.requests if r.role == "skeptic"]) == 1


def test_the_default_review_runs_one_round(change: Any, model_server: Any) -> None:
    def findings(n: int, prompt: str) -> list[dict[str, Any]]:
        assert "finder round" not in prompt
        return [OFF_BY_ONE]

    server = model_server(_scripted([], findings), api_key="test-key")
    outcome = run_harness(
        builtin_harness("review"),
        {"repo": str(change.path), "base": "main", "head": "feature", "uncommitted": False},
        config=Config.model_validate({"review": {"skeptics": 1}}), repo_path=change.path,
        env={"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"},
    )
    result = ReviewResult.model_validate(outcome.result)
    assert len([r for r in server.requests if r.role == "finder"]) == 1
    assert [r.round for r in result.funnel.rounds] == [1]
    assert [f.title for f in result.findings] == ["window drops the last full window"]


def test_the_dry_run_says_what_thorough_mode_and_reproduction_may_add(change: Any) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reviewbot", "review", "--base", "main", "--head", "feature",
         "--dry-run", "--thorough", "--reproduce", "all"],
        cwd=change.path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "thorough: up to 6 finder rounds" in proc.stdout  # max_rounds from .reviewbot.toml
    assert "reproduce (all): up to 3 correctness findings" in proc.stdout
    plain = subprocess.run(
        [sys.executable, "-m", "reviewbot", "review", "--base", "main", "--head", "feature",
         "--dry-run"], cwd=change.path, capture_output=True, text=True, timeout=120)
    assert "thorough:" not in plain.stdout and "reproduce (" not in plain.stdout
