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

import os
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
    assert (
        rewrite(JOIN, src) == "import os.path as osp\nfrom os.path import join\n\njoin('a', 'b')\n"
    )


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
    assert rewrite(spec, src) == "import requests\nr = httpx.get(url, timeout=5)\n"
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
            find="a.b", query_file=toml, language=None, rewrite=None, add_imports=(), rule_file=None
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

    common = {"query_file": None, "language": None, "add_imports": (), "rule_file": None}
    with pytest.raises(UsageError, match=r"uses \{nope\}.*use \{args\}, \{call\}, \{callee\}"):
        spec_from_options(find="os.path.join", rewrite="join({nope})", **common)
    ok = spec_from_options(find="os.path.join", rewrite="join({0}, {args.inner}) or {call}",
                           **common)
    assert ok.has_rule


def test_query_templates_may_name_only_the_query_captures(tmp_path) -> None:
    from reviewbot.errors import UsageError
    from reviewbot.migrate import spec_from_options

    query = tmp_path / "q.scm"
    query.write_text("(call function: (identifier) @fn arguments: (argument_list) @args) @site")
    common = {"find": None, "query_file": query, "language": "python", "add_imports": (),
              "rule_file": None}
    assert spec_from_options(rewrite="{fn}2({args.inner})", **common).has_rule
    with pytest.raises(UsageError, match=r"\{callee\}"):
        spec_from_options(rewrite="{callee}({args})", **common)
