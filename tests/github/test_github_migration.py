"""Migration mode: the real migrate job, a pushed branch, one pull request opened then updated."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest
from gh_scenario import REPO, PullScenario

from reviewbot.errors import GitHubError
from reviewbot.github import ActionOptions, TokenCredentials, run_action

COMMAND = (
    '/reviewbot migrate "use join" --find os.path.join '
    "--rewrite 'join({args})' --add-import 'from os.path import join'"
)


def _setup(scenario: PullScenario, tmp_path: Path) -> Path:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    r = scenario.repo
    r.write(
        "pkg/paths.py", "import os\n\n\ndef data(root):\n    return os.path.join(root, 'data')\n"
    )
    r.write("pkg/more.py", "import os\n\nBASE = os.path.join('a', 'b')\n")
    r.commit("base")
    r.git("remote", "add", "origin", str(origin))
    r.git("push", "-q", "origin", "main")
    scenario.server.add_repo(REPO, git_dir=origin)
    scenario.server.set_permission(REPO, "maintainer", "write")
    return origin


def test_migration_opens_a_pr_and_a_rerun_updates_it(
    scenario: PullScenario, tmp_path: Path
) -> None:
    origin = _setup(scenario, tmp_path)
    scenario.server.add_issue_comment(REPO, 3, "tracking issue", author="maintainer")
    event = scenario.comment_event(COMMAND, login="maintainer")
    event["issue"].pop("pull_request")  # a command on an issue
    event["issue"]["number"] = 3

    outcome = run_action(scenario.env("issue_comment", event), ActionOptions(mode="migrate"))
    assert outcome.pull_created is True and outcome.pull_number is not None
    branch = "reviewbot/migrate-use-join"
    pushed = pygit2.Repository(str(origin)).branches[branch]
    tree = pushed.peel(pygit2.Commit).tree
    assert "join(root, 'data')" in tree["pkg/paths.py"].data.decode()
    assert "from os.path import join" in tree["pkg/more.py"].data.decode()
    pull = scenario.server.repos[REPO].pulls[outcome.pull_number]
    assert pull.head_ref == branch and pull.base_ref == "main"
    assert pull.head_sha == str(pushed.target)
    assert "pkg/paths.py" in (pull.body or "") and "migrated" in (pull.body or "")
    issue_replies = scenario.server.repos[REPO].issue_comments[3]
    assert f"#{outcome.pull_number}" in issue_replies[-1]["body"]
    # the job summary: the report, then the run's summary with its files
    summary = (scenario.tmp / "step_summary.md").read_text()
    assert summary.index("pkg/paths.py") < summary.index("### reviewbot run `")
    assert "**migrate** · finished · " in summary and "**Files:** 2 migrated" in summary

    # A new commit on main with one more call; the rerun updates the same pull request.
    scenario.repo.write("pkg/third.py", "import os\n\nX = os.path.join('x', 'y')\n")
    scenario.repo.commit("more")
    scenario.repo.git("push", "-q", "origin", "main")
    again = run_action(scenario.env("issue_comment", event), ActionOptions(mode="migrate"))
    assert again.pull_created is False and again.pull_number == outcome.pull_number
    assert len(scenario.server.repos[REPO].pulls) == 1
    assert "pkg/third.py" in (scenario.server.repos[REPO].pulls[outcome.pull_number].body or "")
    assert len(scenario.server.calls("PATCH", rf"/pulls/{outcome.pull_number}$")) == 1
    assert scenario.server.calls("POST", r"/pulls$")[0].body["head"] == branch


def test_migrate_command_from_a_non_writer_pushes_nothing(
    scenario: PullScenario, tmp_path: Path
) -> None:
    origin = _setup(scenario, tmp_path)
    scenario.server.set_permission(REPO, "drive-by", "none")
    event = scenario.comment_event(COMMAND, login="drive-by")
    outcome = run_action(scenario.env("issue_comment", event), ActionOptions(mode="migrate"))
    assert outcome.refused
    assert list(pygit2.Repository(str(origin)).branches) == ["main"]
    assert scenario.server.calls("POST", r"/pulls$") == []


def test_push_credentials_are_capped() -> None:
    creds = TokenCredentials("ghs_secret", max_attempts=2)
    first = creds.credentials("https://github.com/acme/widgets.git", None, 0)
    assert first.credential_tuple == ("x-access-token", "ghs_secret")
    creds.credentials("https://github.com/acme/widgets.git", None, 0)
    with pytest.raises(GitHubError, match="refused the token 2 times"):
        creds.credentials("https://github.com/acme/widgets.git", None, 0)
    assert "ghs_secret" not in repr(creds)


def test_workflow_dispatch_runs_a_migration(scenario: PullScenario, tmp_path: Path) -> None:
    from gh_scenario import webhook

    _setup(scenario, tmp_path)
    event = webhook("workflow_dispatch")
    event["ref"] = "refs/heads/main"
    event["repository"]["full_name"] = REPO
    event["inputs"] = {
        "mode": "migrate",
        "instruction": "use join",
        "find": "os.path.join",
        "rewrite": "join({args})",
        "add-import": "from os.path import join",
        "branch": "reviewbot/join",
    }
    outcome = run_action(scenario.env("workflow_dispatch", event), ActionOptions(mode="migrate"))
    assert outcome.pull_created is True
    pull = scenario.server.repos[REPO].pulls[outcome.pull_number]
    assert (pull.head_ref, pull.base_ref) == ("reviewbot/join", "main")
    assert pull.title == "reviewbot: use join"
