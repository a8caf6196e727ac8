"""The example harnesses (examples/harnesses/): the per-file audit with cross-checks and
synthesis, and the two-dimension review with adversarial verification.

Each is a generated-style harness on the typed runtime API: it passes the checker with no
lint warning, dry-runs for free, and runs sandboxed against the loopback model server on
a real repository, its agents reading files through ``tools="repo"``. Saved into the
repository it runs by name.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hg_samples import cli

from reviewbot.harness.checker import check_harness_file
from reviewbot.testing import MessagesRequest, Reply

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "harnesses"
AUDIT = EXAMPLES / "per_file_audit.py"
REVIEW = EXAMPLES / "dimension_review.py"

VIEWS = (
    "def admin(request):\n"
    "    if request.args.get('debug'):\n"
    "        return render_admin()\n"
    "    require_login(request)\n"
    "    return render_admin()\n"
)


@pytest.mark.parametrize("path", [AUDIT, REVIEW], ids=lambda p: p.stem)
def test_examples_pass_the_checker_without_warnings(path: Path) -> None:
    report = check_harness_file(path)
    assert report.ok, report.describe()
    assert report.warnings == [], report.warnings


def _audit_handler(reads: list[str]) -> Any:
    def handler(request: MessagesRequest) -> Any:
        if request.role == "finder":
            path = re.search(r"Audit (\S+) for", request.last_user_text if request.turn == 0
                             else request.all_text)
            assert path is not None
            if request.turn == 0:
                assert "read_file" in request.tools
                return Reply.tool_use("read_file", {"path": path.group(1)})
            reads.extend(r.text for r in request.tool_results)
            if path.group(1) == "app/views.py":
                return {"severity": "high", "finding": "debug=1 skips the login check",
                        "start_line": 2, "end_line": 3}
            return {"severity": "none", "finding": "", "start_line": 0, "end_line": 0}
        if request.role == "skeptic":
            assert "read_file" in request.tools  # the cross-check can read the code too
            return {"verdict": "confirmed", "reason": "nothing guards the debug branch"}
        if request.role == "writer":
            return {"report": "# Auth bypass\n\n| file | severity |"}
        raise AssertionError(f"unexpected role {request.role}")

    return handler


def test_per_file_audit_runs_sandboxed_and_reads_files(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    git_repo.write("app/views.py", VIEWS)
    git_repo.write("app/util.py", "def render_admin():\n    return 'ok'\n")
    git_repo.write("README.md", "not python\n")
    git_repo.commit("init")
    reads: list[str] = []
    model_env(_audit_handler(reads))

    code, out, err = cli(capsys, "run", str(AUDIT), "--repo", str(git_repo.path),
                         "--param", "concern=authentication bypass", "--format", "json",
                         "--quiet")
    assert code == 0, err
    result = json.loads(out)
    assert result["files_scanned"] == 2  # the .py files only
    assert result["escalated"] == 1
    assert [c["path"] for c in result["confirmed"]] == ["app/views.py"]
    assert result["report"].startswith("# Auth bypass")
    assert any("request.args.get('debug')" in text for text in reads)
    assert "6 agents" in err  # 2 auditors, 3 skeptics, 1 writer

    # Saved into the repository, it runs by name (still sandboxed: it keeps its marker).
    saved = git_repo.path / ".reviewbot" / "harnesses"
    saved.mkdir(parents=True)
    shutil.copy(AUDIT, saved / "audit.py")
    code, out, err = cli(capsys, "run", "audit", "--repo", str(git_repo.path),
                         "--param", "concern=authentication bypass", "--format", "json",
                         "--quiet")
    assert code == 0, err
    assert json.loads(out)["confirmed"][0]["path"] == "app/views.py"


def test_per_file_audit_dry_run_counts_agents_for_free(
    git_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    git_repo.write("app/views.py", VIEWS)
    git_repo.write("app/util.py", "x = 1\n")
    git_repo.commit("init")
    code, out, err = cli(capsys, "harness", "dry-run", str(AUDIT), "--repo", str(git_repo.path),
                         "--param", "concern=auth", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["errors"] == []
    # the simulated auditor reports a severity the cross-check does not escalate: 2 agents,
    # one a file, as the repository read for real says
    assert report["agents_by_phase"]["audit"] == 2


def test_dimension_review_verifies_findings_from_the_diff(
    git_repo: Any, model_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    git_repo.write("db.py", "def find(cur, name):\n    return cur.execute('SELECT 1')\n")
    git_repo.commit("init")
    git_repo.write("db.py", "def find(cur, name):\n"
                            "    return cur.execute(f\"SELECT * FROM t WHERE n = '{name}'\")\n")
    git_repo.commit("query by name")
    seen: list[str] = []

    def handler(request: MessagesRequest) -> Any:
        if request.role == "finder":
            seen.append(request.all_text)
            if "for security" in request.last_user_text:
                return {"findings": [{"path": "db.py", "line": 2, "title": "SQL injection",
                                      "explanation": "name is formatted into the query"}]}
            return {"findings": []}
        if request.role == "skeptic":
            return {"verdict": "confirmed", "reason": "an f-string builds the SQL"}
        raise AssertionError(f"unexpected role {request.role}")

    model_env(handler)
    code, out, err = cli(capsys, "run", str(REVIEW), "--repo", str(git_repo.path),
                         "--format", "json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    assert result["files"] == ["db.py"]
    assert [(r["dimension"], r["title"]) for r in result["confirmed"]] == [
        ("security", "SQL injection")]
    assert len(seen) == 2 and all("WHERE n = " in text for text in seen)  # the patch, as data
    assert "5 agents" in err  # 2 reviewers, 3 skeptics on the one finding
