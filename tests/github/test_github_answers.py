"""Replies in threads: `@reviewbot` in a reply to one of the bot's inline comments gets an
answer in that thread, from an agent that sees the finding, its votes and the code (loopback
GitHub and model server, the real answer harness)."""

from __future__ import annotations

from typing import Any

from gh_scenario import BOT, REPO, PullScenario, webhook

from reviewbot.config import GitHubConfig, Severity
from reviewbot.github import ActionOptions, Task, parse_event, run_action
from reviewbot.github.answer import ANSWER_MARKER
from reviewbot.review.findings import Finding, ReviewResult, Source, Status, Verification, Vote
from reviewbot.testing import MessagesRequest

BASE = "def load(path):\n    return open(path).read()\n"
HEAD = "import pickle\n\n\ndef load(path):\n    return pickle.load(open(path, 'rb'))\n"
FINDING = Finding(
    path="store.py", start_line=5, end_line=5, severity=Severity.HIGH, category="security",
    title="pickle.load of a file path", explanation="Unpickling runs code from the file.",
    evidence="    return pickle.load(open(path, 'rb'))", source=Source.MODEL,
    verification=Verification(status=Status.CONFIRMED, votes=[
        Vote(verdict="confirmed", reason="callers pass user-chosen paths", angle="reproduce"),
        Vote(verdict="confirmed", reason="no allow-list of paths", angle="guard"),
    ]),
)
STATE_KEY = {"REVIEWBOT_STATE_KEY": "shared job secret"}
ANSWER = ("It stands: `store.py:5` unpickles whatever file it is given; ping @acme/security "
          "and see [docs](https://evil.example/x).")


def _setup(scenario: PullScenario) -> dict[str, Any]:
    scenario.change("store.py", BASE, HEAD)
    result = ReviewResult(base=scenario.base, head=scenario.head, findings=[FINDING])
    path = scenario.tmp / "result.json"
    path.write_text(result.model_dump_json())
    # The posting job and the answering job share the secret that signs the state.
    run_action(scenario.env("pull_request", scenario.pull_event("opened"), **STATE_KEY),
               ActionOptions(post_only=path))
    [root] = scenario.server.repos[REPO].review_comments[scenario.number]
    return root


def _ask(scenario: PullScenario, root: dict[str, Any], body: str, login: str,
         **extra: str) -> Any:
    """A person replies in the thread; GitHub sends the `pull_request_review_comment` event."""
    comment = scenario.server.reply_to_review_comment(REPO, scenario.number, root["id"], body,
                                                      author=login)
    event = {
        "action": "created",
        "comment": comment,
        "pull_request": scenario.pull_event("opened")["pull_request"],
        "repository": webhook("pull_request_opened")["repository"] | {"full_name": REPO},
        "sender": comment["user"],
    }
    return run_action(scenario.env("pull_request_review_comment", event, **STATE_KEY, **extra),
                      ActionOptions())


def _replies(scenario: PullScenario) -> list[str]:
    return [c["body"] for c in scenario.server.repos[REPO].review_comments[scenario.number]
            if c.get("in_reply_to_id") and c["user"]["login"] == BOT]


def _answering(model_server: Any) -> tuple[list[MessagesRequest], dict[str, str]]:
    """A model server whose answerer says ANSWER; the requests it got, the job's model env."""
    asked: list[MessagesRequest] = []

    def script(req: MessagesRequest) -> Any:
        assert req.role == "answerer"
        asked.append(req)
        return {"answer": ANSWER, "stands": True}

    server = model_server(script, api_key="test-key")
    return asked, {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}


def test_a_question_in_the_thread_gets_an_answer_there(
    scenario: PullScenario, model_server: Any
) -> None:
    root = _setup(scenario)
    scenario.server.set_permission(REPO, "maintainer", "write")
    asked, keys = _answering(model_server)
    summaries = len(scenario.server.calls("POST", r"/issues/\d+/comments$"))
    outcome = _ask(scenario, root, "@reviewbot why is this unsafe? the paths are ours",
                   "maintainer", **keys)

    assert outcome.task is Task.ANSWER and outcome.answered and not outcome.refused
    [req] = asked
    text = req.all_text
    assert "pickle.load of a file path" in text  # the finding as posted
    assert "callers pass user-chosen paths" in text and "no allow-list of paths" in text
    assert "why is this unsafe? the paths are ours" in text  # the question, as data
    assert "return pickle.load(open(path, 'rb'))" in text  # the code around it
    assert req.body.get("tools")  # read-only tools over the head
    [reply] = _replies(scenario)
    assert reply.startswith("It stands: `store.py:5`") and reply.endswith(ANSWER_MARKER)
    assert "@acme/security" not in reply and "](https://evil.example" not in reply  # inert
    assert [r.path for r in scenario.server.calls("POST", r"/replies$")] == [
        f"/repos/{REPO}/pulls/{scenario.number}/comments/{root['id']}/replies"]
    # No refusal and no other comment on the pull request.
    assert len(scenario.server.calls("POST", r"/issues/\d+/comments$")) == summaries


def test_an_action_asked_by_someone_without_write_access_is_refused_politely(
    scenario: PullScenario, model_server: Any
) -> None:
    root = _setup(scenario)
    scenario.server.set_permission(REPO, "drive-by", "read")
    asked, keys = _answering(model_server)
    refused = _ask(scenario, root, "@reviewbot please fix this", "drive-by", **keys)

    assert refused.refused and not refused.answered and asked == []
    [reply] = _replies(scenario)
    assert "write access" in reply and "Questions about the finding are welcome" in reply

    # The same person asking a question is answered.
    answered = _ask(scenario, root, "@reviewbot is this reachable from the CLI?", "drive-by",
                    **keys)
    assert answered.answered and len(asked) == 1 and len(_replies(scenario)) == 2


def test_what_is_not_a_question_to_reviewbot_is_skipped(scenario: PullScenario) -> None:
    config = GitHubConfig()
    event: dict[str, Any] = {"action": "created", "pull_request": {"number": 7},
                             "comment": {"id": 9, "body": "looks fine", "in_reply_to_id": 3,
                                         "user": {"login": "a", "type": "User"}}}
    assert parse_event("pull_request_review_comment", event, repository=REPO,
                       config=config).task is Task.SKIP
    event["comment"]["body"] = "@reviewbot why?"
    assert parse_event("pull_request_review_comment", event, repository=REPO,
                       config=config).task is Task.ANSWER
    event["comment"]["user"]["type"] = "Bot"
    assert parse_event("pull_request_review_comment", event, repository=REPO,
                       config=config).task is Task.SKIP
    event["comment"]["user"]["type"] = "User"
    event["comment"].pop("in_reply_to_id")  # a new thread, not a reply to ours
    assert parse_event("pull_request_review_comment", event, repository=REPO,
                       config=config).task is Task.SKIP


def test_a_mention_in_a_thread_that_is_not_ours_gets_no_answer(
    scenario: PullScenario, model_server: Any
) -> None:
    _setup(scenario)
    human = scenario.server.reply_to_review_comment(
        REPO, scenario.number,
        scenario.server.repos[REPO].review_comments[scenario.number][0]["id"], "first",
        author="maintainer")
    # A thread a person started: reviewbot is mentioned, but the finding is not its own.
    scenario.server.repos[REPO].review_comments[scenario.number][0]["user"]["login"] = "someone"
    asked, keys = _answering(model_server)
    outcome = _ask(scenario, {"id": human["in_reply_to_id"]}, "@reviewbot thoughts?",
                   "maintainer", **keys)
    assert not outcome.answered and "not one of reviewbot's comments" in outcome.reason
    assert asked == [] and scenario.server.calls("POST", r"/replies$") == []
