"""CommonJS method style (how express defines its API) and simple aliases of imported
names, from `reviewbot diff` and `reviewbot find` on real repositories."""

from __future__ import annotations

import json

import pytest

from reviewbot.cli import main

RESPONSE = """var res = Object.create(http.ServerResponse.prototype);
module.exports = res;

res.location = function location(url) {
  return this.set('Location', encodeurl(url));
};

exports.json = function json(obj) {
  return JSON.stringify(obj);
};

module.exports.send = (body) => {
  return body;
};
"""

CALLER = """var res = require('./response');

function redirect(url) {
  res.location(url);
}
"""


def _run(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, _err = capsys.readouterr()
    return int(exit_info.value.code or 0), out


def test_commonjs_member_functions_are_changed_symbols(git_repo, capsys) -> None:
    git_repo.write("lib/response.js", RESPONSE)
    git_repo.write("lib/redirect.js", CALLER)
    base = git_repo.commit("base")
    changed = (
        RESPONSE.replace("encodeurl(url)", "encodeurl(String(url))")
        .replace("JSON.stringify(obj)", "JSON.stringify(obj, null, 2)")
        .replace("return body;", "return String(body);")
    )
    git_repo.write("lib/response.js", changed)
    head = git_repo.commit("change three methods")
    code, out = _run(capsys, "diff", str(git_repo.path), "--base", base, "--head", head, "--json")
    assert code == 0
    symbols = {
        (s["qualified"], s["kind"], s["start_line"]): s for s in json.loads(out)["changed_symbols"]
    }
    assert set(symbols) == {
        ("res.location", "method", 4),
        ("exports.json", "method", 8),
        ("module.exports.send", "method", 12),
    }
    callers = symbols[("res.location", "method", 4)]["callers"]
    assert ("lib/redirect.js", 4) in [(c["path"], c["start_line"]) for c in callers]


ALIASES_JS = """var path = require('path');
var send = require('send');
var extname = path.extname;
const { lookup } = send.mime;
var join = path.join;
join = function () {};

function f(file) {
  extname(file);
  lookup(file);
  join('a');
}
"""

ALIASES_PY = """import os

j = os.path.join
k = os.path.join
k = str


def f():
    j("a", "b")
    k("a")
"""


def _find(capsys, target: str) -> list[tuple[str, int, str, bool]]:
    code, out = _run(capsys, "find", target, "--json", "--no-cache")
    assert code == 0, out
    return [
        (s["path"], s["start_line"], s["matched_text"], s["uncertain"])
        for s in json.loads(out)["sites"]
    ]


def test_single_assignment_aliases_of_imported_names_are_followed(
    git_repo, capsys, monkeypatch
) -> None:
    git_repo.write("a.js", ALIASES_JS)
    git_repo.write("b.py", ALIASES_PY)
    git_repo.commit("aliases")
    monkeypatch.chdir(git_repo.path)  # `reviewbot find` searches the repository it runs in
    assert _find(capsys, "path.extname") == [("a.js", 9, "extname", False)]
    assert _find(capsys, "send.mime.lookup") == [("a.js", 10, "lookup", False)]
    # `join` is bound again: it may no longer be path.join
    assert _find(capsys, "path.join") == [("a.js", 11, "join", True)]
    assert _find(capsys, "os.path.join") == [
        ("b.py", 9, "j", False),
        ("b.py", 10, "k", True),
    ]
