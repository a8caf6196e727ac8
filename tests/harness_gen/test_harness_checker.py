"""The checker: each forbidden construct is refused on its own line; the built-in style passes."""

from __future__ import annotations

import pytest
from hg_samples import FANOUT_VOTE

from reviewbot.harness.checker import check_harness_source

HEADER = '''\
META = {"name": "t", "max_agents": 5, "budget_usd": 1.0}


async def main(run):
'''
FIRST_BODY_LINE = 5  # the line the first body statement lands on


def body(*lines: str) -> str:
    return HEADER + "".join(f"    {line}\n" for line in lines)


def problems_at(source: str) -> dict[int, list[str]]:
    report = check_harness_source(source)
    out: dict[int, list[str]] = {}
    for p in report.problems:
        out.setdefault(p.line, []).append(p.message)
    return out


def test_builtin_style_harness_passes() -> None:
    report = check_harness_source(FANOUT_VOTE)
    assert report.ok, report.describe()
    assert report.meta is not None and report.meta.name == "claim_check"
    assert report.meta.max_agents == 60
    assert report.budget_usd == 0.5


def test_minimal_body_passes() -> None:
    assert check_harness_source(body("return 1")).ok


@pytest.mark.parametrize(
    ("lines", "bad_line", "fragment"),
    [
        (["x = 1", "import os"], 1, "import of os is not allowed"),
        (["import subprocess"], 0, "import of subprocess is not allowed"),
        (["from pathlib import Path"], 0, "import of pathlib is not allowed"),
        (["import socket"], 0, "import of socket"),
        (["from itertools import count"], 0, "itertools.count is not allowed"),
        (["from pydantic import TypeAdapter"], 0, "pydantic.TypeAdapter is not allowed"),
        (["x = 1", "y = open('f').read()"], 1, "open is not available"),
        (["exec('1')"], 0, "exec is not available"),
        (["eval('1')"], 0, "eval is not available"),
        (["compile('1', 'f', 'exec')"], 0, "compile is not available"),
        (["__import__('os')"], 0, "__import__ is not available"),
        (["g = globals()"], 0, "globals is not available"),
        (["print('hi')"], 0, "use run.note"),
        (["return run._journal"], 0, "._journal is not allowed"),
        (["return ().__class__.__subclasses__()"], 0, "__subclasses__"),
        (["return getattr(run, '__dict__')"], 0, "getattr() needs a literal attribute name"),
        (["n = '_x'", "return getattr(run, n)"], 1, "getattr() needs a literal attribute name"),
        (["return '{0.__class__}'.format(run)"], 0, "str.format"),
        (["return run.stats"], 0, "run.stats is not part of the runtime API"),
        (["while True:", "    pass"], 0, "while loops are not allowed"),
        (["return await run.until_dry(f, key=str)"], 0, "must pass max_rounds"),
        (["return await run.until_dry(f, key=str, max_rounds=10000)"], 0, "max_rounds must be"),
        (["await run.agent('p', schema=M, role='r', tools=[t])"], 0,
         'tools= takes the literal "repo"'),
        (["global X"], 0, "global is not allowed"),
        (["try:", "    pass", "except:", "    pass"], 2, "bare `except:`"),
        (["return f'{run.__class__}'"], 0, "__class__ is not allowed"),
    ],
)
def test_forbidden_construct_is_refused_on_its_line(
    lines: list[str], bad_line: int, fragment: str
) -> None:
    found = problems_at(body(*lines))
    line = FIRST_BODY_LINE + bad_line
    assert line in found, f"no problem on line {line}: {found}"
    assert any(fragment in m for m in found[line]), found[line]


def test_recursion_is_refused_including_through_thunks() -> None:
    source = HEADER + "    return 1\n\n\nasync def walk(run):\n    await run.parallel([walk])\n"
    found = problems_at(source)
    assert any("recursion is not allowed (walk -> walk)" in m for m in found[9])
    mutual = (HEADER + "    return 1\n\n\ndef a():\n    return b()\n\n\ndef b():\n"
              "    return a()\n")
    messages = [m for ms in problems_at(mutual).values() for m in ms]
    assert sum("recursion is not allowed" in m for m in messages) == 1


def test_string_annotations_are_refused_but_literal_values_pass() -> None:
    source = (HEADER + "    return 1\n\n\nfrom typing import Literal\nfrom pydantic import "
              "BaseModel\n\n\nclass M(BaseModel):\n    kind: Literal['a', 'b'] = 'a'\n"
              "    bad: list['().__class__']\n")
    found = problems_at(source)
    assert list(found) == [14], found
    assert "string annotations are not allowed" in found[14][0]


def test_meta_must_declare_backstop_and_budget() -> None:
    source = 'META = {"name": "t"}\n\n\nasync def main(run):\n    return 1\n'
    found = problems_at(source)
    assert any("max_agents" in m for m in found[1])
    assert any("budget_usd" in m for m in found[1])
    computed = 'N = 3\nMETA = {"name": "t", "max_agents": N, "budget_usd": 1}\n' \
               "async def main(run):\n    return 1\n"
    assert any("literal dict" in m for m in problems_at(computed)[2])


def test_main_must_be_async_and_take_run() -> None:
    meta = 'META = {"name": "t", "max_agents": 5, "budget_usd": 1.0}\n'
    assert "must be `async def" in problems_at(meta + "def main(run):\n    return 1\n")[2][0]
    assert "`run` as its first" in problems_at(
        meta + "async def main(ctx):\n    return 1\n")[2][0]
    assert "main is missing" in problems_at(meta)[1][0]
    undeclared = meta + "async def main(run, text):\n    return text\n"
    assert "not in META['parameters']" in problems_at(undeclared)[2][0]


def test_syntax_error_has_its_line() -> None:
    report = check_harness_source(HEADER + "    return (\n")
    assert not report.ok
    assert report.problems[0].message.startswith("syntax error")

