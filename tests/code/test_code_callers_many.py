"""One pass for many names: the same answers as one search per name, with a shared cache."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import GitRepo

from reviewbot.code import (
    CallSearch,
    CallSite,
    CallTarget,
    ChangedSymbol,
    changed_symbols,
    definitions,
    find_calls,
    find_calls_many,
    parse_file,
    python_module,
)
from reviewbot.code import search as search_module
from reviewbot.errors import UsageError
from reviewbot.git import ChangeSet, Repo, RepoView


def _write(repo: GitRepo, files: dict[str, str]) -> None:
    for path, text in files.items():
        repo.write(path, textwrap.dedent(text).lstrip("\n"))


CORE = """
import json


def load(path):
    return json.loads(open(path).read())


def save(path, data):
    helper(data)
    return json.dumps(data)


def helper(data):
    if data:
        return helper(data[1:])
    return data


def gone(x):
    return x + 1


class Store:
    def get(self, key):
        return load(key)

    def put(self, key, value):
        return save(key, value)


class Legacy:
    def get(self):
        return gone(1)
"""

EXTRA = """
def old_tool():
    return 1


def kept_tool(items):
    total = 0
    for item in items:
        if item is None:
            continue
        total += item
    return total
"""

MAIN = """
from pkg.core import load, save as persist, gone, Legacy
import pkg.core as pc
from pkg import core
from pkg.extra import old_tool


def run(store):
    data = load("a")
    persist("b", data)
    pc.helper(data)
    core.Store().get("k")
    store.put("k", 1)
    old_tool()
    return gone(2), Legacy().get()


def get(x):
    return x


get(3)
"""

UI = "export function render(x) {\n  return x + 1;\n}\n"
CALL_UI = "import { render } from './ui';\nrender(1);\nrender(2);\n"


def _per_symbol(
    head: RepoView, base: RepoView, changes: ChangeSet, symbols: list[ChangedSymbol]
) -> list[list[CallSite]]:
    """Each symbol's callers found with one or two `find_calls` of its own, no cache."""
    old_paths = {c.path: c.old_path or c.path for c in changes.files}
    out = []
    for s in symbols:
        view, path = (base, old_paths[s.path]) if s.deleted else (head, s.path)
        parsed = parse_file(view, path)
        (d,) = [
            d
            for d in definitions(parsed.tree.root_node, parsed.language)
            if d.qualified == s.qualified and d.start_line == s.start_line
        ]
        sites = {
            (c.path, c.start_byte): c
            for c in find_calls(head, d.name, by_name=True, use_cache=False).sites
        }
        module = python_module(path)
        if module is not None and "." not in d.qualified:
            for c in find_calls(head, f"{module}.{d.name}", use_cache=False).sites:
                sites[(c.path, c.start_byte)] = c
        out.append(
            sorted(
                (
                    c
                    for c in sites.values()
                    if s.deleted
                    or not (c.path == path and d.start_byte <= c.start_byte < d.end_byte)
                ),
                key=lambda c: (c.uncertain, c.path, c.start_byte),
            )
        )
    return out


def test_changed_symbols_match_one_search_per_symbol(git_repo: GitRepo, tmp_path: Path) -> None:
    _write(
        git_repo,
        {
            "pkg/__init__.py": "",
            "pkg/core.py": CORE,
            "pkg/extra.py": EXTRA,
            "app/main.py": MAIN,
            "web/ui.js": UI,
            "web/call.js": CALL_UI,
        },
    )
    base = git_repo.commit("base")
    core = (
        CORE.replace("json.loads(open(path).read())", "json.load(open(path))")
        .replace("    helper(data)\n", "    helper(list(data))\n")
        .replace("def gone(x):\n    return x + 1\n\n\n", "")
        .replace("        return load(key)", "        return load(str(key))")
    )
    core = core[: core.index("class Legacy")]
    _write(git_repo, {"pkg/core.py": core, "web/ui.js": UI.replace("x + 1", "x + 2")})
    git_repo.git("mv", "pkg/extra.py", "pkg/tools.py")
    _write(git_repo, {"pkg/tools.py": EXTRA[EXTRA.index("def kept_tool") :]})
    head = git_repo.commit("change")

    repo = Repo.open(git_repo.path)
    changes = ChangeSet.between(repo, base, head)
    head_view, base_view = RepoView.at(repo, head), RepoView.at(repo, base)
    cache = tmp_path / "cache"
    symbols = changed_symbols(head_view, changes, base_view=base_view, cache_dir=cache)

    got = {(s.path, s.qualified, s.deleted) for s in symbols}
    assert {
        ("pkg/core.py", "load", False),
        ("pkg/core.py", "save", False),
        ("pkg/core.py", "Store.get", False),
        ("pkg/core.py", "gone", True),
        ("pkg/core.py", "Legacy", True),
        ("web/ui.js", "render", False),
    } <= got
    assert [c.status for c in changes.files if c.path == "pkg/tools.py"] == ["renamed"]
    # gone from the renamed file: reported at its new path, its module is the old one
    assert ("pkg/tools.py", "old_tool", True) in got

    expected = _per_symbol(head_view, base_view, changes, symbols)
    for symbol, callers in zip(symbols, expected, strict=True):
        assert symbol.callers == callers, symbol.qualified
    by_key = {(s.qualified, s.deleted): s for s in symbols}
    assert [(c.path, c.matched_text, c.uncertain) for c in by_key[("load", False)].callers] == [
        ("app/main.py", "load", False),
        ("pkg/core.py", "load", False),
    ]
    assert [c.matched_text for c in by_key[("gone", True)].callers] == ["gone"]
    assert [c.start_line for c in by_key[("render", False)].callers] == [2, 3]
    # Store.get is found by name only: its callers are all uncertain, the local get() too
    assert {c.matched_text for c in by_key[("Store.get", False)].callers} >= {
        "core.Store().get",
        "get",
    }

    # a second run answers from the cache, with the same result
    again = changed_symbols(
        RepoView.at(repo, head), changes, base_view=RepoView.at(repo, base), cache_dir=cache
    )
    assert again == symbols


MIXED = {
    "app/aliases.py": """
        import requests as r
        from requests import get as g
        import os.path as osp

        def fetch(client):
            r.get("a")
            g("b")
            client.get("c")
            osp.join("x", "y")
            return get("d")
    """,
    "app/copy.py": """
        import requests as r
        from requests import get as g
        import os.path as osp

        def fetch(client):
            r.get("a")
            g("b")
            client.get("c")
            osp.join("x", "y")
            return get("d")
    """,
    "web/api.ts": """
        import axios from "axios";
        import { get } from "axios";
        axios.get("/a");
        get("/b");
    """,
    "go/main.go": """
        package main

        import "fmt"

        func main() { fmt.Println("a"); fmt.Printf("b") }
    """,
    "php/index.php": """
        <?php
        class Page {
            function render() { Cache::flush(); $this->flush(); strlen("x"); }
        }
    """,
    "rust/lib.rs": """
        use std::fs;
        fn load() { std::fs::read("a"); fs::read("b"); println!("c"); }
    """,
    "notes.txt": "requests.get\n",
}

NAMES: list[str | CallTarget] = [
    "requests.get",
    CallTarget.parse("get", by_name=True),
    "os.path.join",
    "axios.get",
    "fmt.Println",
    "Cache::flush",
    CallTarget.parse("flush", by_name=True),
    "strlen",
    "std::fs::read",
    "println!",
    "requests.get",  # twice: answered twice, searched once
    "nothing.calls_this",
]


def _one_by_one(view: RepoView, cache_dir: Path | None = None) -> list[CallSearch]:
    """One `find_calls` per name; without a cache directory, no cache."""
    use_cache = cache_dir is not None
    return [
        find_calls(view, n.shown, by_name=n.by_name, cache_dir=cache_dir, use_cache=use_cache)
        if isinstance(n, CallTarget)
        else find_calls(view, n, cache_dir=cache_dir, use_cache=use_cache)
        for n in NAMES
    ]


def _found(search: CallSearch) -> tuple[object, ...]:
    return search.target, search.sites, search.skipped, search.error_files, search.files_scanned


def test_find_calls_many_equals_one_find_calls_per_name(git_repo: GitRepo) -> None:
    _write(git_repo, MIXED)
    git_repo.commit("files")
    view = RepoView.at(Repo.open(git_repo.path), "HEAD")
    many = find_calls_many(view, NAMES, use_cache=False)
    single = _one_by_one(view)
    assert many == single
    counts = {s.target: len(s.sites) for s in many}
    assert counts["requests.get"] == 4 and counts["get"] == 8 and counts["axios.get"] == 2
    assert counts["flush"] == 2 and counts["println!"] == 1 and counts["nothing.calls_this"] == 0
    # identical files are parsed once, and a file is parsed only for names it may call
    assert many[0].files_parsed == 1 and many[2].files_parsed == 1
    assert find_calls_many(view, []) == []


def test_find_calls_many_shares_the_cache_with_find_calls(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    _write(git_repo, MIXED)
    git_repo.commit("files")
    repo = Repo.open(git_repo.path)
    cache = tmp_path / "cache"
    first = find_calls_many(RepoView.at(repo, "HEAD"), NAMES[:4], cache_dir=cache)
    assert all(s.files_cached == 0 for s in first)

    warm = _one_by_one(RepoView.at(repo, "HEAD"), cache_dir=cache)
    for cold, hot in zip(first, warm[:4], strict=True):
        assert hot.files_parsed == 0 and hot.files_cached == cold.files_scanned
        assert _found(hot) == _found(cold)

    # a change parses only the changed file, for every name at once
    git_repo.write("app/copy.py", "import requests\nrequests.get(1)\n")
    git_repo.commit("change")
    after = find_calls_many(RepoView.at(repo, "HEAD"), NAMES, cache_dir=cache)
    fresh = _one_by_one(RepoView.at(repo, "HEAD"))
    assert [_found(a) for a in after] == [_found(f) for f in fresh]
    assert all(a.files_parsed <= 1 and a.files_cached == a.files_scanned - 1 for a in after)
    assert after[0].files_parsed == 1
    assert after[0].counts() == {"app/aliases.py": 2, "app/copy.py": 1}


def test_find_calls_many_in_processes_gives_the_same_answer(
    git_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        f"m{i}.py": "import os\nimport requests\n"
        + "x = 1\n" * i
        + "os.path.join('a', 'b')\nrequests.get(x)\nobj.get(x)\n"
        for i in range(20)
    }
    _write(git_repo, files)
    git_repo.commit("files")
    view = RepoView.at(Repo.open(git_repo.path), "HEAD")
    names = ["os.path.join", "requests.get", CallTarget.parse("get", by_name=True)]
    inline = find_calls_many(view, names, use_cache=False, jobs=1)
    monkeypatch.setattr(search_module, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(search_module, "PARALLEL_MIN_BYTES_SPAWN", 0)
    pooled = find_calls_many(view, names, use_cache=False, jobs=2)
    assert pooled == inline
    assert [len(s.sites) for s in pooled] == [20, 20, 40]


def test_find_calls_many_rejects_bad_names_in_one_line(git_repo: GitRepo) -> None:
    _write(git_repo, {"a.py": "x = 1\n"})
    git_repo.commit("files")
    view = RepoView.at(Repo.open(git_repo.path), "HEAD")
    with pytest.raises(UsageError, match="give a name"):
        find_calls_many(view, ["requests.get", " "])
    with pytest.raises(UsageError, match="'f\\(x\\)' is not a name"):
        find_calls_many(view, [CallTarget.parse("f(x)")])


def test_many_names_split_files_into_words_with_the_same_answers(git_repo: GitRepo) -> None:
    # past a few dozen names each file is split into words once; `f1` only inside `f10`
    # is no call of f1, with either test
    lib = "".join(f"def f{i}(x):\n    return x\n\n\n" for i in range(40))
    files = {
        "pkg/__init__.py": "",
        "pkg/lib.py": lib,
        "app/a.py": "from pkg.lib import f10, f2 as two\nf10(1)\ntwo(2)\n",
        "app/b.py": "import pkg.lib as L\nL.f31(1)\nobj.f7(2)\n$f8 = 1\n",
        "web/c.js": "const { f12 } = require('pkg');\nf12(1);\n$f13(2);\n",
    }
    _write(git_repo, files)
    git_repo.commit("files")
    view = RepoView.at(Repo.open(git_repo.path), "HEAD")
    names: list[str | CallTarget] = [f"pkg.lib.f{i}" for i in range(40)]
    names += [CallTarget.parse(f"f{i}", by_name=True) for i in range(40)]
    many = find_calls_many(view, names, use_cache=False)
    single = [
        find_calls(view, n.shown, by_name=True, use_cache=False)
        if isinstance(n, CallTarget)
        else find_calls(view, n, use_cache=False)
        for n in names
    ]
    assert many == single
    found = {(s.target, x.path, x.matched_text) for s in many for x in s.sites}
    assert {
        ("pkg.lib.f10", "app/a.py", "f10"),
        ("pkg.lib.f2", "app/a.py", "two"),
        ("pkg.lib.f31", "app/b.py", "L.f31"),
        ("f7", "app/b.py", "obj.f7"),
        ("f12", "web/c.js", "f12"),
    } <= found
    assert not any(t in ("pkg.lib.f1", "f1") for t, _, _ in found)
    # by name, f1 is looked for only in lib.py (its definition), though a.py and c.js hold
    # its bytes too (in f10, f12)
    assert names[41] == CallTarget.parse("f1", by_name=True)
    assert many[41].files_parsed == 1 and many[41].sites == []
