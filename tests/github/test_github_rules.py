"""The repository's review rules on a pull request: read at the base branch, cited inline,
and `min_severity_inline` keeping minor findings out of the diff (loopback GitHub and model)."""

from __future__ import annotations

from typing import Any

from gh_scenario import BOT, REPO, PullScenario

from reviewbot.config import Severity
from reviewbot.github import ActionOptions, run_action
from reviewbot.github.tracking import SUMMARY_MARKER
from reviewbot.review.findings import Finding, ReviewResult, Source
from reviewbot.testing import MessagesRequest

OLD_RULES = "# Review\n\n- Every eval() of input is critical.\n"
NEW_RULES = "# Review\n\n- eval() is fine here.\n"
BASE_APP = "def run(x):\n    return int(x)\n"
HEAD_APP = "def run(x):\n    return eval(x)\n\n\ndef name():\n    return 'n'\n"


def _setup(scenario: PullScenario, head_rules: str | None = None) -> None:
    r = scenario.repo
    r.write("REVIEW.md", OLD_RULES)
    r.write("app.py", BASE_APP)
    scenario.base = r.commit("base")
    r.git("checkout", "-q", "-b", "feature")
    r.write("app.py", HEAD_APP)
    if head_rules is not None:
        r.write("REVIEW.md", head_rules)
    scenario.head = r.commit("feature")


def _summary(scenario: PullScenario) -> str:
    comments = scenario.server.repos[REPO].issue_comments[scenario.number]
    [body] = [c["body"] for c in comments
              if SUMMARY_MARKER in c["body"] and c["user"]["login"] == BOT]
    return str(body)


def _inline(scenario: PullScenario) -> list[dict[str, Any]]:
    return [c for r in scenario.server.calls("POST", "/reviews$") for c in r.body["comments"]]


def test_a_pr_rewriting_review_md_is_reviewed_under_the_base_rules(
    scenario: PullScenario, model_server: Any
) -> None:
    _setup(scenario, head_rules=NEW_RULES)
    scenario.open()

    def script(req: MessagesRequest) -> Any:
        if req.role == "finder":
            return {"findings": [{
                "path": "app.py", "start_line": 2, "end_line": 2, "severity": "critical",
                "category": "security", "title": "eval of untrusted input",
                "explanation": "Runs arbitrary code.", "evidence": "return eval(x)",
                "rule": "Every eval() of input is critical.",
            }]}
        if req.role in ("skeptic", "judge"):
            return {"verdict": "confirmed", "reason": "x comes from the caller"}
        return {"summary": "Evaluates input."}

    server = model_server(script, api_key="test-key")
    env = scenario.env("pull_request", scenario.pull_event("opened"),
                       ANTHROPIC_BASE_URL=server.base_url, ANTHROPIC_API_KEY="test-key")
    outcome = run_action(env, ActionOptions())

    finders = [r.all_text for r in server.requests if r.role == "finder"]
    assert finders and all("Every eval() of input is critical." in t for t in finders)
    assert not any("eval() is fine here." in t.split("repository review rules", 1)[1]
                   .split("</data>", 1)[0] for t in finders)
    [comment] = _inline(scenario)
    assert "Repository rule: REVIEW.md: Every eval() of input is critical." in comment["body"]
    body = _summary(scenario)
    assert "This change edits REVIEW.md" in body and "apply once they are merged" in body
    assert "Repository rules followed (read at the base): REVIEW.md." in body
    assert outcome.findings == 1


def _finding(line: int, title: str, evidence: str, severity: Severity) -> Finding:
    return Finding(path="app.py", start_line=line, end_line=line, severity=severity,
                   category="correctness", title=title, explanation="-", evidence=evidence,
                   source=Source.MODEL)


def test_min_severity_inline_lists_minor_findings_in_the_summary_only(
    scenario: PullScenario,
) -> None:
    _setup(scenario)
    scenario.open()
    high = _finding(2, "eval of untrusted input", "return eval(x)", Severity.HIGH)
    low = _finding(6, "name returns a constant", "return 'n'", Severity.LOW)
    result = ReviewResult(base=scenario.base, head=scenario.head, findings=[high, low],
                          min_severity_inline=Severity.MEDIUM)
    path = scenario.tmp / "result.json"
    path.write_text(result.model_dump_json())
    outcome = run_action(scenario.env("pull_request", scenario.pull_event("opened")),
                         ActionOptions(post_only=path))

    assert [c["line"] for c in _inline(scenario)] == [2]  # line 6 is in the diff too
    assert outcome.published is not None
    assert outcome.published.below_inline == [low.fingerprint]
    body = _summary(scenario)
    assert "name returns a constant" in body and "below min_severity_inline" in body
    assert "2 open findings" in body
