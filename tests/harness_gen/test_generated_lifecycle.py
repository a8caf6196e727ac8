"""A generated harness from task to command: a scripted orchestrator writes a harness that
finds swallowed exceptions with ``run.repo.grep`` and has each judged by an agent reading
the code through ``tools="repo"``; it runs sandboxed, is saved, listed, and run by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hg_samples import cli
from test_sandbox_repo import SWALLOWED

from reviewbot.runtime.journal import Journal, state_dir
from reviewbot.testing import MessagesRequest, Reply, Script

SOURCE = SWALLOWED.split("\n", 1)[1]  # the generator adds the marker itself


def test_generate_run_save_list_and_run_by_name(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    git_repo.write("src/app.py", "def f():\n    try:\n        g()\n    except Exception:\n"
                                 "        pass\n")
    git_repo.write("src/ok.py", "def h():\n    return 1\n")
    git_repo.commit("init")
    orchestrator = Script([{"name": "swallowed", "description": "Find swallowed exceptions "
                            "and check each is intended.", "source": SOURCE}])

    def handler(request: MessagesRequest) -> Any:
        if request.role == "orchestrator":
            return orchestrator(request)
        assert request.role == "skeptic"
        if request.turn == 0:
            return Reply.tool_use("read_file", {"path": "src/app.py"})
        return {"intended": False, "why": "errors from g() vanish"}

    model_env(handler)
    repo = str(git_repo.path)
    code, out, err = cli(capsys, "harness", "generate", "find the places we swallow exceptions "
                         "and check each is intended", "--repo", repo)
    assert code == 0, err
    written = git_repo.path / ".git" / "reviewbot" / "harnesses" / "swallowed.py"
    assert written.is_file()

    code, out, err = cli(capsys, "harness", "run", str(written), "--yes", "--format", "json",
                         "--quiet", "--repo", repo)
    assert code == 0, err
    assert json.loads(out)["verdicts"] == [False]
    journal = Journal(state_dir(git_repo.path) / "journal.sqlite")
    try:
        (record,) = [r for r in journal.list_runs() if r.harness_name == "swallowed"]
    finally:
        journal.close()

    code, out, err = cli(capsys, "harness", "save", record.id, "swallowed", "--repo", repo)
    assert code == 0, err
    code, out, err = cli(capsys, "harness", "list", "--repo", repo)
    row = next(line.split() for line in out.splitlines() if line.startswith("swallowed "))
    assert code == 0 and row[1] == "saved*"  # * : generated, it runs sandboxed

    code, out, err = cli(capsys, "run", "swallowed", "--repo", repo, "--format", "json",
                         "--quiet")
    assert code == 0, err
    result = json.loads(out)
    assert result["hits"] == ["src/app.py:4"] and result["verdicts"] == [False]
