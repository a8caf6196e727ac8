"""The repository summary the orchestrator reads: from HEAD's tree, languages by the
grammar registry (and known source languages without one), layout, the test command."""

from __future__ import annotations

import json
from typing import Any

from reviewbot.config import Config, MigrateConfig
from reviewbot.harness.repo_summary import summarize_repo


def test_languages_layout_and_an_npm_test_script(git_repo: Any) -> None:
    git_repo.write("package.json", json.dumps({"scripts": {"test": "jest"}}))
    git_repo.write("web/app.ts", "export const x = 1;\n")
    git_repo.write("web/view.tsx", "export const V = () => null;\n")
    git_repo.write("android/Main.kt", "fun main() {}\n")
    git_repo.write("README.md", "# app\n")
    git_repo.commit("init")
    git_repo.write("web/uncommitted.ts", "export const y = 2;\n")  # not at HEAD
    summary = summarize_repo(git_repo.path)
    assert summary.files == 5
    assert summary.languages == {"typescript": 1, "tsx": 1, "Kotlin": 1}
    assert summary.top_dirs == {".": 2, "web/": 2, "android/": 1}
    assert summary.test_command == "npm test"
    assert summary.head == git_repo.head()
    text = summary.describe()
    assert "files tracked at HEAD" in text and "test command: npm test" in text


def test_the_configured_verify_command_wins_then_marker_files(git_repo: Any) -> None:
    git_repo.write("go.mod", "module example.com/x\n")
    git_repo.write("main.go", "package main\n")
    git_repo.commit("init")
    assert summarize_repo(git_repo.path).test_command == "go test ./..."
    config = Config(migrate=MigrateConfig(verify="make check"))
    assert summarize_repo(git_repo.path, config).test_command == "make check"


def test_no_test_command_when_nothing_shows_one(git_repo: Any) -> None:
    git_repo.write("notes.txt", "hello\n")
    git_repo.commit("init")
    summary = summarize_repo(git_repo.path)
    assert summary.test_command is None and summary.languages == {}
    assert "test command: unknown" in summary.describe()
