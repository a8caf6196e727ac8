"""Memory across pull requests: a dismissal is proposed for `.reviewbot/memory.json` in one
pull request the bot opens; once merged, a second pull request touching the same code is
spared the finding (the real review job, loopback GitHub and model, a real bare origin)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pygit2
from click.testing import CliRunner
from gh_scenario import BOT, REPO, PullScenario

from reviewbot.cli import cli
from reviewbot.config import Severity
from reviewbot.github import ActionOptions, run_action
from reviewbot.github.memory_pr import MEMORY_BRANCH
from reviewbot.github.tracking import SUMMARY_MARKER
from reviewbot.review.findings import Finding, ReviewResult, Source
from reviewbot.review.memory import MEMORY_FILE
from reviewbot.testing import MessagesRequest

BASE = "def load(path):\n    return open(path).read()\n"
HEAD = "import pickle\n\n\ndef load(path):\n    return pickle.load(open(path, 'rb'))\n"
SECOND = ("import pickle\n\n\ndef load(path):\n    return open(path).read()\n\n\n"
          "def load_cache(path):\n    with open(path, 'rb') as fh:\n"
          "        return pickle.load(fh)\n")
FIRST = Finding(path="store.py", start_line=5, end_line=5, severity=Severity.HIGH,
                category="security", title="pickle.load of a file path",
                explanation="Unpickling runs code.",
                evidence="    return pickle.load(open(path, 'rb'))", source=Source.MODEL)


def _setup(scenario: PullScenario, tmp_path: Path) -> Path:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    r = scenario.repo
    r.write(".reviewbot.toml", "[github]\nremember_dismissals = true\n")
    r.write("store.py", BASE)
    scenario.base = r.commit("base")
    r.git("remote", "add", "origin", str(origin))
    r.git("push", "-q", "origin", "main")
    scenario.server.add_repo(REPO, git_dir=origin)
    scenario.server.set_permission(REPO, "maintainer", "write")
    r.git("checkout", "-q", "-b", "feature")
    r.write("store.py", HEAD)
    scenario.head = r.commit("feature")
    scenario.open()
    return origin


def _post(scenario: PullScenario, findings: list[Finding], action: str) -> Any:
    result = ReviewResult(base=scenario.base, head=scenario.head, findings=findings)
    path = scenario.tmp / f"result-{len(list(scenario.tmp.glob('result-*')))}.json"
    path.write_text(result.model_dump_json())
    return run_action(scenario.env("pull_request", scenario.pull_event(action)),
                      ActionOptions(post_only=path))


def _summary(scenario: PullScenario) -> str:
    [body] = [c["body"] for c in scenario.server.repos[REPO].issue_comments[scenario.number]
              if SUMMARY_MARKER in c["body"] and c["user"]["login"] == BOT]
    return str(body)


def test_a_dismissal_is_remembered_and_spares_the_next_pull_request(
    scenario: PullScenario, tmp_path: Path, model_server: Any
) -> None:
    origin = _setup(scenario, tmp_path)
    _post(scenario, [FIRST], "opened")
    [root] = scenario.server.repos[REPO].review_comments[scenario.number]
    scenario.server.reply_to_review_comment(
        REPO, scenario.number, root["id"], "/reviewbot dismiss the cache files are ours",
        author="maintainer")

    outcome = _post(scenario, [FIRST], "reopened")
    assert outcome.memory_pull is not None
    proposal = scenario.server.repos[REPO].pulls[outcome.memory_pull]
    assert proposal.head_ref == MEMORY_BRANCH and proposal.base_ref == "main"
    body = proposal.body or ""
    assert "store.py" in body and "the cache files are ours" in body
    branch = pygit2.Repository(str(origin)).branches[MEMORY_BRANCH].peel(pygit2.Commit)
    assert [str(p) for p in branch.parent_ids] == [scenario.base]  # on top of the base, only
    memory = json.loads(branch.tree[MEMORY_FILE].data)
    [entry] = memory["dismissed"]
    assert (entry["fingerprint"], entry["by"], entry["pull"]) == (
        FIRST.fingerprint, "maintainer", scenario.number)
    assert sorted(e.name for e in branch.tree) == [".reviewbot", ".reviewbot.toml", "store.py"]

    # A rerun with nothing new to remember pushes and opens nothing.
    again = _post(scenario, [FIRST], "reopened")
    assert again.memory_pull is None
    assert len(scenario.server.calls("POST", r"/pulls$")) == 1

    # A maintainer merges the proposal; a second pull request touches the same code.
    r = scenario.repo
    r.git("checkout", "-q", "main")
    r.git("fetch", "-q", "origin", MEMORY_BRANCH)
    r.git("merge", "-q", "--ff-only", "FETCH_HEAD")
    r.git("push", "-q", "origin", "main")
    merged = r.head()
    r.git("checkout", "-q", "-b", "cache")
    r.write("store.py", SECOND)
    scenario.number, scenario.base, scenario.head = 8, merged, r.commit("cache")
    scenario.open()

    def script(req: MessagesRequest) -> Any:
        if req.role == "finder":
            return {"findings": [{
                "path": "store.py", "start_line": 10, "end_line": 10, "severity": "high",
                "category": "security", "title": "pickle.load on a file path",
                "explanation": "Unpickling runs code.", "evidence": "return pickle.load(fh)",
            }]}
        if req.role in ("skeptic", "judge"):
            return {"verdict": "confirmed", "reason": "it unpickles"}
        return {"summary": "Adds a cache loader."}

    server = model_server(script, api_key="test-key")
    env = scenario.env("pull_request", scenario.pull_event("opened"),
                       ANTHROPIC_BASE_URL=server.base_url, ANTHROPIC_API_KEY="test-key")
    second = run_action(env, ActionOptions(fail_on=Severity.HIGH))

    assert scenario.server.repos[REPO].review_comments.get(8, []) == []  # nothing inline
    assert second.exit_code == 0 and second.published is not None
    assert second.published.open_count == 0
    body = _summary(scenario)
    assert "### Dismissed (1)" in body
    # "#7" is rendered inert (no cross-reference), so match around it.
    assert "not posted, dismissed before in #" in body
    assert "7 by maintainer: the cache files are ours (.reviewbot/memory.json" in body

    # The CLI lists the memory and forgets an entry in the working tree.
    runner = CliRunner()
    listed = runner.invoke(cli, ["memory", "list", str(r.path)])
    assert listed.exit_code == 0 and FIRST.fingerprint[:10] in listed.output
    gone = runner.invoke(cli, ["memory", "forget", FIRST.fingerprint[:6], "--repo", str(r.path)])
    assert gone.exit_code == 0, gone.output
    assert json.loads((r.path / MEMORY_FILE).read_text())["dismissed"] == []


def test_a_pull_request_cannot_dismiss_its_own_findings_through_the_memory_file(
    scenario: PullScenario, tmp_path: Path, model_server: Any
) -> None:
    _setup(scenario, tmp_path)
    entry = {"fingerprint": "f" * 20, "path": "store.py", "category": "security",
             "title": "pickle.load of a file path", "by": "contributor"}
    scenario.repo.write(MEMORY_FILE, json.dumps({"version": 1, "dismissed": [entry]}))
    scenario.head = scenario.repo.commit("remember my own finding")
    scenario.push(scenario.head)

    def script(req: MessagesRequest) -> Any:
        if req.role == "finder":
            return {"findings": [{**FIRST.model_dump(include={"path", "start_line", "end_line",
                                                                "category", "title",
                                                                "explanation"}),
                                  "severity": "high", "evidence": FIRST.evidence.strip()}]}
        if req.role in ("skeptic", "judge"):
            return {"verdict": "confirmed", "reason": "it unpickles"}
        return {"summary": "Loads pickles."}

    server = model_server(script, api_key="test-key")
    env = scenario.env("pull_request", scenario.pull_event("opened"),
                       ANTHROPIC_BASE_URL=server.base_url, ANTHROPIC_API_KEY="test-key")
    outcome = run_action(env, ActionOptions())
    assert outcome.published is not None and outcome.published.open_count == 1
    assert len(scenario.server.repos[REPO].review_comments[scenario.number]) == 1
