"""Call-site discovery on real git repositories: aliases per language, skips, errors, cache."""

from __future__ import annotations

import textwrap

import pytest
from conftest import GitRepo

from reviewbot.code import CallSite, find_calls, language_for_path, languages, syntax_errors
from reviewbot.git import Repo, RepoView


def _view(git_repo: GitRepo, files: dict[str, str]) -> RepoView:
    for path, text in files.items():
        git_repo.write(path, textwrap.dedent(text).lstrip("\n"))
    git_repo.commit("files")
    return RepoView.at(Repo.open(git_repo.path), "HEAD")


def _where(sites: list[CallSite]) -> list[tuple[str, int, str, bool]]:
    return [(s.path, s.start_line, s.matched_text, s.uncertain) for s in sites]


PYTHON = {
    "app/aliases.py": """
        import requests as r
        from requests import get as g
        import requests
        from requests import get


        def fetch():
            r.get("a")
            g("b")
            requests.get("c")
            get("d")
            requests.post("no")
            r.getx("no")


        class Client:
            def load(self):
                return r.get(
                    "multi-line"
                )
    """,
    "app/star.py": """
        from requests import *

        get("maybe")
    """,
    "app/unimported.py": """
        def get(x):
            return x

        get("local")
        requests.get("no import, so not the library")
    """,
    "app/paths.py": """
        import os.path
        import os.path as osp
        from os import path as p
        from os.path import join
        import os

        os.path.join("a"); osp.join("b"); p.join("c"); join("d")
        ", ".join(["not", "it"])
    """,
}


def test_python_aliases_resolve_through_imports(git_repo: GitRepo) -> None:
    view = _view(git_repo, PYTHON)
    result = find_calls(view, "requests.get")
    assert _where(result.sites) == [
        ("app/aliases.py", 8, "r.get", False),
        ("app/aliases.py", 9, "g", False),
        ("app/aliases.py", 10, "requests.get", False),
        ("app/aliases.py", 11, "get", False),
        ("app/aliases.py", 18, "r.get", False),
        ("app/star.py", 3, "get", True),
    ]
    load = result.sites[4]
    assert load.enclosing == "Client.load"
    assert (load.start_line, load.end_line, load.start_col) == (18, 20, 16)
    assert load.snippet == "return r.get("
    assert result.sites[0].enclosing == "fetch"
    assert result.sites[0].qualified_name == "requests.get"
    source = view.read_bytes("app/aliases.py")
    assert source[load.start_byte : load.end_byte].startswith(b"r.get(")
    assert result.counts() == {"app/aliases.py": 5, "app/star.py": 1}


def test_python_submodule_and_attribute_chains(git_repo: GitRepo) -> None:
    view = _view(git_repo, PYTHON)
    result = find_calls(view, "os.path.join")
    assert [s.matched_text for s in result.sites] == ["os.path.join", "osp.join", "p.join", "join"]
    assert {s.path for s in result.sites} == {"app/paths.py"}


JS = {
    "web/a.js": """
        import axios from "axios";
        import { get as fetchIt, post } from 'axios';
        import * as ax from "axios";
        axios.get("/1");
        fetchIt("/2");
        ax.get("/3");
        post("/no");
        other.get("/no");
    """,
    "web/b.cjs": """
        const { get: g, put } = require("axios");
        const client = require("axios");
        const direct = require("axios").get;
        function load() { g("/4"); client.get("/5"); direct("/6"); put("/no"); }
    """,
    "web/c.mjs": """
        import { readFile as rf } from "node:fs/promises";
        import fs from "fs";
        await rf("x");
        fs.readFileSync("y");
    """,
}
TS = {
    "src/api.ts": """
        import axios, { get as g } from "axios";
        import http = require("axios");
        export class Api {
          load(): Promise<unknown> {
            g<string>("/1");
            return axios.get("/2");
          }
        }
        const arrow = () => http.get("/3");
    """,
    "src/view.tsx": """
        import * as ax from "axios";
        export function View() {
          ax.get("/4");
          return <div onClick={() => ax.get("/5")} />;
        }
    """,
}


def test_javascript_import_and_require_bindings(git_repo: GitRepo) -> None:
    view = _view(git_repo, JS)
    result = find_calls(view, "axios.get")
    assert _where(result.sites) == [
        ("web/a.js", 4, "axios.get", False),
        ("web/a.js", 5, "fetchIt", False),
        ("web/a.js", 6, "ax.get", False),
        ("web/b.cjs", 4, "g", False),
        ("web/b.cjs", 4, "client.get", False),
        ("web/b.cjs", 4, "direct", False),
    ]
    assert result.sites[3].enclosing == "load"
    assert [s.matched_text for s in find_calls(view, "fs/promises.readFile").sites] == ["rf"]
    assert [s.matched_text for s in find_calls(view, "fs.readFileSync").sites] == [
        "fs.readFileSync"
    ]


def test_typescript_and_tsx_bindings(git_repo: GitRepo) -> None:
    view = _view(git_repo, TS)
    result = find_calls(view, "axios.get")
    assert _where(result.sites) == [
        ("src/api.ts", 5, "g", False),
        ("src/api.ts", 6, "axios.get", False),
        ("src/api.ts", 9, "http.get", False),
        ("src/view.tsx", 3, "ax.get", False),
        ("src/view.tsx", 4, "ax.get", False),
    ]
    assert [s.language for s in result.sites] == ["typescript"] * 3 + ["tsx"] * 2
    assert result.sites[1].enclosing == "Api.load"
    assert result.sites[2].enclosing == "arrow"


OTHER = {
    "go/main.go": """
        package main

        import "fmt"

        type Server struct{}

        func (s *Server) Run() {
            fmt.Println("a")
            fmt.Printf("no")
        }
    """,
    "java/App.java": """
        class App {
            void run() {
                System.out.println("a");
                java.lang.System.out.println("b");
                out.println("no");
            }
        }
    """,
    "rust/lib.rs": """
        use std::fs;
        impl Store {
            fn load(&self) {
                std::fs::read("a");
                fs::read("b");
                read("no");
            }
        }
    """,
    "ruby/app.rb": """
        class Loader
          def load
            File.read("a")
            read("no")
          end
        end
    """,
    "c/main.c": """
        #include <stdio.h>
        int main(void) { printf("a"); fprintf(stderr, "no"); return 0; }
    """,
    "cpp/sort.cpp": """
        namespace util {
        void Sorter::run() { std::sort(a, b); sort(c, d); }
        }
    """,
    "cs/App.cs": """
        namespace Demo {
          class App {
            void Main() { Console.WriteLine("a"); Console.Write("no"); }
          }
        }
    """,
    "php/index.php": """
        <?php
        class Page {
            function render() { Cache::flush(); $this->flush(); strlen("x"); }
        }
    """,
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fmt.Println", [("go/main.go", 8, "fmt.Println", False, "Server.Run")]),
        (
            "System.out.println",
            [
                ("java/App.java", 3, "System.out.println", False, "App.run"),
                ("java/App.java", 4, "java.lang.System.out.println", True, "App.run"),
                # could be a static import of System.out: reported, as uncertain
                ("java/App.java", 5, "out.println", True, "App.run"),
            ],
        ),
        (
            "std::fs::read",
            [
                ("rust/lib.rs", 4, "std::fs::read", False, "Store.load"),
                ("rust/lib.rs", 5, "fs::read", True, "Store.load"),
            ],
        ),
        ("File.read", [("ruby/app.rb", 3, "File.read", False, "Loader.load")]),
        ("printf", [("c/main.c", 2, "printf", False, "main")]),
        ("std::sort", [("cpp/sort.cpp", 2, "std::sort", False, "util.Sorter.run")]),
        ("Console.WriteLine", [("cs/App.cs", 3, "Console.WriteLine", False, "Demo.App.Main")]),
        ("Cache::flush", [("php/index.php", 3, "Cache::flush", False, "Page.render")]),
        ("strlen", [("php/index.php", 3, "strlen", False, "Page.render")]),
    ],
)
def test_other_languages_match_qualified_text(
    git_repo: GitRepo, name: str, expected: list[tuple[object, ...]]
) -> None:
    view = _view(git_repo, OTHER)
    result = find_calls(view, name)
    got = [(s.path, s.start_line, s.matched_text, s.uncertain, s.enclosing) for s in result.sites]
    assert got == expected
    assert all(s.qualified_name == name for s in result.sites)


def test_every_registered_grammar_loads_and_parses() -> None:
    samples = {
        "python": b"def f():\n    return 1\n",
        "javascript": b"function f() { return 1 }",
        "typescript": b"function f(): number { return 1 }",
        "tsx": b"const a = <div/>;",
        "go": b"package m\nfunc f() {}\n",
        "java": b"class A {}",
        "rust": b"fn f() {}",
        "ruby": b"def f; end",
        "c": b"int f(void) { return 1; }",
        "cpp": b"class A {};",
        "csharp": b"class A {}",
        "php": b"<?php function f() {}",
    }
    assert {lang.name for lang in languages()} == set(samples)
    for lang in languages():
        assert syntax_errors(samples[lang.name], lang) == [], lang.name
    for path, name in [
        ("a.py", "python"),
        ("a.jsx", "javascript"),
        ("a.mjs", "javascript"),
        ("a.cjs", "javascript"),
        ("a.ts", "typescript"),
        ("a.tsx", "tsx"),
        ("a.go", "go"),
        ("A.java", "java"),
        ("a.rs", "rust"),
        ("a.rb", "ruby"),
        ("a.c", "c"),
        ("a.hpp", "cpp"),
        ("A.cs", "csharp"),
        ("a.php", "php"),
    ]:
        found = language_for_path(path)
        assert found is not None and found.name == name, path
    assert language_for_path("README.md") is None
    assert language_for_path("build.kts") is None


def test_unknown_languages_are_skipped_with_a_reason(git_repo: GitRepo) -> None:
    view = _view(
        git_repo,
        {
            "app/main.py": "import requests\nrequests.get('x')\n",
            "app/Main.kt": 'fun main() { requests.get("x") }\n',
            "docs/notes.md": "requests.get is documented here\n",
            "tools/script.weird": "requests.get()\n",
        },
    )
    result = find_calls(view, "requests.get")
    assert [s.path for s in result.sites] == ["app/main.py"]
    assert result.skipped == [("app/Main.kt", "no Kotlin grammar installed")]
    named = find_calls(view, "requests.get", paths=["tools/script.weird", "app"])
    assert (
        "tools/script.weird",
        "unknown language; pass --lang to choose a grammar",
    ) in named.skipped
    forced = find_calls(view, "requests.get", paths=["tools/script.weird"], lang="python")
    assert [s.path for s in forced.sites] == []  # parsed as Python: no import, so no match
    assert forced.files_scanned == 1 and forced.skipped == []


def test_syntax_errors_give_flagged_sites_not_crashes(git_repo: GitRepo) -> None:
    broken = (
        "import requests\n\ndef ok():\n    requests.get('a')\n\n"
        "def broken(:\n    requests.get('b')\n"
    )
    view = _view(
        git_repo,
        {
            "bad.py": broken,
            "good.py": "import requests\nrequests.get('c')\n",
            "bad.ts": "import axios from 'axios';\naxios.get(1);\nconst = ;\n",
        },
    )
    result = find_calls(view, "requests.get")
    assert [(s.path, s.start_line, s.in_error_tree) for s in result.sites] == [
        ("bad.py", 4, True),
        ("bad.py", 7, True),
        ("good.py", 2, False),
    ]
    assert result.error_files == ["bad.py"]
    ts_result = find_calls(view, "axios.get")
    assert [(s.path, s.in_error_tree) for s in ts_result.sites] == [("bad.ts", True)]
    errors = syntax_errors(broken.encode(), "python")
    assert errors and errors[0].line == 6
    assert syntax_errors(b"\xff\xfe\x00garbage(((", "python")  # bytes that are not even text


def test_binary_and_oversized_files_are_skipped(git_repo: GitRepo) -> None:
    git_repo.write("blob.py", b"requests.get\0\x01\x02")
    view = _view(git_repo, {"ok.py": "import requests\nrequests.get(1)\n"})
    result = find_calls(view, "requests.get")
    assert result.skipped == [("blob.py", "binary file")]
    assert len(result.sites) == 1


def test_second_scan_of_unchanged_repo_parses_nothing(git_repo: GitRepo) -> None:
    files = {
        f"pkg/m{i}.py": f"import json\n\ndef f{i}():\n    return json.dumps({i})\n"
        for i in range(12)
    }
    files["pkg/other.py"] = "def g():\n    return 1\n"
    view = _view(git_repo, files)
    repo = Repo.open(git_repo.path)
    first = find_calls(view, "json.dumps")
    assert first.files_parsed == 12 and first.files_cached == 0 and len(first.sites) == 12
    assert (repo.git_dir / "reviewbot" / "cache" / "calls.sqlite").is_file()

    again = find_calls(RepoView.at(repo, "HEAD"), "json.dumps")
    assert again.files_parsed == 0 and again.files_cached == 13
    assert again.sites == first.sites

    git_repo.write(
        "pkg/m3.py", "import json\n\ndef f3():\n    return json.dumps(3) or json.dumps(4)\n"
    )
    git_repo.commit("change one file")
    changed = find_calls(RepoView.at(repo, "HEAD"), "json.dumps")
    assert changed.files_parsed == 1 and changed.files_cached == 12
    assert len(changed.sites) == 13

    # the working tree view shares the cache: same blob ids
    worktree = find_calls(RepoView.working_tree(repo), "json.dumps")
    assert worktree.files_parsed == 0 and worktree.sites == changed.sites

    uncached = find_calls(RepoView.at(repo, "HEAD"), "json.dumps", use_cache=False)
    assert uncached.files_parsed == 13 - 1  # other.py is ruled out by the byte prefilter
    assert uncached.sites == changed.sites


def test_process_pool_gives_the_same_answer_as_inline(
    git_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reviewbot.code import search

    files = {
        f"m{i}.py": "import os\n" + "x = 1\n" * i + "os.path.join('a', 'b')\n" for i in range(20)
    }
    view = _view(git_repo, files)
    inline = find_calls(view, "os.path.join", use_cache=False, jobs=1)
    monkeypatch.setattr(search, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(search, "PARALLEL_MIN_BYTES_SPAWN", 0)
    pooled = find_calls(view, "os.path.join", use_cache=False, jobs=2)
    assert pooled.sites == inline.sites and len(pooled.sites) == 20


def test_by_name_finds_method_calls_as_uncertain(git_repo: GitRepo) -> None:
    view = _view(
        git_repo,
        {"m.py": "class A:\n    def save(self):\n        self.save()\n\nA().save()\nsave()\n"},
    )
    result = find_calls(view, "save", by_name=True)
    assert [(s.start_line, s.matched_text, s.uncertain) for s in result.sites] == [
        (3, "self.save", True),
        (5, "A().save", True),
        (6, "save", False),
    ]


def test_bad_input_is_a_one_line_usage_error(git_repo: GitRepo) -> None:
    from reviewbot.errors import UsageError

    view = _view(git_repo, {"a.py": "x = 1\n"})
    with pytest.raises(UsageError, match="give a name"):
        find_calls(view, "  ")
    with pytest.raises(UsageError, match="is not a name to search for"):
        find_calls(view, "requests.get(x)")
    assert find_calls(view, "requests.get()").target == "requests.get"
    with pytest.raises(UsageError, match="unknown language 'cobol'"):
        find_calls(view, "x", lang="cobol")
    with pytest.raises(UsageError, match="no such file or directory"):
        find_calls(view, "x", paths=["nope"])


def test_python_relative_imports_resolve_against_the_files_package(git_repo) -> None:
    from reviewbot.git import Repo, RepoView

    git_repo.write("src/pkg/__init__.py", "")
    git_repo.write("src/pkg/utils.py", "def helper(x):\n    return x\n")
    git_repo.write("src/pkg/views.py", "from .utils import helper\n\n\ndef v():\n"
                   "    return helper(1)\n")
    git_repo.write("src/pkg/other.py", "from . import utils\n\nY = utils.helper(2)\n")
    # the import names only the module segment (`.utils`): a star import, so uncertain
    git_repo.write("src/pkg/star.py", "from .utils import *\n\nhelper(6)\n")
    git_repo.write("src/pkg/sub/__init__.py", "from ..utils import helper as h\n\nZ = h(3)\n")
    # not the same function: a sibling package's own `utils`
    git_repo.write("src/pkg/sub/utils.py", "def helper(x):\n    return -x\n")
    git_repo.write("src/pkg/sub/mod.py", "from .utils import helper\n\nW = helper(4)\n")
    # a relative import climbing above the top package resolves to nothing
    git_repo.write("src/pkg/bad.py", "from ... import helper\n\nhelper(5)\n")
    git_repo.commit("relative imports")
    view = RepoView.at(Repo.open(git_repo.path), "HEAD")

    found = find_calls(view, "pkg.utils.helper", jobs=1)
    assert sorted((s.path, s.start_line) for s in found.sites) == [
        ("src/pkg/other.py", 3),
        ("src/pkg/star.py", 3),
        ("src/pkg/sub/__init__.py", 3),
        ("src/pkg/views.py", 5),
    ]
    assert [s.uncertain for s in found.sites if s.path == "src/pkg/star.py"] == [True]
    sub = find_calls(view, "pkg.sub.utils.helper", jobs=1)
    assert [(s.path, s.start_line) for s in sub.sites] == [("src/pkg/sub/mod.py", 3)]
