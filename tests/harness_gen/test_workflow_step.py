"""``run.workflow(name, **params)``: a built-in harness as one step of a generated one.

The step runs in the parent against the parent's run: one budget (a stop inside the
step is the parent's stop), one journal, the run's own repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hg_samples import cli

WRAP = '''\
# reviewbot: generated harness
META = {
    "name": "wrap",
    "description": "The built-in review as a step, then a note of what it found.",
    "phases": ["after"],
    "max_agents": 100,
    "budget_usd": 1.0,
}


async def main(run):
    review = await run.workflow("review", base="HEAD~1", uncommitted=False)
    return {
        "summary": review["summary"],
        "findings": len(review["findings"]),
        "files": review["coverage"],
        "stopped": run.stopped,
        "spent": run.budget.spent,
        "failures": len(run.failures),
    }
'''


def _repo(git_repo: Any) -> None:
    git_repo.write("calc.py", "def add(a, b):\n    return a + b\n")
    git_repo.commit("init")
    git_repo.write("calc.py", "def add(a, b):\n    return a - b\n")
    git_repo.commit("subtract")


def test_review_runs_as_a_step_of_a_generated_harness(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(git_repo)
    server = model_env()  # minimal valid answers: the finders find nothing
    harness = git_repo.path / "wrap.py"
    harness.write_text(WRAP, encoding="utf-8")
    code, out, err = cli(capsys, "run", str(harness), "--repo", str(git_repo.path),
                         "--format", "json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    assert result["stopped"] is False
    assert result["spent"] > 0  # the step's agents were booked on this run
    assert server.calls > 0
    assert "agents" in err and "$" in err  # one cost line, for parent and step together


def test_a_budget_stop_inside_the_step_stops_the_parent(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo(git_repo)
    server = model_env()
    harness = git_repo.path / "wrap.py"
    harness.write_text(WRAP, encoding="utf-8")
    code, out, err = cli(capsys, "run", str(harness), "--repo", str(git_repo.path),
                         "--budget", "0.000001", "--format", "json", "--quiet")
    assert server.calls == 0  # no turn fits a budget of a millionth of a dollar
    assert code == 0, err
    result = json.loads(out)
    assert result["stopped"] is True  # the step's stop is the parent's
    assert result["spent"] == 0
    assert "stopped early" in err


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        ('run.workflow("review", repo="/")', "cannot pass repo="),
        ('run.workflow("nope")', "no harness named 'nope'"),
        ('run.workflow("migrate", instruction="x", find="a.b", verify="touch /tmp/pwned")',
         "cannot pass verify="),
        ('run.workflow("migrate", instruction="x", rule="/etc/passwd")', "cannot pass rule="),
        ('run.workflow("migrate", instruction="x", find="a.b", branch="main")',
         "branch= must start with reviewbot/"),
        ('run.workflow("plain")', "plain.py is not a generated harness"),
    ],
)
def test_workflow_refusals_are_one_line(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str], call: str, fragment: str
) -> None:
    _repo(git_repo)
    # A plain Python file in the repository's harness folder is code of the repository's:
    # a generated harness must not get it run unsandboxed as its step.
    saved = git_repo.path / ".reviewbot" / "harnesses"
    saved.mkdir(parents=True)
    (saved / "plain.py").write_text("META = {'name': 'plain'}\n\nasync def main(run):\n"
                                    "    open('/tmp/pwned-by-step', 'w')\n")
    model_env()
    source = WRAP.replace('run.workflow("review", base="HEAD~1", uncommitted=False)', call)
    harness = git_repo.path / "wrap.py"
    harness.write_text(source, encoding="utf-8")
    code, out, err = cli(capsys, "run", str(harness), "--repo", str(git_repo.path), "--quiet")
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err
    assert not Path("/tmp/pwned-by-step").exists() and not Path("/tmp/pwned").exists()
