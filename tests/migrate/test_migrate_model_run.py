"""Model-tier migrations through the real SDK against the loopback server: a gate failure
retried on a higher tier, a deleted test rejected, and bisection of the assembled branch."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from mig_rules import JOIN

from reviewbot.cli import cli
from reviewbot.testing import MessagesRequest, Reply

FAST, BALANCED = "claude-haiku-5-5", "claude-sonnet-5-5"
TEST_FILE = """import requests


def test_get():
    assert requests.get("http://x").ok


def test_other():
    assert 1 + 1 == 2
"""


def migrated(source: str) -> str:
    return source.replace("import requests", "import httpx").replace("requests.get", "httpx.get")


class Author:
    """Scripted author: edits through the worktree tools like a real agent would."""

    def __init__(self, repo_path, break_on_fast: set[str], delete_test_in: set[str]) -> None:
        self.repo_path = repo_path
        self.break_on_fast = break_on_fast
        self.delete_test_in = delete_test_in
        self.prompts: list[tuple[str, str, str]] = []  # (model, path, prompt)

    def __call__(self, req: MessagesRequest) -> Reply | dict:
        if req.role == "skeptic":
            return {"verdict": "accept", "reason": "only the client library changed"}
        first = req.messages[0]["content"]
        text = (
            "\n".join(b.get("text", "") for b in first if isinstance(b, dict))
            if isinstance(first, list)
            else first
        )
        path = re.search(r"call sites in `([^`]+)`", text).group(1)
        if req.tool_results:
            # the known trick: delete a test and call it cleanup (the scope gate accepts a
            # justification; the tests gate must still refuse)
            why = "test_other was obsolete" if path in self.delete_test_in else None
            return {"summary": f"migrated {path}", "kept_sites": [], "justification": why}
        self.prompts.append((req.model, path, text))
        source = (self.repo_path / path).read_text()  # the base content (tests commit it)
        new = migrated(source)
        if path in self.break_on_fast and req.model == FAST:
            new = new.replace("def ", "def (", 1)  # a syntax error
        if path in self.delete_test_in:
            new = new.split("\n\ndef test_other")[0] + "\n"
        return Reply.tool_use("write_file", {"path": path, "content": new})


def make_repo(git_repo) -> None:
    git_repo.write("a.py", "import requests\n\n\ndef fetch(u):\n    return requests.get(u)\n")
    git_repo.write(
        "b.py", "import requests\n\n\ndef fetch_json(u):\n    return requests.get(u).json()\n"
    )
    git_repo.write("tests/test_client.py", TEST_FILE)
    git_repo.commit("initial")


def run_migrate(git_repo, *args: str) -> dict:
    result = CliRunner().invoke(
        cli,
        [
            "migrate",
            "use httpx instead of requests",
            "--find",
            "requests.get",
            "--repo",
            str(git_repo.path),
            "--quiet",
            "--format",
            "json",
            *args,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_gate_failure_retried_on_higher_tier_and_deleted_test_rejected(git_repo, model_env) -> None:
    make_repo(git_repo)
    status = git_repo.git("status", "--porcelain")
    author = Author(git_repo.path, break_on_fast={"b.py"}, delete_test_in={"tests/test_client.py"})
    server = model_env(author)
    data = run_migrate(git_repo, "--jobs", "2")
    files = {f["path"]: f for f in data["files"]}

    assert files["a.py"]["status"] == "migrated" and files["a.py"]["tier"] == "fast"
    b = files["b.py"]
    assert b["status"] == "migrated" and b["tier"] == "balanced"
    assert [a["tier"] for a in b["attempts"]] == ["fast", "balanced"]
    assert (
        b["attempts"][0]["gates"][-1]["gate"] == "parse"
        and not b["attempts"][0]["gates"][-1]["passed"]
    )
    assert [g["gate"] for g in b["attempts"][1]["gates"]] == [
        "parse",
        "sites",
        "scope",
        "tests",
        "skeptic",
    ]
    # the balanced author was shown why the fast attempt was rejected
    retry = [p for m, path, p in author.prompts if path == "b.py" and m == BALANCED]
    assert retry and "rejected by the parse gate" in retry[0] and "syntax error" in retry[0]

    t = files["tests/test_client.py"]
    assert t["status"] == "failed" and t["failed_gate"] == "tests"
    assert [a["tier"] for a in t["attempts"]] == ["fast", "balanced", "deep"]
    assert "test functions removed" in t["output"]

    branch = data["branch"]
    assert git_repo.git("show", f"{branch}:b.py").startswith("import httpx")
    assert git_repo.git("show", f"{branch}:tests/test_client.py") == TEST_FILE.strip()
    assert git_repo.git("status", "--porcelain") == status
    assert data["cost_usd"] > 0 and server.rejections == []


CHECK = """import sys
a, b = open("a_good.py").read(), open("b_bad.py").read()
if "from os.path import join" in a and "from os.path import join" in b:
    sys.exit("b_bad.py cannot use join together with a_good.py")
"""


def test_bisection_drops_the_one_bad_file(git_repo) -> None:
    for name in ("a_good", "b_bad", "c_good"):
        git_repo.write(f"{name}.py", f'import os\nP = os.path.join("{name}", "x")\n')
    git_repo.write("check.py", CHECK)
    git_repo.commit("initial")
    result = CliRunner().invoke(
        cli,
        [
            "migrate",
            "use join",
            *JOIN,
            "--verify",
            "python check.py",
            "--repo",
            str(git_repo.path),
            "--quiet",
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )
    data = json.loads(result.stdout)
    files = {f["path"]: f for f in data["files"]}
    assert files["b_bad.py"]["status"] == "dropped" and files["b_bad.py"]["failed_gate"] == "verify"
    assert "cannot use join" in files["b_bad.py"]["output"]
    assert files["a_good.py"]["status"] == files["c_good.py"]["status"] == "migrated"
    assert data["assembly"]["verify"]["passed"] and data["assembly"]["bisect_rounds"] >= 1
    changed = git_repo.git("diff", "--name-only", f"{data['base']}..{data['branch']}").split()
    assert changed == ["a_good.py", "c_good.py"]
    assert "reviewbot/migrate-use-join-bisect" not in git_repo.git("branch", "--list")


def test_resumed_task_reapplies_recorded_model_attempts(git_repo, model_env) -> None:
    git_repo.write(
        "b.py", "import requests\n\n\ndef fetch_json(u):\n    return requests.get(u).json()\n"
    )
    git_repo.commit("initial")
    author = Author(git_repo.path, break_on_fast={"b.py"}, delete_test_in=set())
    model_env(author)
    # the backstop stops the run after the fast author: b.py is left unfinished
    first = run_migrate(git_repo, "--max-agents", "1")
    (b,) = first["files"]
    assert b["status"] in ("failed", "skipped") and "run stopped" in b["reason"]
    assert [m for m, _, _ in author.prompts] == [FAST]

    second = run_migrate(git_repo)
    (b,) = second["files"]
    assert b["status"] == "migrated" and b["tier"] == "balanced" and not b["reused"]
    # the fast attempt was re-applied from its record (and failed its gate again), not re-asked
    assert [a["tier"] for a in b["attempts"]] == ["fast", "balanced"]
    assert b["attempts"][0]["gates"][-1]["gate"] == "parse"
    assert [m for m, _, _ in author.prompts] == [FAST, BALANCED]


def test_skeptic_rejection_escalates_to_the_next_tier(git_repo, model_env) -> None:
    git_repo.write("a.py", "import requests\n\n\ndef fetch(u):\n    return requests.get(u)\n")
    git_repo.commit("initial")
    author = Author(git_repo.path, break_on_fast=set(), delete_test_in=set())
    verdicts = iter(["reject", "accept"])

    def handler(req: MessagesRequest) -> Reply | dict:
        if req.role == "skeptic":
            assert "use httpx instead of requests" in req.last_user_text
            assert "+import httpx" in req.last_user_text  # shown the diff
            return {"verdict": next(verdicts), "reason": "timeout semantics differ"}
        return author(req)

    model_env(handler)
    (a,) = run_migrate(git_repo)["files"]
    assert a["status"] == "migrated" and a["tier"] == "balanced"
    first = a["attempts"][0]["gates"][-1]
    assert first["gate"] == "skeptic" and not first["passed"]
    assert first["output"] == "timeout semantics differ"
