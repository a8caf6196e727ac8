"""Fixtures for the GitHub tests (helpers live in gh_scenario.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gh_scenario import DATA, REPO, PullScenario

from reviewbot.testing.github_server import GitHubServer


@pytest.fixture
def gh_server() -> Iterator[GitHubServer]:
    with GitHubServer(DATA / "rest") as server:
        server.add_repo(REPO)
        yield server


@pytest.fixture
def scenario(gh_server: GitHubServer, git_repo: Any, tmp_path: Path) -> PullScenario:
    work = tmp_path / "action"
    work.mkdir()
    return PullScenario(gh_server, git_repo, work)
