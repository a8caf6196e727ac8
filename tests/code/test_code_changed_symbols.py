"""Changed symbols and their callers, from a real change set on a real repository."""

from __future__ import annotations

import textwrap

from conftest import GitRepo

from reviewbot.code import changed_symbols, definitions, language_for_path, parse, python_module
from reviewbot.git import ChangeSet, Repo, RepoView

SHOP = """
import json


def price(item):
    return item["price"]


class Cart:
    def __init__(self):
        self.items = []

    def total(self):
        return sum(price(i) for i in self.items)

    def dump(self):
        return json.dumps(self.items)
"""

USE = """
from shop.cart import price
from shop import cart as c


def checkout(basket):
    first = price(basket.items[0])
    again = c.price(basket.items[1])
    return basket.total() + first + again
"""


def _write(repo: GitRepo, path: str, text: str) -> None:
    repo.write(path, textwrap.dedent(text).lstrip("\n"))


def test_changed_symbols_with_callers(git_repo: GitRepo) -> None:
    _write(git_repo, "shop/__init__.py", "")
    _write(git_repo, "shop/cart.py", SHOP)
    _write(git_repo, "app/use.py", USE)
    _write(git_repo, "web/ui.ts", "export function render(x: number) {\n  return x + 1;\n}\n")
    base = git_repo.commit("base")
    changed = SHOP.replace('return item["price"]', 'return item["price"] * item.get("qty", 1)')
    changed = changed.replace("        return json.dumps(self.items)\n", "        pass\n")
    _write(git_repo, "shop/cart.py", changed)
    _write(git_repo, "web/ui.ts", "export function render(x: number) {\n  return x + 2;\n}\n")
    _write(git_repo, "web/call.ts", "import { render } from './ui';\nrender(1);\n")
    _write(git_repo, "notes.md", "# notes\n")
    head = git_repo.commit("change price and dump")

    repo = Repo.open(git_repo.path)
    cs = ChangeSet.between(repo, base, head)
    symbols = changed_symbols(RepoView.at(repo, head), cs)
    got = {(s.path, s.qualified, s.kind): s for s in symbols}
    assert set(got) == {
        ("shop/cart.py", "price", "function"),
        ("shop/cart.py", "Cart.dump", "method"),
        ("web/ui.ts", "render", "function"),
    }
    price = got[("shop/cart.py", "price", "function")]
    assert (price.start_line, price.end_line) == (4, 5)
    callers = [(c.path, c.start_line, c.matched_text, c.uncertain) for c in price.callers]
    assert callers == [
        ("app/use.py", 6, "price", False),  # from shop.cart import price
        ("app/use.py", 7, "c.price", False),  # from shop import cart as c
        ("shop/cart.py", 13, "price", False),  # same module, inside Cart.total
    ]
    assert price.callers[2].enclosing == "Cart.total"
    dump = got[("shop/cart.py", "Cart.dump", "method")]
    assert dump.callers == []  # nobody calls it
    render = got[("web/ui.ts", "render", "function")]
    assert [(c.path, c.start_line) for c in render.callers] == [("web/call.ts", 2)]


def test_removal_only_change_touches_the_enclosing_function(git_repo: GitRepo) -> None:
    _write(
        git_repo,
        "m.py",
        "def a():\n    x = 1\n    y = 2\n    return x\n\n\ndef b():\n    return a()\n",
    )
    base = git_repo.commit("base")
    _write(git_repo, "m.py", "def a():\n    x = 1\n    return x\n\n\ndef b():\n    return a()\n")
    head = git_repo.commit("drop a line")
    repo = Repo.open(git_repo.path)
    symbols = changed_symbols(RepoView.at(repo, head), ChangeSet.between(repo, base, head))
    assert [(s.qualified, [(c.enclosing, c.start_line) for c in s.callers]) for s in symbols] == [
        ("a", [("b", 7)])
    ]


def test_definitions_per_language() -> None:
    cases = {
        "a.py": (
            b"class A:\n    def m(self):\n        def inner():\n            pass\n",
            ["A", "A.m", "A.m.inner"],
        ),
        "a.go": (
            b"package p\ntype T struct{}\nfunc (t *T) M() {}\nfunc F() {}\n",
            ["T", "T.M", "F"],
        ),
        "A.java": (b"class A { void m() {} A() {} }", ["A", "A.m", "A.A"]),
        "a.rs": (b"impl S { fn m(&self) {} }\nfn f() {}", ["S", "S.m", "f"]),
        "a.rb": (b"module M\n class C\n  def m; end\n end\nend\n", ["M", "M.C", "M.C.m"]),
        "a.cpp": (b"namespace n { void C::g() {} }", ["n", "n.C.g"]),
        "a.cs": (b"namespace N { class C { void M() {} } }", ["N", "N.C", "N.C.M"]),
        "a.php": (b"<?php class C { function m() {} }", ["C", "C.m"]),
        "a.js": (
            b"class C { m() {} }\nconst f = () => 1;\nfunction g() {}",
            ["C", "C.m", "f", "g"],
        ),
        "a.c": (b"static int *f(void) { return 0; }", ["f"]),
    }
    for path, (source, expected) in cases.items():
        lang = language_for_path(path)
        assert lang is not None
        assert [
            d.qualified for d in definitions(parse(source, lang).root_node, lang)
        ] == expected, path


def test_python_module_names() -> None:
    assert python_module("pkg/mod.py") == "pkg.mod"
    assert python_module("pkg/__init__.py") == "pkg"
    assert python_module("src/pkg/mod.py") == "pkg.mod"
    assert python_module("scripts/my-tool.py") is None
    assert python_module("a.ts") is None


LIB = """
def keep(x):
    return x


def gone(x):
    return x + 1


class Old:
    def method(self):
        return gone(1)
"""

CALLER = """
from lib import gone, Old


def run():
    return gone(2) + Old().method()
"""


def test_deleted_definitions_are_reported_with_their_callers_at_head(git_repo: GitRepo) -> None:
    _write(git_repo, "lib.py", LIB)
    _write(git_repo, "app.py", CALLER)
    _write(git_repo, "doomed.py", "def helper():\n    return 1\n")
    _write(git_repo, "user.py", "from doomed import helper\n\nhelper()\n")
    base = git_repo.commit("base")
    _write(git_repo, "lib.py", "def keep(x):\n    return x * 2\n")
    git_repo.git("rm", "-q", "doomed.py")
    head = git_repo.commit("drop gone, Old and doomed.py")

    repo = Repo.open(git_repo.path)
    cs = ChangeSet.between(repo, base, head)
    head_view = RepoView.at(repo, head)
    # without the base only what is left at head can be seen
    assert [s.qualified for s in changed_symbols(head_view, cs)] == ["keep"]

    symbols = changed_symbols(head_view, cs, base_view=RepoView.at(repo, base))
    got = {(s.path, s.qualified): s for s in symbols}
    assert set(got) == {("lib.py", "keep"), ("lib.py", "gone"), ("lib.py", "Old"),
                        ("doomed.py", "helper")}  # fmt: skip
    assert not got[("lib.py", "keep")].deleted
    gone = got[("lib.py", "gone")]
    assert gone.deleted and gone.kind == "function"
    assert (gone.start_line, gone.end_line) == (5, 6)  # lines at the base
    # the call inside Old.method went with the file's old text: only app.py is left
    assert [(c.path, c.start_line, c.uncertain) for c in gone.callers] == [("app.py", 5, False)]
    old = got[("lib.py", "Old")]
    assert old.deleted and old.kind == "class"
    assert [(c.path, c.matched_text) for c in old.callers] == [("app.py", "Old")]
    assert not any(s.qualified == "Old.method" for s in symbols)  # the class stands for it
    helper = got[("doomed.py", "helper")]
    assert helper.deleted and [(c.path, c.start_line) for c in helper.callers] == [("user.py", 3)]


def test_renamed_file_reports_only_what_is_gone_from_it(git_repo: GitRepo) -> None:
    _write(git_repo, "a.py", LIB)
    base = git_repo.commit("base")
    git_repo.git("mv", "a.py", "b.py")
    _write(git_repo, "b.py", LIB.replace("def gone(x):\n    return x + 1\n", ""))
    head = git_repo.commit("rename and drop gone")
    repo = Repo.open(git_repo.path)
    cs = ChangeSet.between(repo, base, head)
    assert [(f.status, f.old_path) for f in cs.files] == [("renamed", "a.py")]
    symbols = changed_symbols(RepoView.at(repo, head), cs, base_view=RepoView.at(repo, base))
    deleted = [(s.path, s.qualified, s.start_line) for s in symbols if s.deleted]
    assert deleted == [("b.py", "gone", 5)]
    # Old.method still calls gone() at head, in the renamed file: a caller left behind
    gone = next(s for s in symbols if s.deleted)
    assert [(c.path, c.enclosing) for c in gone.callers] == [("b.py", "Old.method")]
