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
