"""What the orchestrator is told about a repository before it writes a harness for it.

A few lines, not the code: languages (by the code layer's grammar registry), how many
files, the top-level layout, and the test command when one is configured or evident
from the files. It is read from HEAD's tree (the same view ``run.repo`` gives the
harness), so uncommitted files do not shape a plan that cannot see them.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from reviewbot.code.languages import language_for_path, unsupported_language
from reviewbot.config import Config
from reviewbot.git import Repo

TOP_DIRS = 12
# Marker files and the test command they imply, in order of precedence.
_TEST_MARKERS: tuple[tuple[str, str], ...] = (
    ("pytest.ini", "python -m pytest"),
    ("tox.ini", "python -m pytest"),
    ("conftest.py", "python -m pytest"),
    ("go.mod", "go test ./..."),
    ("Cargo.toml", "cargo test"),
    ("pom.xml", "mvn test"),
    ("build.gradle", "gradle test"),
    ("Gemfile", "bundle exec rake test"),
)


class RepoSummary(BaseModel):
    files: int
    languages: dict[str, int] = Field(default_factory=dict)  # language -> files, most first
    top_dirs: dict[str, int] = Field(default_factory=dict)  # "src/" -> files; "." for the root
    test_command: str | None = None
    head: str = ""

    def describe(self) -> str:
        """The lines the orchestrator reads."""
        langs = ", ".join(f"{name} ({count})" for name, count in self.languages.items())
        layout = ", ".join(f"{name} ({count})" for name, count in self.top_dirs.items())
        return "\n".join([
            f"files tracked at HEAD {self.head[:12]}: {self.files}",
            f"languages: {langs or 'none recognised'}",
            f"layout: {layout or 'empty'}",
            f"test command: {self.test_command or 'unknown'}",
        ])


def summarize_repo(path: Path | str, config: Config | None = None) -> RepoSummary:
    """The summary of the repository containing ``path``, at HEAD."""
    repo = Repo.open(path)
    head = repo.head_sha()
    files = repo.tracked_files(head)
    languages: Counter[str] = Counter()
    for name in files:
        lang = language_for_path(name)
        found = lang.name if lang is not None else unsupported_language(name)
        if found is not None:
            languages[found] += 1
    tops: Counter[str] = Counter(
        name.split("/", 1)[0] + "/" if "/" in name else "." for name in files
    )
    return RepoSummary(
        files=len(files),
        languages=dict(languages.most_common()),
        top_dirs=dict(tops.most_common(TOP_DIRS)),
        test_command=_test_command(repo, head, files, config),
        head=head,
    )


def _test_command(repo: Repo, head: str, files: list[str], config: Config | None) -> str | None:
    if config is not None and config.migrate.verify:
        return config.migrate.verify  # what the user told migrate to run
    present = set(files)
    basenames = {posixpath.basename(f) for f in files}
    if "package.json" in present:
        try:
            scripts = json.loads(repo.read_blob(head, "package.json")).get("scripts", {})
        except (ValueError, AttributeError):
            scripts = {}
        if isinstance(scripts, dict) and "test" in scripts:
            return "npm test"
    for marker, command in _TEST_MARKERS:
        if marker in present or (marker == "conftest.py" and marker in basenames):
            return command
    if "pyproject.toml" in present and any(f.startswith("tests/") for f in files):
        return "python -m pytest"
    return None
