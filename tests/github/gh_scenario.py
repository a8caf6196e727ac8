"""Test helpers: a pull request on a loopback GitHub, backed by a real git repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reviewbot.github.action import job_state_key
from reviewbot.github.tracking import TrackingState
from reviewbot.testing.github_server import GitHubServer, files_from_git

DATA = Path(__file__).parent / "data"
REPO = "acme/widgets"
BOT = "github-actions[bot]"


def webhook(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "webhooks" / f"{name}.payload.json").read_text())
    return data


class PullScenario:
    """One pull request: a git repo (the checkout), the server's view of it, events for it."""

    def __init__(self, server: GitHubServer, repo: Any, tmp: Path) -> None:
        self.server = server
        self.repo = repo  # tests/conftest.py GitRepo
        self.tmp = tmp
        self.number = 7
        self.base = ""
        self.head = ""

    def open(
        self,
        *,
        title: str = "Add parser",
        body: str | None = "Adds a parser.",
        fork: bool = False,
        author: str = "contributor",
        draft: bool = False,
    ) -> None:
        self.server.add_pull(
            REPO,
            number=self.number,
            base_sha=self.base,
            head_sha=self.head,
            files=files_from_git(self.repo.path, self.base, self.head),
            title=title,
            body=body,
            author=author,
            head_repo="forker/widgets" if fork else REPO,
            draft=draft,
        )

    def change(self, path: str, base: str, head: str) -> None:
        """A base commit with ``path`` at ``base``, a feature branch with it at ``head``, and
        the pull request between them opened."""
        self.repo.write(path, base)
        self.base = self.repo.commit("base")
        self.repo.git("checkout", "-q", "-b", "feature")
        self.repo.write(path, head)
        self.head = self.repo.commit("feature")
        self.open()

    def state_key(self) -> bytes:
        """The key the action signs this job's tracking state with (from the job's token)."""
        return job_state_key({"GITHUB_TOKEN": self.server.token})

    def state(self, body: str) -> TrackingState | None:
        """The verified tracking state in a summary body, as the action reads it."""
        return TrackingState.decode(body, self.state_key(), context=f"pull/{self.number}")

    def push(self, new_head: str) -> None:
        self.server.push_to_pull(
            REPO,
            self.number,
            head_sha=new_head,
            files=files_from_git(self.repo.path, self.base, new_head),
        )
        self.head = new_head

    def pull_event(
        self,
        action: str,
        *,
        before: str | None = None,
        fork: bool = False,
        draft: bool = False,
        body: str | None = None,
    ) -> dict[str, Any]:
        name = {
            "opened": "pull_request_opened",
            "synchronize": "pull_request_synchronize",
            "reopened": "pull_request_reopened",
            "ready_for_review": "pull_request_ready_for_review",
        }[action]
        event = webhook(name)
        pr = event["pull_request"]
        event["number"] = pr["number"] = self.number
        pr["head"]["sha"], pr["base"]["sha"] = self.head, self.base
        pr["draft"] = draft
        if body is not None:
            pr["body"] = body
        event["repository"]["full_name"] = REPO
        pr["base"]["repo"]["full_name"] = REPO
        pr["head"]["repo"]["full_name"] = "forker/widgets" if fork else REPO
        if action == "synchronize":
            event["before"], event["after"] = before, self.head
        return event

    def comment_event(self, body: str, *, login: str) -> dict[str, Any]:
        event = webhook("issue_comment_created")
        event["issue"]["number"] = self.number
        event["issue"]["pull_request"] = {
            "url": f"https://api.github.com/repos/{REPO}/pulls/{self.number}"
        }
        event["comment"]["body"] = body
        event["comment"]["user"]["login"] = login
        event["comment"]["user"]["type"] = "User"
        event["repository"]["full_name"] = REPO
        return event

    def env(self, event_name: str, event: dict[str, Any], **extra: str) -> dict[str, str]:
        path = self.tmp / f"event-{len(list(self.tmp.glob('event-*')))}.json"
        path.write_text(json.dumps(event))
        env = {
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(path),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_TOKEN": self.server.token,
            "GITHUB_API_URL": self.server.url,
            "GITHUB_WORKSPACE": str(self.repo.path),
            "GITHUB_STEP_SUMMARY": str(self.tmp / "step_summary.md"),
            "GITHUB_OUTPUT": str(self.tmp / "output.txt"),
            "RUNNER_TEMP": str(self.tmp),
        }
        env.update(extra)
        return env
