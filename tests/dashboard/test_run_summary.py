"""The run summary in Markdown (the Action's job summary) from real runs: the phase table,
the totals, and a mermaid gantt chart, one bar per agent or per phase for a large run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from live_runs import HARNESS, LiveRun, answer

from reviewbot.report.run_summary import MAX_BARS, run_summary_markdown
from reviewbot.runtime.journal import state_dir


def _run(model_env: Any, git_repo: Any, tmp_path: Path, n: int, run_id: str) -> str:
    model_env(answer)
    harness = tmp_path / "ask_each.py"
    harness.write_text(HARNESS)
    outcome = LiveRun(harness, git_repo.path, n, run_id, concurrency=8).join()
    assert outcome.status == "finished"
    text = run_summary_markdown(state_dir(git_repo.path), run_id)
    assert text is not None
    return text


def test_small_run_has_a_bar_per_agent(model_env: Any, git_repo: Any, tmp_path: Path) -> None:
    text = _run(model_env, git_repo, tmp_path, 3, "small-1")
    lines = text.splitlines()
    assert lines[0] == "### reviewbot run `small-1`"
    assert re.fullmatch(r"\*\*ask-each\*\* · finished · 4 agents · \$[\d.]+ · [\d.]+s", lines[2])
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| phase | agents | finished | failed |")
    assert [row.split(" | ")[:4] for row in table[2:]] == [
        ["| find", "3", "3", "0"], ["| sum", "1", "1", "0"], ["| **total**", "4", "4", "0"]]
    chart = text[text.index("```mermaid"):]
    assert chart.count("    section ") == 2
    bars = re.findall(r"^    finder (\d+) :done, (\d+), (\d+)$", chart, re.M)
    assert sorted(int(call) for call, _, _ in bars) == [1, 2, 3, 4]
    # the summary agent started after every find agent ended (the phase is a barrier)
    finds, (last,) = bars[:3], bars[3:]
    assert int(last[1]) >= max(int(end) for _, _, end in finds) - 5
    assert text.rstrip().endswith("```")


def test_large_run_has_a_bar_per_phase(model_env: Any, git_repo: Any, tmp_path: Path) -> None:
    text = _run(model_env, git_repo, tmp_path, MAX_BARS + 5, "large-1")
    chart = text[text.index("```mermaid"):]
    assert re.findall(r"^    (\d+) agents? :(\d+), (\d+)$", chart, re.M)[0][0] == str(MAX_BARS + 5)
    assert re.search(r"^    1 agent :\d+, \d+$", chart, re.M)
    assert "finder " not in chart
    assert run_summary_markdown(state_dir(git_repo.path), "nope") is None
