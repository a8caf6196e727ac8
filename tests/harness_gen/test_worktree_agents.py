"""``run.agent(..., isolation="worktree")`` (alias ``run.edit``) and ``run.assemble`` from a
generated harness: the change is gated and committed on a task branch, assembled onto
a branch, and the user's working tree and branches are never touched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pygit2
import pytest
from hg_samples import cli

from reviewbot.testing import MessagesRequest, Reply

FIXER = '''\
# reviewbot: generated harness
META = {
    "name": "fixer",
    "description": "Fix each swallowed exception in a worktree and assemble the fixes.",
    "phases": ["find", "fix", "assemble"],
    "parameters": {"branch": {"type": "str", "default": "reviewbot/fix-swallowed"},
                   "scope": {"type": "str", "default": "src/*"}},
    "max_agents": 10,
    "budget_usd": 0.5,
}


async def main(run, branch: str = "reviewbot/fix-swallowed", scope: str = "src/*"):
    with run.phase("find"):
        hits = await run.repo.grep(r"except Exception:")
    async def fix(hit):
        return await run.agent(
            f"At {hit['path']}:{hit['line']} an exception is swallowed; log it instead.",
            isolation="worktree", paths=[scope], phase="fix",
        )
    changes = await run.pipeline(hits[:5], fix)
    passed = [c for c in changes if c is not None and c.passed]
    out = {"changes": [c.model_dump() for c in changes if c is not None]}
    if passed:
        with run.phase("assemble"):
            assembly = await run.assemble([c.commit for c in passed], branch)
        out["assembly"] = assembly.model_dump()
    return out
'''

SOURCE = "def f():\n    try:\n        g()\n    except Exception:\n        pass\n"
FIXED = "def f():\n    try:\n        g()\n    except Exception:\n        log.exception('g')\n"


def _author(path: str) -> Any:
    def handler(request: MessagesRequest) -> Any:
        assert request.role == "author"
        if request.turn == 0:
            assert {"replace_in_file", "write_file"} <= set(request.tools)
            assert "run_shell" not in request.tools and "bash" not in request.tools
            return Reply.tool_use("replace_in_file", {"path": path, "old": "        pass\n",
                                                      "new": "        log.exception('g')\n"})
        return {"summary": "log the swallowed exception"}

    return handler


def _setup(git_repo: Any, *, generated: bool = True) -> Path:
    """A repository with one swallowed exception, and the fixer harness beside it: as a
    generated harness (sandboxed) or as a trusted file (run in process)."""
    git_repo.write("src/app.py", SOURCE)
    git_repo.commit("init")
    harness = git_repo.path / "fixer.py"
    harness.write_text(FIXER if generated else FIXER.split("\n", 1)[1], encoding="utf-8")
    return harness


def _run(capsys: pytest.CaptureFixture[str], git_repo: Any, harness: Path,
         *args: str) -> tuple[int, str, str]:
    return cli(capsys, "run", str(harness), "--repo", str(git_repo.path), *args, "--quiet")


@pytest.mark.parametrize("generated", [True, False], ids=["sandboxed", "in-process"])
def test_edit_in_a_worktree_then_assemble_onto_a_branch(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str], generated: bool
) -> None:
    harness = _setup(git_repo, generated=generated)
    model_env(_author("src/app.py"))
    code, out, err = _run(capsys, git_repo, harness, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    (change,) = result["changes"]
    assert change["passed"] and change["files"] == ["src/app.py"]
    assert result["assembly"]["applied"] == [change["commit"]]

    repo = pygit2.Repository(str(git_repo.path))
    branch = repo.branches["reviewbot/fix-swallowed"]
    assert branch.peel(pygit2.Commit).tree["src/app.py"].data.decode() == FIXED
    # the user's checkout is untouched: same branch, same file, nothing uncommitted
    assert repo.head.shorthand == "main"
    assert (git_repo.path / "src" / "app.py").read_text() == SOURCE
    assert {p: s for p, s in repo.status().items() if p != "fixer.py"} == {}
    # signed by the configured identity at the base's time: the same edit, made again by
    # another run, is the same commit
    made = repo[change["commit"]]
    assert made.author.name == "reviewbot" and made.commit_time == repo.head.peel().commit_time
    code, again, err = _run(capsys, git_repo, harness, "--format", "json")
    assert code == 0, err
    assert json.loads(again)["changes"][0]["commit"] == change["commit"]


def test_a_change_outside_its_paths_fails_the_scope_gate(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = _setup(git_repo)
    model_env(_author("src/app.py"))
    code, out, err = _run(capsys, git_repo, harness, "--param", "scope=docs/*", "--format",
                          "json")
    assert code == 0, err
    (change,) = json.loads(out)["changes"]
    assert not change["passed"] and change["failed_gate"] == "scope"
    assert change["commit"] is None
    assert "assembly" not in json.loads(out)


def test_assemble_will_not_move_a_users_branch(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = _setup(git_repo)
    git_repo.git("branch", "release")
    model_env(_author("src/app.py"))
    before = pygit2.Repository(str(git_repo.path)).branches["release"].target
    code, out, err = _run(capsys, git_repo, harness, "--param", "branch=release")
    assert code == 2
    assert "will not move your branch 'release'" in err
    assert pygit2.Repository(str(git_repo.path)).branches["release"].target == before


def test_dry_run_costs_edit_agents_without_a_worktree(
    git_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = _setup(git_repo)
    code, out, err = cli(capsys, "harness", "dry-run", str(harness), "--repo",
                         str(git_repo.path), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["agents_by_phase"] == {"fix": 1}
    assert not (git_repo.path / ".git" / "reviewbot" / "worktrees").exists()
