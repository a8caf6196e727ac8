"""The sandbox: escapes fail at run time even for code the checker would refuse, and a
sandboxed harness runs through the normal runner over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from hg_samples import FANOUT_VOTE

from reviewbot.config import Config
from reviewbot.errors import ReviewbotError, UsageError
from reviewbot.harness import run_harness
from reviewbot.harness.sandbox import (
    MAX_ITERATIONS,
    SandboxViolation,
    capability,
    exec_restricted,
    load_sandboxed,
)
from reviewbot.runtime import Run
from reviewbot.testing import MessagesRequest, by_role


def run_restricted(body: str, run: Run | None = None) -> Any:
    """Compile and run ``body`` (an ``async def main(run)``) with the run-time guards only."""
    module = exec_restricted(body, filename="<escape>")
    real = run or Run(run_id="t", config=Config())

    async def go() -> Any:
        return await module.main(capability(real))

    return anyio.run(go)


def main_body(*lines: str) -> str:
    return "async def main(run):\n" + "".join(f"    {line}\n" for line in lines)


@pytest.mark.parametrize(
    ("source", "error", "fragment"),
    [
        # the real Run's internals, through the proxy and its closures
        (main_body("return getattr(run, '_' + 'journal')"), SandboxViolation, "private"),
        (main_body("return getattr(run.agent, '_' + '_closure__')"), SandboxViolation,
         "private"),
        (main_body("return run.phase('x').args"), AttributeError, "args"),
        (main_body("return run.stats"), AttributeError, "stats"),
        (main_body("run.agent = None"), SandboxViolation, "cannot assign"),
        # interpreter internals
        (main_body("return getattr((), '_' + '_class__')"), SandboxViolation, "private"),
        (main_body("return ().__class__.__subclasses__()"), SandboxViolation, "_"),
        # format-string attribute tricks
        (main_body("return '{0.__class__}'.format(run)"), SandboxViolation, "format"),
        (main_body("f = str.format", "return f('{0.__class__}', run)"), SandboxViolation,
         "format"),
        (main_body("return getattr('{0.__init__.__globals__}', 'format_map')({'0': run})"),
         SandboxViolation, "format_map"),
        # files, processes, the environment
        (main_body("import os", "return os.environ"), SandboxViolation, "import of os"),
        (main_body("import subprocess"), SandboxViolation, "import of subprocess"),
        ("from pathlib import Path\n" + main_body("return Path('/etc/passwd').read_text()"),
         SandboxViolation, "import of pathlib"),
        (main_body("return open('/etc/passwd').read()"), NameError, "open"),
        (main_body("return eval('1')"), SandboxViolation, "Eval calls are not allowed"),
        ("import json\n" + main_body("return json.load"), AttributeError, "load"),
        ("from pydantic import BaseModel\nclass M(BaseModel):\n    x: int = 1\n"
         + main_body("return M.parse_file('/etc/passwd')"), SandboxViolation, "parse_file"),
        ("import json\n" + main_body("json.loads = None"), SandboxViolation, "cannot assign"),
        # unbounded loops
        (main_body("xs = [1]", "for x in xs:", "    xs.append(x)"), SandboxViolation,
         str(MAX_ITERATIONS)),
        ("from itertools import count\n" + main_body("return 1"), SandboxViolation,
         "itertools.count"),
    ],
)
def test_escape_fails_at_run_time(source: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=None) as caught:
        run_restricted(source)
    assert fragment in str(caught.value)


def test_the_checker_refuses_the_same_escapes_before_loading() -> None:
    for body in (
        main_body("return run._journal"),
        "import os\n" + main_body("return 1"),
        main_body("return open('x')"),
        main_body("return '{0.__class__}'.format(run)"),
    ):
        source = 'META = {"name": "t", "max_agents": 3, "budget_usd": 1}\n' + body
        with pytest.raises(UsageError, match="refused by the checker: line"):
            load_sandboxed(source)


def test_harness_classes_are_writable_and_counting_works() -> None:
    source = (
        "from pydantic import BaseModel\n"
        "class Funnel(BaseModel):\n    found: int = 0\n    names: dict[str, int] = {}\n"
        + main_body(
            "f = Funnel()", "f.found += 2", "f.names['a'] = 1", "f.names['a'] += 4",
            "total = 0", "for i in range(3):", "    total += i",
            "return (f.found, f.names['a'], total, run.params, run.models_available)",
        )
    )
    assert run_restricted(source) == (2, 5, 3, {}, False)


def test_sandboxed_harness_runs_through_the_runner(
    tmp_path: Path, model_server: Any
) -> None:
    answers = by_role({
        "finder": {"claims": ["water is wet", "fire is cold"]},
        "skeptic": lambda req: {
            "verdict": "confirmed" if "water is wet" in req.all_text else "refuted",
            "reason": "checked",
        },
        "writer": {"summary": "one claim holds"},
    })
    server = model_server(answers, api_key="k")
    path = tmp_path / "claim_check.py"
    path.write_text(FANOUT_VOTE, encoding="utf-8")
    harness = load_sandboxed(path)
    env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k",
           "XDG_STATE_HOME": str(tmp_path / "state")}
    outcome = run_harness(harness, {"text": "some text", "finders": "2"}, config=Config(),
                          repo_path=None, env=env)
    assert outcome.status == "finished"
    assert outcome.result == {"confirmed": ["water is wet"], "refuted": ["fire is cold"],
                              "summary": "one claim holds"}
    # 2 finders, 2 distinct claims x 3 angles, 1 writer; votes are unanimous
    assert server.calls == outcome.stats.total.agents == 2 + 6 + 1
    assert outcome.stats.notes == ["2 claims checked"]
    roles = sorted({r.role for r in server.requests if isinstance(r, MessagesRequest)})
    assert roles == ["finder", "skeptic", "writer"]


def test_nested_loops_hit_the_total_iteration_cap() -> None:
    source = main_body("n = 0", "for i in range(100000):", "    for j in range(100000):",
                       "        n = n + 1")
    with pytest.raises(SandboxViolation, match="more than 2000000 items in all"):
        run_restricted(source)


def test_a_failing_generated_harness_is_one_line_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text('META = {"name": "broken", "max_agents": 3, "budget_usd": 1}\n'
                    + main_body("x = {}", "return x['missing']")
                    + "\n\nasync def other(run):\n    return getattr(run, 'journal')\n",
                    encoding="utf-8")
    harness = load_sandboxed(path)
    with pytest.raises(ReviewbotError, match=r"generated harness broken failed at line 4: "
                                         r"KeyError: 'missing'"):
        anyio.run(harness.main, Run(run_id="t", config=Config()))


def test_until_dry_bound_is_enforced_at_run_time_too() -> None:
    source = main_body("async def none(i):", "    return []", "n = 10 ** 3",
                       "return await run.until_dry(none, key=str, max_rounds=n)")
    with pytest.raises(SandboxViolation, match="max_rounds must be an integer from 1 to 50"):
        run_restricted(source)


def test_the_plain_loader_sandboxes_a_file_with_the_generated_marker(tmp_path: Path) -> None:
    # `reviewbot run FILE` and `reviewbot resume` load through `load_harness`: a generated
    # harness must never escape the sandbox that way.
    from reviewbot.harness import load_harness

    escape = FANOUT_VOTE.replace(
        "    result = Result()\n", "    result = Result()\n    run._journal\n", 1
    )
    path = tmp_path / "escape.py"
    path.write_text(escape, encoding="utf-8")
    with pytest.raises(UsageError, match="_journal"):
        load_harness(path)  # checked before it is compiled, sandboxed after

    plain = tmp_path / "plain.py"
    plain.write_text(FANOUT_VOTE.split("\n", 1)[1], encoding="utf-8")  # marker removed
    assert load_harness(plain).meta.budget_usd == 0.5


def test_the_declared_budget_caps_the_run(tmp_path: Path, model_server: Any) -> None:
    # The harness declares budget_usd 0.5; the run must take it over the configured 5.0.
    server = model_server(
        by_role({"finder": {"claims": []}, "writer": {"summary": "nothing"}}), api_key="k"
    )
    path = tmp_path / "claim_check.py"
    path.write_text(FANOUT_VOTE, encoding="utf-8")
    env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k",
           "XDG_STATE_HOME": str(tmp_path / "state")}
    seen: list[float | None] = []

    def spy(event: Any) -> None:
        budget = getattr(event, "budget_usd", None)
        if budget is not None:
            seen.append(budget)

    from reviewbot.harness import load_harness

    outcome = run_harness(load_harness(path), {"text": "t", "finders": "1"}, config=Config(),
                          repo_path=None, env=env, progress=spy)
    assert outcome.status == "finished"
    assert seen and seen[0] == 0.5


def test_generated_code_runs_under_a_memory_cap(tmp_path: Path) -> None:
    # A real `reviewbot harness run` process: the cap holds for the whole process, so it is
    # never set inside this test process.
    import subprocess
    import sys

    hog = FANOUT_VOTE.replace(
        "    result = Result()\n", "    result = Result()\n    hoard = 'x' * (2 * 1024 ** 3)\n", 1
    )
    path = tmp_path / "hog.py"
    path.write_text(hog, encoding="utf-8")
    config = tmp_path / "cap.toml"
    config.write_text("[runtime]\nsandbox_memory_mb = 1024\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "reviewbot", "harness", "dry-run", str(path), "-p", "text=t",
         "--config", str(config), "--repo", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    assert proc.returncode != 0
    assert "memory limit" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
