"""The dry run's agent count is the real run's for a script that answers the same way.

The dry run's simulated model fills every list with ``--items`` distinct items and every
skeptic agrees; a loopback model server scripted to answer that way must see exactly
the agents the dry run counted, phase by phase.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hg_samples import FANOUT_VOTE, cli

from reviewbot.testing import MessagesRequest


def test_dry_run_counts_the_agents_a_real_run_starts(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    git_repo.write("notes.txt", "x\n")
    git_repo.commit("init")
    harness = git_repo.path / "claims.py"
    harness.write_text(FANOUT_VOTE, encoding="utf-8")

    code, out, err = cli(capsys, "harness", "dry-run", str(harness), "--repo",
                         str(git_repo.path), "--param", "text=abc", "--items", "3",
                         "--format", "json")
    assert code == 0, err
    estimate = json.loads(out)
    assert estimate["errors"] == []

    calls = iter(range(1, 10_000))

    def handler(request: MessagesRequest) -> Any:
        if request.role == "finder":
            n = next(calls)
            return {"claims": [f"claim {n}.{i}" for i in range(3)]}
        if request.role == "skeptic":
            return {"verdict": "confirmed", "reason": "checked"}
        return {"summary": "done"}

    server = model_env(handler)
    code, out, err = cli(capsys, "run", str(harness), "--repo", str(git_repo.path),
                         "--param", "text=abc", "--format", "json", "--quiet")
    assert code == 0, err
    agents = int(re.search(r"(\d+) agents", err).group(1))  # type: ignore[union-attr]
    assert agents == estimate["agents"] == server.calls
    assert estimate["agents_by_role"] == {"finder": 3, "skeptic": 27, "writer": 1}
