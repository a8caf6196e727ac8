"""Saving a run's harness into the repository as a named command; listing and showing them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hg_samples import cli

from reviewbot.config import Config
from reviewbot.errors import UsageError
from reviewbot.harness.loader import GENERATED_MARKER, load_harness
from reviewbot.harness.runner import resume_harness, run_harness
from reviewbot.harness.sandbox import load_sandboxed
from reviewbot.harness.saved import find_harness, list_harnesses, save_run_harness
from reviewbot.runtime.journal import Journal, state_dir

PLAIN = '''"""Ask one agent per item."""
from pydantic import BaseModel

META = {
    "name": "ask-items",
    "description": "One agent per item, "
    "answers in order.",
    "phases": ["ask"],
    "parameters": {"n": {"type": "int", "default": 2}},
}


class Answer(BaseModel):
    answer: str


async def main(run, n):
    with run.phase("ask"):
        got = await run.parallel([lambda i=i: run.agent(f"item {i}", schema=Answer,
                                                          role="finder")
                                  for i in range(n)])
    return [a.answer for a in got if a is not None]
'''

# passes the checker; has no marker: `harness run` sandboxes it all the same
UNMARKED = '''from pydantic import BaseModel

META = {
    "name": "echo_one",
    "description": "Ask one agent and return its answer.",
    "phases": ["ask"],
    "max_agents": 2,
    "budget_usd": 0.1,
}


class Answer(BaseModel):
    answer: str


async def main(run) -> Answer:
    with run.phase("ask"):
        return await run.agent("say hi", schema=Answer, role="finder")
'''


def _answer(req: Any) -> dict[str, str]:
    return {"answer": "A:" + req.last_user_text}


def test_save_list_show_a_run_harness(model_env: Any, git_repo: Any, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    model_env(_answer)
    source = tmp_path / "ask_items.py"
    source.write_text(PLAIN)
    outcome = run_harness(load_harness(source), {"n": 2}, config=Config(),
                          repo_path=git_repo.path, run_id="r-1")
    assert outcome.status == "finished" and outcome.result == ["A:item 0", "A:item 1"]
    source.write_text(PLAIN.replace("item {i}", "thing {i}"))  # the run's copy is what is saved

    code, out, err = cli(capsys, "harness", "save", "r-1", "asker", "--repo", str(git_repo.path))
    saved = git_repo.path / ".reviewbot" / "harnesses" / "asker.py"
    assert code == 0 and out.strip() == str(saved) and "reviewbot run asker" in err
    assert saved.read_text() == PLAIN
    assert find_harness(git_repo.path, "asker") == saved
    assert find_harness(git_repo.path, "nope") is None
    assert find_harness(git_repo.path, "review") is not None  # built-ins by name too

    entries = {e.name: e for e in list_harnesses(git_repo.path)}
    assert {"review", "migrate", "asker"} <= set(entries)
    assert entries["asker"].kind == "saved" and entries["review"].kind == "built-in"
    assert entries["asker"].description == "One agent per item, answers in order."
    assert not entries["asker"].generated

    code, out, _ = cli(capsys, "harness", "list", "--repo", str(git_repo.path))
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "KIND", "DESCRIPTION"]
    asker = next(line for line in lines if line.startswith("asker "))
    assert asker.split()[1] == "saved" and asker.endswith("answers in order.")
    # the description column is aligned
    assert len({line.index(line.split()[2]) for line in lines[1:]}) == 1

    code, out, _ = cli(capsys, "harness", "show", "asker", "--repo", str(git_repo.path))
    assert code == 0 and out == PLAIN  # not a terminal: the plain source

    # the saved copy runs again as a harness of its own
    again = run_harness(load_harness(saved), {"n": 1}, config=Config(),
                        repo_path=git_repo.path)
    assert again.result == ["A:item 0"]


@pytest.mark.skipif(shutil.which("script") is None, reason="no script(1) for a terminal")
def test_show_highlights_on_a_terminal(git_repo: Any) -> None:
    git_repo.write(".reviewbot/harnesses/asker.py", PLAIN)
    # script(1) gives the command a pseudo-terminal, as a user's shell would
    proc = subprocess.run(
        ["script", "-qec", f"{sys.executable} -m reviewbot harness show asker", "/dev/null"],
        cwd=git_repo.path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    assert proc.returncode == 0, proc.stdout
    assert "\x1b[" in proc.stdout  # colours
    plain = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
    assert "asker.py" in plain.splitlines()[0]
    assert re.search(r"^ *1 \"\"\"Ask one agent per item.\"\"\"", plain, re.M)  # line numbers


def test_save_refuses_what_it_cannot_save(model_env: Any, git_repo: Any, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    model_env(_answer)
    state = state_dir(git_repo.path)
    with pytest.raises(UsageError, match="nothing is journaled"):
        save_run_harness(state, git_repo.path, "r-1", "asker")
    source = tmp_path / "ask_items.py"
    source.write_text(PLAIN)
    run_harness(load_harness(source), {}, config=Config(), repo_path=git_repo.path,
                run_id="r-1")
    with pytest.raises(UsageError, match="no run 'r-2'"):
        save_run_harness(state, git_repo.path, "r-2", "asker")
    with pytest.raises(UsageError, match="built-in"):
        save_run_harness(state, git_repo.path, "r-1", "review")
    with pytest.raises(UsageError, match="lower-case"):
        save_run_harness(state, git_repo.path, "r-1", "../evil")
    other = git_repo.write(".reviewbot/harnesses/asker.py", "# mine\n")
    with pytest.raises(UsageError, match="--force"):
        save_run_harness(state, git_repo.path, "r-1", "asker")
    assert other.read_text() == "# mine\n"
    assert save_run_harness(state, git_repo.path, "r-1", "asker", force=True) == other
    assert other.read_text() == PLAIN
    code, _, err = cli(capsys, "harness", "save", "r-9", "x", "--repo", str(git_repo.path))
    assert code == 2 and err.startswith("reviewbot: error: no run 'r-9'")
    code, _, err = cli(capsys, "harness", "show", "nope", "--repo", str(git_repo.path))
    assert code == 2 and "reviewbot harness list" in err


def test_a_sandboxed_run_is_saved_and_resumed_sandboxed(model_env: Any, git_repo: Any,
                                                        tmp_path: Path) -> None:
    model_env(_answer)
    source = tmp_path / "echo_one.py"
    source.write_text(UNMARKED)
    outcome = run_harness(load_sandboxed(source), {}, config=Config(),
                          repo_path=git_repo.path, run_id="g-1")
    assert outcome.result == {"answer": "A:say hi"}
    state = state_dir(git_repo.path)
    saved = save_run_harness(state, git_repo.path, "g-1", "echo")
    assert saved.read_text().splitlines()[0] == GENERATED_MARKER
    assert saved.read_text().split("\n", 1)[1] == UNMARKED
    assert load_harness(saved).sandboxed  # by name it runs sandboxed again
    assert [e.generated for e in list_harnesses(git_repo.path) if e.name == "echo"] == [True]
    journal = Journal(state / "journal.sqlite")
    record = journal.require_run("g-1")
    journal.close()
    # the unmarked original is unchanged, yet a resume of that run stays sandboxed
    assert resume_harness(record, state).sandboxed
    assert not load_harness(source).sandboxed
