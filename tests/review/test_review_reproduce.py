"""Executable verification on a real repository with a planted off-by-one: a scripted
reproducer (loopback model server, real SDK) writes a test in a pooled worktree of the head;
the runtime runs it with pytest. Nothing of reviewbot is faked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reviewbot.config import Config
from reviewbot.harness import builtin_harness, run_harness
from reviewbot.review import ReviewResult, Status
from reviewbot.review.evidence import Outcome
from reviewbot.testing import MessagesRequest, Reply

BASE = ("def window(items, size):\n"
        "    return [items[i:i + size] for i in range(len(items) - size + 1)]\n")
HEAD = BASE.replace("range(len(items) - size + 1)", "range(len(items) - size)")
TEST_WIN = "from win import window\n\n\ndef test_one():\n    assert window([1], 1) == [[1]]\n"

OFF_BY_ONE = {
    "path": "win.py", "start_line": 2, "end_line": 2, "severity": "high",
    "category": "correctness", "title": "window drops the last full window",
    "explanation": "range(len(items) - size) stops one short: window([1, 2], 2) is [].",
    "evidence": "return [items[i:i + size] for i in range(len(items) - size)]",
}
EMPTY_INPUT = {
    "path": "win.py", "start_line": 2, "end_line": 2, "severity": "critical",
    "category": "correctness", "title": "window raises on an empty list",
    "explanation": "range(-size) with an empty list raises.",
    "evidence": "return [items[i:i + size] for i in range(len(items) - size)]",
}
REPRO_TEST = (
    "from win import window\n\n\ndef test_last_window():\n"
    "    assert window([1, 2, 3], 2) == [[1, 2], [2, 3]], 'last window missing'\n"
)
PASSING_TEST = "from win import window\n\n\ndef test_empty():\n    assert window([], 2) == []\n"
MARKER = "317.25"  # the hanging test's child process, looked for after the timeout
HANGING_TEST = (
    "import subprocess, time\n\n\ndef test_hangs():\n"
    f"    subprocess.Popen(['sleep', '{MARKER}'])\n    time.sleep(600)\n"
)


@pytest.fixture
def change(git_repo: Any) -> Any:
    git_repo.write("pyproject.toml", "[project]\nname = 'win'\nversion = '0'\n")
    git_repo.write("win.py", BASE)
    git_repo.write("tests/test_win.py", TEST_WIN)
    git_repo.commit("base")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("win.py", HEAD)
    git_repo.commit("feature")
    return git_repo


def _reproducer(tests: dict[str, tuple[str, str, str]]) -> Any:
    """title -> (test path, test source, expected failure): write it, then answer."""

    def answer(req: MessagesRequest) -> Any:
        path, source, expected = next(v for k, v in tests.items() if k in req.all_text)
        if not req.tool_results:
            return Reply.tool_use("write_file", {"path": path, "content": source})
        return {"test_path": path, "expected_failure": expected}

    return answer


def _server(model_server: Any, findings: list[dict[str, Any]],
            tests: dict[str, tuple[str, str, str]], verdict: str) -> Any:
    """Finders report ``findings``, reproducers write ``tests``, skeptics say ``verdict``."""
    reproducer = _reproducer(tests)

    def handler(req: MessagesRequest) -> Any:
        if req.role == "finder":
            return {"findings": findings}
        if req.role == "reproducer":
            return reproducer(req)
        if req.role == "synthesizer":
            return {"summary": "Shortens window."}
        return {"verdict": verdict, "reason": "window([1, 2], 2) is []"}

    return model_server(handler, api_key="test-key")


def _review(repo: Any, server: Any, **review: Any) -> ReviewResult:
    config = Config.model_validate({"review": {"skeptics": 1, "reproduce": "high", **review}})
    outcome = run_harness(
        builtin_harness("review"),
        {"repo": str(repo.path), "base": "main", "head": "feature", "uncommitted": False},
        config=config, repo_path=repo.path,
        env={"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"},
    )
    return ReviewResult.model_validate(outcome.result)


def _pool_worktrees(repo: Any) -> list[Path]:
    return sorted(p for p in (repo.path / ".git/reviewbot/worktrees").glob("rb-*") if p.is_dir())


def _untouched(repo: Any, head: str) -> None:
    """The user's tree and branch as they were; every pooled worktree back to clean."""
    assert repo.git("status", "--porcelain") == ""
    assert repo.head() == head and repo.git("branch", "--show-current") == "feature"
    worktrees = _pool_worktrees(repo)
    assert worktrees, "the reproducer ran in a pooled worktree"
    for wt in worktrees:
        assert subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=wt,
                              capture_output=True, text=True, check=True).stdout == ""
        assert not list(wt.glob("tests/test_repro_*.py"))


def test_a_failing_reproducer_confirms_and_a_passing_one_refutes_without_a_vote(
    change: Any, model_server: Any,
) -> None:
    head = change.head()
    server = _server(model_server, [OFF_BY_ONE, EMPTY_INPUT], {
        "window drops the last full window": ("tests/test_repro_window.py", REPRO_TEST,
                                              "last window missing"),
        "window raises on an empty list": ("tests/test_repro_empty.py", PASSING_TEST,
                                           "ValueError"),
    }, "confirmed")
    result = _review(change, server)

    assert [r.role for r in server.requests if r.role == "skeptic"] == []
    [real] = result.findings
    assert real.title == "window drops the last full window"
    assert real.verification is not None and real.verification.status is Status.CONFIRMED
    proof = real.verification.reproduction
    assert proof is not None and proof.outcome is Outcome.REPRODUCED
    assert proof.test == REPRO_TEST and "last window missing" in proof.output
    assert proof.command.startswith("python -m pytest") and proof.tier == "fast"
    assert proof.reason == ("the test fails at head with 'last window missing'; "
                            "at the base it passes")
    [wrong] = result.refuted
    assert wrong.title == "window raises on an empty list"
    assert wrong.verification is not None and wrong.verification.reproduction is not None
    assert wrong.verification.reproduction.outcome is Outcome.NOT_REPRODUCED
    assert wrong.verification.reproduction.reason == "the test passes at head"
    assert (result.funnel.reproduced, result.funnel.disproved) == (1, 1)
    _untouched(change, head)

    # The reports show the reproducing test and offer it as a suggested test.
    from reviewbot.github.render import inline_body
    from reviewbot.report.markdown import render_markdown

    md = render_markdown(result)
    assert "Suggested test, `tests/test_repro_window.py`" in md and REPRO_TEST.strip() in md
    assert "1 reproduced, 1 passed (refuted)" in md
    body = inline_body(real)
    assert "suggested test" in body and "'last window missing'" in body


def test_a_test_that_fails_at_the_base_too_proves_nothing_and_the_vote_decides(
    change: Any, model_server: Any,
) -> None:
    always = "def test_window():\n    assert False, 'last window missing'\n"
    server = _server(model_server, [OFF_BY_ONE], {"window drops the last full window": (
        "tests/test_repro_window.py", always, "last window missing")}, "refuted")
    result = _review(change, server)
    assert result.findings == []
    [f] = result.refuted
    assert f.verification is not None and [v.verdict for v in f.verification.votes] == [
        "refuted"]
    proof = f.verification.reproduction
    assert proof is not None and proof.outcome is Outcome.INCONCLUSIVE
    assert proof.reason.startswith("the test fails the same way at the base")
    assert result.funnel.reproduced == 0


def test_a_hanging_reproducer_is_killed_at_its_timeout_and_the_vote_decides(
    change: Any, model_server: Any,
) -> None:
    head = change.head()
    server = _server(model_server, [OFF_BY_ONE], {"window drops the last full window": (
        "tests/test_repro_hang.py", HANGING_TEST, "AssertionError")}, "confirmed")
    result = _review(change, server, reproduce_timeout=4)

    [f] = result.findings
    assert f.verification is not None and f.verification.status is Status.CONFIRMED
    assert [v.verdict for v in f.verification.votes] == ["confirmed"]  # the vote decided
    proof = f.verification.reproduction
    assert proof is not None and proof.outcome is Outcome.INCONCLUSIVE
    assert proof.reason == "the test timed out and was killed"
    assert 4 <= proof.seconds < 30
    # No retry for a hang: one reproducer conversation (write, answer), one skeptic.
    assert len([r for r in server.requests if r.role == "reproducer"]) == 2
    assert len([r for r in server.requests if r.role == "skeptic"]) == 1
    left = [p for p in Path("/proc").glob("[0-9]*/cmdline")
            if MARKER in p.read_bytes().decode(errors="replace")] if Path("/proc").is_dir() else []
    assert left == [], "the test's child process outlived the timeout"
    _untouched(change, head)


def test_reproduce_off_and_the_cli_flag(change: Any, model_server: Any) -> None:
    server = _server(model_server, [OFF_BY_ONE], {"window drops the last full window": (
        "tests/test_repro_window.py", REPRO_TEST, "last window missing")}, "refuted")
    # Off by default: the vote alone decides (and refutes here).
    result = _review(change, server, reproduce="off")
    assert result.findings == [] and not any(r.role == "reproducer" for r in server.requests)

    env = {**os.environ, "ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}
    proc = subprocess.run(
        [sys.executable, "-m", "reviewbot", "review", "--base", "main", "--head", "feature",
         "--reproduce", "high", "--format", "json", "--quiet"],
        cwd=change.path, capture_output=True, text=True, timeout=180, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    cli = ReviewResult.model_validate(json.loads(proc.stdout))
    assert [f.title for f in cli.findings] == ["window drops the last full window"]
    assert cli.funnel.reproduced == 1


def test_a_reproducing_test_gets_no_secrets_and_no_network(
    tmp_path: Path, model_server: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reviewbot.process import offline_prefix
    from reviewbot.review.reproduce import _run_test

    server = model_server(lambda req: {"summary": "-"}, api_key="test-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs-secret")
    port = server.base_url.rsplit(":", 1)[1].strip("/")
    probe = (
        "import os, socket\n"
        "print('secrets:', [k for k in os.environ if k in ('ANTHROPIC_API_KEY', 'GITHUB_TOKEN')])\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
        "    print('network: reached')\n"
        "except OSError as exc:\n"
        "    print('network: refused', type(exc).__name__)\n"
    )
    (tmp_path / "probe.py").write_text(probe, encoding="utf-8")
    code, output, _ = _run_test("python probe.py", tmp_path, 30)
    assert code == 0, output
    assert "secrets: []" in output
    if offline_prefix([tmp_path]):
        assert "network: refused" in output
    else:  # no usable bubblewrap here: the environment policy still holds
        assert "network: reached" in output


def test_uncommitted_changes_are_reproduced_and_left_as_they_are(
    git_repo: Any, model_server: Any,
) -> None:
    """The local default: HEAD plus uncommitted changes. The reproducer's worktree gets the
    uncommitted change over HEAD; the user's uncommitted file is still there, unchanged."""
    git_repo.write("pyproject.toml", "[project]\nname = 'win'\nversion = '0'\n")
    git_repo.write("win.py", BASE)
    git_repo.write("tests/test_win.py", TEST_WIN)
    head = git_repo.commit("base")
    git_repo.write("win.py", HEAD)  # not committed
    before = git_repo.git("status", "--porcelain")
    server = _server(model_server, [OFF_BY_ONE], {"window drops the last full window": (
        "tests/test_repro_window.py", REPRO_TEST, "last window missing")}, "refuted")
    config = Config.model_validate({"review": {"skeptics": 1, "reproduce": "high"}})
    outcome = run_harness(
        builtin_harness("review"), {"repo": str(git_repo.path), "base": "HEAD"},
        config=config, repo_path=git_repo.path,
        env={"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"},
    )
    result = ReviewResult.model_validate(outcome.result)
    [f] = result.findings  # the skeptic would refute it: the test decided
    assert f.verification is not None and f.verification.reproduction is not None
    assert f.verification.reproduction.outcome is Outcome.REPRODUCED
    assert git_repo.git("status", "--porcelain") == before == "M win.py"
    assert (git_repo.path / "win.py").read_text() == HEAD and git_repo.head() == head
    for wt in _pool_worktrees(git_repo):
        assert (wt / "win.py").read_text() == BASE  # restored to the commit it is at
        assert subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=wt,
                              capture_output=True, text=True, check=True).stdout == ""
