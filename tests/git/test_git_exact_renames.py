"""`reviewbot diff` pairs exact renames as `git diff -M` does, whatever the rename limit."""

from __future__ import annotations

import json

import pytest

from reviewbot.cli import main


def _git_entries(git_repo, base: str, head: str) -> list[tuple[str, ...]]:
    out = git_repo.git("diff", "-M", "--name-status", base, head)
    return sorted(tuple(line.split("\t")) for line in out.splitlines())


def _ours(capsys, git_repo, base: str, head: str) -> list[tuple[str, ...]]:
    with pytest.raises(SystemExit) as exit_info:
        main(["diff", str(git_repo.path), "--base", base, "--head", head, "--json"])
    out, _ = capsys.readouterr()
    assert not exit_info.value.code
    report = json.loads(out)
    letters = {"added": "A", "modified": "M", "deleted": "D"}
    entries = []
    for f in report["files"]:
        if f["status"] == "renamed":
            entries.append((f"R{f['similarity']:03d}", f["old_path"], f["path"]))
        else:
            entries.append((letters[f["status"]], f["path"]))
    return sorted(entries)


def test_identical_one_line_files_moved_are_renames_as_git_counts_them(git_repo, capsys) -> None:
    # two identical one-line files (express ships such index.js stubs), distinct ones, an
    # edited file and a real deletion; a low rename limit makes libgit2 give up on pairing
    git_repo.write("lib/a/index.js", "module.exports = require('./lib');\n")
    git_repo.write("lib/b/index.js", "module.exports = require('./lib');\n")
    for n in range(5):
        git_repo.write(f"docs/p{n}.md", f"page {n}\n")
    git_repo.write("keep.js", "var x = 1;\n")
    git_repo.write("gone.js", "var gone = 1;\n")
    base = git_repo.commit("base")
    git_repo.git("config", "diff.renameLimit", "1")
    (git_repo.path / "src").mkdir()
    (git_repo.path / "pages").mkdir()
    git_repo.git("mv", "lib/a", "src/a")
    git_repo.git("mv", "lib/b", "src/b")
    for n in range(5):
        git_repo.git("mv", f"docs/p{n}.md", f"pages/p{n}.md")
    git_repo.write("keep.js", "var x = 2;\n")
    git_repo.git("rm", "-q", "gone.js")
    git_repo.write("new.js", "var fresh = 1;\n")
    head = git_repo.commit("move")
    want = _git_entries(git_repo, base, head)
    assert len(want) == 10 and sum(e[0] == "R100" for e in want) == 7
    assert _ours(capsys, git_repo, base, head) == want
