"""The repository's review rules, read at the base, through the real harness and SDK.

Each test builds a real git repository, runs the built-in review harness against the
loopback model server and inspects what the finders and skeptics were sent.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from reviewbot.config import Config
from reviewbot.harness import builtin_harness, run_harness
from reviewbot.report.markdown import render_markdown
from reviewbot.report.terminal import render_terminal
from reviewbot.review import ReviewResult
from reviewbot.review.rules import glob_match, relevant_sections
from reviewbot.testing import MessagesRequest

RULE = "Never call print() in library code; use the logger."
NEW_RULE = "Anything goes in this repository."

BASE_LIB = "import logging\n\nlog = logging.getLogger(__name__)\n\n\ndef run(x):\n    return x\n"
HEAD_LIB = (
    "import logging\n\nlog = logging.getLogger(__name__)\n\n\n"
    "def run(x):\n    print(x)\n    return x\n"
)
PRINT_FINDING = {
    "path": "lib.py", "start_line": 7, "end_line": 7, "severity": "low",
    "category": "correctness", "title": "print in library code",
    "explanation": "The repository forbids print in library code.",
    "evidence": "print(x)", "rule": "never call print() in library code",
}


class Script:
    """Finders report the planted findings; skeptics confirm; records every request."""

    def __init__(self, findings: list[dict[str, Any]] | None = None) -> None:
        self.findings = findings if findings is not None else [PRINT_FINDING]

    def __call__(self, req: MessagesRequest) -> Any:
        if req.role == "finder":
            return {"findings": self.findings}
        if req.role in ("skeptic", "judge"):
            return {"verdict": "confirmed", "reason": "it is there"}
        return {"summary": "Adds a print."}


def _review(repo: Any, server: Any, config: Config | None = None, **params: Any) -> ReviewResult:
    env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}
    outcome = run_harness(
        builtin_harness("review"),
        {"repo": str(repo.path), "base": "main", "head": "feature", "uncommitted": False,
         **params},
        config=config or Config(), repo_path=repo.path, env=env,
    )
    return ReviewResult.model_validate(outcome.result)


def _texts(server: Any, role: str) -> list[str]:
    return [r.all_text for r in server.requests if r.role == role]


def _base(repo: Any, review_md: str = f"# Review rules\n\n- {RULE}\n") -> None:
    repo.write("REVIEW.md", review_md)
    repo.write("lib.py", BASE_LIB)
    repo.commit("base")
    repo.git("checkout", "-q", "-b", "feature")


def test_review_md_at_base_reaches_finders_and_skeptics_and_is_cited(
    git_repo: Any, model_server: Any
) -> None:
    _base(git_repo)
    git_repo.write("lib.py", HEAD_LIB)
    git_repo.commit("feature")
    server = model_server(Script([
        PRINT_FINDING,
        {**PRINT_FINDING, "start_line": 8, "end_line": 8, "evidence": "return x",
         "title": "returns x unchanged", "rule": "functions must be pure, says the rules"},
    ]), api_key="test-key")
    result = _review(git_repo, server)

    finders = _texts(server, "finder")
    assert finders and all(RULE in t for t in finders)
    assert all("repository review rules, read at the base commit" in t for t in finders)
    skeptics = _texts(server, "skeptic")
    assert skeptics and all(RULE in t for t in skeptics)
    assert result.rules == ["REVIEW.md"]
    by_title = {f.title: f for f in result.findings}
    assert by_title["print in library code"].rule == (
        "REVIEW.md: never call print() in library code")
    # A citation of a rule the repository never wrote is not kept.
    assert by_title["returns x unchanged"].rule is None
    # The cited rule goes to the skeptics with the claim, and shows in the reports.
    assert any("Repository rule cited: REVIEW.md: never call print()" in t for t in skeptics)
    assert "Rule: REVIEW.md: never call print() in library code" in render_markdown(result)
    buf = io.StringIO()
    render_terminal(result, Console(file=buf, width=200, no_color=True))
    assert "rule REVIEW.md: never call print() in library code" in buf.getvalue()


def test_a_change_to_review_md_is_reviewed_under_the_old_rules(
    git_repo: Any, model_server: Any
) -> None:
    _base(git_repo)
    git_repo.write("REVIEW.md", f"# Review rules\n\n- {NEW_RULE}\n")
    git_repo.write("lib.py", HEAD_LIB)
    git_repo.commit("feature: rewrite the rules")
    server = model_server(Script(), api_key="test-key")
    result = _review(git_repo, server)

    finders = _texts(server, "finder")
    assert finders and all(RULE in t for t in finders)
    rules_blocks = [t.split("repository review rules", 1)[1].split("</data>", 1)[0]
                    for t in finders]
    assert all(NEW_RULE not in b for b in rules_blocks)
    assert any("edits REVIEW.md" in n and "apply once they are merged" in n
               for n in result.notes)
    assert result.findings[0].rule == "REVIEW.md: never call print() in library code"


def test_review_keys_come_from_the_base_not_from_the_change(
    git_repo: Any, model_server: Any
) -> None:
    git_repo.write("pyproject.toml", "[tool.reviewbot.review]\nmax_findings = 5\n")
    _base(git_repo)
    # The change tries to exclude the very file it breaks.
    git_repo.write("pyproject.toml",
                   '[tool.reviewbot.review]\nmax_findings = 5\nignore = ["lib.py"]\n')
    git_repo.write("lib.py", HEAD_LIB)
    git_repo.commit("feature")
    server = model_server(Script(), api_key="test-key")
    # As the Action loads it: from the checkout of the head.
    head_config = Config.model_validate({"review": {"ignore": ["lib.py"]}})
    result = _review(git_repo, server, head_config)
    assert "lib.py" in result.coverage.reviewed
    assert [f.title for f in result.findings] == ["print in library code"]
    assert any("review keys of its configuration" in n for n in result.notes)


def test_rules_at_names_the_branch_whose_rules_apply(git_repo: Any, model_server: Any) -> None:
    _base(git_repo)
    git_repo.write("lib.py", HEAD_LIB)
    git_repo.commit("feature")
    git_repo.git("checkout", "-q", "main")
    git_repo.write("REVIEW.md", "# Review rules\n\n- Later rule: no global state.\n")
    git_repo.commit("rules move on")
    server = model_server(Script(), api_key="test-key")
    result = _review(git_repo, server, base="feature~1", rules_at="main")
    finders = _texts(server, "finder")
    assert finders and all("Later rule: no global state." in t for t in finders)
    assert not any("edits REVIEW.md" in n for n in result.notes)  # the change did not edit it


def test_ignore_globs_drop_files_from_every_tier(git_repo: Any, model_server: Any) -> None:
    git_repo.write("pyproject.toml",
                   '[tool.reviewbot.review]\nignore = ["generated/", "*.lock.py"]\n')
    _base(git_repo)
    git_repo.write("lib.py", HEAD_LIB)
    git_repo.write("generated/api.py", "import os\n\n\ndef f(:\n")  # F401 and a syntax error
    git_repo.write("deps.lock.py", "import sys\n")
    git_repo.commit("feature")
    server = model_server(Script(), api_key="test-key")
    result = _review(git_repo, server)

    assert result.coverage.reviewed == ["lib.py"]
    skipped = {s.path: s.reason for s in result.coverage.skipped}
    assert "generated/" in skipped["generated/api.py"]
    assert "*.lock.py" in skipped["deps.lock.py"]
    assert {f.path for f in result.findings} == {"lib.py"}  # no ruff/syntax finding either
    finders = _texts(server, "finder")
    assert finders and not any("generated/api.py" in t or "deps.lock.py" in t for t in finders)


def test_max_findings_caps_the_most_severe_first(git_repo: Any, model_server: Any) -> None:
    git_repo.write("pyproject.toml", "[tool.reviewbot.review]\nmax_findings = 1\n")
    _base(git_repo)
    git_repo.write("lib.py", HEAD_LIB)
    git_repo.commit("feature")
    high = {**PRINT_FINDING, "start_line": 8, "end_line": 8, "evidence": "return x",
            "severity": "high", "title": "returns the input unvalidated", "rule": None}
    server = model_server(Script([PRINT_FINDING, high]), api_key="test-key")
    result = _review(git_repo, server)
    assert [f.title for f in result.findings] == ["returns the input unvalidated"]
    assert result.funnel.confirmed == 2 and result.funnel.capped == 1
    assert any("caps a review at 1" in n for n in result.notes)


def test_min_severity_inline_and_path_instructions_travel_with_the_result(
    git_repo: Any, model_server: Any
) -> None:
    git_repo.write("pyproject.toml", (
        '[tool.reviewbot.review]\nmin_severity_inline = "medium"\n'
        'instructions = "Prefer explicit errors over silent fallbacks."\n'
        '[tool.reviewbot.review.path_instructions]\n'
        '"lib.py" = "Library code: no print."\n"docs/**" = "Docs: check links."\n'))
    _base(git_repo)
    git_repo.write("lib.py", HEAD_LIB)
    git_repo.commit("feature")
    server = model_server(Script(), api_key="test-key")
    result = _review(git_repo, server)
    assert result.min_severity_inline is not None and result.min_severity_inline.value == "medium"
    finders = _texts(server, "finder")
    assert all("Library code: no print." in t and "Prefer explicit errors" in t for t in finders)
    assert not any("Docs: check links." in t for t in finders)  # no docs/ file in the change
    assert result.rules == ["REVIEW.md", "config instructions",
                            "config path_instructions lib.py", "config path_instructions docs/**"]


def test_agents_md_contributes_only_its_review_sections() -> None:
    text = (
        "# Project\n\nBuild with make.\n\n## Code style\n\nUse type hints.\n\n"
        "### Naming\n\nsnake_case.\n\n```\n# Review this is a comment in a fence\n```\n\n"
        "## Deploy\n\nRun deploy.sh.\n\n## Review checklist\n\nTests for every fix.\n"
    )
    sections = relevant_sections(text)
    assert [title for title, _ in sections] == ["Code style", "Review checklist"]
    assert "snake_case" in sections[0][1] and "deploy.sh" not in sections[0][1]
    assert "Build with make" not in "".join(body for _, body in sections)


def test_globs() -> None:
    assert glob_match("src/gen/a.py", "src/gen/")
    assert glob_match("a/b/c.lock", "*.lock")
    assert glob_match("src/x.py", "src/*.py") and not glob_match("src/a/x.py", "src/*.py")
    assert glob_match("src/a/x.py", "src/**/*.py") and glob_match("src/x.py", "src/**/*.py")
    assert not glob_match("lib.py", "docs/**")


def test_the_dry_run_plans_with_the_rules_and_without_ignored_files(git_repo: Any) -> None:
    from click.testing import CliRunner

    from reviewbot.cli import cli
    from reviewbot.review import ReviewPlan

    def plan() -> ReviewPlan:
        out = CliRunner().invoke(cli, ["review", str(git_repo.path), "--base", "main",
                                       "--no-uncommitted", "--dry-run", "--format", "json"])
        assert out.exit_code == 0, out.output
        return ReviewPlan.model_validate_json(out.output)

    git_repo.write("pyproject.toml", '[tool.reviewbot.review]\nignore = ["gen/"]\n')
    _base(git_repo, review_md="# Review\n\n" + "- Keep every function pure.\n" * 200)
    git_repo.write("lib.py", HEAD_LIB)
    git_repo.write("gen/api.py", "X = 1\n")
    git_repo.commit("feature")
    with_rules = plan()
    assert [s.paths for s in with_rules.shards] == [["lib.py"]]
    git_repo.git("checkout", "-q", "main")
    git_repo.write("REVIEW.md", "# Review\n")
    git_repo.commit("shorter rules")
    git_repo.git("checkout", "-q", "feature")
    git_repo.git("rebase", "-q", "main")
    # The rules block counts toward the shard's size: 200 lines of rules are ~1,300 tokens.
    assert with_rules.shards[0].tokens - plan().shards[0].tokens > 1_000
