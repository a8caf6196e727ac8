"""Harness lints: each fires on a small harness with that bug, with its line, and stays quiet
on the fixed harness, the built-in harnesses and the seed example workflows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hg_samples import FANOUT_VOTE, cli

from reviewbot.harness.checker import MARKER, check_harness_source
from reviewbot.harness.lints import lint_source
from reviewbot.testing import by_role

ROOT = Path(__file__).resolve().parents[2]

HEAD = '''\
# reviewbot: generated harness
from pydantic import BaseModel, Field

META = {"name": "linted", "description": "a harness with one structural bug",
        "phases": ["find", "verify"], "max_agents": 100, "budget_usd": 1.0}

ANGLES = ["correctness", "reachability", "impact"]


class Finding(BaseModel):
    title: str
    path: str = ""
    severity: str = "low"


class Findings(BaseModel):
    findings: list[Finding] = []


class Plan(BaseModel):
    finders: int
    rounds: int = 3


class Verdict(BaseModel):
    real: bool
'''

# rule -> (a harness body with that bug on the line marked BUG, (old, new): the fix)
CASES = {
    "barrier-then-map": (
        '''
async def main(run, paths: list[str] = ["a.py", "b.py"]):
    async def find(path):
        return await run.agent(f"Find bugs in {path}", schema=Findings, role="finder")

    async def verify(f):
        return await run.vote(f.title, angles=ANGLES, phase="verify")

    reports = await run.parallel([lambda p=p: find(p) for p in paths[:10]])  # BUG
    found = [f for r in reports if r for f in r.findings[:5]]
    return await run.pipeline(found, verify)
''',
        ("""    reports = await run.parallel([lambda p=p: find(p) for p in paths[:10]])  # BUG
    found = [f for r in reports if r for f in r.findings[:5]]
    return await run.pipeline(found, verify)""",
         """    async def verify_all(report):
        return await run.parallel([lambda f=f: verify(f) for f in report.findings[:5]])

    return await run.pipeline(paths[:10], find, verify_all)"""),
    ),
    "until-dry-accepted-key": (
        '''
async def main(run):
    confirmed = []

    async def round_(index):
        return (await run.agent("Find more bugs.", schema=Findings, role="finder")).findings[:5]

    async def accept(f):
        vote = await run.vote(f.title, angles=ANGLES)
        if vote.confirmed:
            confirmed.append(f.title)
        return vote.confirmed

    return await run.until_dry(round_, key=lambda f: (f.title, len(confirmed)),  # BUG
                               max_rounds=5, accept=accept)
''',
        ("key=lambda f: (f.title, len(confirmed))", "key=lambda f: (f.path, f.title)"),
    ),
    "uncapped-fanout": (
        '''
async def main(run):
    found = await run.agent("List the bugs.", schema=Findings, role="finder")

    async def verify(f):
        return await run.vote(f.title, angles=ANGLES)

    return await run.pipeline(found.findings, verify)  # BUG
''',
        ("found.findings, verify", "found.findings[:20], verify"),
    ),
    "single-skeptic": (
        '''
async def main(run):
    found = await run.agent("List the bugs.", schema=Findings, role="finder")
    serious = [f for f in found.findings[:20] if f.severity == "high"]

    async def check(f):
        return await run.agent(f"Is this real? {f.title}", schema=Verdict,  # BUG
                               role="skeptic")

    return await run.pipeline(serious, check)
''',
        ("""run.agent(f"Is this real? {f.title}", schema=Verdict,  # BUG
                               role="skeptic")""", "run.vote(f.title, angles=ANGLES)"),
    ),
    "model-bound-loop": (
        '''
async def main(run, task: str = "t"):
    plan = await run.agent(f"How many finders does {task} need?", schema=Plan, role="planner")

    async def find(i):
        return await run.agent(f"Finder {i}: find bugs.", schema=Findings, role="finder")

    return await run.parallel([lambda i=i: find(i) for i in range(plan.finders)])  # BUG
''',
        ("range(plan.finders)", "range(min(plan.finders, 4))"),
    ),
}


def _bug_line(source: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if "# BUG" in line)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_lint_fires_on_its_bug_and_not_on_the_fix(rule: str) -> None:
    body, (old, new) = CASES[rule]
    buggy = HEAD + body
    fixed = buggy.replace(old, new)
    assert fixed != buggy
    report = check_harness_source(buggy)
    assert report.ok, report.describe()  # a lint is a warning: the harness still passes
    assert [(w.rule, w.line) for w in report.warnings] == [(rule, _bug_line(buggy))]
    assert report.warnings[0].message  # one line saying what to do
    assert "\n" not in report.warnings[0].message
    fixed_report = check_harness_source(fixed)
    assert fixed_report.ok, fixed_report.describe()
    assert fixed_report.warnings == []


def test_single_skeptic_vote_under_a_severity_test() -> None:
    body = '''
async def main(run):
    found = await run.agent("List the bugs.", schema=Findings, role="finder")

    async def check(f):
        if f.severity in ("high", "critical"):
            return await run.vote(f.title, angles=["correctness"])  # BUG
        return await run.vote(f.title, angles=["correctness"])

    return await run.pipeline(found.findings[:10], check)
'''
    warnings = lint_source(HEAD + body)
    assert [(w.rule, w.line) for w in warnings] == [("single-skeptic", _bug_line(HEAD + body))]


def test_until_dry_rounds_from_the_model() -> None:
    body = '''
async def main(run):
    plan = await run.agent("How many rounds?", schema=Plan, role="planner")

    async def round_(index):
        return (await run.agent("Find bugs.", schema=Findings, role="finder")).findings[:5]

    return await run.until_dry(round_, key=lambda f: f.title, max_rounds=plan.rounds)  # BUG
'''
    warnings = lint_source(HEAD + body)
    assert [(w.rule, w.line) for w in warnings] == [("model-bound-loop", _bug_line(HEAD + body))]
    assert "max_rounds=plan.rounds" in warnings[0].message


BARRIER_START = '''
async def main(run):
    async def find(i):
        return await run.agent(f"Finder {i}: find bugs.", schema=Findings, role="finder")

    async def verify(f):
        return await run.vote(f.title, angles=ANGLES)

    lists = await run.parallel([lambda i=i: find(i) for i in range(3)])
'''

# What happens between the barrier and the next stage, and whether the barrier is earned.
BARRIER_VARIANTS = {
    "a loop that verifies each result": (False, '''
    out = []
    for found in lists:
        for f in (found.findings if found else [])[:5]:
            out.append(await verify(f))
    return out
'''),
    "flattened, then a pipeline": (False, '''
    claims = []
    for found in lists:
        if found:
            claims.extend(found.findings[:5])
    return await run.pipeline(claims, verify)
'''),
    "deduplicated with a seen set": (True, '''
    seen = set()
    claims = []
    for found in lists:
        for f in (found.findings if found else [])[:5]:
            if f.title not in seen:
                seen.add(f.title)
                claims.append(f)
    return await run.pipeline(claims[:20], verify)
'''),
    "deduplicated by key in a dict": (True, '''
    by_title = {}
    for found in lists:
        for f in (found.findings if found else [])[:5]:
            by_title[f.title] = f
    return await run.pipeline(list(by_title.values())[:20], verify)
'''),
    "the whole set in one prompt": (True, '''
    everything = [f.title for found in lists if found for f in found.findings[:5]]
    return await run.agent("Rank these findings.", schema=Findings, role="judge",
                           context=everything)
'''),
}


@pytest.mark.parametrize("variant", sorted(BARRIER_VARIANTS))
def test_a_barrier_is_earned_only_by_a_whole_set_use(variant: str) -> None:
    earned, tail = BARRIER_VARIANTS[variant]
    source = HEAD + BARRIER_START + tail
    barrier = 1 + source.splitlines().index(
        "    lists = await run.parallel([lambda i=i: find(i) for i in range(3)])")
    rules = [(w.rule, w.line) for w in lint_source(source)]
    assert rules == ([] if earned else [("barrier-then-map", barrier)])


# The workflow of seed 002 as its pseudo-code writes it: a barrier over every file, then one
# cross-check agent per high/medium finding, then a synthesis.
SEED_002_AS_WRITTEN = HEAD + '''
class Check(BaseModel):
    confirmed: bool


async def main(run):
    files = await run.repo.files("src")

    async def analyze(path):
        return await run.agent(f"Analyze {path} for auth bypass.", schema=Finding,
                               role="finder", tools="repo")

    findings = await run.parallel([lambda p=p: analyze(p) for p in files[:50]])  # BARRIER
    suspicious = [f for f in findings if f and f.severity in ("high", "medium")]

    async def cross_check(f):
        return await run.agent(f"Independently verify: {f.title} in {f.path}",  # SKEPTIC
                               schema=Check, role="skeptic", tools="repo")

    checked = await run.parallel([lambda f=f: cross_check(f) for f in suspicious])
    confirmed = [f for f, c in zip(suspicious, checked) if c and c.confirmed]
    report = await run.agent("Synthesize the confirmed vulnerabilities.", schema=Findings,
                             role="synthesizer", context=[str(confirmed)])
    return {"files": len(files), "confirmed": len(confirmed), "report": report}
'''


def test_the_seed_pseudo_code_as_written_gets_both_warnings() -> None:
    lines = SEED_002_AS_WRITTEN.splitlines()
    barrier = next(i for i, line in enumerate(lines, 1) if "# BARRIER" in line)
    skeptic = next(i for i, line in enumerate(lines, 1) if "# SKEPTIC" in line)
    warnings = lint_source(SEED_002_AS_WRITTEN)
    # the second barrier is earned: the synthesis needs every verdict
    assert [(w.rule, w.line) for w in warnings] == [("barrier-then-map", barrier),
                                                     ("single-skeptic", skeptic)]


def _harness_files() -> list[Path]:
    """The built-in harnesses and any example harness files kept in the repository."""
    found = sorted((ROOT / "harnesses").glob("**/*.py"))
    for folder in ("examples", "docs"):
        found += sorted(p for p in (ROOT / folder).glob("**/*.py")
                        if "META" in p.read_text(encoding="utf-8"))
    return [p for p in found if p.name != "__init__.py"]


def test_no_warning_on_the_built_in_and_example_harnesses() -> None:
    files = _harness_files()
    assert {"review.py", "migrate.py"} <= {p.name for p in files}
    for path in files:
        assert lint_source(path.read_text(encoding="utf-8")) == [], path
    assert lint_source(FANOUT_VOTE) == []  # its barrier dedups across every finder's list


def test_harness_check_shows_warnings_with_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = HEAD + CASES["uncapped-fanout"][0]
    path = tmp_path / "fanout.py"
    path.write_text(source, encoding="utf-8")
    code, out, _ = cli(capsys, "harness", "check", str(path))
    assert code == 0
    first, second = out.splitlines()
    assert first.startswith("ok: linted") and first.endswith("; 1 warning")
    assert second.startswith(f"{path}:{_bug_line(source)}: warning: fan-out over model output "
                             "(found.findings) without a cap")
    assert second.endswith("[uncapped-fanout]")
    assert source.startswith(MARKER)


@pytest.mark.parametrize("cap", ["[:5]", ""])
def test_fan_out_over_until_dry_is_as_capped_as_its_rounds(cap: str) -> None:
    source = HEAD + f'''
async def main(run):
    async def round_(index):
        return (await run.agent("Find more bugs.", schema=Findings, role="finder")).findings{cap}

    found = await run.until_dry(round_, key=lambda f: f.title, max_rounds=4)

    async def verify(f):
        return await run.vote(f.title, angles=ANGLES)

    return await run.pipeline(found, verify)
'''
    line = 1 + source.splitlines().index("    return await run.pipeline(found, verify)")
    expected = [] if cap else [("uncapped-fanout", line)]
    assert [(w.rule, w.line) for w in lint_source(source)] == expected


def test_harness_generate_shows_the_warnings_of_what_it_wrote(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    body, _ = CASES["uncapped-fanout"]
    source = HEAD.split("\n", 1)[1] + body  # the generator adds the marker
    model_env(by_role({"orchestrator": {"name": "linted", "description": "d",
                                        "source": source}}))
    code, out, err = cli(capsys, "harness", "generate", "verify the bugs",
                         "--repo", str(git_repo.path))
    assert code == 0, err
    written = git_repo.path / ".git" / "reviewbot" / "harnesses" / "linted.py"
    line = _bug_line(written.read_text(encoding="utf-8"))
    assert f"{written}:{line}: warning: fan-out over model output" in out


def test_a_gather_of_agents_is_a_barrier_too() -> None:
    # Trusted harnesses may use asyncio; the same bug has the same lint.
    source = HEAD.replace("from pydantic", "import asyncio\n\nfrom pydantic", 1) + '''
async def main(run, paths: list[str] = ["a.py"]):
    async def find(path):
        return await run.agent(f"Find bugs in {path}", schema=Findings, role="finder")

    async def verify(f):
        return await run.vote(f.title, angles=ANGLES)

    reports = await asyncio.gather(*[find(p) for p in paths[:10]])  # BUG
    return await run.pipeline([f for r in reports for f in r.findings[:5]], verify)
'''
    warnings = lint_source(source)
    assert [(w.rule, w.line) for w in warnings] == [("barrier-then-map", _bug_line(source))]
    assert warnings[0].message.startswith("gather waits for every 'reports' before line")


def test_a_hostile_file_cannot_make_the_lints_slow() -> None:
    # Model output carried through thousands of names in the worst order for a fixed point,
    # and a thousand barriers: near the checker's size limit, linted in seconds (each took
    # minutes when every pass revisited the whole function).
    chain = "".join(f"    x{i + 1} = x{i}\n" for i in reversed(range(6000)))
    barriers = "".join(
        f"    r{i} = await run.parallel([lambda p=p: run.agent(p, schema=Finding, "
        f"role='finder') for p in paths])\n    await run.pipeline(r{i}, run.agent)\n"
        for i in range(1000))
    for body in (chain + "    x0 = await run.agent('x', schema=Finding, role='finder')\n",
                 barriers):
        source = HEAD + "\nasync def main(run, paths: list[str] = []):\n" + body
        assert len(source) < 200_000
        started = time.monotonic()
        report = check_harness_source(source)
        assert time.monotonic() - started < 20
        assert report.ok, report.describe()
