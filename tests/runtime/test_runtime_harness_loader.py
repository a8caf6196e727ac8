"""Harness loading, parameter coercion, the cost line and the progress renderers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reviewbot.errors import UsageError
from reviewbot.harness import builtin_harness, coerce_params, load_harness, parse_param_args
from reviewbot.models.usage import Usage
from reviewbot.report.cost import cost_line
from reviewbot.report.progress import LiveProgress, PlainProgress, make_progress
from reviewbot.runtime.events import (
    AgentFailure,
    AgentFinished,
    AgentStarted,
    PhaseStarted,
    RunStarted,
    Stopped,
)
from reviewbot.runtime.stats import RunStats, Spend

GOOD = '''
META = {
    "name": "demo",
    "description": "d",
    "phases": [{"title": "Review"}, "Verify"],
    "parameters": {
        "n": int,
        "ratio": {"type": "float", "default": 0.5},
        "dims": {"type": "list[str]", "default": ["bugs"]},
        "deep": {"type": "bool", "default": False},
    },
    "max_agents": 40,
}

async def main(run, n, ratio, dims, deep):
    return {"n": n}
'''


def write(tmp_path: Path, text: str, name: str = "h.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_and_coerce(tmp_path: Path) -> None:
    h = load_harness(write(tmp_path, GOOD))
    assert h.name == "demo" and h.meta.phases == ["Review", "Verify"]
    assert h.meta.max_agents == 40
    params = coerce_params(h.meta, parse_param_args(["n=3", "dims=bugs, perf", "deep=yes"]))
    assert params == {"n": 3, "ratio": 0.5, "dims": ["bugs", "perf"], "deep": True}
    with pytest.raises(UsageError, match="needs parameter 'n'"):
        coerce_params(h.meta, {})
    with pytest.raises(UsageError, match="'deep' must be true or false"):
        coerce_params(h.meta, {"n": "1", "deep": "maybe"})
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_param_args(["novalue"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("async def main(run):\n    return 1\n", "has no META"),
        ("META = {'description': 'x'}\nasync def main(run):\n    pass\n", "bad META: name"),
        ("META = {'name': 'x'}\ndef main(run):\n    pass\n", "needs `async def main"),
        ("META = {'name': 'x', 'parameters': {}}\nasync def main(run, k):\n    pass\n",
         "'k' has no default"),
        (
            "META = {'name': 'x', 'parameters': {'k': int}}\nasync def main(run):\n    pass\n",
            "'k' is not an argument",
        ),
        ("META = {'name': 'x'\n", "syntax error"),
        ("import not_a_module_anywhere\n", "failed while importing: ModuleNotFoundError"),
    ],
)
def test_bad_harness_files_give_one_line(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        load_harness(write(tmp_path, source))
    assert "\n" not in info.value.message


def test_missing_file_and_unknown_builtin(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_harness(tmp_path / "nope.py")
    with pytest.raises(UsageError, match="no built-in harness 'surely-not-there'"):
        builtin_harness("surely-not-there")


def test_cost_line() -> None:
    stats = RunStats(
        run_id="r",
        harness="h",
        partial=True,
        stop_reason="budget",
        wall_seconds=192.4,
        total=Spend(
            agents=212,
            failed=3,
            replayed=12,
            cost_usd=1.21,
            usage=Usage(input_tokens=400_000, cache_read_input_tokens=732_000,
                        cache_creation_input_tokens=68_000, output_tokens=85_000),
        ),
        by_tier={
            "fast": Spend(agents=200, cost_usd=0.31),
            "deep": Spend(agents=12, cost_usd=0.90),
        },
    )
    assert cost_line(stats) == (
        "cost: 212 agents (12 replayed, 3 failed) · 1.20M tokens in / 85k out · cache read 61% · "
        "fast $0.31 · deep $0.90 · total $1.21 · 3m12s · PARTIAL (budget)"
    )


def test_plain_progress_lines() -> None:
    out = io.StringIO()
    progress = make_progress("auto", out)  # a StringIO is not a TTY
    assert isinstance(progress, PlainProgress)
    for event in (
        RunStarted(run_id="r", harness="demo", models_available=False),
        PhaseStarted(phase="review"),
        PhaseStarted(phase="review"),
        AgentStarted(call=1, role="finder", tier="fast", model="m", phase="review"),
        AgentFailure(call=1, role="finder", tier="fast", model="m", phase="review",
                     error="timed out after 3s"),
        AgentStarted(call=2, role="finder", tier="fast", model="m", phase="review"),
        AgentFinished(call=2, role="finder", tier="fast", model="m", phase="review",
                      usage=Usage(input_tokens=10, output_tokens=5), cost_usd=0.01),
        Stopped(reason="budget"),
    ):
        progress(event)
    lines = out.getvalue().splitlines()
    assert lines == [
        "run r: demo",
        "no model service configured: model phases will be skipped",
        "phase review",
        "agent failed [review]: finder: timed out after 3s",
        "stopping: budget reached; running agents finish",
    ]
    counts = progress.state.phases["review"]
    assert (counts.running, counts.done, counts.failed, counts.tokens) == (0, 1, 1, 15)


def test_quiet_progress_prints_nothing() -> None:
    out = io.StringIO()
    progress = make_progress("quiet", out)
    progress(Stopped(reason="budget"))
    assert out.getvalue() == ""


def test_live_progress_renders_phase_tree() -> None:
    out = io.StringIO()
    progress = make_progress("live", out)
    assert isinstance(progress, LiveProgress)
    with progress:
        progress(RunStarted(run_id="r7", harness="demo"))
        progress(PhaseStarted(phase="review"))
        progress(AgentStarted(call=1, role="finder", tier="fast", model="m", phase="review"))
        progress(AgentStarted(call=2, role="finder", tier="fast", model="m", phase="verify"))
        progress(AgentFinished(call=2, role="finder", tier="fast", model="m", phase="verify",
                               usage=Usage(input_tokens=1500, output_tokens=500), cost_usd=0.25))
    text = out.getvalue()
    assert "demo r7" in text
    assert "review: 1 running · 0 done · 0 failed" in text
    assert "verify: 0 running · 1 done · 0 failed · 2.0k tok · $0.25" in text
