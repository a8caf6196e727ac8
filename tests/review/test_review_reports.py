"""Reports: SARIF against the official 2.1.0 schema, markdown, json, terminal, CLI exits."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from reviewbot.cli import main as cli_main
from reviewbot.config import Severity
from reviewbot.report.json_report import render_json
from reviewbot.report.markdown import fenced, render_markdown
from reviewbot.report.sarif import FINGERPRINT_KEY, render_sarif, to_sarif
from reviewbot.report.terminal import render_terminal
from reviewbot.review import (
    Coverage,
    Finding,
    Funnel,
    ReviewResult,
    SkippedFile,
    Source,
    Status,
    Verification,
    Vote,
)

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def sample_result() -> ReviewResult:
    confirmed = Verification(
        status=Status.CONFIRMED, escalated=True,
        votes=[Vote(verdict="confirmed", reason="r", angle="a", model="m"),
               Vote(verdict="refuted", reason="r", angle="b", model="m")],
        judge=Vote(verdict="confirmed", reason="j", angle="judge", model="deep"),
    )
    return ReviewResult(
        base="a" * 40, head="WORKTREE", summary="Adds a query helper.",
        findings=[
            Finding(path="app/db.py", start_line=10, end_line=11, severity=Severity.CRITICAL,
                    category="security", title="SQL built from user input",
                    explanation="name flows into the query string.",
                    evidence='q = f"SELECT * FROM t WHERE n = \'{name}\'"\ncur.execute(q)',
                    replacement='cur.execute("SELECT * FROM t WHERE n = ?", (name,))',
                    verification=confirmed),
            Finding(path="app/util.py", start_line=3, end_line=3, severity=Severity.LOW,
                    category="lint", title="F401: `os` imported but unused", evidence="import os",
                    source=Source.RUFF, rule="F401"),
            Finding(path="web/app.js", start_line=2, end_line=2, severity=Severity.HIGH,
                    category="syntax", title="Syntax error: unexpected code",
                    evidence="  return a +;", source=Source.SYNTAX, rule="syntax/javascript"),
            Finding(path="app/db.py", start_line=20, end_line=20, severity=Severity.MEDIUM,
                    category="correctness", title="``` fence in evidence",
                    evidence="s = '```'", verification=confirmed),
        ],
        funnel=Funnel(candidates=5, ungrounded=1, grounded=4, duplicates=1, deduplicated=3,
                      confirmed=2, refuted=1, escalated=1, deterministic=2),
        coverage=Coverage(reviewed=["app/db.py", "app/util.py", "web/app.js"],
                          skipped=[SkippedFile(path="logo.png", reason="binary file")]),
        notes=["a note"],
    )


def test_sarif_validates_against_the_official_schema() -> None:
    log = json.loads(render_sarif(sample_result()))
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == {"reviewbot/security", "ruff/F401", "syntax/javascript",
                                        "reviewbot/correctness"}
    results = run["results"]
    assert [r["level"] for r in results] == ["error", "error", "warning", "note"]
    first = results[0]
    assert rules[first["ruleIndex"]]["id"] == first["ruleId"] == "reviewbot/security"
    assert rules[first["ruleIndex"]]["properties"]["security-severity"] == "9.5"
    region = first["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["endLine"]) == (10, 11)
    assert first["partialFingerprints"][FINGERPRINT_KEY] == sample_result().findings[0].fingerprint
    assert first["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]


def test_an_invalid_sarif_log_fails_the_schema() -> None:
    log = to_sarif(sample_result())
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(log)


def test_fingerprint_survives_line_moves_but_not_content_changes() -> None:
    f = sample_result().findings[0]
    moved = f.model_copy(update={"start_line": 40, "end_line": 41})
    assert moved.fingerprint == f.fingerprint
    reindented = f.model_copy(update={"evidence": "  " + f.evidence.replace("\n", "\n   ")})
    assert reindented.fingerprint == f.fingerprint
    changed = f.model_copy(update={"evidence": "cur.execute(other)"})
    assert changed.fingerprint != f.fingerprint


def test_json_is_the_full_model() -> None:
    result = sample_result()
    data = json.loads(render_json(result))
    assert ReviewResult.model_validate(data) == result
    assert data["findings"][0]["fingerprint"] == result.findings[0].fingerprint


def test_markdown_report() -> None:
    md = render_markdown(sample_result(), cost="cost: 3 agents")
    assert "| critical | `app/db.py:10-11` | SQL built from user input | model |" in md
    assert "**Funnel:** 5 candidates" in md and "`logo.png`: binary file" in md
    assert "````python\ns = '```'\n````" in md  # quoted backticks cannot close the fence
    assert md.rstrip().endswith("<sub>cost: 3 agents</sub>")
    assert fenced("x") == "```\nx\n```"
    partial = sample_result().model_copy(update={"partial": True})
    assert "Partial review" in render_markdown(partial)


def test_terminal_report() -> None:
    buf = io.StringIO()
    render_terminal(sample_result(), Console(file=buf, width=120, no_color=True), cost="cost: x")
    out = buf.getvalue()
    assert out.index("SQL built from user input") < out.index("F401")  # by severity
    assert "cur.execute(q)" in out and "(judge)" in out
    assert "funnel: 5 candidates" in out and "skipped logo.png: binary file" in out
    assert out.rstrip().endswith("cost: x")


def _run_cli(args: list[str], capsys: Any) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cli_main(args)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


@pytest.fixture
def small_change(git_repo: Any) -> Any:
    git_repo.write("m.py", "import json\n\n\ndef f():\n    return json.dumps({})\n")
    git_repo.commit("base")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("m.py", "import json\nimport os\n\n\ndef f():\n    return json.dumps({})\n")
    return git_repo


def test_cli_sarif_output_file_validates(small_change: Any, capsys: Any, tmp_path: Path) -> None:
    out = tmp_path / "review.sarif"
    code, stdout, stderr = _run_cli(
        ["review", str(small_change.path), "--format", "sarif", "--output", str(out), "--quiet"],
        capsys)
    assert code == 0 and stdout == ""
    log = json.loads(out.read_text())
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["ruff/F401"]
    assert stderr.strip().splitlines()[-1].startswith("cost:")


def test_cli_fail_on_and_usage_errors(small_change: Any, capsys: Any) -> None:
    path = str(small_change.path)
    assert _run_cli(["review", path, "--quiet", "--fail-on", "low"], capsys)[0] == 1
    assert _run_cli(["review", path, "--quiet", "--fail-on", "medium"], capsys)[0] == 0
    code, _, err = _run_cli(["review", path, "--dimensions", "style"], capsys)
    assert code == 2 and "unknown review dimension style" in err
    assert _run_cli(["review", path, "--format", "yaml"], capsys)[0] == 2
    code, _, err = _run_cli(["review", path, "--base", "nope"], capsys)
    assert code != 0 and "nope" in err


def test_cli_dry_run_spends_nothing(small_change: Any, capsys: Any) -> None:
    code, out, _ = _run_cli(["review", str(small_change.path), "--dry-run"], capsys)
    assert code == 0
    assert "dimensions: general" in out and "estimate:" in out and "nothing was spent" in out
    code, out, _ = _run_cli(["review", str(small_change.path), "--dry-run", "--format", "json",
                             "--dimensions", "security,tests"], capsys)
    plan = json.loads(out)
    assert plan["tiny"] and plan["finders"] == 1
    assert 0 < plan["estimate"]["usd_low"] <= plan["estimate"]["usd_high"]
