"""`/reviewbot fix`: the bot's suggestions as one gated commit pushed to the pull request's
branch (a real bare origin, the loopback GitHub, the migration gates)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pygit2
from gh_scenario import BOT, REPO, PullScenario

from reviewbot.config import Severity
from reviewbot.github import ActionOptions, Task, run_action
from reviewbot.review.findings import Finding, ReviewResult, Source

BASE = "def a(x):\n    return x\n\n\ndef b(y):\n    return y\n"
HEAD = "def a(x):\n    return eval(x)\n\n\ndef b(y):\n    return eval(y)\n"


def _eval(line: int, name: str, replacement: str) -> Finding:
    return Finding(path="app.py", start_line=line, end_line=line, severity=Severity.HIGH,
                   category="security", title=f"eval of {name}", explanation="Runs code.",
                   evidence=f"    return eval({name})", replacement=replacement,
                   source=Source.MODEL)


FIX_A = _eval(2, "x", "    return int(x)\n")
FIX_B = _eval(6, "y", "    return int(y)\n")


def _setup(scenario: PullScenario, tmp_path: Path, findings: list[Finding],
           fork: bool = False) -> Path:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    r = scenario.repo
    r.write("app.py", BASE)
    scenario.base = r.commit("base")
    r.git("remote", "add", "origin", str(origin))
    r.git("checkout", "-q", "-b", "feature")
    r.write("app.py", HEAD)
    scenario.head = r.commit("feature")
    r.git("push", "-q", "origin", "main", "feature")
    scenario.server.add_repo(REPO, git_dir=origin)
    scenario.server.set_permission(REPO, "maintainer", "write")
    scenario.open(fork=fork)
    result = ReviewResult(base=scenario.base, head=scenario.head, findings=findings)
    path = scenario.tmp / "result.json"
    path.write_text(result.model_dump_json())
    run_action(scenario.env("pull_request", scenario.pull_event("opened", fork=fork)),
               ActionOptions(post_only=path))
    return origin


def _tip(origin: Path) -> pygit2.Commit:
    return pygit2.Repository(str(origin)).branches["feature"].peel(pygit2.Commit)


def _command(scenario: PullScenario, login: str = "maintainer") -> Any:
    event = scenario.comment_event("/reviewbot fix", login=login)
    return run_action(scenario.env("issue_comment", event), ActionOptions())


def _pr_comments(scenario: PullScenario) -> list[str]:
    return [c["body"] for c in scenario.server.repos[REPO].issue_comments[scenario.number]]


def test_fix_pushes_one_commit_with_both_suggestions_and_resolves_both_threads(
    scenario: PullScenario, tmp_path: Path
) -> None:
    origin = _setup(scenario, tmp_path, [FIX_A, FIX_B])
    outcome = _command(scenario)

    assert outcome.task is Task.FIX and outcome.fixed_commit is not None
    tip = _tip(origin)
    assert str(tip.id) == outcome.fixed_commit
    assert [str(p) for p in tip.parent_ids] == [scenario.head]  # one commit on the head
    assert tip.tree["app.py"].data.decode() == (
        "def a(x):\n    return int(x)\n\n\ndef b(y):\n    return int(y)\n")
    assert "apply 2 suggested fixes" in tip.message
    assert "app.py:2 eval of x" in tip.message and "app.py:6 eval of y" in tip.message
    roots = {f"PRRT_{c['id']}" for c in scenario.server.repos[REPO].review_comments[7]}
    assert scenario.server.repos[REPO].resolved_threads == roots and len(roots) == 2
    report = _pr_comments(scenario)[-1]
    assert "Pushed" in report and "2 suggested fixes" in report


def test_a_fix_that_fails_a_gate_is_reported_in_its_thread_not_pushed(
    scenario: PullScenario, tmp_path: Path
) -> None:
    broken = _eval(2, "x", "    return int(x\n")
    origin = _setup(scenario, tmp_path, [broken, FIX_B])
    root = next(c for c in scenario.server.repos[REPO].review_comments[7]
                if c["line"] == 2)
    reply = scenario.server.reply_to_review_comment(REPO, 7, root["id"], "/reviewbot fix",
                                                    author="maintainer")
    event = {"action": "created", "comment": reply,
             "pull_request": scenario.pull_event("opened")["pull_request"],
             "repository": {"full_name": REPO}, "sender": reply["user"]}
    outcome = run_action(scenario.env("pull_request_review_comment", event), ActionOptions())

    assert outcome.task is Task.FIX and outcome.fixed_commit is None
    assert str(_tip(origin).id) == scenario.head  # nothing pushed
    [answer] = [c["body"] for c in scenario.server.repos[REPO].review_comments[7]
                if c.get("in_reply_to_id") == root["id"] and c["user"]["login"] == BOT]
    assert "Nothing was pushed" in answer and "parse gate" in answer
    assert scenario.server.repos[REPO].resolved_threads == set()


def test_fix_on_a_fork_says_it_does_not_push_there(
    scenario: PullScenario, tmp_path: Path
) -> None:
    origin = _setup(scenario, tmp_path, [FIX_A], fork=True)
    outcome = _command(scenario)
    assert outcome.refused and outcome.fixed_commit is None
    assert str(_tip(origin).id) == scenario.head
    assert "forker/widgets" in _pr_comments(scenario)[-1]
    assert "does not push to a fork" in _pr_comments(scenario)[-1]


def test_fix_from_someone_without_write_access_is_refused(
    scenario: PullScenario, tmp_path: Path
) -> None:
    origin = _setup(scenario, tmp_path, [FIX_A])
    scenario.server.set_permission(REPO, "drive-by", "read")
    outcome = _command(scenario, login="drive-by")
    assert outcome.refused and str(_tip(origin).id) == scenario.head
    assert "write access" in _pr_comments(scenario)[-1]
