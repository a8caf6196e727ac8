"""The gates on their own."""

from __future__ import annotations

from pathlib import Path

import anyio

from reviewbot.migrate import (
    FileChange,
    RemainingSite,
    parse_gate,
    scope_gate,
    sites_gate,
    verify_gate,
    weakened_tests_gate,
)

TEST_SRC = b"""import pytest

def test_one():
    assert f(1) == 2

def test_two():
    assert f(2) == 3
"""


def test_parse_gate_counts_only_new_errors() -> None:
    ok = FileChange("a.py", b"x = 1\n", b"x = 2\n")
    broken = FileChange("a.py", b"x = 1\n", b"x = (1\n")
    already = FileChange("b.py", b"def (:\n", b"def (:\nx = 1\n")
    assert parse_gate([ok, already]).passed
    result = parse_gate([broken])
    assert not result.passed and "a.py:1" in result.output


def test_sites_gate_needs_an_explanation_for_each_leftover() -> None:
    assert sites_gate([]).passed
    assert not sites_gate([(3, "requests.get(u)")]).passed
    assert sites_gate([(3, "requests.get(u)")], [RemainingSite(line=3, reason="streams")]).passed


def test_scope_gate() -> None:
    before = b"import os\n\na = 1\nb = os.path.join(a, 'x')\nc = 3\n"
    inside = before.replace(b"os.path.join", b"join").replace(
        b"import os\n", b"import os\nfrom os.path import join\n"
    )
    assert scope_gate("m.py", [FileChange("m.py", before, inside)], {4}).passed
    outside = inside.replace(b"c = 3", b"c = 4")
    result = scope_gate("m.py", [FileChange("m.py", before, outside)], {4})
    assert not result.passed and "lines 5" in result.output
    other = [FileChange("m.py", before, inside), FileChange("n.py", b"x\n", b"y\n")]
    assert not scope_gate("m.py", other, {4}).passed
    justified = scope_gate("m.py", other, {4}, justification="n.py re-exports the helper")
    assert justified.passed and "re-exports" in justified.output


def test_tests_gate_catches_weakened_tests() -> None:
    path = "tests/test_f.py"
    assert weakened_tests_gate([FileChange(path, TEST_SRC, TEST_SRC.replace(b"f(", b"g("))]).passed
    removed = TEST_SRC.replace(b"    assert f(2) == 3\n", b"    pass\n")
    commented = TEST_SRC.replace(b"    assert f(2) == 3\n", b"    # assert f(2) == 3\n    pass\n")
    skipped = TEST_SRC.replace(b"def test_two", b"@pytest.mark.skip\ndef test_two")
    dropped = TEST_SRC.split(b"def test_two")[0]
    for after, why in (
        (removed, "assertions removed"),
        (commented, "assertions removed"),
        (skipped, "skip markers added"),
        (dropped, "test functions removed"),
        (None, "test file deleted"),
    ):
        result = weakened_tests_gate([FileChange(path, TEST_SRC, after)])
        assert not result.passed and why in result.output, (why, result.output)
    # the same edits in a non-test file are not this gate's business
    assert weakened_tests_gate([FileChange("src/f.py", TEST_SRC, removed)]).passed


def test_verify_gate_passes_fails_and_times_out(tmp_path: Path) -> None:
    async def go() -> None:
        ok = await verify_gate("echo fine", tmp_path, timeout=10)
        assert ok.passed and "fine" in ok.output
        bad = await verify_gate("echo broken >&2; exit 3", tmp_path, timeout=10)
        assert not bad.passed and "exited with 3" in bad.output and "broken" in bad.output
        slow = await verify_gate("sleep 5 & sleep 5", tmp_path, timeout=0.5)
        assert not slow.passed and "timed out" in slow.output and slow.seconds < 3

    anyio.run(go)
