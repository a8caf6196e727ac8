"""`reviewbot eval` on a tiny synthetic golden set (tests/review/data/eval, in the Martian
benchmark's golden_comments format) against a real repository and the loopback model
server: the table, the benchmark-shaped output, the cost per PR, and the offline run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reviewbot.testing import MessagesRequest

DATA = Path(__file__).parent / "data" / "eval"
BASE = "def window(items, size):\n    return [items[i:i + size] for i in range(len(items))]\n"
PR1 = BASE.replace("range(len(items))", "range(len(items) - size)")
PR2 = "import os\n\n" + BASE + "\n\ndef ratio(a, b):\n    return a / b\n"

FINDINGS = {
    "range(len(items) - size)": [{
        "path": "win.py", "start_line": 2, "end_line": 2, "severity": "high",
        "category": "correctness", "title": "window loses its last window",
        "explanation": "range(len(items) - size) is one short.",
        "evidence": "return [items[i:i + size] for i in range(len(items) - size)]",
    }],
    "def ratio": [{
        "path": "win.py", "start_line": 8, "end_line": 8, "severity": "medium",
        "category": "correctness", "title": "ratio raises ZeroDivisionError for b == 0",
        "explanation": "No guard.", "evidence": "return a / b",
    }, {
        "path": "win.py", "start_line": 4, "end_line": 4, "severity": "low",
        "category": "performance", "title": "window builds a list",
        "explanation": "A generator would do.", "evidence": "def window(items, size):",
    }],
}
# The judge says "same issue" when the golden comment and the candidate share a topic.
TOPICS = ("last full window|last window", "divides by zero|ZeroDivisionError")
BLOCK = re.compile(r'<data label="([^"]*)">\n(.*?)\n</data>', re.S)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    """repos/win: main, and the branches pr-1 (an off-by-one) and pr-2 (ratio, an unused
    import ruff reports)."""
    win = tmp_path / "repos" / "win"
    win.mkdir(parents=True)
    _git(win, "init", "-q", "-b", "main")
    (win / "win.py").write_text(BASE, encoding="utf-8")
    _git(win, "add", "-A")
    _git(win, "commit", "-q", "-m", "base")
    for branch, text in (("pr-1", PR1), ("pr-2", PR2)):
        _git(win, "checkout", "-q", "-b", branch, "main")
        (win / "win.py").write_text(text, encoding="utf-8")
        _git(win, "commit", "-q", "-am", branch)
    _git(win, "checkout", "-q", "main")
    return tmp_path / "repos"


def _handler(req: MessagesRequest) -> Any:
    if req.role == "finder":
        return {"findings": next(v for k, v in FINDINGS.items() if k in req.all_text)}
    if req.role == "skeptic":
        return {"verdict": "confirmed", "reason": "-"}
    if req.role == "eval-judge":
        blocks = {label.split(" ")[0]: text for label, text in BLOCK.findall(req.last_user_text)}
        golden, candidate = blocks["golden"], blocks["candidate"]
        same = any(re.search(t, golden) and re.search(t, candidate) for t in TOPICS)
        return {"reasoning": "same topic" if same else "different", "match": same,
                "confidence": 0.9 if same else 0.1}
    return {"summary": "-"}


def _eval(repos: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reviewbot", "eval", str(DATA / "golden.json"), "--repos",
         str(repos), "--manifest", str(DATA / "manifest.json"), "--output", str(out),
         "--quiet"],
        cwd=repos, capture_output=True, text=True, timeout=300, env=env,
    )


def test_eval_prints_the_table_and_writes_benchmark_shaped_output(
    repos: Path, tmp_path: Path, model_server: Any,
) -> None:
    server = model_server(_handler, api_key="test-key")
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}
    out = tmp_path / "out"
    proc = _eval(repos, out, env)
    assert proc.returncode == 0, proc.stderr

    data = json.loads((out / "benchmark_data.json").read_text())
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    # PR 1: one of two golden comments found, nothing else said.
    assert rows["https://github.com/example/win/pull/1"][1:7] == [
        "2", "1", "1", "100.0%", "50.0%", "66.7%"]
    # PR 2: its golden comment found, beside ruff's findings (the unused import) and a
    # performance nit that match no golden comment.
    found = len(data["https://github.com/example/win/pull/2"]["reviews"][0]["review_comments"])
    assert found >= 3
    p2 = 1 / found
    assert rows["https://github.com/example/win/pull/2"][1:7] == [
        "1", str(found), "1", f"{p2:.1%}", "100.0%", f"{2 * p2 / (p2 + 1):.1%}"]
    precision, recall = 2 / (found + 1), 2 / 3
    assert rows["total"][3:9] == ["3", str(found + 1), "2", f"{precision:.1%}", f"{recall:.1%}",
                                  f"{2 * precision * recall / (precision + recall):.1%}"]
    assert "cost per PR: $" in proc.stdout
    assert "skipped https://github.com/example/win/pull/3: not in the manifest" in proc.stderr

    assert list(data) == ["https://github.com/example/win/pull/1",
                          "https://github.com/example/win/pull/2"]
    pr2 = data["https://github.com/example/win/pull/2"]
    assert pr2["golden_comments"][0]["severity"] == "Medium"
    [review] = pr2["reviews"]
    assert review["tool"] == "reviewbot" and review["pr_url"].endswith("/pull/2")
    assert {c["path"] for c in review["review_comments"]} == {"win.py"}
    assert all(set(c) == {"path", "line", "body", "created_at"}
               for c in review["review_comments"])
    evals = json.loads((out / "evaluations.json").read_text())
    pr1 = evals["https://github.com/example/win/pull/1"]["reviewbot"]
    assert (pr1["tp"], pr1["fp"], pr1["fn"], pr1["precision"], pr1["recall"]) == (
        1, 0, 1, 1.0, 0.5)
    assert pr1["false_negatives"][0]["golden_comment"].startswith("first()")
    assert pr1["cost_usd"] > 0 and pr1["agents"] > 0
    # The judge ran on the deep tier, once per (golden comment, candidate) pair.
    judges = [r for r in server.requests if r.role == "eval-judge"]
    assert len(judges) == 2 * 1 + 1 * found
    assert {r.body["model"] for r in judges} == {"claude-opus-5-5"}


def test_eval_offline_runs_the_deterministic_tier(repos: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    out = tmp_path / "offline"
    proc = _eval(repos, out, env)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    # Only ruff's findings in PR 2 (the unused import); nothing is judged without a model.
    data = json.loads((out / "benchmark_data.json").read_text())
    comments = data["https://github.com/example/win/pull/2"]["reviews"][0]["review_comments"]
    assert any("F401" in c["body"] for c in comments)
    assert rows["https://github.com/example/win/pull/2"][1:7] == [
        "1", str(len(comments)), "0", "n/a", "n/a", "n/a"]
    assert rows["https://github.com/example/win/pull/1"][1:3] == ["2", "0"]
    assert rows["total"][6:9] == ["n/a", "n/a", "n/a"]
    assert "no judge model" in proc.stderr


def test_eval_fetches_a_head_the_checkout_lacks_from_origin(tmp_path: Path) -> None:
    """The manifest names a pull request head only the remote has (GitHub serves any
    reachable commit by id): eval fetches it over real smart HTTP, then reviews it."""
    from reviewbot.testing.git_http import GitHttpServer

    with GitHttpServer(token="ghs_test") as srv:
        srv.create_repo("example/win")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
               **srv.auth_env()}

        def git(cwd: Path, *args: str) -> str:
            return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                                  capture_output=True, text=True).stdout.strip()

        author = tmp_path / "author"
        git(tmp_path, "clone", "-q", srv.url("example/win"), str(author))
        (author / "win.py").write_text(BASE, encoding="utf-8")
        git(author, "add", "-A")
        git(author, "commit", "-q", "-m", "base")
        git(author, "push", "-q", "origin", "HEAD:main")
        repos = tmp_path / "repos"
        git(tmp_path, "clone", "-q", srv.url("example/win"), str(repos / "win"))
        (author / "win.py").write_text(PR2, encoding="utf-8")
        git(author, "commit", "-q", "-am", "pr 2")
        head = git(author, "rev-parse", "HEAD")
        git(author, "push", "-q", "origin", "HEAD:refs/pull/2/head")
        assert subprocess.run(["git", "cat-file", "-e", head], cwd=repos / "win",
                              capture_output=True).returncode != 0  # not in the checkout

        golden = [json.loads((DATA / "golden.json").read_text())[1]]
        (tmp_path / "golden.json").write_text(json.dumps(golden))
        (repos / "manifest.json").write_text(json.dumps(
            {golden[0]["url"]: {"repo": "win", "base": "main", "head": head}}))
        proc = subprocess.run(
            [sys.executable, "-m", "reviewbot", "eval", str(tmp_path / "golden.json"),
             "--repos", str(repos), "--output", str(tmp_path / "out"), "--quiet"],
            cwd=repos, capture_output=True, text=True, timeout=300, env=env,
        )
    assert proc.returncode == 0, proc.stderr
    assert f"fetched {head} from origin" in proc.stderr
    data = json.loads((tmp_path / "out" / "benchmark_data.json").read_text())
    comments = data[golden[0]["url"]]["reviews"][0]["review_comments"]
    assert any("F401" in c["body"] for c in comments)  # the fetched head was reviewed
