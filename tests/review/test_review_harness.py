"""The review harness end to end against the loopback model server (real SDK, real HTTP).

Finders plant real and hallucinated findings; skeptics agree or split; the judge
decides splits. Nothing of reviewbot is faked: requests go through run_harness,
the runtime, the models layer and the SDK.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from reviewbot.config import Config
from reviewbot.harness import builtin_harness, run_harness
from reviewbot.review import ReviewResult, Source, Status
from reviewbot.review.prompts import DEFAULT_ANGLES
from reviewbot.testing import MessagesRequest, Reply

BASE_STATS = '''"""Small statistics helpers."""


def mean(items):
    total = 0
    for x in items:
        total += x
    return total / len(items) if items else 0.0


def label(value):
    return f"value={value}"
'''

HEAD_STATS = '''"""Small statistics helpers."""


def mean(items):
    total = 0
    for x in items:
        total += x
    return total / len(items)


def label(value, unit):
    return f"value={value}{unit}"


def ratio(a, b):
    return a / b
'''

REAL_MEAN = {  # named two lines off: grounding re-anchors it to line 8
    "path": "stats.py", "start_line": 6, "end_line": 6, "severity": "high",
    "category": "correctness", "title": "mean divides by zero on an empty list",
    "explanation": "The empty-list guard was removed; mean([]) raises ZeroDivisionError.",
    "evidence": "return total / len(items)",
}
DUPLICATE_MEAN = {
    "path": "stats.py", "start_line": 8, "end_line": 8, "severity": "medium",
    "category": "correctness", "title": "Division by zero in mean for empty input",
    "explanation": "len(items) is 0 for an empty list.",
    "evidence": "    return total / len(items)",
}
SPLIT_RATIO = {
    "path": "stats.py", "start_line": 16, "end_line": 16, "severity": "medium",
    "category": "error-handling", "title": "ratio raises on b == 0",
    "explanation": "No guard for a zero denominator.", "evidence": "return a / b",
}
REFUTED_LABEL = {
    "path": "stats.py", "start_line": 12, "end_line": 12, "severity": "low",
    "category": "performance", "title": "f-string in label is slow",
    "explanation": "Formatting allocates.", "evidence": 'return f"value={value}{unit}"',
}
HALLUCINATED_EVIDENCE = {
    "path": "stats.py", "start_line": 8, "end_line": 8, "severity": "critical",
    "category": "security", "title": "eval of user input",
    "explanation": "Code injection.", "evidence": "eval(user_input)",
}
HALLUCINATED_PATH = {
    "path": "crypto.py", "start_line": 3, "end_line": 3, "severity": "high",
    "category": "security", "title": "weak hash",
    "explanation": "md5 is broken.", "evidence": "hashlib.md5(data)",
}
HALLUCINATED_LINES = {
    "path": "stats.py", "start_line": 400, "end_line": 401, "severity": "low",
    "category": "tests", "title": "no test for ratio", "explanation": "-",
    "evidence": "def ratio(a, b):",
}

PLANTED = {
    "correctness": [REAL_MEAN, HALLUCINATED_EVIDENCE],
    "error-handling": [DUPLICATE_MEAN, SPLIT_RATIO],
    "performance": [REFUTED_LABEL],
    "security": [HALLUCINATED_PATH],
    "tests": [HALLUCINATED_LINES],
}
PLANTED_COUNT = sum(len(v) for v in PLANTED.values())


class Script:
    """Scripted finders, skeptics, judge and synthesizer; records what it was asked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.finder_turns: list[str] = []
        self.judged: list[str] = []

    def __call__(self, req: MessagesRequest) -> Any:
        role = req.role
        text = req.all_text
        if role == "finder":
            dim = next(d for d in PLANTED if f"Review dimension: {d}." in req.last_user_text
                       or f"Review dimension: {d}." in text)
            with self.lock:
                self.finder_turns.append(dim)
            if dim == "correctness" and not req.tool_results:
                # One real tool round trip over the head commit first.
                return Reply.tool_use("read_file", {"path": "stats.py", "start_line": 1})
            if dim == "correctness":
                assert "def ratio(a, b):" in req.tool_results[0].text
            return {"findings": PLANTED[dim]}
        if role == "skeptic":
            if "mean divides by zero" in text or "Division by zero in mean" in text:
                return {"verdict": "confirmed", "reason": "len([]) is 0 and the guard is gone"}
            if "ratio raises on b == 0" in text:
                first_angle = DEFAULT_ANGLES[0].split(":")[0]
                if first_angle in req.last_user_text:
                    return {"verdict": "confirmed", "reason": "ratio(1, 0) raises"}
                return {"verdict": "refuted", "reason": "callers may never pass 0"}
            return {"verdict": "refuted", "reason": "f-strings are fast"}
        if role == "judge":
            with self.lock:
                self.judged.append(text)
            return {"verdict": "confirmed", "reason": "nothing prevents b == 0"}
        if role == "synthesizer":
            return {"summary": "Removes the empty-list guard in mean and adds ratio."}
        raise AssertionError(f"unexpected role {role}")


@pytest.fixture
def change(git_repo: Any) -> Any:
    git_repo.write("stats.py", BASE_STATS)
    git_repo.write("report.py", "from stats import label\n\nprint(label(3))\n")
    git_repo.commit("base")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("stats.py", HEAD_STATS)
    git_repo.commit("feature")
    return git_repo


def _review(repo: Any, server: Any, config: Config, **kw: Any) -> tuple[ReviewResult, Any]:
    env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}
    outcome = run_harness(
        builtin_harness("review"),
        {"repo": str(repo.path), "base": "main", "head": "feature", "uncommitted": False},
        config=config, repo_path=repo.path, env=env, **kw,
    )
    result = ReviewResult.model_validate(outcome.result)
    return result, outcome


def _fanout_config(**runtime: Any) -> Config:
    return Config.model_validate({
        "review": {"tiny_change_lines": 0},
        "runtime": {"concurrency": 8, **runtime},
    })


def funnel_adds_up(result: ReviewResult) -> None:
    fn = result.funnel
    assert fn.candidates == fn.ungrounded + fn.grounded
    assert fn.grounded == fn.duplicates + fn.deduplicated
    assert fn.deduplicated == fn.confirmed + fn.refuted + fn.unverified
    assert fn.escalated <= fn.deduplicated
    model_findings = [f for f in result.findings if f.source is Source.MODEL]
    assert len(model_findings) == fn.confirmed
    assert len(result.refuted) == fn.refuted
    assert len(result.unverified) == fn.unverified
    assert len(result.findings) - len(model_findings) == fn.deterministic


def test_review_grounds_dedups_votes_and_escalates(change: Any, model_server: Any) -> None:
    script = Script()
    server = model_server(script, api_key="test-key")
    result, outcome = _review(change, server, _fanout_config())

    fn = result.funnel
    assert fn.candidates == PLANTED_COUNT == 7
    assert fn.ungrounded == 3  # invented evidence, invented file, lines past the end
    assert fn.grounded == 4
    assert fn.duplicates == 1  # two finders, one division by zero
    assert fn.deduplicated == 3
    assert (fn.confirmed, fn.refuted, fn.unverified) == (2, 1, 0)
    assert fn.escalated == 1
    funnel_adds_up(result)

    confirmed = {f.title: f for f in result.findings}
    mean = next(f for t, f in confirmed.items() if "mean" in t.lower())
    assert (mean.start_line, mean.end_line) == (8, 8)  # re-anchored from line 6
    assert mean.duplicates == 1 and mean.severity.value == "high"  # highest of the group
    assert mean.verification is not None and mean.verification.status is Status.CONFIRMED
    assert not mean.verification.escalated and len(mean.verification.votes) == 3

    ratio = confirmed["ratio raises on b == 0"]
    assert ratio.verification is not None and ratio.verification.escalated
    assert ratio.verification.judge is not None
    assert {v.verdict for v in ratio.verification.votes} == {"confirmed", "refuted"}
    assert len(script.judged) == 1 and "ratio raises on b == 0" in script.judged[0]

    assert [f.title for f in result.refuted] == ["f-string in label is slow"]
    assert all(f.fingerprint and len(f.fingerprint) == 20 for f in result.findings)
    assert result.summary.startswith("Removes the empty-list guard")
    assert not result.partial and not outcome.stats.partial
    # Five dimensions, one shard: five finders sharing one cached context prefix.
    assert sorted(set(script.finder_turns)) == sorted(PLANTED)
    finder_reqs = [r for r in server.requests if r.role == "finder"]
    assert len({r.body["messages"][0]["content"][0]["text"] for r in finder_reqs}) == 1
    assert outcome.stats.total.usage.cache_read_input_tokens > 0
    # The hallucinations never reach a skeptic.
    skeptic_text = " ".join(r.all_text for r in server.requests if r.role == "skeptic")
    assert "eval(user_input)" not in skeptic_text and "crypto.py" not in skeptic_text


def test_tiny_change_gets_one_finder(git_repo: Any, model_server: Any) -> None:
    git_repo.write("a.py", "def f(x):\n    return x\n")
    git_repo.commit("base")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("a.py", "def f(x):\n    return x + 1\n")
    git_repo.commit("feature")
    server = model_server(lambda req: {"findings": []} if req.role == "finder"
                          else {"summary": "Adds one."}, api_key="test-key")
    result, _ = _review(git_repo, server, Config())
    finder_reqs = [r for r in server.requests if r.role == "finder"]
    assert len(finder_reqs) == 1
    assert "Review dimension: general." in finder_reqs[0].last_user_text
    assert result.funnel.candidates == 0 and result.findings == []


def test_budget_stop_yields_a_partial_report(change: Any, model_server: Any) -> None:
    script = Script()
    server = model_server(script, api_key="test-key")
    # One agent at a time and room for only a few: verification cannot finish.
    config = Config.model_validate({
        "review": {"tiny_change_lines": 0},
        "runtime": {"concurrency": 1},
        "models": {"max_tokens": 1024},
    })
    result, outcome = _review(change, server, config, budget_usd=0.03)
    assert outcome.stats.partial and outcome.stats.stop_reason == "budget"
    assert result.partial
    assert any("partial review" in n for n in result.notes)
    funnel_adds_up(result)
    # Whatever was not voted on is not reported as a finding.
    assert all(f.verification is None or f.verification.status is Status.CONFIRMED
               for f in result.findings)
    assert outcome.stats.total.cost_usd <= 0.03 * 1.5
    assert result.funnel.unverified >= 1
    assert {f.title for f in result.unverified}.isdisjoint(f.title for f in result.findings)


def test_verification_starts_while_slow_finders_still_run(change: Any, model_server: Any) -> None:
    script = Script()
    events: list[tuple[str, float]] = []

    def handler(req: MessagesRequest) -> Any:
        if req.role == "finder" and "Review dimension: tests." in req.all_text:
            time.sleep(1.5)  # a slow finder
            events.append(("slow finder answers", time.monotonic()))
        elif req.role == "skeptic":
            events.append(("skeptic asked", time.monotonic()))
        return script(req)

    server = model_server(handler, api_key="test-key")
    result, _ = _review(change, server, _fanout_config())
    first_skeptic = min(t for name, t in events if name == "skeptic asked")
    slow_done = next(t for name, t in events if name == "slow finder answers")
    assert first_skeptic < slow_done
    assert result.funnel.confirmed == 2
