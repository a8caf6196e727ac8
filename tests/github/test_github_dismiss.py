"""Dismissals that stick: 👎, "false positive" / "won't fix" replies and `/reviewbot dismiss`
on the bot's comments, from people with write access only (loopback GitHub, real github3.py)."""

from __future__ import annotations

from typing import Any

from gh_scenario import BOT, REPO, PullScenario

from reviewbot.config import Severity
from reviewbot.github import ActionOptions, run_action
from reviewbot.github.feedback import reply_dismissal
from reviewbot.github.tracking import SUMMARY_MARKER, Signal
from reviewbot.review.findings import Finding, ReviewResult, Source

BASE = "def load(path):\n    return open(path).read()\n"
HEAD = "import pickle\n\n\ndef load(path):\n    return pickle.load(open(path, 'rb'))\n"
MOVED = "import pickle\n\n\ndef load(path):\n    with open(path, 'rb') as fh:\n" \
        "        return pickle.load(fh)\n"


def _setup(scenario: PullScenario) -> None:
    scenario.change("store.py", BASE, HEAD)


def _pickle(line: int, evidence: str, title: str = "pickle.load of a file path") -> Finding:
    return Finding(path="store.py", start_line=line, end_line=line, severity=Severity.HIGH,
                   category="security", title=title, explanation="Unpickling runs code.",
                   evidence=evidence, source=Source.MODEL)


FIRST = _pickle(5, "    return pickle.load(open(path, 'rb'))")


def _post(scenario: PullScenario, findings: list[Finding], event: dict[str, Any],
          **opts: Any) -> Any:
    result = ReviewResult(base=scenario.base, head=scenario.head, findings=findings)
    path = scenario.tmp / f"result-{len(list(scenario.tmp.glob('result-*')))}.json"
    path.write_text(result.model_dump_json())
    return run_action(scenario.env("pull_request", event), ActionOptions(post_only=path, **opts))


def _root(scenario: PullScenario) -> dict[str, Any]:
    [root] = [c for c in scenario.server.repos[REPO].review_comments[scenario.number]
              if c["user"]["login"] == BOT and not c.get("in_reply_to_id")]
    return root


def _summary(scenario: PullScenario) -> str:
    [body] = [c["body"] for c in scenario.server.repos[REPO].issue_comments[scenario.number]
              if SUMMARY_MARKER in c["body"] and c["user"]["login"] == BOT]
    return str(body)


def _inline_count(scenario: PullScenario) -> int:
    return sum(len(r.body["comments"]) for r in scenario.server.calls("POST", "/reviews$"))


def _push_moved(scenario: PullScenario) -> tuple[str, Finding]:
    """A push that reshapes the flagged line: the finder says the same thing about new code."""
    before = scenario.head
    scenario.repo.write("store.py", MOVED)
    scenario.push(scenario.repo.commit("use a with block"))
    return before, _pickle(6, "        return pickle.load(fh)", title="pickle.load on a file path")


def test_a_dismissed_finding_is_not_posted_again_in_other_words(scenario: PullScenario) -> None:
    _setup(scenario)
    _post(scenario, [FIRST], scenario.pull_event("opened"))
    scenario.server.set_permission(REPO, "maintainer", "write")
    scenario.server.reply_to_review_comment(
        REPO, scenario.number, _root(scenario)["id"],
        "/reviewbot dismiss the files are written by this service only", author="maintainer")

    before, again = _push_moved(scenario)
    assert again.fingerprint != FIRST.fingerprint  # by fingerprint alone it would be new
    outcome = _post(scenario, [again], scenario.pull_event("synchronize", before=before),
                    fail_on=Severity.HIGH)

    assert _inline_count(scenario) == 1  # only the first push's comment
    published = outcome.published
    assert published.suppressed == [again.fingerprint]
    assert sorted(published.dismissed) == sorted([FIRST.fingerprint, again.fingerprint])
    assert published.open_count == 0 and outcome.exit_code == 0  # dismissed is not blocking
    body = _summary(scenario)
    assert "No open findings" in body and "### Dismissed (2)" in body
    assert "dismissed by `maintainer`: the files are written by this service only" in body
    assert "not posted, like a finding `maintainer` dismissed" in body
    state = scenario.state(body)
    assert state is not None
    assert state.findings[FIRST.fingerprint].dismissal.signal is Signal.COMMAND


def test_the_dismissal_holds_without_a_verified_state(scenario: PullScenario) -> None:
    """Each job's key differs (a fresh GITHUB_TOKEN-like secret): the threads still tell."""
    _setup(scenario)
    scenario.server.set_permission(REPO, "maintainer", "maintain")
    _post(scenario, [FIRST], scenario.pull_event("opened"))
    scenario.server.add_reaction(REPO, _root(scenario)["id"], "-1", author="maintainer")
    before, again = _push_moved(scenario)
    event = scenario.pull_event("synchronize", before=before)
    result = ReviewResult(base=scenario.base, head=scenario.head, findings=[again])
    path = scenario.tmp / "result-other-key.json"
    path.write_text(result.model_dump_json())
    env = scenario.env("pull_request", event, REVIEWBOT_STATE_KEY="another job's secret")
    outcome = run_action(env, ActionOptions(post_only=path))

    assert _inline_count(scenario) == 1
    assert outcome.published.suppressed == [again.fingerprint]
    body = _summary(scenario)
    assert "👎 from `maintainer`" in body and "could not be verified" in body


def test_signals_from_people_without_write_access_change_nothing(
    scenario: PullScenario,
) -> None:
    _setup(scenario)
    _post(scenario, [FIRST], scenario.pull_event("opened"))
    root = _root(scenario)["id"]
    scenario.server.set_permission(REPO, "drive-by", "read")
    scenario.server.add_reaction(REPO, root, "-1", author="drive-by")
    scenario.server.reply_to_review_comment(REPO, scenario.number, root,
                                            "false positive, obviously", author="drive-by")
    scenario.server.reply_to_review_comment(REPO, scenario.number, root,
                                            "/reviewbot dismiss", author="stranger")
    outcome = _post(scenario, [FIRST], scenario.pull_event("reopened"), fail_on=Severity.HIGH)

    assert outcome.published.dismissed == [] and outcome.published.open_count == 1
    assert outcome.exit_code == 1
    assert "Dismissed" not in _summary(scenario)
    # Who was asked: each login once, over the real permission endpoint.
    asked = [r.path for r in scenario.server.calls("GET", "/collaborators/.+/permission$")]
    assert sorted(asked) == sorted({p for p in asked})
    assert any(p.endswith("/drive-by/permission") for p in asked)


def test_a_wont_fix_reply_from_a_writer_dismisses_with_its_reason(
    scenario: PullScenario,
) -> None:
    _setup(scenario)
    _post(scenario, [FIRST], scenario.pull_event("opened"))
    scenario.server.set_permission(REPO, "lead", "admin")
    scenario.server.reply_to_review_comment(
        REPO, scenario.number, _root(scenario)["id"], "Won't fix: legacy format, removed in 3.0",
        author="lead")
    outcome = _post(scenario, [FIRST], scenario.pull_event("reopened"))
    assert outcome.published.dismissed == [FIRST.fingerprint]
    assert "`lead` replied: won't fix: legacy format, removed in 3.0" in _summary(scenario)
    # A 👎 nobody gave is not fetched: the comment's reaction summary says there is none.
    assert scenario.server.calls("GET", r"/pulls/comments/\d+/reactions") == []


def test_reply_texts_that_dismiss() -> None:
    assert reply_dismissal("False positive") == (Signal.REPLY, "false positive")
    assert reply_dismissal("wontfix - by design") == (Signal.REPLY, "won't fix: by design")
    assert reply_dismissal("thanks!\n/reviewbot dismiss  test data") == (Signal.COMMAND,
                                                                        "test data")
    assert reply_dismissal("is this a false positive?") is None
    assert reply_dismissal("/reviewbot review") is None


def test_a_thread_a_writer_resolves_without_a_code_change_is_dismissed(
    scenario: PullScenario,
) -> None:
    _setup(scenario)
    _post(scenario, [FIRST], scenario.pull_event("opened"))
    scenario.server.set_permission(REPO, "maintainer", "write")
    scenario.server.set_permission(REPO, "drive-by", "read")
    scenario.server.resolve_thread(REPO, _root(scenario)["id"], author="drive-by")
    assert _post(scenario, [FIRST], scenario.pull_event("reopened")).published.dismissed == []

    scenario.server.resolve_thread(REPO, _root(scenario)["id"], author="maintainer")
    outcome = _post(scenario, [FIRST], scenario.pull_event("reopened"))
    assert outcome.published.dismissed == [FIRST.fingerprint]
    assert "`maintainer` resolved the thread, the code unchanged" in _summary(scenario)


def test_a_thread_resolved_after_the_code_changed_is_fixed_not_dismissed(
    scenario: PullScenario,
) -> None:
    _setup(scenario)
    _post(scenario, [FIRST], scenario.pull_event("opened"))
    scenario.server.set_permission(REPO, "maintainer", "write")
    scenario.server.resolve_thread(REPO, _root(scenario)["id"], author="maintainer")
    before = scenario.head
    scenario.repo.write("store.py", BASE)  # the pickle is gone
    scenario.push(scenario.repo.commit("drop pickle"))
    outcome = _post(scenario, [], scenario.pull_event("synchronize", before=before))
    assert outcome.published.dismissed == [] and outcome.published.fixed == [FIRST.fingerprint]
