"""The Action's git fetch and push over real smart HTTP (a loopback `git http-backend`)."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
from gh_scenario import REPO, PullScenario

from reviewbot.errors import GitError, GitHubError
from reviewbot.github import ActionOptions, run_action
from reviewbot.github.migration_pr import push_branch
from reviewbot.review.findings import ReviewResult
from reviewbot.testing.git_http import GitHttpServer, basic_auth_header

CLEAN = "import json\n\n\ndef load(text):\n    return json.loads(text)\n"
COMMAND = (
    '/reviewbot migrate "use join" --find os.path.join '
    "--rewrite 'join({args})' --add-import 'from os.path import join'"
)


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


@pytest.fixture
def git_http(scenario: PullScenario) -> Iterator[GitHttpServer]:
    # The same token the loopback GitHub API accepts: the Action has one token for both.
    with GitHttpServer(token=scenario.server.token, watch_argv=True) as server:
        yield server


def _publish_pull(scenario: PullScenario, srv: GitHttpServer) -> str:
    """A pull request whose base (main's tip) is not an ancestor of its head, pushed over HTTP.

    Returns the fork point. Main fixed an unused import after the fork: a review of
    ``base..head`` instead of the pull request's own change would blame the head for it.
    """
    r = scenario.repo
    r.write("src/loader.py", CLEAN)
    r.write("src/old.py", "import os\n\n\ndef f():\n    return 1\n")
    fork = r.commit("base")
    r.git("checkout", "-q", "-b", "feature")
    r.write(
        "src/loader.py",
        "import json\nimport os\n\n\ndef load(text):\n    return json.loads(text)\n",
    )
    r.write("src/broken.py", "def broken(:\n    pass\n")
    scenario.head = r.commit("feature")
    r.git("checkout", "-q", "main")
    r.write("src/old.py", "def f():\n    return 1\n")
    scenario.base = r.commit("main moved on")
    srv.create_repo(REPO)
    _git(r.path, "push", "-q", srv.url(REPO), "main", "feature", env=srv.auth_env())
    scenario.open()
    return fork


def _shallow_checkout(scenario: PullScenario, srv: GitHttpServer, tmp_path: Path) -> Path:
    """What actions/checkout leaves: one commit of the head, origin pointing at the server."""
    checkout = tmp_path / "checkout"
    _git(
        tmp_path,
        "clone",
        "-q",
        "--depth",
        "1",
        "-b",
        "feature",
        srv.url(REPO),
        str(checkout),
        env=srv.auth_env(),
    )
    repo = pygit2.Repository(str(checkout))
    assert repo.is_shallow and repo.get(scenario.base) is None
    return checkout


def _assert_one_line_without(message: str, secret: str) -> None:
    assert "\n" not in message and secret not in message


def test_shallow_checkout_fetches_the_base_over_http_and_reviews(
    scenario: PullScenario,
    git_http: GitHttpServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fork = _publish_pull(scenario, git_http)
    checkout = _shallow_checkout(scenario, git_http, tmp_path)
    before = len(git_http.requests)

    env = scenario.env(
        "pull_request", scenario.pull_event("opened"), GITHUB_WORKSPACE=str(checkout)
    )
    result_out = tmp_path / "result.json"
    outcome = run_action(env, ActionOptions(result_out=result_out))

    assert pygit2.Repository(str(checkout)).get(scenario.base) is not None
    assert outcome.published is not None and len(outcome.published.inline) >= 2
    # The pull request's own change, as GitHub shows it: from the merge base, not main's tip.
    result = ReviewResult.model_validate_json(result_out.read_text())
    assert result.base == fork
    assert {f.path for f in result.findings} == {"src/loader.py", "src/broken.py"}
    assert not [n for n in result.notes if "branches off" in n]
    fetches = [r for r in git_http.requests[before:] if r.path.endswith("/git-upload-pack")]
    assert fetches and all(r.user == "x-access-token" and r.status == 200 for r in fetches)
    # Nothing about the token is written into the checkout's configuration.
    assert scenario.server.token not in (checkout / ".git" / "config").read_text()
    assert scenario.server.token not in caplog.text
    assert git_http.argv_leaks == []


def test_a_refused_token_fails_the_fetch_in_one_line(
    scenario: PullScenario,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    # The git server accepts another token than the one the job has (no contents: read).
    with GitHttpServer(token="ghs_only_for_git") as srv:
        _publish_pull(scenario, srv)
        checkout = _shallow_checkout(scenario, srv, tmp_path)
        before = len(srv.requests)
        env = scenario.env(
            "pull_request", scenario.pull_event("opened"), GITHUB_WORKSPACE=str(checkout)
        )
        started = time.monotonic()
        with pytest.raises(GitHubError, match="refused the token") as caught:
            run_action(env, ActionOptions())
        assert time.monotonic() - started < 10
        refused = [r for r in srv.requests[before:] if r.status == 401]
        assert 1 <= len(refused) <= 3  # capped: libgit2 alone would ask again and again
    message = caught.value.message
    _assert_one_line_without(message, scenario.server.token)
    assert "contents: read" in message and "write" not in message
    out, err = capfd.readouterr()
    assert scenario.server.token not in out + err + caplog.text


@pytest.mark.parametrize("why", ["server down", "base gone"])
def test_an_unfetchable_base_says_fetch_depth(
    scenario: PullScenario, git_http: GitHttpServer, tmp_path: Path, why: str
) -> None:
    _publish_pull(scenario, git_http)
    checkout = _shallow_checkout(scenario, git_http, tmp_path)
    if why == "server down":
        git_http.refuse_all = True
    else:
        # A force-push removed the base from the server: no ref reaches it any more.
        bare = git_http.root / f"{REPO}.git"
        _git(bare, "update-ref", "refs/heads/main", f"{scenario.base}~1")
        _git(bare, "reflog", "expire", "--expire=now", "--all")
        _git(bare, "gc", "-q", "--prune=now")
    env = scenario.env(
        "pull_request", scenario.pull_event("opened"), GITHUB_WORKSPACE=str(checkout)
    )
    with pytest.raises(GitError, match=r"fetch-depth: 0") as caught:
        run_action(env, ActionOptions())
    _assert_one_line_without(caught.value.message, scenario.server.token)
    assert git_http.argv_leaks == []


def _migration_repo(scenario: PullScenario, srv: GitHttpServer) -> Path:
    bare = srv.create_repo(REPO)
    r = scenario.repo
    r.write(
        "pkg/paths.py", "import os\n\n\ndef data(root):\n    return os.path.join(root, 'data')\n"
    )
    r.write("pkg/more.py", "import os\n\nBASE = os.path.join('a', 'b')\n")
    r.commit("base")
    r.git("remote", "add", "origin", srv.url(REPO))
    _git(r.path, "push", "-q", "origin", "main", env=srv.auth_env())
    scenario.server.add_repo(REPO, git_dir=bare)
    scenario.server.set_permission(REPO, "maintainer", "write")
    return bare


def _migrate_event(scenario: PullScenario) -> dict[str, object]:
    scenario.server.add_issue_comment(REPO, 3, "tracking issue", author="maintainer")
    event = scenario.comment_event(COMMAND, login="maintainer")
    event["issue"].pop("pull_request")
    event["issue"]["number"] = 3
    return event


def test_migration_pushes_its_branch_over_http(
    scenario: PullScenario, git_http: GitHttpServer
) -> None:
    bare = _migration_repo(scenario, git_http)
    before = len(git_http.requests)
    outcome = run_action(
        scenario.env("issue_comment", _migrate_event(scenario)), ActionOptions(mode="migrate")
    )
    branch = "reviewbot/migrate-use-join"
    pushed = pygit2.Repository(str(bare)).branches[branch]
    blob = pushed.peel(pygit2.Commit).tree["pkg/paths.py"]
    assert isinstance(blob, pygit2.Blob) and "join(root, 'data')" in blob.data.decode()
    assert outcome.pull_created is True and outcome.pull_number is not None
    assert scenario.server.repos[REPO].pulls[outcome.pull_number].head_sha == str(pushed.target)
    pushes = [r for r in git_http.requests[before:] if r.path.endswith("/git-receive-pack")]
    assert pushes and all(r.user == "x-access-token" and r.status == 200 for r in pushes)
    assert git_http.argv_leaks == []


def test_a_refused_push_stops_after_the_capped_attempts(
    scenario: PullScenario, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with GitHttpServer(token="ghs_only_for_git") as srv:
        bare = _migration_repo(scenario, srv)
        config = tmp_path / "reviewbot.toml"
        config.write_text("[github]\npush_attempts = 2\n")
        before = len(srv.requests)
        started = time.monotonic()
        with pytest.raises(GitHubError, match="refused the token 2 times") as caught:
            run_action(
                scenario.env("issue_comment", _migrate_event(scenario)),
                ActionOptions(mode="migrate", config=config),
            )
        assert time.monotonic() - started < 15
        refused = [r for r in srv.requests[before:] if r.status == 401]
        assert 1 <= len(refused) <= 3
        assert list(pygit2.Repository(str(bare)).branches) == ["main"]
    message = caught.value.message
    _assert_one_line_without(message, scenario.server.token)
    assert "contents: write" in message
    assert scenario.server.calls("POST", r"/pulls$") == []
    assert scenario.server.token not in caplog.text


def test_push_branch_with_the_token_and_without(git_repo: Any) -> None:
    repo = git_repo
    repo.write("a.py", "x = 1\n")
    sha = repo.commit("one")
    repo.git("branch", "topic")
    with GitHttpServer(token="ghs_good", watch_argv=True) as srv:
        bare = srv.create_repo("acme/widgets")
        url = srv.url("acme/widgets")
        assert push_branch(repo.path, "topic", url, "ghs_good", max_attempts=3) == sha
        assert str(pygit2.Repository(str(bare)).branches["topic"].target) == sha
        with pytest.raises(GitHubError, match="refused the token 3 times") as caught:
            push_branch(repo.path, "main", url, "ghs_bad", max_attempts=3)
        _assert_one_line_without(caught.value.message, "ghs_bad")
        assert "main" not in pygit2.Repository(str(bare)).branches
        # Bounded, never a loop: our callback hands out the token 3 times; the server also
        # sees the anonymous probe and, on a loaded machine, libgit2 replaying the last
        # credential on a new connection. An uncapped callback would go on for ever.
        assert srv.auth_failures <= 2 * (3 + 1)
        assert srv.argv_leaks == []


def test_the_argv_watch_sees_a_token_on_a_command_line(tmp_path: Path) -> None:
    """The check the other tests rely on can fail: `git -c http.extraheader=...` is visible."""
    with GitHttpServer(token="ghs_visible", watch_argv=True) as srv:
        srv.create_repo("acme/widgets")
        header = "Authorization: " + basic_auth_header("ghs_visible")
        _git(tmp_path, "-c", f"http.extraheader={header}", "ls-remote", srv.url("acme/widgets"))
        assert srv.argv_leaks and all("git" in leak for leak in srv.argv_leaks)
        assert "ghs_visible" not in " ".join(srv.argv_leaks)


def test_the_server_refuses_other_users_and_anonymous_requests(tmp_path: Path) -> None:
    with GitHttpServer(token="ghs_tok") as srv:
        srv.create_repo("acme/widgets")
        url = srv.url("acme/widgets")
        env = {"GIT_TERMINAL_PROMPT": "0"}
        for attempt in (env, {**env, **srv.auth_env(token="ghs_wrong")}):
            proc = subprocess.run(
                ["git", "ls-remote", url],
                cwd=tmp_path,
                env={**os.environ, **attempt},
                capture_output=True,
                text=True,
                check=False,
            )
            assert proc.returncode != 0
        other = {
            **srv.auth_env(),
            "GIT_CONFIG_VALUE_0": "Authorization: " + basic_auth_header("ghs_tok", "someone"),
        }
        assert (
            subprocess.run(
                ["git", "ls-remote", url],
                cwd=tmp_path,
                env={**os.environ, **other},
                capture_output=True,
                check=False,
            ).returncode
            != 0
        )
        assert srv.auth_failures == 3
        _git(tmp_path, "ls-remote", url, env=srv.auth_env())
        assert srv.requests[-1].status == 200 and srv.requests[-1].user == "x-access-token"


def test_a_pull_request_without_a_fork_point_says_what_it_reviewed(
    scenario: PullScenario, git_http: GitHttpServer, tmp_path: Path
) -> None:
    r = scenario.repo
    r.write("src/loader.py", CLEAN)
    scenario.base = r.commit("base")
    r.git("checkout", "-q", "--orphan", "feature")
    r.git("rm", "-rq", "--cached", ".")
    r.write("src/loader.py", "import json\nimport os\n\n\ndef load(text):\n"
            "    return json.loads(text)\n")
    scenario.head = r.commit("unrelated history")
    r.git("checkout", "-q", "-f", "main")
    git_http.create_repo(REPO)
    _git(r.path, "push", "-q", git_http.url(REPO), "main", "feature", env=git_http.auth_env())
    scenario.open()
    checkout = _shallow_checkout(scenario, git_http, tmp_path)

    env = scenario.env(
        "pull_request", scenario.pull_event("opened"), GITHUB_WORKSPACE=str(checkout)
    )
    result_out = tmp_path / "result.json"
    run_action(env, ActionOptions(result_out=result_out))
    result = ReviewResult.model_validate_json(result_out.read_text())
    assert result.base == scenario.base
    [note] = [n for n in result.notes if "branches off" in n]
    assert "fetch-depth: 0" in note
