"""Drilling into one agent: the tools it called, its prompt and context sizes, and its
own journal row (found by the journal's key, not guessed from role and time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2 as httpx

from reviewbot.config import Config
from reviewbot.dashboard.server import Dashboard
from reviewbot.harness import load_harness, run_harness
from reviewbot.runtime.journal import state_dir
from reviewbot.testing import MessagesRequest, Reply

HARNESS = '''
from pydantic import BaseModel

from reviewbot.models import tool

META = {"name": "lookups", "description": "two agents with the same role, one uses a tool"}


class Answer(BaseModel):
    answer: str


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return key.upper()


async def main(run):
    shared = ["x" * 300]
    first = await run.agent("plain question", schema=Answer, role="finder", context=shared)
    second = await run.agent("question with a lookup", schema=Answer, role="finder",
                             context=shared, tools=[lookup])
    return [first.answer, second.answer]
'''


def answer(request: MessagesRequest) -> Any:
    if "lookup" in request.last_user_text and request.turn == 0:
        return Reply.tool_use("lookup", {"key": "k"})
    return {"answer": request.last_user_text[:20]}


def test_agent_detail_has_tools_sizes_and_its_own_journal_row(
    model_env: Any, git_repo: Any, tmp_path: Path
) -> None:
    model_env(answer)
    path = tmp_path / "lookups.py"
    path.write_text(HARNESS)
    outcome = run_harness(load_harness(path), {}, config=Config(), repo_path=git_repo.path,
                          run_id="detail-1")
    assert outcome.status == "finished"
    server = Dashboard(state_dir(git_repo.path)).start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10,
                          headers={"X-Reviewbot-Token": server.token}) as http:
            calls = http.get("/api/runs/detail-1").json()["calls"]
            assert [c["role"] for c in calls] == ["finder", "finder"]
            plain, looked = (http.get(f"/api/runs/detail-1/agents/{c['call']}").json()
                             for c in calls)
    finally:
        server.stop()
    assert plain["tools_called"] == [] and looked["tools_called"] == ["lookup"]
    assert plain["prompt_chars"] == len("plain question")
    assert plain["context_chars"] == looked["context_chars"] == 300
    # each agent gets its own row, though role, model and phase are the same
    assert plain["journal"]["prompt"] == "plain question"
    assert looked["journal"]["prompt"] == "question with a lookup"
