"""Rule-tier migrations end to end on real repositories: branch, verify, dry run, --limit reuse,
and the user's working tree, index and branch left exactly as they were."""

from __future__ import annotations

import json
import subprocess

from click.testing import CliRunner
from mig_rules import JOIN

from reviewbot.cli import cli

CHECK = """import pathlib, sys
# the tree must import, and every module must give the same answers as before
sys.path.insert(0, ".")
import pkg.a, pkg.b, pkg.c, pkg.d
assert pkg.a.f("x") == "x/a"
assert pkg.b.f("x") == "x/b/c"
"""


def make_repo(git_repo) -> None:
    git_repo.write("pkg/__init__.py", "")
    git_repo.write("pkg/a.py", 'import os\n\n\ndef f(p):\n    return os.path.join(p, "a")\n')
    git_repo.write(
        "pkg/b.py",
        "import os.path\nfrom pkg import a\n\n\ndef f(p):\n"
        '    return os.path.join(p,\n                        os.path.join("b", "c"))\n',
    )
    git_repo.write(
        "pkg/c.py", 'import os\n\ndef join(a, b):\n    return a + b\n\nX = os.path.join("a", "b")\n'
    )
    git_repo.write("pkg/d.py", '"""No sites here."""\nimport os\nY = os.sep\n')
    git_repo.write("check.py", CHECK)
    git_repo.commit("initial")


def snapshot(git_repo) -> tuple[str, str, str, str, bytes]:
    index = (git_repo.path / ".git" / "index").read_bytes()
    return (
        git_repo.git("status", "--porcelain", "--untracked-files=all"),
        git_repo.head(),
        git_repo.git("symbolic-ref", "HEAD"),
        git_repo.git("diff"),
        index,
    )


def dirty(git_repo) -> None:
    git_repo.write("pkg/a.py", (git_repo.path / "pkg/a.py").read_text() + "# local edit\n")
    git_repo.git("add", "pkg/a.py")
    git_repo.write("pkg/d.py", (git_repo.path / "pkg/d.py").read_text() + "# unstaged\n")
    git_repo.write("notes.txt", "untracked\n")


def migrate(git_repo, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["migrate", *args, "--repo", str(git_repo.path), "--quiet"], catch_exceptions=False
    )
    return result.exit_code, result.stdout if "json" in args else result.output


def test_rule_tier_across_files_assembled_and_verified_tree_untouched(git_repo) -> None:
    make_repo(git_repo)
    dirty(git_repo)
    before = snapshot(git_repo)
    code, out = migrate(
        git_repo, "use join", *JOIN, "--verify", "python check.py", "--format", "json"
    )
    assert code == 0, out
    assert snapshot(git_repo) == before  # status, HEAD, current branch, diff and index
    data = json.loads(out)
    by_path = {f["path"]: f for f in data["files"]}
    assert by_path["pkg/a.py"]["status"] == "migrated" and by_path["pkg/a.py"]["tier"] == "rule"
    assert by_path["pkg/b.py"]["status"] == "migrated"
    assert (
        by_path["pkg/c.py"]["status"] == "skipped"
        and "shadow join" in by_path["pkg/c.py"]["reason"]
    )
    assert "no model configured" in by_path["pkg/c.py"]["reason"]
    assert "pkg/d.py" not in by_path
    assert data["assembly"]["verify"]["passed"] is True
    branch = data["branch"]
    assert branch == "reviewbot/migrate-use-join"
    b_new = git_repo.git("show", f"{branch}:pkg/b.py")
    assert b_new == (
        # the added import in the standard library's place, before first-party `pkg`
        "from os.path import join\nfrom pkg import a\n\n\ndef f(p):\n"
        '    return join(p,\n                        join("b", "c"))'
    )
    changed = git_repo.git("diff", "--name-only", f"{data['base']}..{branch}").split()
    assert changed == ["pkg/a.py", "pkg/b.py"]
    # the assembled branch really passes the check (run it in a fresh checkout)
    out_dir = git_repo.path.parent / "check"
    subprocess.run(
        ["git", "worktree", "add", "-q", "--detach", str(out_dir), branch],
        cwd=git_repo.path,
        check=True,
    )
    subprocess.run(["python", "check.py"], cwd=out_dir, check=True)
    sites = {(s["path"], s["line"]): s["status"] for s in data["sites"]}
    assert sites[("pkg/b.py", 6)] == "migrated" and sites[("pkg/c.py", 6)] == "skipped"


def test_dry_run_then_limit_then_full_run_reuses_the_sample(git_repo) -> None:
    make_repo(git_repo)
    before = snapshot(git_repo)
    code, out = migrate(git_repo, "use join", *JOIN, "--dry-run")
    assert code == 0, out
    assert "found 4 sites in 3 files" in out
    assert "pkg/a.py: lines 5 · rule tier" in out
    assert "pkg/c.py: lines 6 · needs a model (rule not applied" in out
    assert "rule tier covers 2 · 1 need a model · estimated $" in out
    assert git_repo.git("branch", "--list", "reviewbot/*") == ""
    code, out = migrate(git_repo, "use join", *JOIN, "--dry-run", "--paths", "pkg/b*")
    assert "found 2 sites in 1 files" in out and "pkg/a.py" not in out

    code, out = migrate(git_repo, "use join", *JOIN, "--limit", "1", "--format", "json")
    sample = json.loads(out)
    assert [f["path"] for f in sample["files"]] == ["pkg/a.py"]
    code, out = migrate(git_repo, "use join", *JOIN, "--format", "json")
    full = json.loads(out)
    by_path = {f["path"]: f for f in full["files"]}
    assert by_path["pkg/a.py"]["reused"] is True
    assert by_path["pkg/a.py"]["commit"] == sample["files"][0]["commit"]
    assert by_path["pkg/b.py"]["reused"] is False and by_path["pkg/b.py"]["status"] == "migrated"
    assert snapshot(git_repo) == before


def test_text_report(git_repo) -> None:
    make_repo(git_repo)
    code, out = migrate(git_repo, "use join", *JOIN, "--verify", "python check.py")
    assert code == 0, out
    assert "files: 3 of 3 · 2 migrated · 1 skipped (by tier: rule 2)" in out
    assert "assembled branch: --verify passed" in out
    assert "review it: git diff " in out and "..reviewbot/migrate-use-join" in out
    assert "cost: 0 agents" in out


def test_bad_input_is_one_line(git_repo) -> None:
    make_repo(git_repo)
    result = CliRunner().invoke(
        cli, ["migrate", "x", "--rewrite", "f({args})", "--repo", str(git_repo.path)]
    )
    assert "--find SYMBOL, --query FILE or --rule FILE" in str(result.exception)


def test_sites_already_in_the_target_form_are_not_leftovers(git_repo) -> None:
    git_repo.write(
        "m.py",
        "import os\nfrom os.path import join\n\nA = join('a', 'b')\nB = os.path.join('c', 'd')\n",
    )
    git_repo.write("n.py", "from os.path import join\n\nA = join('a', 'b')\n")
    git_repo.commit("initial")
    code, out = migrate(git_repo, "use join", *JOIN, "--format", "json")
    files = {f["path"]: f for f in json.loads(out)["files"]}
    assert files["m.py"]["status"] == "migrated", files["m.py"]
    assert files["m.py"]["kept_sites"] == {"4": "already in the target form"}
    assert files["n.py"]["status"] == "skipped"
    assert files["n.py"]["reason"] == "every site is already in the target form"
    m_new = git_repo.git("show", "reviewbot/migrate-use-join:m.py")
    assert m_new.endswith("A = join('a', 'b')\nB = join('c', 'd')")


def test_refuses_to_write_the_checked_out_branch(git_repo) -> None:
    make_repo(git_repo)
    git_repo.git("checkout", "-q", "-b", "reviewbot/migrate-use-join")
    result = CliRunner().invoke(cli, ["migrate", "use join", *JOIN, "--repo", str(git_repo.path)])
    assert "is checked out in your working tree; pass --branch NAME" in str(result.exception)


def test_keep_imports_leaves_imports_the_rewrite_made_unused(git_repo) -> None:
    make_repo(git_repo)
    code, _ = migrate(git_repo, "use join", *JOIN, "--branch", "pruned")
    assert code == 0
    assert "import os\n" not in git_repo.git("show", "pruned:pkg/a.py") + "\n"
    code, _ = migrate(git_repo, "use join", *JOIN, "--keep-imports", "--branch", "kept")
    assert code == 0
    kept = git_repo.git("show", "kept:pkg/a.py")
    assert kept.startswith("import os\n") and "return join(p, " in kept
