"""`reviewbot plan` end to end: a scripted orchestrator writes a harness for "find swallowed
exceptions and verify each" on a real small codebase; the checker refuses the first draft,
the repair round fixes it; plan shows the source, the verdict and the estimate; `--run
--yes` runs it sandboxed, its skeptics reading the files with the repository tools. Without
a model service plan picks and parameterises a built-in harness and spends nothing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hg_samples import cli

from reviewbot.harness.checker import MARKER
from reviewbot.testing import MessagesRequest, Reply, Script, by_role

TASK = "find swallowed exceptions and verify each"

GOOD = '''\
from pydantic import BaseModel

from reviewbot.runtime import AgentError

META = {
    "name": "swallowed_exceptions",
    "description": "Find broad excepts and have skeptics check each one hides a failure.",
    "phases": ["find", "verify"],
    "max_agents": 30,
    "budget_usd": 0.5,
}

ANGLES = [
    "does the handler drop the error without logging, re-raising or a fallback?",
    "would a caller or operator miss the failure?",
    "is there a comment or test saying the silence is intended?",
]


class Result(BaseModel):
    sites: int = 0
    unintended: list[str] = []
    intended: list[str] = []


async def main(run) -> Result:
    with run.phase("find"):
        hits = await run.repo.grep(r"except Exception:\\s*$")
    result = Result(sites=len(hits))

    async def verify(hit) -> None:
        where = f"{hit['path']}:{hit['line']}"
        try:
            vote = await run.vote(
                f"The exception handler at {where} swallows failures that should be reported.",
                angles=ANGLES, tools="repo", phase="verify",
            )
        except AgentError:
            return
        (result.unintended if vote.confirmed else result.intended).append(where)

    await run.pipeline(hits[:20], verify)
    return result
'''
# The first draft trims the hits with a while loop: the checker refuses unbounded loops.
BAD = GOOD.replace(
    "    result = Result(sites=len(hits))\n",
    "    while len(hits) > 20:\n        hits.pop()\n    result = Result(sites=len(hits))\n",
)
BAD_LINE = 1 + BAD.splitlines().index("    while len(hits) > 20:") + 1  # +1: the marker

CODE = {
    "src/store.py": ("def save(db, row):\n    try:\n        db.insert(row)\n"
                     "    except Exception:\n        pass\n"),
    "src/cache.py": ("def lookup(cache, key):\n    try:\n        return cache[key]\n"
                     "    except Exception:\n        # a missing entry is fine: the caller "
                     "recomputes\n        return None\n"),
    "src/jobs.py": ("import logging\n\nlog = logging.getLogger(__name__)\n\n\n"
                    "def run(job):\n    try:\n        job()\n    except Exception:\n"
                    "        log.exception('job failed')\n        raise\n"),
    "src/util.py": "def double(x):\n    return 2 * x\n",
    "tests/test_util.py": "from src.util import double\n\n\ndef test_double():\n"
                          "    assert double(2) == 4\n",
    "pyproject.toml": "[project]\nname = 'shop'\nversion = '0.1'\n",
}


def draft(source: str, name: str = "swallowed_exceptions") -> dict[str, str]:
    return {"name": name, "description": "Verify swallowed exceptions.", "source": source}


def skeptic(reads: list[str]) -> Any:
    """A skeptic that reads the flagged file with read_file, then judges the handler's body:
    `pass` right after the except swallows the failure."""

    def answer(request: MessagesRequest) -> Any:
        path, line = re.search(r"handler at (src/\w+\.py):(\d+)", request.all_text).groups()
        if request.turn == 0:
            assert "read_file" in request.tools and "grep" in request.tools
            return Reply.tool_use("read_file", {"path": path})
        text = "\n".join(r.text for r in request.tool_results)
        reads.append(path)
        body = [row for row in text.splitlines() if row.strip()]
        after = next((body[i + 1] for i, row in enumerate(body)
                      if row.rstrip().endswith("except Exception:")), "")
        swallowed = after.strip().endswith("pass")
        return {"verdict": "confirmed" if swallowed else "refuted",
                "reason": f"{path}:{line}: the handler runs `{after.strip()}`"}

    return answer


@pytest.fixture
def shop(git_repo: Any) -> Any:
    for path, text in CODE.items():
        git_repo.write(path, text)
    git_repo.commit("a small shop")
    return git_repo


def test_plan_repairs_the_draft_and_shows_source_verdict_estimate(
    shop: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server = model_env(by_role({"orchestrator": Script([draft(BAD), draft(GOOD)])}))
    code, out, err = cli(capsys, "plan", TASK, "--kind", "audit", "--repo", str(shop.path))
    assert code == 0, err

    asks = [r for r in server.requests if r.role == "orchestrator"]
    assert len(asks) == 2  # the draft, and one repair round
    first, second = asks[0].last_user_text, asks[1].last_user_text
    # the orchestrator read the task and the repository summary, both as data
    assert '<data label="task">' in first and TASK in first
    assert "files tracked at HEAD" in first and "files tracked at HEAD" in second
    assert "languages: python (5)" in first
    assert "layout: src/ (4), . (1), tests/ (1)" in first
    assert "test command: python -m pytest" in first
    assert "an audit of the repository" in first
    assert f"line {BAD_LINE}: while loops are not allowed" in second

    saved = shop.path / ".git" / "reviewbot" / "harnesses" / "swallowed_exceptions.py"
    assert saved.read_text(encoding="utf-8") == MARKER + "\n" + GOOD
    assert "the orchestrator wrote swallowed_exceptions" in out and "(2 attempts)" in out
    assert f"attempt 1: the checker refused the draft (1 problems; first: line {BAD_LINE}" in out
    assert f"saved: {saved}" in out
    # the source, as written (not a terminal: plain, to pipe or save)
    assert 'hits = await run.repo.grep(r"except Exception:\\s*$")' in out
    assert 'angles=ANGLES, tools="repo", phase="verify"' in out
    verdict = out.split("\nverdict:\n", 1)[1]
    assert verdict.startswith("ok: swallowed_exceptions (max_agents 30, budget $0.50)\n")
    # the estimate: the dry run greps the real repository (3 handlers), 3 skeptics each
    estimate = out.split("\nestimate:\n", 1)[1]
    assert estimate.startswith("dry run of swallowed_exceptions: 9 agents (0 failed)")
    assert "by phase: verify 9" in estimate
    low, high = (float(x) for x in re.search(r"estimate: \$([\d.]+) - \$([\d.]+)",
                                             estimate).groups())
    assert 0 < low <= high <= 0.5
    assert re.search(r"tokens: +[\d,]+ - [\d,]+", estimate)
    # nothing ran: only the orchestrator was asked; the plan ends with its cost line
    assert server.calls == 2
    assert f"next: reviewbot harness run {saved} --budget 0.5" in err
    assert err.rstrip().splitlines()[-1].startswith("cost: 2 agents")


def test_plan_run_yes_runs_it_sandboxed_and_keeps_it_with_the_run(
    shop: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    reads: list[str] = []
    server = model_env(by_role({"orchestrator": Script([draft(BAD), draft(GOOD)]),
                                "skeptic": skeptic(reads)}))
    code, out, err = cli(capsys, "plan", TASK, "--run", "--yes", "--format", "json", "--quiet",
                         "--repo", str(shop.path))
    assert code == 0, err
    # stdout is exactly the run's result; the plan went to stderr
    result = json.loads(out)
    assert result["sites"] == 3 and result["unintended"] == ["src/store.py:4"]
    assert sorted(result["intended"]) == ["src/cache.py:4", "src/jobs.py:9"]
    assert "dry run of swallowed_exceptions: 9 agents" in err and "verdict:" in err
    # the skeptics read the files through the repository tools, three per handler
    assert sorted(reads) == sorted(["src/store.py", "src/cache.py", "src/jobs.py"] * 3)
    assert server.calls == 2 + 9 * 2  # two drafts; each skeptic: a tool turn and a verdict
    lines = err.rstrip().splitlines()
    assert any(line.startswith("plan cost: 2 agents") for line in lines)
    assert lines[-1].startswith("cost: 9 agents")  # the dry run counted what the run ran
    runs = list((shop.path / ".git" / "reviewbot" / "runs").iterdir())
    assert len(runs) == 1
    assert (f"keep it as a command: reviewbot harness save {runs[0].name} NAME, then "
            "reviewbot run NAME") in err
    kept = (runs[0] / "harness.py").read_text(encoding="utf-8")
    assert kept == MARKER + "\n" + GOOD
    assert shop.git("status", "--porcelain") == ""  # the working tree is untouched

    # kept as a command and rerun by name: the same answer, still sandboxed
    code, _, err = cli(capsys, "harness", "save", runs[0].name, "swallowed",
                       "--repo", str(shop.path))
    assert code == 0, err
    code, again, err = cli(capsys, "run", "swallowed", "--format", "json", "--quiet",
                           "--repo", str(shop.path))
    assert code == 0, err
    rerun = json.loads(again)  # verdicts land in the order the votes finish
    assert {k: sorted(v) if isinstance(v, list) else v for k, v in rerun.items()} == {
        k: sorted(v) if isinstance(v, list) else v for k, v in result.items()}


def test_plan_gives_up_after_one_repair_round_with_its_cost_line(
    shop: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server = model_env(by_role({"orchestrator": Script([draft(BAD), draft(BAD)])}))
    code, out, err = cli(capsys, "plan", TASK, "--run", "--yes", "--repo", str(shop.path))
    assert code != 0
    assert "did not write a harness that passes the checker in 2 tries" in err
    assert f"line {BAD_LINE}: while loops are not allowed" in err
    assert "cost: 2 agents" in err
    assert server.calls == 2 and out == ""
    assert not (shop.path / ".git" / "reviewbot" / "harnesses").exists()


def test_plan_shows_lint_warnings_in_the_verdict(
    shop: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # A harness that fans out over the model's own list, uncapped: it passes, with a warning.
    uncapped = '''\
from pydantic import BaseModel

META = {"name": "claims", "description": "List claims and verify each.",
        "phases": ["find", "verify"], "max_agents": 60, "budget_usd": 0.5}


class Claims(BaseModel):
    claims: list[str]


async def main(run):
    found = await run.agent("List the claims in the README.", schema=Claims, role="finder",
                            tools="repo")

    async def verify(claim):
        return (await run.vote(claim, angles=["evidence", "logic", "scope"])).confirmed

    return await run.pipeline(found.claims, verify)
'''
    refused = "import os\n" + uncapped  # a checker problem, and the same lint
    server = model_env(by_role({"orchestrator": Script([draft(refused, "claims"),
                                                        draft(uncapped, "claims")])}))
    code, out, err = cli(capsys, "plan", "verify the README's claims", "--repo", str(shop.path))
    assert code == 0, err
    # the repair round gets the checker's problems and the lint warnings
    repair = [r for r in server.requests if r.role == "orchestrator"][1].last_user_text
    assert "line 2: import of os is not allowed" in repair
    assert '<data label="lint warnings (fix them too where you can)">' in repair
    assert "[uncapped-fanout]" in repair
    saved = shop.path / ".git" / "reviewbot" / "harnesses" / "claims.py"
    line = 1 + uncapped.splitlines().index("    return await run.pipeline(found.claims, verify)")
    verdict = out.split("\nverdict:\n", 1)[1].splitlines()
    assert verdict[0] == "ok: claims (max_agents 60, budget $0.50); 1 warning"
    assert verdict[1].startswith(f"{saved}:{line + 1}: warning: fan-out over model output "
                                 "(found.claims) without a cap")
    assert "(2 attempts)" in out


def test_without_a_model_plan_picks_a_built_in_and_spends_nothing(
    shop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "plan", TASK, "--repo", str(shop.path))
    assert code == 0, err
    assert "no model service configured" in out
    assert "the closest built-in harness is review (the task does not ask for a change" in out
    assert ("reviewbot run review --param 'description=find swallowed exceptions and verify "
            f"each' --param dimensions=error-handling --param repo={shop.path}") in out
    assert err.rstrip().splitlines()[-1].startswith("cost: 0 agents")
    assert "total $0.00" in err

    code, out, err = cli(capsys, "plan", "replace requests.get with httpx.get everywhere",
                         "--repo", str(shop.path))
    assert code == 0, err
    assert "closest built-in harness is migrate (the task says 'replace')" in out
    assert "--param find=requests.get" in out

    code, out, err = cli(capsys, "plan", "move the config loading", "--kind", "migrate",
                         "--repo", str(shop.path))
    assert code == 0, err
    assert "migrate (--kind migrate)" in out and "pass --param find=MODULE.NAME" in out


def test_without_a_model_plan_run_runs_the_built_in(
    shop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.write("src/util.py", "def double(x):\n    return x + x\n")  # an uncommitted change
    code, out, err = cli(capsys, "plan", TASK, "--kind", "review", "--run", "--yes",
                         "--format", "json", "--quiet", "--repo", str(shop.path))
    assert code == 0, err
    result = json.loads(out)
    assert result["coverage"]["reviewed"] == ["src/util.py"]
    assert any("model phases skipped" in note for note in result["notes"])
    assert "closest built-in harness is review (--kind review)" in err
    assert err.rstrip().splitlines()[-1].startswith("cost: 0 agents")


def test_plan_with_a_parameter_to_give_says_so_after_its_cost_line(
    shop: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    needs = GOOD.replace('    "max_agents": 30,\n',
                         '    "parameters": {"prefix": {"type": "str", "required": True}},\n'
                         '    "max_agents": 30,\n').replace(
        "async def main(run) -> Result:", "async def main(run, prefix: str) -> Result:").replace(
        'run.repo.grep(r"except Exception:\\s*$")', 'run.repo.grep(r"except Exception:\\s*$", '
        'prefix)')
    assert needs.count("prefix") == 3
    model_env(by_role({"orchestrator": draft(needs)}))
    code, out, err = cli(capsys, "plan", TASK, "--repo", str(shop.path))
    assert code == 2
    assert "verdict:\nok: swallowed_exceptions" in out
    assert err.rstrip().splitlines()[-2].startswith("cost: 1 agent ·")
    assert "needs parameter 'prefix' (str); pass --param prefix=..." in err

    model_env(by_role({"orchestrator": draft(needs)}))
    code, out, err = cli(capsys, "plan", TASK, "-p", "prefix=src/jobs.py", "--repo",
                         str(shop.path))
    assert code == 0, err
    assert "dry run of swallowed_exceptions: 3 agents" in out  # the one handler there
    assert "-p prefix=src/jobs.py" in err


def test_plan_says_when_the_estimate_exceeds_the_budget_and_run_refuses(
    shop: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server = model_env(by_role({"orchestrator": Script([draft(GOOD), draft(GOOD)])}))
    code, _, err = cli(capsys, "plan", TASK, "--budget", "0.0001", "--repo", str(shop.path))
    assert code == 0, err
    assert "exceeds the budget $0.0001: a run would be refused; raise --budget" in err
    code, _, err = cli(capsys, "plan", TASK, "--budget", "0.0001", "--run", "--yes",
                       "--repo", str(shop.path))
    assert code == 2
    assert "exceeds the budget $0.0001; raise --budget to at least $" in err
    assert "plan cost: 1 agent" in err
    assert server.calls == 2  # only the orchestrator: no skeptic was started
