"""The rule tier on its own: templates, captures, nested calls, imports, rule files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reviewbot.code import DirectoryView, parse
from reviewbot.errors import UsageError
from reviewbot.migrate import (
    MigrationSpec,
    load_rule,
    parse_template,
    render,
    rule_rewrite,
    spec_from_options,
)
from reviewbot.migrate.discover import order_files, sites_in_source
from reviewbot.migrate.gates import FileChange, scope_gate
from reviewbot.migrate.rewrite import call_span, rewrite_file

JOIN = MigrationSpec(
    find="os.path.join", template="join({args})", imports=("from os.path import join",)
)


def rewrite(spec: MigrationSpec, source: str, path: str = "m.py") -> str:
    data = source.encode()
    out = rule_rewrite(spec, path, data, sites_in_source(spec, path, data))
    assert not isinstance(out, str), out
    return out.source.decode()


def test_template_syntax() -> None:
    t = parse_template("f({0}, {{x}}, {args.inner})")
    assert t.names == {"0", "args.inner"}
    assert render(t, {"0": "a", "args": "(a, b)"}) == "f(a, {x}, a, b)"
    with pytest.raises(UsageError, match="stray"):
        parse_template("join({args)")


def test_nested_multiline_calls_keep_formatting_and_import_goes_after_imports() -> None:
    src = '''"""Module doc."""
from __future__ import annotations

import os
import sys  # why


def f(a):
    x = os.path.join(a,
                     os.path.join("b", "c"))  # keep
    return os.path.join(*a, **{})
'''
    out = rewrite(JOIN, src)
    assert (
        out
        == '''"""Module doc."""
from __future__ import annotations

import sys  # why
from os.path import join


def f(a):
    x = join(a,
                     join("b", "c"))  # keep
    return join(*a, **{})
'''
    )


def test_aliased_import_is_found_and_existing_import_not_duplicated() -> None:
    src = "import os.path as osp\nfrom os.path import join\n\nosp.join('a', 'b')\n"
    # osp is unused after the rewrite: its import goes
    assert rewrite(JOIN, src) == "from os.path import join\n\njoin('a', 'b')\n"


def test_rule_refuses_to_shadow_a_name_the_file_uses() -> None:
    src = "import os\n\ndef f(join):\n    return os.path.join(join, 'x')\n"
    out = rule_rewrite(JOIN, "m.py", src.encode(), sites_in_source(JOIN, "m.py", src.encode()))
    assert isinstance(out, str) and "shadow join" in out
    # an attribute named join is not a clash
    assert rewrite(JOIN, "import os\n','.join(os.path.join('a', 'b'))\n").endswith(
        "','.join(join('a', 'b'))\n"
    )


def test_positional_and_callee_captures() -> None:
    spec = MigrationSpec(find="requests.get", template="httpx.get({0}, timeout={1})")
    src = "import requests\nr = requests.get(url, 5)\n"
    assert rewrite(spec, src) == "r = httpx.get(url, timeout=5)\n"  # requests now unused
    # a site lacking {1} is left alone (the sites gate will report it)
    data = b"import requests\nr = requests.get(url)\n"
    tree = parse(data, "python")
    spans = [call_span(tree, m.start(), m.end()) for m in re.finditer(rb"requests\.get", data)]
    outcome = rewrite_file(
        data, tree, "python", [s for s in spans if s], parse_template(spec.template or "")
    )
    assert outcome.rewritten == [] and outcome.unmatched and outcome.source == data


def test_query_rule_from_toml_and_yaml(tmp_path: Path) -> None:
    toml = tmp_path / "rule.toml"
    toml.write_text('''
language = "python"
query = """
(call function: (attribute object: (identifier) @obj (#eq? @obj "logging")
                           attribute: (identifier) @fn (#eq? @fn "warn"))
      arguments: (argument_list) @args) @site
"""
template = "logging.warning({args})"
''')
    spec = load_rule(toml)
    assert (
        rewrite(spec, "import logging\nlogging.warn('x', 1)\n")
        == "import logging\nlogging.warning('x', 1)\n"
    )
    yml = tmp_path / "rule.yaml"
    yml.write_text(
        "find: os.path.join\ntemplate: 'join({args})'\nimports: from os.path import join\n"
    )
    assert load_rule(yml).imports == ("from os.path import join",)
    with pytest.raises(UsageError, match="exactly one of find"):
        spec_from_options(
            find="a.b", query=toml.read_text(), language=None, template=None, imports=(),
            rule_file=None
        )
    bad = tmp_path / "bad.toml"
    bad.write_text("find = 'x.y'\ntemplate = 'f({args'\n")
    with pytest.raises(UsageError, match="stray"):
        load_rule(bad)


def test_files_ordered_definitions_first(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a_user.py").write_text(
        "from pkg.z_lib import helper\nfrom . import m_mid\n"
    )
    (tmp_path / "pkg" / "m_mid.py").write_text("from .z_lib import helper\n")
    (tmp_path / "pkg" / "z_lib.py").write_text("def helper(): pass\n")
    (tmp_path / "b_alone.py").write_text("")
    view = DirectoryView(tmp_path)
    order = order_files(["pkg/a_user.py", "pkg/m_mid.py", "pkg/z_lib.py", "b_alone.py"], view)
    assert order == ["b_alone.py", "pkg/z_lib.py", "pkg/m_mid.py", "pkg/a_user.py"]


def test_a_template_naming_what_no_site_offers_is_refused_up_front() -> None:
    from reviewbot.errors import UsageError
    from reviewbot.migrate import spec_from_options

    common = {"query": None, "language": None, "imports": (), "rule_file": None}
    with pytest.raises(UsageError, match=r"uses \{nope\}.*use \{args\}, \{call\}, \{callee\}"):
        spec_from_options(find="os.path.join", template="join({nope})", **common)
    ok = spec_from_options(
        find="os.path.join", template="join({0}, {args.inner}) or {call}", **common
    )
    assert ok.has_rule


def test_query_templates_may_name_only_the_query_captures(tmp_path) -> None:
    from reviewbot.errors import UsageError
    from reviewbot.migrate import spec_from_options

    query = tmp_path / "q.scm"
    query.write_text("(call function: (identifier) @fn arguments: (argument_list) @args) @site")
    common = {
        "find": None,
        "query": query.read_text(),
        "language": "python",
        "imports": (),
        "rule_file": None,
    }
    assert spec_from_options(template="{fn}2({args.inner})", **common).has_rule
    with pytest.raises(UsageError, match=r"\{callee\}"):
        spec_from_options(template="{callee}({args})", **common)


# --- imports the rewrite left unused ----------------------------------------------------


def test_import_the_rewrite_left_unused_is_removed_and_a_used_one_kept() -> None:
    src = "import os\nimport sys\n\nx = os.path.join('a', 'b')\nsys.exit(x)\n"
    assert rewrite(JOIN, src) == (
        "import sys\nfrom os.path import join\n\nx = join('a', 'b')\nsys.exit(x)\n"
    )
    still = "import os\n\nx = os.path.join('a', os.environ['HOME'])\n"
    assert rewrite(JOIN, still) == (
        "import os\nfrom os.path import join\n\nx = join('a', os.environ['HOME'])\n"
    )
    # `import os.path` binds os as well
    assert rewrite(JOIN, "import os.path\n\nos.path.join('a')\n") == (
        "from os.path import join\n\njoin('a')\n"
    )


def test_only_the_unused_name_of_a_multi_name_import_goes() -> None:
    assert rewrite(JOIN, "import os, sys\n\nos.path.join(sys.argv[0])\n") == (
        "import sys\nfrom os.path import join\n\njoin(sys.argv[0])\n"
    )
    assert rewrite(JOIN, "import sys, os  # why\n\nos.path.join(sys.argv[0])\n") == (
        "import sys  # why\nfrom os.path import join\n\njoin(sys.argv[0])\n"
    )
    assert rewrite(JOIN, "from os import path, sep\n\npath.join('a', sep)\n") == (
        "from os import sep\nfrom os.path import join\n\njoin('a', sep)\n"
    )
    assert rewrite(JOIN, "from os import sep, path\n\npath.join('a', sep)\n") == (
        "from os import sep\nfrom os.path import join\n\njoin('a', sep)\n"
    )


def test_names_leave_parenthesized_imports_with_their_comments_and_pass_the_scope_gate() -> None:
    cases = {
        # trailing comma kept, the comment on another item's line kept
        "from os import (  # os bits\n    path,  # for join\n    sep,  # separator\n)\n": (
            "from os import (  # os bits\n    sep,  # separator\n)\n"
        ),
        # no trailing comma: the item left last loses its comma
        "from os import (\n    sep,  # separator\n    path\n)\n": (
            "from os import (\n    sep  # separator\n)\n"
        ),
        "from os import (path,\n                sep)\n": "from os import (\n                sep)\n",
    }
    for imports, kept in cases.items():
        src = imports + "\nx = path.join('a', sep)\n"
        data = src.encode()
        sites = sites_in_source(JOIN, "m.py", data)
        out = rewrite(JOIN, src)
        assert out == kept + "from os.path import join\n\nx = join('a', sep)\n"
        lines = {n for s in sites for n in range(s.line, s.end_line + 1)}
        gate = scope_gate("m.py", [FileChange("m.py", data, out.encode())], lines)
        assert gate.passed, gate.output
    # a parenthesized import is no licence to change code elsewhere
    before = b"from os import (\n    sep,\n)\nx = 1\n"
    gate = scope_gate("m.py", [FileChange("m.py", before, before.replace(b"1", b"2"))], set())
    assert not gate.passed


def test_aliased_imports_go_when_their_alias_is_unused() -> None:
    assert rewrite(JOIN, "import os.path as osp\nimport os\n\nosp.join('a')\nos.sep\n") == (
        "import os\nfrom os.path import join\n\njoin('a')\nos.sep\n"
    )
    spec = MigrationSpec(
        find="requests.get", template="httpx.get({args})", imports=("import httpx",)
    )
    src = "import requests as r, json\n\ndef f(u):\n    return json.loads(r.get(u).text)\n"
    assert rewrite(spec, src) == (
        "import json\nimport httpx\n\ndef f(u):\n    return json.loads(httpx.get(u).text)\n"
    )
    # an explicit re-export (`as` the same name) is API: it stays
    assert rewrite(JOIN, "from os import path as path\n\npath.join('a')\n").startswith(
        "from os import path as path\n"
    )


@pytest.mark.parametrize(
    "tail",
    [
        "__all__ = ['os']\n",
        "__all__ += ('other', 'os')\n",
        "names = globals()\n",
        "def g():\n    global os\n    os = None\n",
        "del os\n",
        "y: 'os.PathLike[str]' = x\n",
        "y = x  # type: os.PathLike[str]\n",
        "os = x\n",
    ],
)
def test_imports_a_file_may_still_need_are_kept(tail: str) -> None:
    src = "import os\n\nx = os.path.join('a', 'b')\n" + tail
    assert rewrite(JOIN, src).startswith("import os\nfrom os.path import join\n")


def test_imports_that_cannot_go_cleanly_are_kept() -> None:
    # the only statement of a block: removing it would leave the block empty
    src = "try:\n    import os\nexcept ImportError:\n    pass\n\nos.path.join('a')\n"
    assert "    import os\n" in rewrite(JOIN, src)
    # its author marked it to stay
    src = "import os  # noqa: F401\n\nos.path.join('a')\n"
    assert rewrite(JOIN, src).startswith("import os  # noqa: F401\n")
    # shares its line with other code
    src = "import os; import sys\n\nos.path.join(sys.argv[0])\n"
    assert rewrite(JOIN, src).startswith("import os; import sys\n")
    # __future__ imports are never touched, whatever the template drops
    spec = MigrationSpec(find="f.g", template="h()")
    src = "from __future__ import annotations\nimport f\n\nf.g(annotations)\n"
    assert rewrite(spec, src) == "from __future__ import annotations\n\nh()\n"


def test_import_pruning_is_python_only_and_can_be_turned_off() -> None:
    spec = MigrationSpec(find="path.join", template="join({args})")
    js = "const path = require('path');\n\npath.join('a', 'b');\n"
    assert rewrite(spec, js, path="m.js") == "const path = require('path');\n\njoin('a', 'b');\n"
    data = b"import os\n\nos.path.join('a')\n"
    tree = parse(data, "python")
    spans = [call_span(tree, 11, 28)]
    assert spans[0] is not None
    template = parse_template("join({args})")
    kept = rewrite_file(data, tree, "python", [s for s in spans if s], template)
    assert kept.source == b"\njoin('a')\n" and kept.imports_removed == ["os (line 1)"]
    off = rewrite_file(data, tree, "python", [s for s in spans if s], template, prune_imports=False)
    assert off.source == b"import os\n\njoin('a')\n" and off.imports_removed == []


def test_scope_gate_takes_an_import_removed_right_above_a_rewritten_site() -> None:
    before = b'import os\nP = os.path.join("a", "x")\n'
    after = rewrite(JOIN, before.decode()).encode()
    assert after == b'from os.path import join\nP = join("a", "x")\n'
    assert scope_gate("m.py", [FileChange("m.py", before, after)], {2}).passed
    # the same block shape changing code that is neither an import nor a site is refused
    sneaky = b'from os.path import join\nQ = 1\nP = join("a", "x")\n'
    before2 = b'import os\nQ = 0\nP = os.path.join("a", "x")\n'
    assert not scope_gate("m.py", [FileChange("m.py", before2, sneaky)], {3}).passed


def test_imports_in_a_package_init_are_kept_as_possible_re_exports() -> None:
    from reviewbot.migrate import spec_from_options
    from reviewbot.migrate.discover import sites_in_source
    from reviewbot.migrate.engine import RuleRewrite, rule_rewrite

    spec = spec_from_options(find="os.path.join", query=None, language=None,
                             template="join({args})", imports=("from os.path import join",),
                             rule_file=None)
    source = b"import os\n\nBASE = os.path.join('a', 'b')\n"
    for path, keeps_os in (("pkg/__init__.py", True), ("pkg/mod.py", False)):
        out = rule_rewrite(spec, path, source, sites_in_source(spec, path, source))
        assert isinstance(out, RuleRewrite)
        assert (b"import os\n" in out.source) is keeps_os, (path, out.source)
