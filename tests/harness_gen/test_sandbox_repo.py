"""Capabilities granted over the sandbox channel: ``run.repo`` and ``tools="repo"``.

A generated harness reads the repository (at HEAD, from the object store) and gives
its agents the read-only repository tools; it still holds no file, path or key itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hg_samples import cli

from reviewbot.harness.checker import check_harness_source
from reviewbot.testing import MessagesRequest, Reply

SWALLOWED = '''\
# reviewbot: generated harness
from pydantic import BaseModel

META = {
    "name": "swallowed",
    "description": "Find swallowed exceptions and check each is intended.",
    "phases": ["find", "verify"],
    "max_agents": 20,
    "budget_usd": 0.5,
}


class Verdict(BaseModel):
    intended: bool
    why: str


async def main(run):
    with run.phase("find"):
        hits = await run.repo.grep(r"except Exception:\\s*$")
        files = await run.repo.files("src")
    async def judge(hit):
        return await run.agent(
            f"Is the swallowed exception at {hit['path']}:{hit['line']} intended? "
            "Read the code around it.",
            schema=Verdict, role="skeptic", tools="repo", phase="verify",
        )
    verdicts = await run.parallel([lambda h=h: judge(h) for h in hits[:10]])
    source = await run.repo.read(hits[0]["path"]) if hits else ""
    return {
        "files": files,
        "hits": [f"{h['path']}:{h['line']}" for h in hits],
        "verdicts": [v.intended for v in verdicts if v is not None],
        "first_file_lines": len(source.splitlines()),
    }
'''


def test_repo_capability_end_to_end(git_repo: Any, model_env: Any,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    git_repo.write("src/app.py", "def f():\n    try:\n        g()\n    except Exception:\n"
                                 "        pass\n")
    git_repo.write("src/ok.py", "def h():\n    return 1\n")
    git_repo.commit("init")
    # Uncommitted edits are not what the harness reads: it reads HEAD.
    git_repo.write("src/dirty.py", "try:\n    x()\nexcept Exception:\n    pass\n")
    reads: list[str] = []

    def handler(request: MessagesRequest) -> Any:
        if request.turn == 0:
            assert "read_file" in request.tools and "grep" in request.tools
            return Reply.tool_use("read_file", {"path": "src/app.py"})
        reads.extend(r.text for r in request.tool_results)
        return {"intended": False, "why": "errors from g() vanish"}

    model_env(handler)
    harness = git_repo.path / "swallowed.py"
    harness.write_text(SWALLOWED, encoding="utf-8")
    assert check_harness_source(SWALLOWED).ok
    code, out, err = cli(capsys, "run", str(harness), "--repo", str(git_repo.path),
                         "--format", "json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    assert result["files"] == ["src/app.py", "src/ok.py"]
    assert result["hits"] == ["src/app.py:4"]
    assert result["verdicts"] == [False]
    assert result["first_file_lines"] == 5
    assert reads and "except Exception:" in reads[0]  # the tool ran here, on the repository


def test_repo_errors_are_one_line_and_catchable(git_repo: Any, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit("init")
    source = (
        "# reviewbot: generated harness\n"
        "META = {'name': 'missing', 'max_agents': 1, 'budget_usd': 0.1}\n\n"
        "async def main(run):\n"
        "    out = []\n"
        "    try:\n"
        "        await run.repo.read('nope.py')\n"
        "    except Exception as exc:\n"
        "        out.append(str(exc))\n"
        "    try:\n"
        "        await run.repo.grep('(?<=a)b')\n"
        "    except Exception as exc:\n"
        "        out.append(str(exc))\n"
        "    return out\n"
    )
    harness = tmp_path / "missing.py"
    harness.write_text(source, encoding="utf-8")
    code, out, err = cli(capsys, "run", str(harness), "--repo", str(git_repo.path),
                         "--format", "json", "--quiet")
    assert code == 0, err
    errors = json.loads(out)
    assert len(errors) == 2
    assert "nope.py" in errors[0]
    assert "lookaround" in errors[1]


def test_checker_allows_only_named_tool_sets() -> None:
    base = ("META = {'name': 't', 'max_agents': 1, 'budget_usd': 0.1}\n"
            "from pydantic import BaseModel\nclass A(BaseModel):\n    x: int\n"
            "async def main(run):\n    return await run.agent('p', schema=A, role='finder', "
            "tools=TOOLS)\n")
    assert check_harness_source(base.replace("TOOLS", '"repo"')).ok
    refused = check_harness_source(base.replace("TOOLS", "[1]"))
    assert not refused.ok and "tools=" in refused.problems[0].message
