"""Trigger modes: `review_on` = push (default), open or command, and `/reviewbot review
always` subscribing one pull request (the real review job's deterministic tier, loopback
GitHub)."""

from __future__ import annotations

from gh_scenario import REPO, PullScenario

from reviewbot.github import ActionOptions, Task, run_action

BASE = "import json\n\n\ndef load(text):\n    return json.loads(text)\n"
HEAD = "import json\nimport os\n\n\ndef load(text):\n    return json.loads(text)\n"


def _setup(scenario: PullScenario, review_on: str) -> None:
    scenario.repo.write(".reviewbot.toml", f'[github]\nreview_on = "{review_on}"\n')
    scenario.change("loader.py", BASE, HEAD)


def _push(scenario: PullScenario) -> str:
    """A push with a new file whose unused import the deterministic tier reports."""
    before = scenario.head
    n = len(list(scenario.repo.path.glob("extra*.py")))
    scenario.repo.write(f"extra{n}.py", "import sys\n")
    scenario.push(scenario.repo.commit(f"push {n}"))
    return before


def _reviews(scenario: PullScenario) -> int:
    return len(scenario.server.calls("POST", "/reviews$"))


def test_review_on_open_skips_pushes(scenario: PullScenario) -> None:
    _setup(scenario, "open")
    opened = run_action(scenario.env("pull_request", scenario.pull_event("opened")),
                        ActionOptions())
    assert opened.task is Task.REVIEW and _reviews(scenario) == 1
    before = _push(scenario)
    pushed = run_action(
        scenario.env("pull_request", scenario.pull_event("synchronize", before=before)),
        ActionOptions())
    assert pushed.task is Task.SKIP and "review_on = 'open'" in pushed.reason
    assert _reviews(scenario) == 1


def test_review_on_command_waits_for_a_writer_to_subscribe(scenario: PullScenario) -> None:
    _setup(scenario, "command")
    opened = run_action(scenario.env("pull_request", scenario.pull_event("opened")),
                        ActionOptions())
    assert opened.task is Task.SKIP and _reviews(scenario) == 0

    # Someone without write access cannot subscribe the pull request.
    scenario.server.set_permission(REPO, "drive-by", "read")
    scenario.server.add_issue_comment(REPO, scenario.number, "/reviewbot review always",
                                      author="drive-by")
    before = _push(scenario)
    event = scenario.pull_event("synchronize", before=before)
    assert run_action(scenario.env("pull_request", event), ActionOptions()).task is Task.SKIP

    # A maintainer's command reviews now and subscribes: the next push is reviewed.
    scenario.server.set_permission(REPO, "maintainer", "write")
    command = scenario.comment_event("/reviewbot review always", login="maintainer")
    scenario.server.add_issue_comment(REPO, scenario.number, "/reviewbot review always",
                                      author="maintainer")
    reviewed = run_action(scenario.env("issue_comment", command), ActionOptions())
    assert reviewed.task is Task.REVIEW
    assert _reviews(scenario) == 1
    before = _push(scenario)
    event = scenario.pull_event("synchronize", before=before)
    assert run_action(scenario.env("pull_request", event), ActionOptions()).task is Task.REVIEW
    assert _reviews(scenario) == 2
