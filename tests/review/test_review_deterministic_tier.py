"""The deterministic tier agrees with the tools users trust (`ruff check --no-fix`,
`node --check`): minimal repros of what went wrong on real releases, each on a real git
repository built in the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reviewbot.config import Severity
from reviewbot.review import deterministic_findings, open_target

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    return subprocess.run(
        [sys.executable, "-m", "reviewbot", "review", str(repo), "--quiet", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )


def _det(repo: Any) -> Any:
    target = open_target(repo.path)
    return deterministic_findings(target.base_view, target.head_view, target.changes.files)


def test_fix_true_in_the_project_config_does_not_rewrite_before_reporting(git_repo: Any) -> None:
    """flask ships `fix = true`: ruff fixed F401 away and moved F821 onto a blank line."""
    git_repo.write("pyproject.toml",
                   '[tool.ruff]\nfix = true\n\n[tool.ruff.lint]\nselect = ["F401", "F821"]\n')
    git_repo.write("m.py", "x = 1\n")
    git_repo.commit("base")
    head = "import os\nimport sys\n\nx = 1\ny = undefined\n"
    git_repo.write("m.py", head)
    det = _det(git_repo)
    assert [(f.rule, f.start_line) for f in det.findings] == [
        ("F401", 1), ("F401", 2), ("F821", 5)]
    f821 = det.findings[-1]
    assert f821.evidence == "y = undefined" and f821.start_column == 5
    assert (git_repo.path / "m.py").read_text() == head


def test_base_without_python_files(git_repo: Any) -> None:
    git_repo.write("README.md", "hello\n")
    git_repo.commit("base")
    git_repo.write("a.py", "import os\n")
    proc = _cli(git_repo.path, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    found = [(f["path"], f["rule"], f["start_line"], f["start_column"])
             for f in json.loads(proc.stdout)["findings"]]
    assert found == [("a.py", "F401", 1, 8)]


def test_two_findings_of_one_rule_on_one_line_stay_apart(git_repo: Any) -> None:
    """requests `adapters.py:95`: two UP006 on one line shared a fingerprint."""
    git_repo.write("ruff.toml", 'target-version = "py311"\n[lint]\nselect = ["UP006"]\n')
    git_repo.write("m.py", "X = 1\n")
    base = git_repo.commit("base")
    git_repo.write("m.py", "from typing import List\n\n"
                           "def f(a: List[int], b: List[int]) -> None: ...\nX = 1\n")
    proc = _cli(git_repo.path, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    assert [(f["rule"], f["start_line"], f["start_column"], f["end_column"])
            for f in findings] == [("UP006", 3, 10, 14), ("UP006", 3, 24, 28)]
    assert findings[0]["fingerprint"] != findings[1]["fingerprint"]

    proc = _cli(git_repo.path, "--format", "sarif")
    results = json.loads(proc.stdout)["runs"][0]["results"]
    regions = [r["locations"][0]["physicalLocation"]["region"] for r in results]
    assert [(r["startLine"], r["startColumn"], r["endColumn"]) for r in regions] == [
        (3, 10, 14), (3, 24, 28)]
    fps = {r["partialFingerprints"]["reviewbotFingerprint/v1"] for r in results}
    assert len(fps) == 2

    # Re-indenting the line and moving it down keeps both fingerprints.
    git_repo.commit("head")
    git_repo.write("m.py", "from typing import List\n\n\nif True:\n"
                           "    def f(a: List[int], b: List[int]) -> None: ...\nX = 1\n")
    moved = _cli(git_repo.path, "--format", "json", "--base", base)
    assert {f["fingerprint"] for f in json.loads(moved.stdout)["findings"]} == {
        f["fingerprint"] for f in findings}


BLOCK_A = """    with pytest.raises(ValueError):
        value = int(text)
        print(value)
"""
BLOCK_B = """    with pytest.raises(ValueError):
        other = float(text)
        print(other)
"""


def test_moved_multiline_diagnostic_is_matched_on_all_its_lines(git_repo: Any) -> None:
    """requests `test_requests.py:1006-1008`: a PT012 block that moved (and one that was
    edited inside) is the base's diagnostic, not a new one; a new block with the same first
    line is new."""
    git_repo.write("ruff.toml", '[lint]\nselect = ["PT012"]\n')
    git_repo.write("test_m.py", "import pytest\n\n\ndef test_a(text):\n" + BLOCK_A
                   + "\n\ndef test_c(text):\n    with pytest.raises(KeyError):\n"
                   "        d = {}[text]\n        print(d)\n")
    git_repo.commit("base")
    # test_b (new, same first line as A's block) comes first; A moves below it; in
    # test_c a neighbouring argument changes inside the block.
    git_repo.write("test_m.py", "import pytest\n\n\ndef test_b(text):\n" + BLOCK_B
                   + "\n\ndef test_a(text):\n" + BLOCK_A
                   + "\n\ndef test_c(text):\n    with pytest.raises(KeyError):\n"
                   "        d = {}[text.strip()]\n        print(d)\n")
    det = _det(git_repo)
    assert [(f.rule, f.start_line, f.end_line) for f in det.findings] == [("PT012", 5, 7)]
    assert "other = float(text)" in det.findings[0].evidence


def test_requires_python_is_the_target_version(git_repo: Any) -> None:
    """rich (Poetry, Python 3.8) got `Tuple` -> `tuple` rewrites it cannot use."""
    git_repo.write("pyproject.toml",
                   '[tool.poetry.dependencies]\npython = ">=3.8.0"\n\n'
                   '[tool.ruff.lint]\nselect = ["UP006", "F821"]\n')
    git_repo.write("m.py", "X = 1\n")
    git_repo.commit("base")
    git_repo.write("m.py", "from typing import Tuple\n\nX: Tuple[int, int] = (1, y)\n")
    assert [f.rule for f in _det(git_repo).findings] == ["F821"]

    git_repo.write("pyproject.toml",
                   '[project]\nname = "m"\nrequires-python = ">=3.10"\n\n'
                   '[tool.ruff.lint]\nselect = ["UP006", "F821"]\n')
    assert sorted(f.rule for f in _det(git_repo).findings) == ["F821", "UP006"]

    # The project's own target version wins over requires-python.
    git_repo.write("pyproject.toml",
                   '[tool.poetry.dependencies]\npython = "^3.8"\n\n'
                   '[tool.ruff]\ntarget-version = "py312"\n\n'
                   '[tool.ruff.lint]\nselect = ["UP006", "F821"]\n')
    assert sorted(f.rule for f in _det(git_repo).findings) == ["F821", "UP006"]


EXPORTS = "const a = 1;\nconst functionType = 2;\nexport {\n  a,\n  functionType as function,\n};\n"

ONE_LINE = "const a = 1;\nconst functionType = 2;\nexport { a, functionType as function };\n"


def test_parse_failure_the_base_already_had_is_not_new(git_repo: Any) -> None:
    """zod's `export { functionType as function }` fails tree-sitter at base and head;
    the statement's text changed, the failure did not."""
    git_repo.write("lib/index.mjs", EXPORTS)
    git_repo.write("lib/one.mjs", ONE_LINE)
    git_repo.write("m.py", "def f(:\n    pass\n")
    git_repo.commit("base")
    edited = EXPORTS.replace("const a = 1;\n", "const a = 1;\nconst b = 2;\n")
    git_repo.write("lib/index.mjs", edited.replace("  a,\n", "  a,\n  b,\n"))
    # zod's generated build has the whole export list on one line, which every new export
    # rewrites.
    git_repo.write("lib/one.mjs", "const b = 2;\n" + ONE_LINE.replace("{ a,", "{ a, b,"))
    git_repo.write("m.py", "def f(:\n    return 1\n")
    assert _det(git_repo).findings == []


def test_a_new_error_in_a_construct_that_already_failed_is_new(git_repo: Any) -> None:
    git_repo.write("m.go", "package main\n\nfunc f() {\n\tx := (1\n}\n")
    git_repo.commit("base")
    git_repo.write("m.go", "package main\n\nfunc f() {\n\tx := (1\n\ty := 2 +\n}\n\n"
                           "func g() {\n\tz := 3 +\n}\n")
    det = _det(git_repo)
    assert [f.start_line for f in det.findings if f.start_line >= 8] == [9]
    # No second parser for Go here: reported, but not as high.
    assert {f.severity for f in det.findings} == {Severity.MEDIUM}


@needs_node
def test_severity_follows_the_language_parser(git_repo: Any) -> None:
    git_repo.write("README.md", "x\n")
    git_repo.commit("base")
    git_repo.write("lib/index.mjs", EXPORTS)  # a grammar gap node accepts
    git_repo.write("app.js", "function f(a) {\n  return a +;\n}\n")  # a real error
    git_repo.write("m.py", "def f(:\n    pass\n")
    got = {(f.path, f.start_line, f.severity) for f in _det(git_repo).findings}
    assert got == {
        ("lib/index.mjs", 5, Severity.INFO),
        ("app.js", 2, Severity.HIGH),
        ("m.py", 1, Severity.HIGH),
    }
