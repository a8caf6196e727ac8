"""The migrate harness states its tier ladder and gate order as data; the engine follows
them: a copy of the harness with another ladder and order runs exactly that."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_migrate_model_run import Author, make_repo

from reviewbot.cli import main

HARNESS = Path(__file__).resolve().parents[2] / "harnesses" / "migrate.py"


def copy_with(tmp_path: Path, ladder: str, gates: str) -> Path:
    source = HARNESS.read_text()
    source = source.replace("LADDER = (Tier.FAST, Tier.BALANCED, Tier.DEEP)", f"LADDER = {ladder}")
    source = source.replace('GATES = ("parse", "sites", "scope", "tests", "verify", "skeptic")',
                            f"GATES = {gates}")
    path = tmp_path / "my_migrate.py"
    path.write_text(source)
    return path


def run(git_repo, harness: Path, capsys) -> tuple[int, str, str]:
    """``reviewbot run HARNESS ...`` through the real entry point: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main([
            "run", str(harness), "--repo", str(git_repo.path), "--quiet", "--format", "json",
            "--param", "instruction=use httpx instead of requests",
            "--param", "find=requests.get", "--param", f"repo={git_repo.path}",
        ])
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


def test_another_ladder_and_gate_order_are_followed(git_repo, model_env, tmp_path,
                                                   capsys) -> None:
    make_repo(git_repo)
    author = Author(git_repo.path, break_on_fast={"b.py"}, delete_test_in=set())
    model_env(author)
    harness = copy_with(tmp_path, "(Tier.BALANCED,)",
                        '("sites", "parse", "tests", "scope", "verify", "skeptic")')
    code, out, both = run(git_repo, harness, capsys)
    assert code == 0, both
    files = {f["path"]: f for f in json.loads(out)["files"]}
    a = files["a.py"]
    assert a["status"] == "migrated" and [t["tier"] for t in a["attempts"]] == ["balanced"]
    assert [g["gate"] for g in a["attempts"][0]["gates"]] == [
        "sites", "parse", "tests", "scope", "skeptic"]
    # b.py breaks only on the fast tier, which this ladder leaves out
    assert files["b.py"]["status"] == "migrated" and files["b.py"]["tier"] == "balanced"
    assert {m for m, _, _ in author.prompts} == {"claude-sonnet-5-5"}


def test_a_gate_order_that_leaves_a_gate_out_is_refused(git_repo, model_env, tmp_path,
                                                        capsys) -> None:
    make_repo(git_repo)
    model_env(Author(git_repo.path, break_on_fast=set(), delete_test_in=set()))
    harness = copy_with(tmp_path, "(Tier.FAST,)", '("parse", "sites", "verify", "skeptic")')
    code, _, both = run(git_repo, harness, capsys)
    assert code == 2, both
    assert "migration gates must be an order of parse, sites, scope, tests, verify, skeptic" in both
